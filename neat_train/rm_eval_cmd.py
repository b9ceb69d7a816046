"""Pairwise accuracy of a reward model on HH-RLHF pairs: share of pairs with r_chosen > r_rejected, margins,
score distribution, and diagnostics: accuracy per ``category`` (when the rows have one), accuracy where the chosen
reply is the longer / the shorter one, how often "shorter wins" is right, and the Spearman correlation of reward
with length. ``--subset test`` keeps only the project's held-out split (``neat_data.hh.split_of``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from neat_data.errors import AtLeast1, NeatError
from neat_data.hh import DatasetArgs


@dataclass
class Config(DatasetArgs):
    """``DatasetArgs`` (which rows to read; ``--pairs`` names the dataset) plus the RM and how to score."""

    dataset: str = field(
        metadata={
            "aliases": ["--pairs"],
            "help": "HH-RLHF pairs: hub id or local .jsonl/.jsonl.gz/.parquet file or dir",
        }
    )
    rm: str = field(default="default", metadata={"help": "reward model: 'default', a local directory or a hub id"})
    subset: Literal["all", "test", "train"] = field(
        default="all", metadata={"help": "all pairs, or only the project's test / train split"}
    )
    batch_size: AtLeast1 = field(default=16, metadata={"help": "responses per RM forward pass"})
    max_length: AtLeast1 | None = field(default=None, metadata={"help": "RM input tokens (default: the RM's)"})
    device: str = field(default="auto", metadata={"help": "auto (cuda if available), cpu, cuda, cuda:N"})
    dtype: str = field(default="float32", metadata={"help": "float32 | bfloat16 | float16"})
    json: bool = field(default=False, metadata={"help": "print one JSON object"})


def run(config: Config) -> int:
    from neat_data.hh import split_of
    from neat_data.models import resolve_rm
    from neat_data.scoring import RewardScorer

    from .reward_model import diagnostics_summary, evaluate_pairs, print_warnings

    loaded = config.load()
    pairs = [p for p in loaded.pairs if config.subset == "all" or split_of(p.query_id) == config.subset]
    if not pairs:
        raise NeatError(f"{config.dataset}: no pairs in subset {config.subset!r} (of {len(loaded.pairs)} read)")
    scorer = RewardScorer(
        resolve_rm(config.rm),
        device=config.device,
        dtype=config.dtype,
        batch_size=config.batch_size,
        max_length=config.max_length,
        progress=not config.json,
    )
    result = {
        "rm": config.rm,
        "fingerprint": scorer.fingerprint,
        "pairs_source": config.dataset,
        "subset": config.subset,
        "rows_rejected": len(loaded.rejects),
        **evaluate_pairs(scorer, pairs),
        "truncated": scorer.truncated,
        "max_length": scorer.max_length,
    }
    print_warnings(result)
    if config.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{config.rm} on {result['pairs']} pairs ({config.subset}) of {config.dataset}: "
            f"accuracy {result['accuracy']:.1%}, mean margin {result['mean_margin']:.3f}, ties {result['ties']}, "
            f"scores mean {result['scores']['mean']:.3f} ± {result['scores']['std']:.3f}; "
            f"{result['truncated']} inputs truncated from the left to {result['max_length']} tokens"
        )
        print(diagnostics_summary(result))
    return 0

"""Read HH-RLHF pairs, score chosen and rejected with a reward model, rank, and write round 0.

``--rm default`` is the embedded MiniLM reward model (see docs/reward-models.md); any one-output
``AutoModelForSequenceClassification`` directory or hub id works the same way, with its own tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import NeatDataError
from .load_cmd import Config as LoadConfig
from .load_cmd import open_round0, write_round0


@dataclass
class Config(LoadConfig):
    rm: str = field(default="default", metadata={"help": "reward model: 'default', a local directory or a hub id"})
    batch_size: int = field(default=16, metadata={"help": "responses per RM forward pass"})
    max_length: int | None = field(
        default=None, metadata={"help": "RM input tokens (longer inputs are cut from the left); default: the RM's"}
    )
    device: str = field(default="auto", metadata={"help": "auto (cuda if available), cpu, cuda, cuda:N"})
    dtype: str = field(default="float32", metadata={"help": "float32 | bfloat16 | float16"})
    cache_dir: str | None = field(
        default=None, metadata={"help": "score cache directory (default: data/cache/scores)"}
    )

    def __post_init__(self):
        super().__post_init__()
        if self.batch_size < 1:
            raise NeatDataError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.max_length is not None and self.max_length < 8:
            raise NeatDataError(f"--max-length must be at least 8 tokens, got {self.max_length}")


def run(config: Config) -> int:
    from .models import resolve_rm
    from .scoring import RewardScorer, score_rows

    result = config.load()
    rows, accounting = result.queries(0)
    scorer = RewardScorer(resolve_rm(config.rm), device=config.device, dtype=config.dtype,
                          batch_size=config.batch_size, max_length=config.max_length, cache_dir=config.cache_dir)
    writer = open_round0(config)  # inputs are valid: claim the round (a finished one is refused) before scoring
    rows = score_rows(rows, scorer)
    responses = sum(len(r["responses"]) for r in rows)
    rm_info = {
        "name": config.rm,
        "path": str(scorer.path),
        "fingerprint": scorer.fingerprint,
        "max_length": scorer.max_length,
        "dtype": config.dtype,
        "responses": responses,
        "cache_hits": scorer.cache_hits,
        "truncated": scorer.truncated,
    }
    directory, manifest = write_round0(config, rows, accounting, result.rejects, writer=writer,
                                       extra={"rm": rm_info, "truncation": {"rm_truncated": scorer.truncated}})
    summary = manifest["summary"]
    print(f"scored {responses} responses of {len(rows)} queries with {config.rm} (fingerprint {scorer.fingerprint}; "
          f"{scorer.cache_hits} from cache; {scorer.truncated} truncated from the left to {scorer.max_length} tokens)")
    if accounting["rejects"]:
        print(f"{accounting['rejects']} input rows rejected (see {directory / 'rejects.jsonl'})")
    means = {src: f"{stats['mean']:.3f}" for src, stats in summary.get("reward", {}).items()}
    print(f"mean reward by source: {means}")
    print(f"wrote {directory}")
    return 0

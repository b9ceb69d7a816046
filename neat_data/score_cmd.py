"""Read HH-RLHF pairs, score chosen and rejected with a reward model, rank, and write round 0.

``--rm default`` is the embedded MiniLM reward model (see docs/reward-models.md); any one-output
``AutoModelForSequenceClassification`` directory or hub id works the same way, with its own tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from annotated_types import Ge

from .errors import AtLeast1
from .load_cmd import Config as LoadConfig
from .load_cmd import open_round0, write_round0
from .parts import Part, agreed
from .shards import REJECTS, RoundCommitted


@dataclass
class Config(LoadConfig):
    rm: str = field(default="default", metadata={"help": "reward model: 'default', a local directory or a hub id"})
    batch_size: AtLeast1 = field(default=16, metadata={"help": "responses per RM forward pass"})
    max_length: Annotated[int, Ge(8)] | None = field(
        default=None, metadata={"help": "RM input tokens (longer inputs are cut from the left); default: the RM's"}
    )
    device: str = field(default="auto", metadata={"help": "auto (cuda if available), cpu, cuda, cuda:N"})
    dtype: str = field(default="float32", metadata={"help": "float32 | bfloat16 | float16"})
    cache_dir: str | None = field(default=None, metadata={"help": "score cache directory (default: data/cache/scores)"})
    part: str | None = field(
        default=None,
        metadata={
            "help": "I/N: score and write only part I of N of round 0 (parts may run at once, on several "
            "machines sharing --out; the last to finish commits the round; docs/scaling.md)"
        },
    )

    def __post_init__(self):
        super().__post_init__()  # checks the annotated rules of every field
        Part.parse(self.part)


def run(config: Config) -> int:
    from .models import resolve_rm
    from .scoring import RewardScorer, score_rows

    part = Part.parse(config.part)
    result = config.load()
    rows, accounting = result.queries(0)
    scorer = RewardScorer(
        resolve_rm(config.rm),
        device=config.device,
        dtype=config.dtype,
        batch_size=config.batch_size,
        max_length=config.max_length,
        cache_dir=config.cache_dir,
    )
    try:  # inputs are valid: claim the round (a finished one is refused) before scoring
        writer = open_round0(config, part)
    except RoundCommitted as e:
        print(f"note: {e}")
        return 0

    def score(shard: list[dict]) -> dict:
        hits, truncated = scorer.cache_hits, scorer.truncated
        score_rows(shard, scorer)
        return {
            "responses": sum(len(r["responses"]) for r in shard),
            "cache_hits": scorer.cache_hits - hits,
            "truncated": scorer.truncated - truncated,
            "rm_fingerprint": scorer.fingerprint,
        }

    def score_extra(stats: list[dict]) -> dict:
        truncated = sum(s["truncated"] for s in stats)
        rm_info = {
            "name": config.rm,
            "path": str(scorer.path),
            "fingerprint": agreed(stats, ("rm_fingerprint",))["rm_fingerprint"],
            "max_length": scorer.max_length,
            "dtype": config.dtype,
            "responses": sum(s["responses"] for s in stats),
            "cache_hits": sum(s["cache_hits"] for s in stats),
            "truncated": truncated,
        }
        return {"rm": rm_info, "truncation": {"rm_truncated": truncated}}

    directory, manifest = write_round0(
        config, rows, accounting, result.rejects, writer=writer, score=score, score_extra=score_extra
    )
    if manifest is None:
        print(
            f"round 0 part {part}: its shards are scored and written to {directory}; the round is committed by the "
            f"last part to finish (waiting for part(s) {', '.join(writer.missing_parts) or 'being committed'})"
        )
        return 0
    rm_info, summary = manifest["extra"]["rm"], manifest["summary"]
    print(
        f"scored {rm_info['responses']} responses of {len(rows)} queries with {config.rm} (fingerprint "
        f"{rm_info['fingerprint']}; {rm_info['cache_hits']} from cache; {rm_info['truncated']} truncated from the "
        f"left to {scorer.max_length} tokens)" + (f"; committed by part {part}" if part else "")
    )
    if accounting["rejects"]:
        print(f"{accounting['rejects']} input rows rejected (see {directory / REJECTS})")
    means = {src: f"{stats['mean']:.3f}" for src, stats in summary.get("reward", {}).items()}
    print(f"mean reward by source: {means}")
    print(f"wrote {directory}")
    return 0

"""Read HH-RLHF preference pairs and write them as an unscored round 0 (ranked shards + manifest).

Every input row is accounted for: it becomes a query, is merged into an earlier row with the same query,
or is written to ``rejects.jsonl`` with its reason. ``neat score`` does the same and also scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import NeatDataError
from .hh import LoadResult, load_hh
from .shards import RoundWriter, round_dir


@dataclass
class DatasetArgs:
    """Which HH-RLHF rows to read (shared by every command that reads a preference dataset)."""

    dataset: str = field(metadata={"help": "hub id (Anthropic/hh-rlhf) or local .jsonl/.jsonl.gz/.parquet file or dir"})
    split: str = field(default="train", metadata={"help": "split of a hub dataset"})
    limit: int | None = field(default=None, metadata={"help": "read only the first N rows"})
    sample: int | None = field(default=None, metadata={"help": "read a seeded random sample of N rows"})
    seed: int = field(default=0, metadata={"help": "seed for --sample (and sampling elsewhere)"})
    max_reject_share: float = field(
        default=0.05, metadata={"help": "fail if more than this share of rows is bad (bad rows go to rejects.jsonl)"}
    )

    def __post_init__(self):
        for name in ("limit", "sample"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise NeatDataError(f"--{name} must be a positive number of rows, got {value}")
        if not 0.0 <= self.max_reject_share <= 1.0:
            raise NeatDataError(f"--max-reject-share must be in [0, 1], got {self.max_reject_share}")

    def load(self) -> LoadResult:
        return load_hh(
            self.dataset,
            split=self.split,
            limit=self.limit,
            sample=self.sample,
            seed=self.seed,
            max_reject_share=self.max_reject_share,
        )


@dataclass
class Config(DatasetArgs):
    out: str = field(default="data/runs/default", metadata={"help": "data root; round 0 goes to OUT/round-000"})
    rows_per_shard: int = field(default=1000, metadata={"help": "queries per Parquet shard"})


def open_round0(config: Config) -> RoundWriter:
    """Claim OUT/round-000: take its write lock; a finished round or another writer is refused."""
    return RoundWriter(round_dir(config.out, 0), 0, config=vars(config), inputs={"dataset": config.dataset})


def write_round0(config: Config, rows: list[dict], accounting: dict, rejects: list[dict], extra: dict | None = None,
                 writer: RoundWriter | None = None):
    """Write ``rows`` as round 0 under ``config.out`` with the rejects file (through ``writer`` when the round was
    claimed already); returns (directory, manifest)."""
    with writer or open_round0(config) as writer:
        for i in range(0, max(len(rows), 1), config.rows_per_shard):
            writer.write_shard(i // config.rows_per_shard, rows[i : i + config.rows_per_shard])
        if rejects:
            writer.write_jsonl("rejects.jsonl", rejects)
        return writer.dir, writer.commit({"load": accounting, **(extra or {})})


def run(config: Config) -> int:
    result = config.load()
    rows, accounting = result.queries(0)
    directory, _ = write_round0(config, rows, accounting, result.rejects)
    print(
        f"read {accounting['rows_read']} rows: {accounting['queries']} queries, {accounting['rows_merged']} rows "
        f"merged into an earlier query, {accounting['rejects']} rejected"
        + (f" (see {directory / 'rejects.jsonl'})" if accounting["rejects"] else "")
    )
    print(f"wrote {directory}")
    return 0

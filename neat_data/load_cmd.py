"""Read HH-RLHF preference pairs and write them as an unscored round 0 (ranked shards + manifest).

Every input row is accounted for: it becomes a query, is merged into an earlier row with the same query,
or is written to ``_rejects.jsonl`` with its reason. ``neat score`` does the same and also scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import AtLeast1
from .hh import DatasetArgs
from .parts import Part, in_round_order, parts_provenance, shard_rows
from .shards import REJECTS, RoundWriter, round_dir


@dataclass
class Config(DatasetArgs):
    out: str = field(default="data/runs/default", metadata={"help": "data root; round 0 goes to OUT/round-000"})
    rows_per_shard: AtLeast1 = field(default=1000, metadata={"help": "queries per Parquet shard"})


def open_round0(config: Config, part: Part | None = None) -> RoundWriter:
    """Claim OUT/round-000 (or one ``part`` of it): take its write lock; a finished round or another writer is
    refused (``RoundCommitted`` for a part of a round its parts have committed)."""
    round_config = {k: v for k, v in vars(config).items() if k != "part"}  # every part writes the same round
    return RoundWriter(round_dir(config.out, 0), 0, config=round_config, inputs={"dataset": config.dataset}, part=part)


def write_round0(
    config: Config,
    rows: list[dict],
    accounting: dict,
    rejects: list[dict],
    writer: RoundWriter | None = None,
    score: Callable[[list[dict]], dict] | None = None,
    score_extra: Callable[[list[dict]], dict] | None = None,
):
    """Write ``rows`` as round 0 under ``config.out`` (through ``writer`` when the round, or a part of it, was
    claimed already): in round order, shard by shard, only the shards of the writer's part and those not written
    yet; ``score(shard rows) -> stats`` fills in a shard's rewards before it is written, and ``score_extra(stats of
    every shard)`` adds to the manifest's ``extra``. The rejects file is written with the manifest. Returns
    (directory, manifest), the manifest None while other parts of the round are not finished."""
    with writer or open_round0(config) as writer:
        rows = in_round_order(rows)
        shards = shard_rows(rows, config.rows_per_shard)
        mine = writer.part.shards(len(shards)) if writer.part else range(len(shards))
        for i in mine:
            if not writer.has_shard(i):
                writer.write_shard(i, shards[i], score(shards[i]) if score else None)

        def extra(parts: list[dict]) -> dict:
            scored = score_extra([writer.shard_stats(i) for i in range(len(shards))]) if score_extra else {}
            return {"load": accounting, **scored, "parts": parts_provenance(parts, len(shards))}

        manifest = writer.finish(
            list(mine), [r["query_id"] for r in rows], extra, side_files={REJECTS: rejects} if rejects else None
        )
        return writer.dir, manifest


def run(config: Config) -> int:
    result = config.load()
    rows, accounting = result.queries(0)
    directory, _ = write_round0(config, rows, accounting, result.rejects)
    print(
        f"read {accounting['rows_read']} rows: {accounting['queries']} queries, {accounting['rows_merged']} rows "
        f"merged into an earlier query, {accounting['rejects']} rejected"
        + (f" (see {directory / REJECTS})" if accounting["rejects"] else "")
    )
    print(f"wrote {directory}")
    return 0

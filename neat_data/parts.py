"""Partitioned rounds: one round written by N processes, ``neat generate|score … --part I/N``, on one machine or
several sharing the round's directory.

The one rule (every writer of a round follows it, with or without ``--part``):

* **row order**: a round's rows are sorted by ``query_id`` (a sha256 of the query's turns, so the order is a fixed
  pseudo-random one that depends neither on the input's order nor on how many parts wrote the round);
* **shards**: shard k holds rows [k·R, (k+1)·R) of that order (R = ``--rows-per-shard``), so a round of Q queries
  has K = ⌈Q/R⌉ shards (one, possibly empty, when Q = 0);
* **parts**: part I of N writes shards ⌊(I−1)·K/N⌋ … ⌊I·K/N⌋−1: contiguous ranges of query ids, whole shards each.

So every process computes the same plan from the previous round (or the dataset) alone, a query's part follows
from its id, and a shard is the same rows in the same batches whatever N is: a round written in N parts is the
one-part round, file for file (floating-point results depend on the batch a row is computed in — measured with the
default RM on CPU: 52 of 239 rewards differ in the last bits when a row's batch neighbours change — so parts cut
along the shard grid, never through a shard). ``RoundWriter`` (``neat_data.shards``) does the locking, the
per-part records and the commit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .errors import NeatError

PART_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Part:
    """Part ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self):
        if not 1 <= self.index <= self.count:
            raise NeatError(f"--part {self}: I/N needs 1 <= I <= N (e.g. --part 1/4 ... --part 4/4)")

    @classmethod
    def parse(cls, text: str | None) -> Part | None:
        """``"2/4"`` -> Part(2, 4); None -> None (the whole round in one process)."""
        if text is None:
            return None
        match = PART_RE.match(str(text))
        if not match:
            raise NeatError(f"--part {text!r}: expected I/N, e.g. --part 1/4 (part 1 of 4)")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def name(self) -> str:
        """``part-002-of-004``: the name of this part's lock and record files."""
        return f"part-{self.index:03d}-of-{self.count:03d}"

    def shards(self, total: int) -> range:
        """The indices of the shards this part writes, of a round's ``total`` shards."""
        return range((self.index - 1) * total // self.count, self.index * total // self.count)


def in_round_order(rows: list[dict]) -> list[dict]:
    """The rows in a round's order: by ``query_id``."""
    return sorted(rows, key=lambda row: row["query_id"])


def shard_rows(rows: list[dict], rows_per_shard: int) -> list[list[dict]]:
    """Rows (already in round order) cut into shards of ``rows_per_shard``; one empty shard for no rows."""
    return [rows[i : i + rows_per_shard] for i in range(0, max(len(rows), 1), rows_per_shard)]


RULE = (
    "rows sorted by query_id; shard k = rows [k*R, (k+1)*R) (R = rows_per_shard); part I of N = shards "
    "[floor((I-1)*K/N), floor(I*K/N)) of the K shards"
)


def agreed(stats: list[dict], keys: tuple[str, ...]) -> dict:
    """The one value of each of ``keys`` (model fingerprints, generator ids) in the stats of every shard of a round,
    or an error when its parts ran with different models."""
    found = {}
    for key in keys:
        values = {json.dumps(s.get(key)) for s in stats}
        if len(values) > 1:
            raise NeatError(
                f"the round's shards were written with different {key} values "
                f"({', '.join(sorted(values))}): its parts ran with different models; delete the round "
                "and run every part with the same"
            )
        found[key] = stats[0].get(key) if stats else None
    return found


def parts_provenance(records: list[dict], total_shards: int) -> dict:
    """The manifest's ``extra.parts``: how many parts wrote the round, by which rule, and each part's record (its
    shards, host, pid, when it finished and its own accounting)."""
    records = sorted(
        ({k: v for k, v in r.items() if k != "fingerprint"} for r in records),
        key=lambda r: int(r["part"].split("/")[0]),
    )
    return {"count": len(records), "rule": RULE, "shards": total_shards, "parts": records}

"""Shard write / verified read throughput (rows/s) for synthetic ranked rows, and the commit step alone (hash every
file, read every row back to check that each query is there once, summarise, write the manifest).

    .venv/bin/python bench/bench_shards.py [--rows 20000] [--responses 6] [--rows-per-shard 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_info  # noqa: E402

from neat_data.ranking import make_response  # noqa: E402
from neat_data.shards import RoundWriter, read_round, round_dir  # noqa: E402

SOURCES = ["dataset_chosen", "dataset_rejected", "positive_prompt", "negative_prompt"]


def synthetic_rows(n: int, k: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    words = "the a model reply helpful harmless question answer please sure cannot help with that".split()
    rows = []
    for i in range(n):
        responses = [
            make_response(" ".join(rng.choices(words, k=60)) + f" {i}.{j}", SOURCES[j % 4], reward=rng.gauss(0, 2))
            for j in range(k)
        ]
        messages = [{"role": "user", "content": " ".join(rng.choices(words, k=40))}]
        rows.append({"query_id": f"{i:016x}", "messages": messages, "responses": responses, "origin": [f"b:{i}"]})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--responses", type=int, default=6)
    ap.add_argument("--rows-per-shard", type=int, default=2000)
    args = ap.parse_args()
    rows = synthetic_rows(args.rows, args.responses)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        w = RoundWriter(round_dir(tmp, 0), 0, config={"bench": True})
        for s in range(0, len(rows), args.rows_per_shard):
            w.write_shard(s // args.rows_per_shard, rows[s : s + args.rows_per_shard])
        t_commit = time.perf_counter()
        manifest = w.commit(expected=[r["query_id"] for r in rows])  # what the last part of a round does
        t_commit = time.perf_counter() - t_commit
        t_write = time.perf_counter() - t0
        t0 = time.perf_counter()
        back = read_round(round_dir(tmp, 0))
        t_read = time.perf_counter() - t0
        size = sum(s["bytes"] for s in manifest["shards"])
    assert len(back) == len(rows)
    print(
        json.dumps(
            {
                "benchmark": "shards",
                "rows": args.rows,
                "responses_per_row": args.responses,
                "shards": len(manifest["shards"]),
                "bytes": size,
                "write_rows_per_s": args.rows / t_write,
                "verified_read_rows_per_s": args.rows / t_read,
                "write_s": t_write,
                "commit_s": t_commit,
                "read_s": t_read,
                "machine": machine_info(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

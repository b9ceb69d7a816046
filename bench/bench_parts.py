"""A round in 2 parts at once vs in 1 process, on the shared dev data: wall time of each stage and whether the
rounds are the same row for row.

Two stages, each run three ways into fresh directories (no score cache shared between runs):

* ``one``: the stage as one process (torch's default threads);
* ``two``: ``--part 1/2`` and ``--part 2/2`` as two processes started together (each with torch's default threads,
  so on a 2-core machine 4 threads share 2 cores);
* ``two_1thread``: the same with ``OMP_NUM_THREADS=1`` per part (one core each).

Stages: ``neat score`` on the 1600 real HH-RLHF pairs (the default RM), then ``neat generate`` of round 1 from that
round 0 on ``--queries`` queries (negative and positive prompt, ``--max-new-tokens``, the default policy).

    .venv/bin/python bench/bench_parts.py [--hh PATH] [--queries 32] [--max-new-tokens 32] \\
        > docs/results/bench-parts.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import REAL_HH, machine_info  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from neat_data.models import resolve_policy, resolve_rm  # noqa: E402
from neat_data.shards import read_round, round_dir  # noqa: E402

WAYS = {"one": (None, {}), "two": (2, {}), "two_1thread": (2, {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})}


def run_stage(args: list[str], parts: int | None, env: dict, home: Path) -> float:
    """Wall seconds of ``neat <args>`` in one process or in ``parts`` processes started together."""
    env = {**os.environ, "NEAT_HOME": str(home), **env}  # its own score cache (the models are passed as paths)
    commands = [args] if parts is None else [[*args, "--part", f"{i}/{parts}"] for i in range(1, parts + 1)]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "flows.cli", *c],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for c in commands
    ]
    outputs = [p.communicate()[0] for p in procs]
    seconds = time.perf_counter() - start
    for p, out in zip(procs, outputs):
        if p.returncode != 0:
            raise SystemExit(f"`neat {' '.join(args)}` failed:\n{out[-3000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hh", default=str(REAL_HH))
    ap.add_argument("--queries", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    args = ap.parse_args()
    rm, policy = resolve_rm("default"), resolve_policy("default")  # converted once, into the checkout's data/
    load_before = os.getloadavg()[0]
    results: dict = {"score": {}, "generate": {}}
    with tempfile.TemporaryDirectory(prefix="bench-parts-") as tmp:
        tmp = Path(tmp)
        for way, (parts, env) in WAYS.items():
            out = tmp / way
            results["score"][way] = run_stage(
                ["score", "--dataset", args.hh, "--rm", rm, "--out", str(out), "--rows-per-shard", "100"],
                parts,
                env,
                tmp / f"home-{way}",
            )
        for way, (parts, env) in WAYS.items():
            out = tmp / way
            results["generate"][way] = run_stage(
                [
                    "generate",
                    "--from",
                    str(round_dir(out, 0)),
                    "--policy",
                    policy,
                    "--rm",
                    rm,
                    "--limit",
                    str(args.queries),
                    "--max-new-tokens",
                    str(args.max_new_tokens),
                    "--n",
                    "1",
                    "--rows-per-shard",
                    "8",
                ],
                parts,
                env,
                tmp / f"home-{way}",
            )
        same = {
            index: all(
                read_round(round_dir(tmp / way, index)) == read_round(round_dir(tmp / "one", index)) for way in WAYS
            )
            for index in (0, 1)
        }
        queries = {index: len(read_round(round_dir(tmp / "one", index))) for index in (0, 1)}
    print(
        json.dumps(
            {
                "bench": "parts",
                "data": Path(args.hh).name,
                "score": {
                    "queries": queries[0],
                    "seconds": results["score"],
                    "speedup_two": results["score"]["one"] / results["score"]["two"],
                    "speedup_two_1thread": results["score"]["one"] / results["score"]["two_1thread"],
                },
                "generate": {
                    "queries": queries[1],
                    "conversations": 2 * queries[1],
                    "max_new_tokens": args.max_new_tokens,
                    "seconds": results["generate"],
                    "speedup_two": results["generate"]["one"] / results["generate"]["two"],
                    "speedup_two_1thread": results["generate"]["one"] / results["generate"]["two_1thread"],
                },
                "rounds_identical_to_one_part": {f"round {i}": v for i, v in same.items()},
                "machine": {**machine_info("float32"), "loadavg_1m_before": load_before},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

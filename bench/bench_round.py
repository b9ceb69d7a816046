"""End to end: the main job (`neat run`, the Prefect rounds loop) on the embedded default models, timed per stage.

    .venv/bin/python bench/bench_round.py [--config configs/demo-cpu.yaml] [--rounds 1]

Runs ``neat run`` exactly as a user does (a fresh Prefect home, a fresh output directory) on a copy of the
config with ``out:`` in a temporary directory and ``rounds:`` set, measures the wall time of the whole job, and
splits it into stages by the times their commit markers appeared (round manifests, the adapter's
``result.json``, evaluation files). Stage times include each stage's process start and model loading. With
``--rounds 2`` on the demo config this is ``make demo``. Prints one JSON object.
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

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._machine import machine_info  # noqa: E402
from neat_data.shards import MANIFEST  # noqa: E402


def stage_marks(out: Path, rounds: int) -> list[tuple[str, Path]]:
    """(stage, file whose appearance ends it), in the order the flow runs them."""
    marks = [("score round 0", out / "round-000" / MANIFEST), ("eval round 0", out / "eval" / "round-000.json")]
    for r in range(1, rounds + 1):
        marks += [
            (f"generate round {r}", out / f"round-{r:03d}" / MANIFEST),
            (f"train round {r}", out / "adapters" / f"round-{r:03d}" / "result.json"),
            (f"eval round {r}", out / "eval" / f"round-{r:03d}.json"),
        ]
    return marks + [("report", out / "reward_curve.png")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "demo-cpu.yaml"))
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--keep", help="write the run here (a new directory) instead of a temporary one")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="neat-bench-round-") as tmp:
        out = Path(args.keep).resolve() if args.keep else Path(tmp) / "run"
        config = yaml.safe_load(Path(args.config).read_text())
        config.update(out=str(out), rounds=args.rounds)
        config_path = Path(tmp) / "config.yaml"
        config_path.write_text(yaml.safe_dump(config))
        env = {**os.environ, "PREFECT_HOME": str(Path(tmp) / "prefect"), "PREFECT_LOGGING_LEVEL": "WARNING"}
        start = time.time()
        proc = subprocess.run(
            [sys.executable, "-m", "flows.cli", "run", "--config", str(config_path)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        total = time.time() - start
        if proc.returncode != 0:
            sys.exit(f"neat run failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        stages, previous = {}, start
        for name, path in stage_marks(out, args.rounds):
            done = path.stat().st_mtime
            stages[name] = round(done - previous, 1)
            previous = done
        extras = [
            json.loads((out / f"round-{r:03d}" / MANIFEST).read_text())["extra"] for r in range(1, args.rounds + 1)
        ]
        train = [
            json.loads((out / "adapters" / f"round-{r:03d}" / "result.json").read_text())
            for r in range(1, args.rounds + 1)
        ]
        evals = [json.loads((out / "eval" / f"round-{r:03d}.json").read_text()) for r in range(args.rounds + 1)]
        result = {
            "benchmark": "round_end_to_end",
            "config": args.config,
            "rounds": args.rounds,
            "total_seconds": round(total, 1),
            "stage_seconds": stages,
            "generate": [
                {
                    "queries": x["generate"]["queries"],
                    "samples": x["generate"]["samples"],
                    "tokens": x["generate"]["tokens"],
                    "tokens_per_s": x["generate"]["tokens_per_s"],
                    "pos_gt_neg_share": x["efficacy"]["pos_gt_neg_share"],
                }
                for x in extras
            ],
            "train": [
                {"steps": t["steps"], "response_tokens": t["response_tokens"], "seconds": t["seconds_this_session"]}
                for t in train
            ],
            "eval_mean_reward_by_round": [e["mean_reward"] for e in evals],
            "machine": machine_info("float32"),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

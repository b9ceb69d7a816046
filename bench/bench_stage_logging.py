"""What streaming a stage's output into its Prefect task log costs, per line.

    .venv/bin/python bench/bench_stage_logging.py [--lines 20000]

The rounds flow runs every stage as a child process and logs each line the child prints into the task run's log
(``flows.rounds.run_stage``), which Prefect sends to its API in batches. This runs a child that prints ``--lines``
lines, once through ``run_stage`` inside a flow (Prefect's temporary local API as ``neat run`` uses, or the server
``PREFECT_API_URL`` names) and once with
its output thrown away (``subprocess.run`` to /dev/null, the floor), and reports the difference per line (until the
last line reached the API) and the flow process's CPU time per line (its log threads compete with the stage for
the cores). Run it with stderr to /dev/null: the lines are printed on the console too, as in ``neat run``. Multiply
by the lines a stage prints (the main job's count is in docs/flows.md) to get the cost for a run. Prints one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._machine import machine_info  # noqa: E402


def child(lines: int) -> list[str]:
    script = f"import sys\nfor i in range({lines}):\n    print(f'step {{i}}: loss 0.123 grad_norm 4.56', flush=True)\n"
    return [sys.executable, "-c", script]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")  # a loaded machine starts slowly

    from prefect import flow, task

    from flows.rounds import run_stage

    argv = child(args.lines)

    from prefect.logging.handlers import APILogHandler

    @task
    def stage() -> tuple[float, float]:
        """(wall seconds until every line reached the API, CPU seconds of this process meanwhile, all threads)."""
        start, cpu = time.perf_counter(), time.process_time()
        run_stage(["ignored"], launcher=argv[:3])  # argv: python -c SCRIPT (the flows.cli arguments are ignored)
        APILogHandler().flush()  # the lines are sent in batches by a background thread: wait for the last one
        return time.perf_counter() - start, time.process_time() - cpu

    @flow
    def streamed() -> list[tuple[float, float]]:
        return [stage() for _ in range(args.repeats)]

    plain = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        plain.append(time.perf_counter() - start)
    logged = streamed()
    best_logged, best_plain = min(w for w, _ in logged), min(plain)
    print(
        json.dumps(
            {
                "lines": args.lines,
                "repeats": args.repeats,
                "seconds_streamed_into_task_log": [round(w, 3) for w, _ in logged],
                "cpu_seconds_of_the_flow_process": [round(c, 3) for _, c in logged],
                "seconds_output_discarded": [round(s, 3) for s in plain],
                "overhead_us_per_line": round(1e6 * (best_logged - best_plain) / args.lines, 1),
                "flow_cpu_us_per_line": round(1e6 * min(c for _, c in logged) / args.lines, 1),
                "machine": machine_info("float32"),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

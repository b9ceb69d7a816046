"""The main job: run the NEAT rounds loop described by a YAML config as a Prefect flow.

Without PREFECT_API_URL the flow runs against Prefect's temporary local API (nothing to start); with it set,
runs appear in that server's UI. Re-running the same command after a crash resumes: finished rounds, shards,
adapters and evaluations are reused and unfinished ones redone.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Config:
    config: str = field(metadata={"help": "YAML run config, e.g. configs/demo-cpu.yaml"})
    check: bool = field(default=False, metadata={"help": "only validate the config and print it"})


def run(config: Config) -> int:
    from neat_data.errors import NeatError
    from neat_data.locks import check_unlocked

    from .run_config import load_run_config

    run_config = load_run_config(config.config)  # fail fast, before Prefect starts
    if config.check:
        print(json.dumps(vars(run_config), indent=2))
        return 0
    check_unlocked(run_config.out, what=f"the run directory {run_config.out}")  # another run: fail at once too
    # Prefect's usage telemetry is useless offline and its heartbeat competes for the local API's SQLite
    # database ("database is locked" in the log); an explicit setting of the user's wins.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect waits 20 s for its temporary local API to start; on a loaded 2-core machine that has timed out
    # ("Timed out while attempting to connect to ephemeral Prefect API server"): wait longer, unless told otherwise.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from .rounds import BAD_INPUT, StageFailed, neat_rounds

    try:
        report = neat_rounds(str(Path(config.config).resolve()))
    except StageFailed as e:  # the stage printed its own error above
        if e.returncode == BAD_INPUT:
            raise NeatError(
                f"{e.stage} reported bad input (its error is above); fix it and run the same "
                "command again: finished stages are kept"
            ) from None
        print(
            f"neat run: error: {e.stage} failed with exit code {e.returncode} (its output is above); run the "
            "same command again to resume",
            file=sys.stderr,
        )
        return 1
    out = Path(run_config.out)
    print(f"\nfinished run {run_config.name!r}:")
    print(f"  ranked shards : {out}/round-NNN/ (inspect with: neat inspect {out})")
    print(f"  adapters      : {out / 'adapters'}/round-NNN/")
    print(f"  evaluations   : {out / 'eval'}/round-NNN.json")
    print(f"  report        : {report} and {out / 'reward_curve.png'}")
    warnings = json.loads(Path(report).read_text())["warnings"]
    if warnings:
        bar = "!" * 100
        lines = "\n".join(f"WARNING: {w}" for w in warnings)
        print(f"\n{bar}\n{lines}\n(also in {report}: warnings)\n{bar}", file=sys.stderr)
    return 0

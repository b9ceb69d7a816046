"""Serve the data-generation flow on a schedule (Prefect ``flow.serve``).

Each scheduled run makes sure round 0 exists and writes the next round, sampled with the latest trained
adapter. Serving needs a Prefect API that outlives the process to show runs in a UI: start one with
``prefect server start`` and ``export PREFECT_API_URL=http://127.0.0.1:4200/api`` first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from neat_data.errors import NeatError, check_fields


@dataclass
class Config:
    config: str = field(metadata={"help": "YAML run config, e.g. configs/demo-cpu.yaml"})
    cron: str = field(default="0 3 * * *", metadata={"help": "cron schedule (UTC), e.g. '0 3 * * *' = 03:00 daily"})
    name: str | None = field(default=None, metadata={"help": "deployment name (default: <config name>-<flow>)"})
    flow: Literal["generate", "rounds"] = field(
        default="generate", metadata={"help": "which flow: generate (one new round) or rounds"}
    )

    def __post_init__(self):
        from prefect.client.schemas.schedules import CronSchedule

        check_fields(self)
        try:
            CronSchedule(cron=self.cron)
        except ValueError as e:
            raise NeatError(f"--cron {self.cron!r} is not a valid cron expression: {e}") from e


def deployment_args(config: Config) -> tuple:
    """(flow, serve keyword arguments) for ``flow.serve`` / ``flow.to_deployment``."""
    from .rounds import generate_data, neat_rounds
    from .run_config import load_run_config

    run_config = load_run_config(config.config)
    chosen = generate_data if config.flow == "generate" else neat_rounds
    name = config.name or f"{run_config.name}-{config.flow}"
    from prefect.schedules import Cron

    schedule = Cron(config.cron, timezone="UTC")  # as --cron's help and prefect.yaml say (Prefect's default: none)
    return chosen, {
        "name": name,
        "schedules": [schedule],
        "parameters": {"config_path": str(Path(config.config).resolve())},
    }


def run(config: Config) -> int:
    chosen, kwargs = deployment_args(config)
    chosen.serve(**kwargs)
    return 0

"""Resuming a ``neat train`` output directory: its identity (``train_config.json``: what must match for a re-run to
continue it), claiming or replacing it (``prepare_out``) and finding the last checkpoint the Trainer finished writing
(``last_complete_checkpoint``, which removes one killed while being saved).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from neat_data.atomic import atomic_write_json, sha256_file
from neat_data.errors import NeatError
from neat_data.shards import code_version, describe_changes, fingerprint

from .data import DataReport

CHECKPOINTS = "checkpoints"
IDENTITY = "train_config.json"
RESULT = "result.json"


def rank() -> int:
    """This process's rank in a multi-process (DDP) run; 0 alone."""
    return int(os.environ.get("RANK", "0"))


def log(msg: str) -> None:
    """A progress line on stderr, from rank 0 only."""
    if rank() == 0:
        print(msg, file=sys.stderr, flush=True)


def config_sha256(model_dir: str) -> str | None:
    path = Path(model_dir) / "config.json"
    return sha256_file(path) if path.is_file() else None


def run_identity(config, policy_path: str, report: DataReport) -> dict:
    """What must match for a re-run to resume this output directory (written as train_config.json)."""
    return {
        "config": config.to_dict(),
        "policy_path": policy_path,
        "policy_config_sha256": config_sha256(policy_path),
        "adapter_sha256": sha256_file(Path(config.adapter) / "adapter_model.safetensors") if config.adapter else None,
        "data": [r["manifest_sha256"] for r in report.rounds],
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
    }


def check_out(out: Path) -> None:
    """``out`` can take this run: not a finished run, and not a folder of something else (read-only: it runs before
    the write lock too, so that a refused run leaves nothing behind, not even a lock file)."""
    if (out / RESULT).exists():
        raise NeatError(f"{out} holds a finished training run ({RESULT} exists); choose another --output_dir")
    if not (out / IDENTITY).exists() and out.is_dir() and any(not p.name.startswith(".") for p in out.iterdir()):
        raise NeatError(f"{out} is not empty and not a neat train output; choose an empty or new --output_dir")


def prepare_out(out: Path, identity: dict) -> Path | None:
    """Claim ``out`` (fresh) or resume it; returns the checkpoint to resume from, if any. The caller holds the
    write lock of ``out``."""
    marker = out / IDENTITY
    check_out(out)
    replace = False
    if marker.exists():
        old = json.loads(marker.read_text())
        if fingerprint(old["identity"]) != fingerprint(identity):
            if any((out / CHECKPOINTS).glob("checkpoint-*")):
                raise NeatError(
                    f"{marker}: {out} holds an unfinished run with other settings or data "
                    f"({describe_changes(old['identity'], identity)}) that has checkpoints; refusing to mix them. "
                    f"Re-run the command that started it to finish it, delete {out}, or use another --output_dir"
                )
            log(
                f"note: {out} holds a run with other settings ({describe_changes(old['identity'], identity)}) "
                "that stopped before its first checkpoint; starting it again with these"
            )
            replace = True
    last = last_complete_checkpoint(out / CHECKPOINTS)
    if rank() == 0:
        out.mkdir(parents=True, exist_ok=True)
        if replace or not marker.exists():
            atomic_write_json(
                marker,
                {
                    "identity": identity,
                    "code_version": code_version(),
                    "policy_path": identity["policy_path"],
                    "policy_config_sha256": identity["policy_config_sha256"],
                },
            )
    return last


def last_complete_checkpoint(checkpoints: Path) -> Path | None:
    """The latest checkpoint the Trainer finished writing, if any (the log lines of later steps are dropped by
    ``trainer.StepLog`` when training resumes from it).

    The Trainer writes ``trainer_state.json`` last and not atomically, so a process killed while saving leaves
    a ``checkpoint-N`` without a readable state: such a directory is removed (its step is simply redone).
    """
    found = sorted(checkpoints.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]), reverse=True)
    for path in found:
        try:
            json.loads((path / "trainer_state.json").read_text())["global_step"]
            return path
        except (OSError, ValueError, KeyError):
            if rank() == 0:
                log(f"removing {path}: the checkpoint was not finished (killed while saving)")
                shutil.rmtree(path)
    return None

"""Prefect flows for NEAT rounds. Orchestration only: every stage is the stage's own ``neat`` command, run as a
separate process (so the memory — and a GPU used by vLLM — is free again when it ends), and tasks pass paths.

Run layout under ``config.out``::

    run.json                     the run's identity (a different config is refused)
    round-000/                   the dataset scored by the RM (neat score)
    round-NNN/                   round N: samples of the round N-1 policy, merged and ranked (neat generate)
    adapters/round-NNN/          the policy trained in round N (neat train); renamed into place when finished
    eval/round-NNN.json          evaluation of the round N policy on held-out queries (round 0 = base policy)
    eval/round-NNN.responses.jsonl   its answers (tokens, reward, judge reward): the report's length control
    report.json, reward_curve.png    per round: training data, held-out evaluation; reward-hacking warnings

Resume: every task first looks for its finished output and reuses it. Rounds are committed by their manifest
(an unfinished one is resumed shard by shard by ``neat generate``), adapters by an atomic rename, evaluations
by an atomic write. Tasks are side-effecting, so Prefect's input caching is off (``NO_CACHE``): the files are
the cache. Transient failures are retried once; bad input (exit code 2) is not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from neat_data.atomic import atomic_write_json
from neat_data.errors import NeatDataError
from neat_data.shards import fingerprint, is_round_dir, list_rounds, load_manifest, round_dir
from neat_train import metrics

from .run_config import RunConfig, load_run_config, section_args

BAD_INPUT = 2


class StageFailed(RuntimeError):
    def __init__(self, argv: list[str], returncode: int):
        super().__init__(f"`{' '.join(argv)}` failed with exit code {returncode}")
        self.returncode = returncode


def _transient(task_, task_run, state) -> bool:
    """Retry unless the stage reported bad input (exit code 2): that would fail the same way again."""
    exc = state.result(raise_on_failure=False)
    return not (isinstance(exc, StageFailed) and exc.returncode == BAD_INPUT)


def run_stage(args: list[str], launcher: list[str] | None = None, capture: bool = False) -> str:
    """Run ``neat <args>`` as a child process; returns its stdout when ``capture``."""
    argv = [*(launcher or [sys.executable]), "-m", "flows.cli", *args]
    get_run_logger().info("running: %s", " ".join(argv))
    proc = subprocess.run(argv, stdout=subprocess.PIPE if capture else None, text=True)
    if proc.returncode != 0:
        raise StageFailed(argv, proc.returncode)
    return proc.stdout or ""


def adapter_dir(config: RunConfig, index: int) -> Path:
    return Path(config.out) / "adapters" / f"round-{index:03d}"


def eval_path(config: RunConfig, index: int) -> Path:
    return Path(config.out) / "eval" / f"round-{index:03d}.json"


def answers_path(config: RunConfig, index: int) -> Path:
    """The answers of the round ``index`` evaluation (``neat eval --responses-out``), written before its JSON."""
    return Path(config.out) / "eval" / f"round-{index:03d}.responses.jsonl"


def claim_run_dir(config: RunConfig) -> None:
    """Record the run's identity; refuse a data root written with a different config."""
    out = Path(config.out)
    marker = out / "run.json"
    fp = fingerprint(config.identity())
    if marker.exists():
        if json.loads(marker.read_text())["fingerprint"] != fp:
            raise NeatDataError(
                f"{out} holds a run made with a different config (only `rounds` may change to extend a run); "
                f"refusing to mix them. Use another `out:` or delete {out} to start fresh."
            )
        return
    if out.exists() and any(out.iterdir()):
        raise NeatDataError(f"{out} is not empty and not a neat run; choose another `out:` directory")
    atomic_write_json(marker, {"fingerprint": fp, "config": config.identity()})


@task(cache_policy=NO_CACHE, retries=1, retry_condition_fn=_transient)
def score(config: RunConfig) -> str:
    """Round 0: the dataset's chosen/rejected responses scored by the RM and ranked."""
    directory = round_dir(config.out, 0)
    if not is_round_dir(directory):
        run_stage(["score", "--dataset", config.dataset, "--rm", config.rm, "--out", config.out,
                   *section_args(config.data), *section_args(config.score)])
    return str(directory)


@task(cache_policy=NO_CACHE, retries=1, retry_condition_fn=_transient)
def generate_round(config: RunConfig, index: int, adapter: str | None) -> str:
    """Round ``index``: sample with the round ``index-1`` policy, score, merge with round ``index-1``, rank."""
    directory = round_dir(config.out, index)
    if not is_round_dir(directory):
        run_stage(["generate", "--round", str(index), "--policy", config.policy, "--rm", config.rm,
                   "--from", str(round_dir(config.out, index - 1)), "--out", config.out,
                   *(["--adapter", adapter] if adapter else []), *section_args(config.generate)])
    return str(directory)


@task(cache_policy=NO_CACHE, retries=1, retry_condition_fn=_transient)
def train_round(config: RunConfig, index: int, adapter: str | None) -> str:
    """Train the round ``index`` policy (from the previous adapter) on round ``index``'s ranked shards, or on
    rounds 1..``index`` with ``train_on: all``.

    Trains into ``<adapter>.partial`` (resuming from its last checkpoint after a crash) and renames it into
    place when the process succeeds, so a finished adapter directory is always complete.
    """
    final = adapter_dir(config, index)
    if final.is_dir():
        return str(final)
    partial = final.with_name(final.name + ".partial")
    first = 1 if config.train_on == "all" else index
    shards = [str(round_dir(config.out, r)) for r in range(first, index + 1)]
    if not (partial / "result.json").is_file():  # result.json is written last: training finished
        run_stage(["train", "--shards", *shards, "--policy", config.policy, "--out", str(partial),
                   *(["--adapter", adapter] if adapter else []), *section_args(config.train)],
                  launcher=config.train_launcher and [*config.train_launcher])
    os.replace(partial, final)
    return str(final)


@task(cache_policy=NO_CACHE, retries=1, retry_condition_fn=_transient)
def evaluate_round(config: RunConfig, index: int, adapter: str | None) -> str:
    """Evaluate the round ``index`` policy on held-out queries; returns the path of its JSON report."""
    path = eval_path(config, index)
    if not path.is_file():
        out = run_stage(["eval", "--policy", config.policy, "--dataset", config.dataset, "--rm", config.rm,
                         "--json", "--responses-out", str(answers_path(config, index)),
                         *(["--adapter", adapter] if adapter else []), *section_args(config.eval)],
                        capture=True)
        atomic_write_json(path, {"round": index, "adapter": adapter, **json.loads(out)})
    return str(path)


def build_report(config: RunConfig) -> dict:
    """report.json: per round its training data (all queries of the round's shards, scored by the training RM) and
    its held-out evaluation, with the numbers compared across rounds (``metrics.curves_across_rounds``) and the
    reward-hacking warnings (``metrics.hacking_warnings``)."""
    from neat_train.eval_cmd import read_answers

    rows, evals, answers = [], [], {}
    for directory in list_rounds(config.out):
        manifest = load_manifest(directory)
        index, summary = manifest["round"], manifest["summary"]
        ev = eval_path(config, index)
        evaluation = json.loads(ev.read_text()) if ev.is_file() else None
        if evaluation:
            evals.append(evaluation)
            if answers_path(config, index).is_file():
                answers[index] = read_answers(answers_path(config, index), "evaluation answers")
        rows.append({
            "round": index,
            "adapter": str(adapter_dir(config, index)) if adapter_dir(config, index).is_dir() else None,
            "training_data": {
                "path": str(directory),
                "queries": summary["queries"],
                "responses": summary["responses"],
                "pos_gt_neg_share": summary["pos_gt_neg_share"],
                "mean_reward_by_source": {k: v["mean"] for k, v in summary["reward"].items()},
            },
            "heldout": None,
            "eval": evaluation,
        })
    curves = metrics.curves_across_rounds(evals, answers)
    for heldout in curves["rounds"]:
        next(r for r in rows if r["round"] == heldout["round"])["heldout"] = heldout
    judge = next((ev["judge"]["rm"] for ev in evals if ev.get("judge")), None)
    return {"name": config.name, "out": config.out, "rm": config.rm, "judge": judge,
            "warnings": metrics.hacking_warnings(curves["rounds"]), "length_control": curves["length_control"],
            "rounds": rows}


@task(cache_policy=NO_CACHE)
def write_report(config: RunConfig) -> str:
    """report.json and reward_curve.png; each reward-hacking warning is logged as a warning."""
    report = build_report(config)
    path = Path(config.out) / "report.json"
    atomic_write_json(path, report)
    for warning in report["warnings"]:
        get_run_logger().warning("REWARD HACKING? %s", warning)
    if any(r["heldout"] for r in report["rounds"]):
        run_stage(["eval", "--plot", str(Path(config.out) / "reward_curve.png"), "--plot-from", str(path)])
    return str(path)


@flow(name="neat-rounds", log_prints=True)
def neat_rounds(config_path: str) -> str:
    """The NEAT loop: score round 0, then for each round generate → train → evaluate; write the report."""
    config = load_run_config(config_path)
    claim_run_dir(config)
    score(config)
    evaluate_round(config, 0, None)
    adapter = None
    for index in range(1, config.rounds + 1):
        generate_round(config, index, adapter)
        adapter = train_round(config, index, adapter)
        evaluate_round(config, index, adapter)
    return write_report(config)


@flow(name="neat-generate-data", log_prints=True)
def generate_data(config_path: str) -> str:
    """One scheduled data-generation run: make sure round 0 exists, then write the next round, sampled with the
    latest trained adapter (or the base policy when none is trained yet)."""
    config = load_run_config(config_path)
    claim_run_dir(config)
    score(config)
    latest = load_manifest(list_rounds(config.out)[-1])["round"]
    adapter = adapter_dir(config, latest)
    if latest >= 1 and not adapter.is_dir():
        raise NeatDataError(
            f"round {latest} has no trained adapter at {adapter}; train it (neat run) before generating round "
            f"{latest + 1}, so that every round samples from the previous round's policy"
        )
    return generate_round(config, latest + 1, str(adapter) if latest >= 1 else None)


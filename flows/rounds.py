"""Prefect flows for NEAT rounds. Orchestration only: every stage is the stage's own ``neat`` command, run as a
separate process (so the memory — and a GPU used by vLLM — is free again when it ends), and tasks pass paths.

What the Prefect UI shows: each stage's output, streamed line by line into its task run's log while it runs; task
runs named by round (``generate round 2``); a log line when a finished stage is reused; and per round the artifacts
built by ``neat_train.summaries`` (data: reward by source, separation, fluency, the efficacy warning; training
losses; evaluation), then an overview table of every round. ``rounds`` and the main knobs (``KNOBS``) are flow
parameters, so a custom run from the UI can change them on top of the YAML config.

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

import dataclasses
import json
import logging
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError

from neat_data.atomic import atomic_write_bytes, atomic_write_json
from neat_data.errors import NeatError
from neat_data.locks import WriteLock
from neat_data.shards import MANIFEST, fingerprint, is_round_dir, list_rounds, load_manifest, round_dir, side_file
from neat_train import metrics, summaries

from .run_config import ParallelConfig, RunConfig, adapter_dir, answers_path, eval_path, load_run_config, stage_command

BAD_INPUT = 2
#: a stage's progress bars (tqdm) update its task log at most this often (seconds), unless TQDM_MININTERVAL is set
PROGRESS_EVERY_S = "10"


class StageFailed(RuntimeError):
    def __init__(self, argv: list[str], returncode: int):
        super().__init__(f"`{' '.join(argv)}` failed with exit code {returncode}")
        self.returncode = returncode
        self.stage = f"the stage `neat {argv[argv.index('flows.cli') + 1]}`" if "flows.cli" in argv else "a stage"


class _NoUserErrorTraceback(logging.Filter):
    """Bad input is reported in one line: by the stage that found it (``StageFailed``: the stage printed its own
    error) or by the CLI (``NeatError``). Prefect logs these failures without a traceback, which would only
    repeat the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], (StageFailed, NeatError)):
            record.exc_info = record.exc_text = None
        return True


for _name in ("prefect.flow_runs", "prefect.task_runs"):
    logging.getLogger(_name).addFilter(_NoUserErrorTraceback())


def _transient(task_, task_run, state) -> bool:
    """Retry unless the stage reported bad input (exit code 2): that would fail the same way again."""
    exc = state.result(raise_on_failure=False)
    return not (isinstance(exc, StageFailed) and exc.returncode == BAD_INPUT)


def _logger() -> logging.Logger | logging.LoggerAdapter:
    """The task run's logger (its lines show in the UI), or a plain one when a task's ``.fn`` is called directly."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("neat.flows")


def _log_lines(pipe, logger) -> None:
    for line in pipe:  # text mode: "\r" (a progress bar's update) ends a line too
        if line.strip():
            logger.info(line.rstrip())


def run_stage(
    args: list[str], launcher: list[str] | None = None, capture: bool = False, env: dict[str, str] | None = None
) -> str:
    """Run ``neat <args>`` as a child process, streaming its output line by line into the task run's log while
    it runs; with ``capture`` its stdout is returned instead (and only its stderr is logged). ``env``: variables
    set for the child on top of this process's environment."""
    argv = [*(launcher or [sys.executable]), "-m", "flows.cli", *args]
    logger = _logger()
    logger.info("running: %s", " ".join(argv))
    env = {"TQDM_MININTERVAL": PROGRESS_EVERY_S, **os.environ, **(env or {})}
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if capture else subprocess.STDOUT,
        text=True,
        errors="replace",
        env=env,
    )
    reader = threading.Thread(target=_log_lines, args=(proc.stderr if capture else proc.stdout, logger), daemon=True)
    reader.start()
    out = proc.stdout.read() if capture else ""
    reader.join()
    if proc.wait() != 0:
        raise StageFailed(argv, proc.returncode)
    return out


def _reused(what: str, path: Path) -> None:
    _logger().info("%s is finished (%s exists): reusing it", what, path)


def _key(config: RunConfig, index: int | None, what: str) -> str:
    """An artifact key (lowercase letters, digits, dashes): the same key across runs gives the UI its history."""
    name = re.sub(r"[^a-z0-9]+", "-", config.name.lower()).strip("-") or "run"
    return f"{name}-round-{index}-{what}" if index is not None else f"{name}-{what}"


def publish_data(config: RunConfig, directory: Path) -> None:
    """The round's data as a markdown artifact; its efficacy warning also as a WARNING log line."""
    data = summaries.round_data(load_manifest(directory))
    create_markdown_artifact(
        summaries.data_markdown(data),
        key=_key(config, data["round"], "data"),
        description=f"round {data['round']} data ({directory})",
    )
    if data["warning"]:
        _logger().warning("round %d: the negative prompt gives NEAT little signal: %s", data["round"], data["warning"])


def claim_run_dir(config: RunConfig) -> WriteLock:
    """Take the run's write lock (a second run into the same ``out:`` fails at once, naming the first) and record
    the run's identity; refuse a data root written with a different config. Returns the held lock."""
    out = Path(config.out)
    marker = out / "run.json"
    fp = fingerprint(config.identity())
    if not marker.exists() and out.exists() and any(not p.name.startswith(".") for p in out.iterdir()):
        raise NeatError(f"{out} is not empty and not a neat run; choose another `out:` directory")
    lock = WriteLock(out, what=f"the run directory {out}")
    if marker.exists():
        recorded = json.loads(marker.read_text())
        if recorded["fingerprint"] != fp:
            lock.release()
            raise NeatError(
                f"{out} holds a run made with a different config (differs in: "
                f"{', '.join(_differences(recorded.get('config', {}), config.identity())) or 'unknown'}; only "
                f"`rounds` may change to extend a run); refusing to mix them. Use another `out:` or delete {out} to "
                "start fresh."
            )
        return lock
    atomic_write_json(marker, {"fingerprint": fp, "config": config.identity()})
    return lock


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ, e.g. ``train.alpha (0.1 -> 0.5)``."""
    found = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key} ({a!r} -> {b!r})")
    return found


def _load(config_path: str, **overrides) -> RunConfig:
    """The run config with the flow parameters that are set on top (they are part of the run's identity; a flow
    passes its ``locals()``: its parameters)."""
    config = load_run_config(config_path, overrides)
    given = {k: v for k, v in overrides.items() if v is not None}
    if given:
        _logger().info(
            "flow parameters override %s: %s", config_path, ", ".join(f"{k}={v!r}" for k, v in given.items())
        )
    return config


@task(cache_policy=NO_CACHE, retries=1, retry_condition_fn=_transient, task_run_name="{what} part {part}")
def run_part(args: list[str], what: str, part: str, env: dict[str, str]) -> None:
    """One part of a round's stage: ``neat <args> --part I/N`` (on a Ray worker with ``backend: ray``)."""
    run_stage([*args, "--part", part], env=env)


@flow(name="neat-parts", log_prints=True)
def stage_in_parts(args: list[str], what: str, parallel: dict) -> None:
    """``neat <args>`` in ``parallel.parts`` parts at once, each part a task of this flow's task runner (Ray's
    or a thread pool's) running the stage process with its own GPU(s); the last part to finish commits the round.
    Waits for every part, then fails if one failed (re-running resumes it: finished parts rewrite nothing)."""
    spec = ParallelConfig(**parallel)
    count = spec.parts
    if spec.backend == "ray":
        import ray
        from prefect_ray.context import remote_options

        # Ray sets each worker's CUDA devices
        with remote_options(**_ray_resources(spec, ray.cluster_resources().get("GPU", 0))):
            futures = [run_part.submit(args, what, f"{i}/{count}", {}) for i in range(1, count + 1)]
    else:
        devices = _local_gpus(spec)
        futures = [run_part.submit(args, what, f"{i}/{count}", devices[i - 1]) for i in range(1, count + 1)]
    for future in futures:
        future.wait()
    failed = [f for f in futures if not f.state.is_completed()]
    if failed:
        failed[0].result()  # raises the part's error (StageFailed)


def _ray_resources(spec: ParallelConfig, cluster_gpus: float) -> dict[str, float]:
    """What each part's Ray task reserves: ``cpus_per_part`` CPUs and ``gpus_per_part`` GPUs (default: 1 where the
    cluster has GPUs, else 0)."""
    gpus = spec.gpus_per_part if spec.gpus_per_part is not None else min(1, cluster_gpus)
    return {"num_cpus": spec.cpus_per_part, "num_gpus": gpus}


def _local_gpus(spec: ParallelConfig) -> list[dict[str, str]]:
    """Each local part's ``CUDA_VISIBLE_DEVICES``: its own block of this machine's visible GPUs."""
    import torch

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    devices = visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]
    per_part = int(spec.gpus_per_part if spec.gpus_per_part is not None else min(1, len(devices)))
    if per_part == 0:
        return [{} for _ in range(spec.parts)]
    if per_part * spec.parts > len(devices):
        raise NeatError(
            f"parallel: {spec.parts} local parts x {per_part} GPU(s) need {spec.parts * per_part} "
            f"GPUs; this machine has {len(devices)}. Lower parallel.parts, or use backend: ray"
        )
    return [{"CUDA_VISIBLE_DEVICES": ",".join(devices[i * per_part : (i + 1) * per_part])} for i in range(spec.parts)]


def task_runner(spec: ParallelConfig):
    """The task runner of a round's parts: prefect-ray's ``RayTaskRunner`` (a Ray instance of our own on this
    machine, bound to 127.0.0.1 with no dashboard; or the cluster at ``address``), else a thread pool running the
    parts' processes side by side."""
    if spec.backend == "local":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=spec.parts)
    try:
        from prefect_ray import RayTaskRunner
    except ImportError as e:
        raise NeatError(
            f"parallel.backend ray needs Ray and prefect-ray ({e}): pip install 'neat[ray]', or use backend: local"
        ) from None
    if spec.address == "auto":
        return RayTaskRunner(init_kwargs={"address": "auto"})
    if spec.address:
        return RayTaskRunner(address=spec.address)
    # Ray's local instance then takes this machine's loopback address as its node address, so every server of it
    # (GCS, raylet, workers, agents) binds to 127.0.0.1; the variable must be set before Ray is imported.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    return RayTaskRunner(init_kwargs={"include_dashboard": False})


def run_round_stage(config: RunConfig, args: list[str], what: str, directory: Path) -> None:
    """A round's stage: one process, or ``parallel.parts`` parts at once (``stage_in_parts``)."""
    spec = config.parallelism()
    if spec.parts == 1:
        run_stage(args)
        return
    stage_in_parts.with_options(task_runner=task_runner(spec), flow_run_name=f"{what} in {spec.parts} parts")(
        args, what, dataclasses.asdict(spec)
    )
    if not is_round_dir(directory):
        raise NeatError(f"{what}: every part finished but {directory} is not committed; run again to commit it")


@task(cache_policy=NO_CACHE, retries=1, retry_condition_fn=_transient, task_run_name="score round 0")
def score(config: RunConfig) -> str:
    """Round 0: the dataset's chosen/rejected responses scored by the RM and ranked."""
    directory = round_dir(config.out, 0)
    if is_round_dir(directory):
        _reused("round 0", side_file(directory, MANIFEST))
    else:
        run_round_stage(config, stage_command(config, "score"), "score round 0", directory)
    publish_data(config, directory)
    return str(directory)


@task(cache_policy=NO_CACHE, retries=1, retry_condition_fn=_transient, task_run_name="generate round {index}")
def generate_round(config: RunConfig, index: int, adapter: str | None) -> str:
    """Round ``index``: sample with the round ``index-1`` policy, score, merge with round ``index-1``, rank."""
    directory = round_dir(config.out, index)
    if is_round_dir(directory):
        _reused(f"round {index}", side_file(directory, MANIFEST))
    else:
        run_round_stage(config, stage_command(config, "generate", index, adapter), f"generate round {index}", directory)
    publish_data(config, directory)
    return str(directory)


@task(cache_policy=NO_CACHE, retries=1, retry_condition_fn=_transient, task_run_name="train round {index}")
def train_round(config: RunConfig, index: int, adapter: str | None) -> str:
    """Train the round ``index`` policy (from the previous adapter) on round ``index``'s ranked shards, or on
    rounds 1..``index`` with ``train_on: all``.

    Trains into ``<adapter>.partial`` (resuming from its last checkpoint after a crash) and renames it into
    place when the process succeeds, so a finished adapter directory is always complete.
    """
    final = adapter_dir(config, index)
    if final.is_dir():
        _reused(f"the round {index} adapter", final)
    else:
        partial = final.with_name(final.name + ".partial")  # stage_command's --output_dir
        if not (partial / "result.json").is_file():  # result.json is written last: training finished
            run_stage(
                stage_command(config, "train", index, adapter),
                launcher=config.train_launcher and [*config.train_launcher],
            )
        os.replace(partial, final)
    if (final / "train_log.jsonl").is_file():
        create_markdown_artifact(
            summaries.training_markdown(final, index),
            key=_key(config, index, "training"),
            description=f"round {index} training ({final})",
        )
    return str(final)


@task(cache_policy=NO_CACHE, retries=1, retry_condition_fn=_transient, task_run_name="evaluate round {index}")
def evaluate_round(config: RunConfig, index: int, adapter: str | None) -> str:
    """Evaluate the round ``index`` policy on held-out queries; returns the path of its JSON report. The adapter's
    model card gets the numbers."""
    path = eval_path(config, index)
    if path.is_file():
        _reused(f"the round {index} evaluation", path)
    else:
        out = run_stage(stage_command(config, "eval", index, adapter), capture=True)
        atomic_write_json(path, {"round": index, "adapter": adapter, **json.loads(out)})
    if adapter and (Path(adapter) / "train_config.json").is_file():
        # also when the evaluation is reused: a run stopped between the two writes still gets its card; a card
        # that already says the same is left alone (re-running a finished run rewrites nothing)
        card = summaries.model_card(adapter, json.loads(path.read_text()))
        card_path = Path(adapter) / summaries.MODEL_CARD
        if not card_path.is_file() or card_path.read_text() != card:
            atomic_write_bytes(card_path, card.encode())
    create_table_artifact(
        summaries.evaluation(json.loads(path.read_text())),
        key=_key(config, index, "eval"),
        description=f"round {index} evaluation on held-out queries ({'base policy' if adapter is None else adapter})",
    )
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
        rows.append(
            {
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
            }
        )
    curves = metrics.curves_across_rounds(evals, answers)
    for heldout in curves["rounds"]:
        next(r for r in rows if r["round"] == heldout["round"])["heldout"] = heldout
    judge = next((ev["judge"]["rm"] for ev in evals if ev.get("judge")), None)
    return {
        "name": config.name,
        "out": config.out,
        "rm": config.rm,
        "judge": judge,
        "warnings": metrics.hacking_warnings(curves["rounds"]),
        "length_control": curves["length_control"],
        "rounds": rows,
    }


@task(cache_policy=NO_CACHE, task_run_name="report")
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


def publish_overview(config: RunConfig, report_path: str) -> None:
    """Every round of report.json in one table artifact, with the report's warnings as its description (the
    report task logs them)."""
    report = json.loads(Path(report_path).read_text())
    create_table_artifact(
        summaries.rounds_overview(report),
        key=_key(config, None, "rounds"),
        description="\n".join(
            [f"NEAT run `{config.name}`: every round ({report_path})", ""]
            + [f"* **WARNING**: {w}" for w in report.get("warnings") or []]
        ),
    )


@flow(name="neat-rounds", log_prints=True)
def neat_rounds(
    config_path: str,
    rounds: int | None = None,
    policy: str | None = None,
    rm: str | None = None,
    prompts: str | None = None,
    n: int | None = None,
    loss: str | None = None,
    alpha: float | None = None,
    beta: float | None = None,
    max_steps: int | None = None,
    learning_rate: float | None = None,
) -> str:
    """The NEAT loop: score round 0, then for each round generate → train → evaluate; write the report.

    Every parameter but ``config_path`` overrides the config when set (``flows.run_config.KNOBS``); only
    ``rounds`` may differ from the run already in the config's ``out:``.

    Args:
        config_path: YAML run config (relative to the directory the flow runs in), e.g. configs/demo-cpu.yaml
        rounds: number of rounds (raise it to extend a finished run)
        policy: base policy: 'default', a hub id or a path
        rm: reward model: 'default', a hub id or a path
        prompts: generate.prompts, e.g. 'negative,positive'
        n: generate.n, responses per query and prompt
        loss: train.loss: neat | rrhf | sft | dpo
        alpha: train.alpha, weight of the ranking loss
        beta: train.beta, weight of the penalty
        max_steps: train.max_steps, optimizer steps per round
        learning_rate: train.learning_rate
    """
    config = _load(**locals())  # the parameters, as given
    with claim_run_dir(config):
        score(config)
        evaluate_round(config, 0, None)
        adapter = None
        for index in range(1, config.rounds + 1):
            generate_round(config, index, adapter)
            adapter = train_round(config, index, adapter)
            evaluate_round(config, index, adapter)
        report = write_report(config)
        publish_overview(config, report)
        return report


@flow(name="neat-generate-data", log_prints=True)
def generate_data(
    config_path: str,
    policy: str | None = None,
    rm: str | None = None,
    prompts: str | None = None,
    n: int | None = None,
    loss: str | None = None,
    alpha: float | None = None,
    beta: float | None = None,
    max_steps: int | None = None,
    learning_rate: float | None = None,
) -> str:
    """One scheduled data-generation run: make sure round 0 exists, then write the next round, sampled with the
    latest trained adapter (or the base policy when none is trained yet).

    The parameters are ``neat-rounds``'s (less ``rounds``), so that it can extend a run started with them.

    Args:
        config_path: YAML run config (relative to the directory the flow runs in), e.g. configs/demo-cpu.yaml
        policy: base policy: 'default', a hub id or a path
        rm: reward model: 'default', a hub id or a path
        prompts: generate.prompts, e.g. 'negative,positive'
        n: generate.n, responses per query and prompt
        loss: train.loss (part of the run's identity)
        alpha: train.alpha (part of the run's identity)
        beta: train.beta (part of the run's identity)
        max_steps: train.max_steps (part of the run's identity)
        learning_rate: train.learning_rate (part of the run's identity)
    """
    config = _load(**locals())  # the parameters, as given
    with claim_run_dir(config):
        score(config)
        latest = load_manifest(list_rounds(config.out)[-1])["round"]
        adapter = adapter_dir(config, latest)
        if latest >= 1 and not adapter.is_dir():
            raise NeatError(
                f"round {latest} has no trained adapter at {adapter}; train it (neat run) before generating round "
                f"{latest + 1}, so that every round samples from the previous round's policy"
            )
        return generate_round(config, latest + 1, str(adapter) if latest >= 1 else None)

"""Shipped run configs, prefect.yaml and ``neat serve``: everything a scheduled or manual deployment reads is
checked without loading a model or starting a Prefect API.

* every ``configs/*.yaml`` loads, and the stage commands the flow would start parse the flow's own arguments into
  the stages' ``Config`` dataclasses (the tasks run with a recording ``run_stage``);
* ``prefect.yaml``: the schema Prefect's ``prefect deploy`` reads, entrypoints that resolve to the flows, their
  parameters, cron schedules, the work pool and the pull step that puts flow runs in the checkout;
* ``flows/serve_cmd.py``: what ``neat serve`` hands to ``flow.serve``, and its refusals.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
from pathlib import Path

import pytest
import yaml
from prefect import Flow
from prefect.client.schemas.schedules import CronSchedule

import flows.rounds as rounds
from flows.cli import COMMANDS
from flows.run_config import SECTIONS, load_run_config
from flows.serve_cmd import Config as ServeConfig
from flows.serve_cmd import deployment_args
from neat_data.errors import NeatError

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
PAPER = ROOT / "configs" / "paper-llama3-8b.yaml"
PREFECT_YAML = ROOT / "prefect.yaml"


def test_the_shipped_configs_are_there():
    assert {p.name for p in CONFIGS} >= {"demo-cpu.yaml", "paper-llama3-8b.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    config = load_run_config(path)
    assert config.name == path.stem  # `neat serve` names deployments after it
    assert config.rounds >= 1 and config.train_on in ("round", "all")


def test_shipped_configs_write_to_different_data_roots():
    """Two configs sharing an `out:` would refuse each other's runs (run.json)."""
    outs = [load_run_config(path).out for path in CONFIGS]
    assert len(set(outs)) == len(outs) and "data/runs/paper-llama3-8b" in outs


def test_the_paper_config_is_the_papers_setting():
    config = load_run_config(PAPER)
    assert (config.policy, config.rm, config.dataset) == (
        "meta-llama/Meta-Llama-3-8B-Instruct",
        "sfairXC/FsfairX-LLaMA3-RM-v0.1",
        "Anthropic/hh-rlhf",
    )
    assert config.rounds == 3 and config.train_on == "all"
    assert config.generate["backend"] == "vllm" and config.generate["dtype"] == "bfloat16"
    assert config.generate["prompts"] == "paper-negative,paper-positive" and config.generate["temperature"] == 1.0
    assert config.generate["max_new_tokens"] == 256 and config.generate["tensor_parallel_size"] == 1
    assert config.train["loss"] == "neat" and config.train["lora_r"] == config.train["lora_alpha"] == 16
    assert config.train["bf16"] is True and config.train["dtype"] == "bfloat16"
    assert config.train["activation_checkpointing"] is True


def stage_calls(config, tmp_path, monkeypatch) -> list[tuple[list[str], list[str] | None]]:
    """The ``neat`` argument lists (and launchers) the flow's tasks start for round 0 and round 2."""
    calls = []

    def record(args, launcher=None, capture=False):
        calls.append((args, launcher))
        if args[0] == "train":  # the task renames the finished training output into place
            Path(args[args.index("--output_dir") + 1]).mkdir(parents=True)
        return '{"n": 0}'

    monkeypatch.setattr(rounds, "run_stage", record)
    for publish in ("publish_data", "create_table_artifact", "create_markdown_artifact"):  # need a Prefect API
        monkeypatch.setattr(rounds, publish, lambda *args, **kwargs: None)
    config = dataclasses.replace(config, out=str(tmp_path / "run"))
    rounds.score.fn(config)
    rounds.evaluate_round.fn(config, 0, None)
    previous = str(tmp_path / "run" / "adapters" / "round-001")
    rounds.generate_round.fn(config, 2, previous)
    rounds.train_round.fn(config, 2, previous)
    rounds.evaluate_round.fn(config, 2, str(tmp_path / "run" / "adapters" / "round-002"))
    return calls


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_the_flows_stage_arguments_parse_into_each_stages_config(path, tmp_path, monkeypatch):
    from transformers import HfArgumentParser

    config = load_run_config(path)
    calls = stage_calls(config, tmp_path, monkeypatch)
    assert [args[0] for args, _ in calls] == ["score", "eval", "generate", "train", "eval"]
    for args, launcher in calls:
        command = args[0]
        module = importlib.import_module(COMMANDS[command][0])
        assert module.__name__ == SECTIONS[command][0]
        machine = ["--use_cpu", "true"] if command == "train" else []  # bf16 on this GPU-less machine, as --check
        (parsed,) = HfArgumentParser(module.Config).parse_args_into_dataclasses([*args[1:], *machine])  # __post_init__
        # every value of the config's section (and `data` for round 0) arrives with its YAML value
        values = {**(config.data if command == "score" else {}), **getattr(config, command)}
        for key, value in values.items():
            assert getattr(parsed, key) == value, (command, key, getattr(parsed, key), value)
        if command != "score":
            assert parsed.policy == config.policy
        if command != "train":
            assert parsed.rm == config.rm
        if command == "train":
            assert list(launcher or []) == config.train_launcher  # empty: run_stage uses sys.executable
            expected = ["round-001", "round-002"] if config.train_on == "all" else ["round-002"]
            assert [Path(s).name for s in parsed.shards] == expected
            assert parsed.adapter.endswith("round-001") and parsed.output_dir.endswith("round-002.partial")
        if command == "generate":
            assert parsed.round == 2 and parsed.from_round.endswith("round-001")
        if command == "eval":
            assert parsed.json is True and parsed.dataset == config.dataset


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_check_fills_in_the_flags_the_flow_gives_each_stage(path, tmp_path, monkeypatch):
    """``neat run --check`` parses each section with ``stage_command``: the same flags the flow's tasks pass."""
    from flows.run_config import stage_command

    config = dataclasses.replace(load_run_config(path), out=str(tmp_path / "run"))
    for args, _ in stage_calls(config, tmp_path, monkeypatch):
        flags = {a for a in args[1:] if a.startswith("--")} - {"--adapter"}
        assert flags == {a for a in stage_command(config, args[0])[1:] if a.startswith("--")}


def test_a_bad_section_value_fails_the_stages_own_validation(tmp_path, monkeypatch):
    """The check above can fail: a paper config with a bad generate value fails the stage's own validation, and
    loading the config (``neat run --check``) already refuses it through that same validation."""
    from transformers import HfArgumentParser

    raw = yaml.safe_load(PAPER.read_text())
    raw["generate"]["batch_size"] = 0
    raw["out"] = str(tmp_path / "run")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(
        NeatError, match=r"bad.yaml:generate: --batch-size: input should be greater than or equal to 1, got 0"
    ):
        load_run_config(bad)
    config = dataclasses.replace(load_run_config(PAPER), generate=raw["generate"])
    args = next(a for a, _ in stage_calls(config, tmp_path, monkeypatch) if a[0] == "generate")
    module = importlib.import_module(COMMANDS["generate"][0])
    with pytest.raises(NeatError, match="--batch-size: input should be greater than or equal to 1"):
        HfArgumentParser(module.Config).parse_args_into_dataclasses(args[1:])


# --- prefect.yaml ---------------------------------------------------------------------------------------------


def prefect_yaml() -> dict:
    return yaml.safe_load(PREFECT_YAML.read_text())


def deployments() -> dict[str, dict]:
    return {d["name"]: d for d in prefect_yaml()["deployments"]}


def test_prefect_yaml_matches_prefects_deploy_schema():
    from prefect.cli.deploy._models import PrefectYamlModel  # what `prefect deploy` validates the file with

    model = PrefectYamlModel.model_validate(prefect_yaml())
    assert [d.name for d in model.deployments] == ["demo-cpu-generate", "demo-cpu-rounds"]
    assert all(d.work_pool.name == "neat-local" for d in model.deployments)


@pytest.mark.parametrize(
    "name, flow, flow_name",
    [
        ("demo-cpu-generate", rounds.generate_data, "neat-generate-data"),
        ("demo-cpu-rounds", rounds.neat_rounds, "neat-rounds"),
    ],
)
def test_entrypoints_resolve_to_the_flows_and_accept_their_parameters(name, flow, flow_name, monkeypatch):
    from prefect.flows import load_flow_from_entrypoint

    deployment = deployments()[name]
    monkeypatch.chdir(ROOT)  # entrypoints are relative to the checkout, as for `prefect deploy` and the worker
    loaded = load_flow_from_entrypoint(deployment["entrypoint"])
    assert isinstance(loaded, Flow) and loaded.name == flow_name == flow.name
    assert loaded.fn.__name__ == flow.fn.__name__
    parameters = deployment["parameters"]
    inspect.signature(flow.fn).bind(**parameters)  # every required parameter given, no unknown one
    validated = loaded.validate_parameters(parameters)
    assert validated == {**dict.fromkeys(validated), **parameters}  # the knobs left unset: the YAML decides
    assert load_run_config(parameters["config_path"]).name == "demo-cpu"


def test_the_generate_deployment_runs_daily_at_3_utc_once_switched_on_and_the_rounds_deployment_only_by_hand():
    from prefect.cli.deploy._models import PrefectYamlModel

    generate, manual = deployments()["demo-cpu-generate"], deployments()["demo-cpu-rounds"]
    (schedule,) = generate["schedules"]
    cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    assert (cron.cron, cron.timezone) == ("0 3 * * *", "UTC")
    assert schedule["active"] is False  # `prefect deploy --all` must not start queueing runs
    (model,) = [d for d in PrefectYamlModel.model_validate(prefect_yaml()).deployments if d.name == "demo-cpu-generate"]
    assert model.schedules[0].active is False  # as `prefect deploy` reads it
    assert manual["schedules"] == []
    with pytest.raises(ValueError, match="Invalid cron"):  # the same check rejects a malformed expression
        CronSchedule(cron="0 3 * *")


def test_the_pull_step_puts_flow_runs_in_the_checkout_prefect_deploy_ran_from(monkeypatch):
    """`prefect deploy` runs the build step in the checkout and fills the pull step's directory with its output."""
    from prefect.deployments.steps.utility import run_shell_script
    from prefect.utilities.templating import apply_values

    config = prefect_yaml()
    ((build_fqn, build),) = config["build"][0].items()
    ((pull_fqn, pull),) = config["pull"][0].items()
    assert build_fqn == "prefect.deployments.steps.run_shell_script"
    assert pull_fqn == "prefect.deployments.steps.set_working_directory"
    assert not any("pull" in d for d in config["deployments"])  # no deployment overrides it
    monkeypatch.chdir(ROOT)
    output = asyncio.run(run_shell_script(script=build["script"], stream_output=build["stream_output"]))
    resolved = apply_values(config["pull"], {build["id"]: output})
    assert Path(resolved[0][pull_fqn]["directory"]) == ROOT


# --- neat serve -----------------------------------------------------------------------------------------------


def test_serve_generate_deployment_args(monkeypatch):
    monkeypatch.chdir(ROOT)
    flow, kwargs = deployment_args(ServeConfig(config="configs/demo-cpu.yaml"))
    assert flow is rounds.generate_data
    assert kwargs["name"] == "demo-cpu-generate"
    assert kwargs["parameters"] == {"config_path": str(ROOT / "configs" / "demo-cpu.yaml")}
    deployment = flow.to_deployment(**kwargs)  # what flow.serve builds first; needs no API
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "0 3 * * *" and deployment.parameters == kwargs["parameters"]
    assert schedule.schedule.timezone == "UTC" and schedule.active  # as prefect.yaml; served: switched on


def test_serve_rounds_deployment_args_with_a_name_and_cron(monkeypatch):
    monkeypatch.chdir(ROOT)
    flow, kwargs = deployment_args(
        ServeConfig(config="configs/paper-llama3-8b.yaml", flow="rounds", name="nightly", cron="30 1 * * 1-5")
    )
    assert flow is rounds.neat_rounds
    assert kwargs["name"] == "nightly" and kwargs["parameters"] == {"config_path": str(PAPER)}
    ((schedule,),) = [flow.to_deployment(**kwargs).schedules]
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("30 1 * * 1-5", "UTC")
    flow, kwargs = deployment_args(ServeConfig(config="configs/paper-llama3-8b.yaml", flow="rounds"))
    assert kwargs["name"] == "paper-llama3-8b-rounds"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cron": "0 3 * *"}, "--cron '0 3 \\* \\*' is not a valid cron expression"),
        ({"cron": "61 * * * *"}, "is not a valid cron expression"),
        ({"flow": "train"}, "--flow: input should be 'generate' or 'rounds', got 'train'"),
    ],
)
def test_serve_refuses_a_bad_cron_or_flow(kwargs, message):
    with pytest.raises(NeatError, match=message):
        ServeConfig(config="configs/demo-cpu.yaml", **kwargs)


def test_serve_refuses_a_missing_config(tmp_path):
    with pytest.raises(NeatError, match="config file not found"):
        deployment_args(ServeConfig(config=str(tmp_path / "nope.yaml")))

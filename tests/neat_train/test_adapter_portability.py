"""What a trained adapter carries beyond its weights: a portable base id, a model card, and tracking logs that are
kept after training (TensorBoard for real; wandb, MLflow and trackio in their offline modes when installed)."""

from __future__ import annotations

import json
import shutil

import pytest

from flows.cli import main as neat
from neat_data.atomic import sha256_file
from neat_data.models import load_policy, resolve_policy
from neat_data.shards import MANIFEST
from neat_train.summaries import write_model_card

STEPS = 3


def train(scored, out, *extra, policy="default"):
    return neat(
        [
            "train",
            "--shards",
            str(scored),
            "--policy",
            str(policy),
            "--out",
            str(out),
            "--device",
            "cpu",
            "--max-steps",
            str(STEPS),
            "--batch-size",
            "2",
            "--alpha",
            "0.5",
            "--beta",
            "0.2",
            *map(str, extra),
        ]
    )


@pytest.fixture
def default_policy_is_tiny(tmp_path, monkeypatch, tiny_policy_dir):
    """NEAT_HOME holds the tiny model where the converted default policy goes: `--policy default` loads it."""
    home = tmp_path / "neat-home"
    monkeypatch.setenv("NEAT_HOME", str(home))
    shutil.copytree(tiny_policy_dir, home / "models" / "smollm2-135m-instruct")
    return home


def test_adapter_records_a_portable_base_and_a_model_card(scored_round, tmp_path, default_policy_is_tiny):
    out = tmp_path / "adapter"
    assert train(scored_round, out) == 0
    adapter_config = json.loads((out / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == "neat:default-policy"  # not a path of this machine

    card = (out / "README.md").read_text()
    assert "`neat:default-policy`" in card and "library_name: peft" in card
    assert sha256_file(scored_round / MANIFEST) in card and str(scored_round.resolve()) in card
    assert "| neat | 0.5 | 0.2 | nll |" in card  # loss, α, β, penalty
    assert f"{STEPS} optimizer steps" in card and "| loss_rank |" in card
    assert "Evaluation" not in card
    write_model_card(out, {"round": 1, "n": 3, "mean_reward": 1.25, "judge": {"mean_reward": -0.5}, "note": "x"})
    card = (out / "README.md").read_text()
    assert "| mean_reward | 1.25 |" in card and "| judge.mean_reward | -0.5 |" in card and "note" not in card

    # neat keeps working with the adapter: it continues training from it, and loads it on the resolved base
    assert train(scored_round, tmp_path / "next", "--adapter", out, policy="neat:default-policy") == 0
    model, _ = load_policy("neat:default-policy", adapter=str(out), device="cpu")
    assert type(model).__name__ == "PeftModelForCausalLM"


def test_plain_peft_loads_the_adapter_on_the_base_neat_resolves(scored_round, tmp_path, default_policy_is_tiny):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "adapter"
    assert train(scored_round, out) == 0
    base_id = json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"]
    base = AutoModelForCausalLM.from_pretrained(resolve_policy(base_id), use_safetensors=True)
    model = PeftModel.from_pretrained(base, out)
    assert model.peft_config["default"].base_model_name_or_path == "neat:default-policy"


def test_a_local_base_is_recorded_by_its_absolute_path(scored_round, tmp_path, tiny_policy_dir, monkeypatch):
    monkeypatch.chdir(tiny_policy_dir.parent)
    out = tmp_path / "adapter"
    assert train(scored_round, out, policy=f"./{tiny_policy_dir.name}") == 0
    base = json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert base == str(tiny_policy_dir.resolve())  # no portable name exists for a local model


def test_tensorboard_events_are_written_to_the_logging_dir_and_kept(scored_round, tmp_path, tiny_policy_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "adapter"
    assert train(scored_round, out, "--report_to", "tensorboard", policy=tiny_policy_dir) == 0
    assert not (out / "checkpoints").exists()  # removed after success; the logs are not
    (events_dir,) = {p.parent for p in (out / "logs" / "tensorboard").rglob("events.out.tfevents.*")}
    events = EventAccumulator(str(events_dir))
    events.Reload()
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    for term in ("loss", "loss_sft", "loss_rank", "loss_pen"):
        scalars = events.Scalars(f"train/{term}")
        assert [s.step for s in scalars] == list(range(1, STEPS + 1))
        assert [s.value for s in scalars] == pytest.approx([entry[term] for entry in log], rel=1e-5)

    elsewhere = tmp_path / "elsewhere"
    assert (
        train(
            scored_round,
            tmp_path / "adapter2",
            "--report_to",
            "tensorboard",
            "--logging_dir",
            elsewhere,
            policy=tiny_policy_dir,
        )
        == 0
    )
    assert list(elsewhere.rglob("events.out.tfevents.*")) and not (tmp_path / "adapter2" / "logs").exists()


@pytest.mark.parametrize(
    "integration, env, written",
    [
        ("wandb", {"WANDB_MODE": "offline", "WANDB_SILENT": "true"}, "wandb/offline-run-*/*.wandb"),
        ("mlflow", {}, "mlflow.db"),
        ("trackio", {}, "trackio/*.db"),
    ],
)
def test_other_integrations_write_offline_under_the_logging_dir(
    scored_round, tmp_path, tiny_policy_dir, monkeypatch, integration, env, written
):
    """Each integration for real, offline (wandb, mlflow-skinny and trackio are in the dev extra); skipped where one
    is not installed."""
    import importlib.util

    if importlib.util.find_spec(integration) is None:  # not importorskip: trackio reads TRACKIO_DIR on import
        pytest.skip(f"{integration} is not installed (pip install {integration})")
    for key in ("WANDB_DIR", "MLFLOW_TRACKING_URI", "TRACKIO_DIR"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "adapter"
    assert train(scored_round, out, "--report_to", integration, policy=tiny_policy_dir) == 0
    (found,) = (out / "logs").glob(written)
    if integration == "mlflow":  # the run's metrics are in the database, step by step
        import sqlite3

        steps = sqlite3.connect(found).execute("SELECT step FROM metrics WHERE key = 'loss' ORDER BY step").fetchall()
        assert [s for (s,) in steps] == list(range(1, STEPS + 1))


def test_each_integration_is_pointed_under_the_logging_dir_unless_the_user_set_it(tmp_path, monkeypatch):
    """What the offline test above relies on, checked without wandb, MLflow or trackio installed."""
    from types import SimpleNamespace

    from neat_train.train_cmd import tracking_env

    for key in ("WANDB_DIR", "MLFLOW_TRACKING_URI", "TRACKIO_DIR", "TENSORBOARD_LOGGING_DIR"):
        monkeypatch.delenv(key, raising=False)
    out, logs = tmp_path / "adapter", (tmp_path / "adapter" / "logs").resolve()
    env = tracking_env(SimpleNamespace(report_to=["tensorboard", "wandb", "mlflow", "trackio"], logging_dir=None), out)
    assert env == {
        "TENSORBOARD_LOGGING_DIR": str(logs / "tensorboard"),
        "WANDB_DIR": str(logs),
        "MLFLOW_TRACKING_URI": f"sqlite:///{logs / 'mlflow.db'}",
        "TRACKIO_DIR": str(logs / "trackio"),
    }
    assert logs.is_dir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")  # a tracking server: kept
    env = tracking_env(SimpleNamespace(report_to=["mlflow"], logging_dir=str(tmp_path / "mine")), out)
    assert env == {"MLFLOW_TRACKING_URI": "http://mlflow.example:5000"} and (tmp_path / "mine").is_dir()
    assert tracking_env(SimpleNamespace(report_to=[], logging_dir=None), tmp_path / "other") == {}
    assert not (tmp_path / "other").exists()  # nothing is created without an integration

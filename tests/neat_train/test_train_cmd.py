"""`neat train` end to end on the tiny policy: outputs, held-out split, snapshot replay, resume, bad input."""

import json
import shutil

import pytest
import torch
from conftest import make_rows, write_round
from safetensors.torch import load_file

from flows.cli import main as neat
from neat_data.atomic import sha256_file
from neat_data.hh import split_of
from neat_data.load_cmd import Config as LoadConfig
from neat_data.load_cmd import write_round0
from neat_data.shards import MANIFEST, read_round

LOG_KEYS = {"step", "loss", "loss_sft", "loss_rank", "loss_pen"}


def train(scored, policy, out, *extra):
    return neat(
        [
            "train",
            "--shards",
            str(scored),
            "--policy",
            str(policy),
            "--output_dir",
            str(out),
            "--use_cpu",
            "true",
            "--max_steps",
            "3",
            "--per_device_train_batch_size",
            "2",
            *map(str, extra),
        ]
    )


def read_log(out):
    return [json.loads(ln) for ln in (out / "train_log.jsonl").read_text().splitlines()]


def test_train_writes_adapter_config_fingerprints_and_per_step_log(scored_round, tiny_policy_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert train(scored_round, tiny_policy_dir, out) == 0
    for name in ("adapter_model.safetensors", "adapter_config.json", "train_config.json", "data.json", "result.json"):
        assert (out / name).is_file(), name
    assert not (out / "checkpoints").exists() and not (out / "training_args.bin").exists()
    log = read_log(out)
    assert [x["step"] for x in log] == [1, 2, 3] and all(LOG_KEYS <= set(x) for x in log)
    for x in log:  # eq. 8 with the defaults α = 1, β = 0.1
        assert x["loss"] == pytest.approx(x["loss_sft"] + 1.0 * x["loss_rank"] - 0.1 * x["loss_pen"], rel=1e-5)
    data = json.loads((out / "data.json").read_text())
    assert data["rounds"][0]["manifest_sha256"] == sha256_file(scored_round / MANIFEST)
    rows = read_round(scored_round)
    held_out = sum(split_of(r["query_id"]) == "test" for r in rows)
    assert data["held_out"] == held_out > 0 and data["queries"] == len(rows) - held_out
    assert data["single_response"] == (split_of(rows[0]["query_id"]) == "train")
    seen = {
        q for ln in (out / "seen_queries.rank-0.jsonl").read_text().splitlines() for q in json.loads(ln)["query_ids"]
    }
    assert seen and all(split_of(q) == "train" for q in seen)  # held-out queries are never trained on
    identity = json.loads((out / "train_config.json").read_text())["identity"]
    assert identity["config"]["loss"] == "neat" and identity["policy_path"] == str(tiny_policy_dir)
    assert f"{held_out} held out" in capsys.readouterr().err


def test_no_pin_memory_warning_on_a_machine_without_an_accelerator(scored_round, tiny_policy_dir, tmp_path, recwarn):
    # the default device choice (not --use_cpu, which turns pinning off itself) on this machine
    out = tmp_path / "out"
    assert train(scored_round, tiny_policy_dir, out, "--use_cpu", "false", "--max_steps", "1") == 0
    if not torch.accelerator.is_available():
        assert not [w for w in recwarn if "pin_memory" in str(w.message)]
    # ... decided by the trainer, not written into the run identity (a run resumes on a machine of another kind)
    identity = json.loads((out / "train_config.json").read_text())["identity"]
    assert identity["config"]["dataloader_pin_memory"] is True


def test_retraining_from_a_frozen_snapshot_reproduces_the_per_step_losses(scored_round, tiny_policy_dir, tmp_path):
    assert train(scored_round, tiny_policy_dir, tmp_path / "a", "--seed", "3") == 0
    assert train(scored_round, tiny_policy_dir, tmp_path / "b", "--seed", "3") == 0
    assert train(scored_round, tiny_policy_dir, tmp_path / "c", "--seed", "4") == 0
    a, b, c = (read_log(tmp_path / x) for x in "abc")
    keys = ["loss", "loss_sft", "loss_rank", "loss_pen", "grad_norm"]
    assert [[x[k] for k in keys] for x in a] == [[x[k] for k in keys] for x in b]
    assert [x["loss"] for x in a] != [x["loss"] for x in c]  # the seed matters (data order)
    wa = load_file(tmp_path / "a" / "adapter_model.safetensors")
    wb = load_file(tmp_path / "b" / "adapter_model.safetensors")
    assert all((wa[k] == wb[k]).all() for k in wa)


def test_a_crashed_run_resumes_from_its_last_checkpoint(scored_round, tiny_policy_dir, tmp_path, monkeypatch):
    assert train(scored_round, tiny_policy_dir, tmp_path / "ref", "--max-steps", "4", "--save-steps", "2") == 0
    import neat_train.trainer as trainer_module

    real, calls = trainer_module.NeatTrainer.compute_loss, []

    def crash_on_third_step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 4:  # step 4: step 3 is logged but not in checkpoint-2
            raise RuntimeError("simulated crash")
        return real(self, *args, **kwargs)

    out = tmp_path / "out"
    monkeypatch.setattr(trainer_module.NeatTrainer, "compute_loss", crash_on_third_step)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(scored_round, tiny_policy_dir, out, "--max-steps", "4", "--save-steps", "2")
    assert (out / "checkpoints" / "checkpoint-2").is_dir() and not (out / "result.json").exists()
    assert [x["step"] for x in read_log(out)] == [1, 2, 3]
    monkeypatch.setattr(trainer_module.NeatTrainer, "compute_loss", real)
    assert train(scored_round, tiny_policy_dir, out, "--max-steps", "4", "--save-steps", "2") == 0
    resumed, ref = read_log(out), read_log(tmp_path / "ref")
    assert [x["step"] for x in resumed] == [1, 2, 3, 4]  # step 3 redone, logged once (StepLog)
    seen = [json.loads(ln)["step"] for ln in (out / "seen_queries.rank-0.jsonl").read_text().splitlines()]
    assert seen == [1, 2, 3, 4]
    assert [x["loss"] for x in resumed] == pytest.approx([x["loss"] for x in ref], rel=1e-6)
    # a finished run is not trained again, and other settings in the same --out are refused
    assert train(scored_round, tiny_policy_dir, out, "--max-steps", "4", "--save-steps", "2") == 2


@pytest.mark.parametrize("loss", ["sft", "rrhf", "dpo"])
def test_baselines_train(scored_round, tiny_policy_dir, tmp_path, loss):
    out = tmp_path / loss
    assert train(scored_round, tiny_policy_dir, out, "--loss", loss) == 0
    log = read_log(out)
    assert len(log) == 3
    if loss == "sft":
        assert all(x["loss"] == x["loss_sft"] and x["responses"] == x["queries"] for x in log)
    if loss == "rrhf":
        assert all(x["loss"] == pytest.approx(x["loss_sft"] + x["loss_rank"]) for x in log)


def test_full_fine_tuning_with_gradient_checkpointing_and_bf16(scored_round, tiny_policy_dir, tmp_path):
    out = tmp_path / "full"
    assert (
        train(
            scored_round,
            tiny_policy_dir,
            out,
            "--method",
            "full",
            "--gradient-checkpointing",
            "true",
            "--bf16",
            "true",
            "--learning-rate",
            "1e-3",
        )
        == 0
    )
    assert (out / "model.safetensors").is_file() and (out / "tokenizer_config.json").is_file()
    assert json.loads((out / "result.json").read_text())["saved"] == "model"


def test_a_later_round_continues_the_previous_adapter(scored_round, tiny_policy_dir, tmp_path):
    first = tmp_path / "r1"
    assert train(scored_round, tiny_policy_dir, first) == 0
    round2 = write_round(tmp_path / "data", 2, make_rows(20, 2))
    second = tmp_path / "r2"
    assert train(round2, tiny_policy_dir, second, "--adapter", first) == 0
    identity = json.loads((second / "train_config.json").read_text())["identity"]
    assert identity["adapter_sha256"] == sha256_file(first / "adapter_model.safetensors")
    # a data root stands for all its rounds; a query in both is taken once, from the later round
    assert train(tmp_path / "data", tiny_policy_dir, tmp_path / "both") == 0
    data = json.loads((tmp_path / "both" / "data.json").read_text())
    assert [r["round"] for r in data["rounds"]] == [1, 2] and data["superseded"] == 20


def test_bad_inputs_are_refused_naming_the_file(scored_round, tiny_policy_dir, tmp_path, hh_file, capsys):
    # a shard edited after the manifest was written
    broken = tmp_path / "broken"
    shutil.copytree(scored_round, broken)
    with open(broken / "data" / "shard-00000.parquet", "ab") as f:
        f.write(b"x")
    assert train(broken, tiny_policy_dir, tmp_path / "o1") == 2
    assert "shard-00000.parquet: sha256 does not match" in capsys.readouterr().err
    # an unscored round (neat load): missing rewards
    load = LoadConfig(dataset=str(hh_file), out=str(tmp_path / "unscored"))
    result = load.load()
    rows, accounting = result.queries(0)
    directory, _ = write_round0(load, rows, accounting, result.rejects)
    assert train(directory, tiny_policy_dir, tmp_path / "o2") == 2
    err = capsys.readouterr().err
    assert "shard-00000.parquet: query" in err and "without a reward" in err
    # an adapter trained on another base model
    adapter = tmp_path / "adapter"
    assert train(scored_round, tiny_policy_dir, adapter) == 0
    other = tmp_path / "other-policy"
    shutil.copytree(tiny_policy_dir, other)
    cfg = json.loads((other / "config.json").read_text())
    cfg["num_hidden_layers"] = 1
    (other / "config.json").write_text(json.dumps(cfg))
    assert train(scored_round, other, tmp_path / "o3", "--adapter", adapter) == 2
    err = capsys.readouterr().err
    assert "train_config.json: the adapter was trained on another base model" in err
    # not a round at all, and a bad flag value
    assert train(tmp_path / "nothing", tiny_policy_dir, tmp_path / "o4") == 2
    assert "not a round directory" in capsys.readouterr().err
    assert train(scored_round, tiny_policy_dir, tmp_path / "o5", "--penalty", "huge") == 2
    assert "argument --penalty: invalid choice: 'huge' (choose from 'nll', 'unlikelihood')" in capsys.readouterr().err


@pytest.mark.parametrize(
    "old, new",
    [
        (["--out", "o"], ["--output_dir", "o"]),
        (["--out=o"], ["--output_dir", "o"]),
        (["--batch-size", "3"], ["--per_device_train_batch_size", "3"]),
        (["--batch_size", "3"], ["--per_device_train_batch_size", "3"]),
        (["--grad-accum", "4"], ["--gradient_accumulation_steps", "4"]),
        (["--grad_accum", "4"], ["--gradient_accumulation_steps", "4"]),
        (["--epochs", "2.5"], ["--num_train_epochs", "2.5"]),
        (["--lr-scheduler", "cosine"], ["--lr_scheduler_type", "cosine"]),
        (["--lr_scheduler=cosine"], ["--lr_scheduler_type", "cosine"]),
        (["--gradient-checkpointing", "true"], ["--activation_checkpointing", "true"]),
        (["--device", "cpu"], ["--use_cpu", "true"]),
        (["--device", "auto"], ["--use_cpu", "false"]),
        (["--device=cuda"], ["--use_cpu", "false"]),
    ],
)
def test_each_old_flag_name_gives_the_config_of_the_new_one_with_a_note(old, new, capsys):
    from flows.cli import parse_config
    from neat_train.train_cmd import Config

    base = ["--shards", "r", *(["--output_dir", "o"] if new[0] != "--output_dir" else [])]
    expected = parse_config(Config, [*base, *new], "neat train").to_dict()
    assert "deprecated" not in capsys.readouterr().err
    assert parse_config(Config, [*base, *old], "neat train").to_dict() == expected
    name = old[0].split("=")[0]
    assert f"neat train: note: {name} is deprecated, use {new[0]}" in capsys.readouterr().err

import pytest
import yaml

from flows.run_config import load_run_config, matches, section_args
from neat_data.errors import NeatError


def write(tmp_path, data) -> str:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_valid_minimal_config(tmp_path):
    cfg = load_run_config(write(tmp_path, {"name": "t", "dataset": "d.jsonl", "out": "o", "data": {"limit": 8}}))
    assert cfg.rounds == 2 and cfg.policy == "default" and cfg.data == {"limit": 8}


def test_unknown_keys_wrong_types_and_reserved_keys_are_all_listed(tmp_path):
    path = write(
        tmp_path,
        {
            "name": "t",
            "dataset": "d",
            "out": "o",
            "roundz": 3,
            "rounds": "two",
            "train_launcher": ["torchrun", 2],
            "data": {"limit": "eight", "colour": "red", "dataset": "other"},
        },
    )
    with pytest.raises(NeatError) as e:
        load_run_config(path)
    msg = str(e.value)
    assert f"{path}.roundz: unknown key" in msg
    assert f"{path}.rounds: expected int, got str 'two'" in msg
    assert f"{path}:data.limit: expected" in msg and "got str 'eight'" in msg
    assert f"{path}.train_launcher: expected list[str], got list ['torchrun', 2]" in msg
    assert f"{path}:data.colour: unknown key" in msg
    assert f"{path}:data.dataset: set by the flow itself" in msg


def test_missing_required_keys_and_missing_file(tmp_path):
    with pytest.raises(NeatError, match="missing required key 'dataset'"):
        load_run_config(write(tmp_path, {"name": "t", "out": "o"}))
    with pytest.raises(NeatError, match="config file not found"):
        load_run_config(str(tmp_path / "nope.yaml"))


def test_type_matching():
    assert matches(3, int) and not matches(True, int) and not matches(3.5, int)
    assert matches(3, float) and matches(None, int | None) and matches(["a"], list[str])
    assert not matches([1], list[str]) and not matches("yes", bool)


def test_section_args():
    assert section_args({"limit": 4, "flag": True, "names": ["a", "b"], "skip": None}) == [
        "--limit",
        "4",
        "--flag",
        "true",
        "--names",
        "a",
        "b",
    ]


def test_the_train_section_is_checked_against_neat_trains_config_and_parser(tmp_path, capsys):
    base = {"name": "t", "dataset": "d.jsonl", "out": "o"}
    # old key names still work (the same aliases as `neat train`), with a note
    cfg = load_run_config(write(tmp_path, {**base, "train": {"batch_size": 2, "epochs": 2.0, "device": "cpu"}}))
    assert cfg.train == {"batch_size": 2, "epochs": 2.0, "device": "cpu"}
    assert "--batch_size is deprecated, use --per_device_train_batch_size" in capsys.readouterr().err
    with pytest.raises(NeatError) as e:  # wrong types, unknown keys, keys the flow sets: all listed
        load_run_config(
            write(
                tmp_path,
                {
                    **base,
                    "train": {"learning_rat": 0.1, "max_steps": "many", "out": "x", "gradient_accumulation_steps": 1.5},
                },
            )
        )
    msg = str(e.value)
    assert "train.learning_rat: unknown key (did you mean learning_rate?)" in msg
    assert "train.max_steps: expected int, got str 'many'" in msg
    assert "train.output_dir: set by the flow itself" in msg
    assert "train.gradient_accumulation_steps: expected int, got float 1.5" in msg
    for train, message in (
        ({"loss": "ppo"}, "train.loss: expected one of 'neat', 'rrhf', 'sft', 'dpo', got str 'ppo'"),
        (
            {"per_device_train_batch_size": 0},
            "--per_device_train_batch_size: input should be greater than or equal to 1, got 0",
        ),
        ({"warmup_steps": -1}, "Expected value warmup_steps >= 0"),
    ):  # TrainingArguments' own
        with pytest.raises(NeatError, match="invalid config") as e:
            load_run_config(write(tmp_path, {**base, "train": train}))
        assert message in str(e.value)
    # bf16 is checked by the training process on its own machine, not by --check on this one
    assert load_run_config(write(tmp_path, {**base, "train": {"bf16": True}})).train == {"bf16": True}

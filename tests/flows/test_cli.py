import subprocess
import sys

from flows.cli import COMMANDS, main


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "inspect" in out and "load" in out


def test_unknown_command_is_a_one_line_error(capsys):
    for argv, line in (
        (["frobnicate"], "unknown command 'frobnicate'; "),
        (["tran", "--out", "o"], "unknown command 'tran' (did you mean train?); "),
        (["rm", "tran"], "unknown command 'rm tran' (did you mean rm train?); "),
        (["rm"], "unknown command 'rm' (it takes: rm train, rm eval); "),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err == f"neat: error: {line}neat --help lists the commands\n", err


def test_every_available_command_has_help():
    import importlib.util

    for name, (module, _) in COMMANDS.items():
        if importlib.util.find_spec(module) is None:
            continue
        out = subprocess.run(
            [sys.executable, "-m", "flows.cli", *name.split(), "--help"], capture_output=True, text=True
        )
        assert out.returncode == 0, (name, out.stderr[-2000:])
        assert f"neat {name}" in out.stdout
        flags = " ".join(out.stdout.split()).split(" --")  # one entry per flag, its help text unwrapped
        assert not [f for f in flags if f.count("default:") > 1], name  # e.g. "(default: previous + 1) (default: None)"


def test_a_help_that_names_its_default_is_not_given_a_second_one():
    import argparse

    from flows.cli import HelpFormatter

    parser = argparse.ArgumentParser(formatter_class=HelpFormatter)
    parser.add_argument("--round", default=None, help="index of the round (default: previous + 1)")
    parser.add_argument("--n", default=1, help="responses per query")
    text = " ".join(parser.format_help().split())
    assert "(default: previous + 1)" in text and "(default: None)" not in text and "(default: 1)" in text


def test_load_writes_round_zero_and_refuses_a_second_write(hh_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["load", "--dataset", str(hh_file), "--out", str(out)]) == 0
    assert "read 4 rows: 4 queries, 0 rows merged" in capsys.readouterr().out
    assert main(["load", "--dataset", str(hh_file), "--out", str(out)]) == 2
    assert "immutable" in capsys.readouterr().err


def test_bad_flag_values_are_clear_errors(hh_file, tmp_path, capsys):
    assert main(["load", "--dataset", str(hh_file), "--limit", "0", "--out", str(tmp_path)]) == 2
    assert "--limit: input should be greater than or equal to 1, got 0" in capsys.readouterr().err


def test_every_command_takes_a_yaml_config_file_and_the_command_line_wins(hh_file, tmp_path, capsys):
    from flows.cli import parse_config
    from neat_train.train_cmd import Config as TrainConfig

    config = tmp_path / "train.yaml"
    config.write_text(
        "shards: [r1, r2]\noutput_dir: o\nlearning_rate: 0.5\nloss: sft\nbatch_size: 3\nbf16: false\n"
        "lr_scheduler_kwargs: {num_cycles: 2}\n"
    )
    parsed = parse_config(TrainConfig, ["--config", str(config), "--learning_rate", "0.25"], "neat train")
    assert parsed.shards == ["r1", "r2"] and parsed.output_dir == "o" and parsed.loss == "sft"
    assert parsed.learning_rate == 0.25  # the command line wins
    assert parsed.per_device_train_batch_size == 3 and parsed.lr_scheduler_kwargs == {"num_cycles": 2}
    parsed = parse_config(
        TrainConfig, [f"--config={config}", "--shards", "r3", "--report_to", "tensorboard, wandb"], "neat train"
    )
    assert parsed.shards == ["r3"] and parsed.report_to == ["tensorboard", "wandb"]  # comma-separated, as before
    # through `neat`, on another command; a bad value in the file is the usual one-line error
    load = tmp_path / "load.yaml"
    load.write_text(f"dataset: {hh_file}\nout: {tmp_path / 'run'}\nlimit: 2\n")
    assert main(["load", "--config", str(load)]) == 0
    assert "read 2 rows" in capsys.readouterr().out
    load.write_text(f"dataset: {hh_file}\nout: {tmp_path / 'run2'}\nlimit: 0\n")
    assert main(["load", "--config", str(load)]) == 2
    assert capsys.readouterr().err.startswith("neat load: error: --limit: input should be greater than or equal to 1")
    assert main(["load", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: config file not found" in capsys.readouterr().err

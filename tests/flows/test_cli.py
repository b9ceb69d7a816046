import subprocess
import sys

from flows.cli import COMMANDS, main


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "inspect" in out and "load" in out


def test_unknown_command_is_an_error(capsys):
    assert main(["frobnicate"]) == 2
    assert "usage: neat" in capsys.readouterr().err


def test_every_available_command_has_help():
    import importlib.util

    for name, (module, _) in COMMANDS.items():
        if importlib.util.find_spec(module) is None:
            continue
        out = subprocess.run([sys.executable, "-m", "flows.cli", *name.split(), "--help"], capture_output=True, text=True)
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
    assert "--limit must be a positive number" in capsys.readouterr().err

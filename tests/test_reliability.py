"""Issue #15: every user error is one clear line and exit code 2 (or a counted reject), never a traceback; two
writers of one output are locked out of each other; nothing is written before the inputs are valid.

Each test names the case of the issue it covers (1-11). Commands run in-process through ``flows.cli.main`` (the
same code path as the console script) unless a real second process is the point.
"""

from __future__ import annotations

import ast
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from flows.cli import main
from neat_data.errors import NeatError
from neat_data.locks import WriteLock
from neat_data.shards import MANIFEST, PENDING, REJECTS, read_round, round_dir

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo" / "hh-demo.jsonl"  # has held-out (test split) queries, which `neat eval` needs


@pytest.fixture
def neat(capsys):
    """Run ``neat ARGS`` in-process: (exit code, stdout, stderr); a traceback or SystemExit fails the test."""

    def call(*args) -> tuple[int, str, str]:
        rc = main([str(a) for a in args])
        out, err = capsys.readouterr()
        assert "Traceback" not in err, err
        return rc, out, err

    return call


@pytest.fixture(autouse=True)
def _score_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEAT_DATA_DIR", str(tmp_path / "neat-data"))  # score cache of these tests only


def loaded_round(neat, hh_file, out: Path) -> Path:
    assert neat("load", "--dataset", hh_file, "--out", out)[0] == 0
    return round_dir(out, 0)


def scored_round(neat, hh_file, rm: Path, out: Path) -> Path:
    assert neat("score", "--dataset", hh_file, "--rm", rm, "--out", out)[0] == 0
    return round_dir(out, 0)


def pickle_only(model_dir: Path, target: Path, weights: str = "model.safetensors", pickle: str = "pytorch_model.bin"):
    """A copy of ``model_dir`` whose weights are a pickle only (what neat must refuse to load)."""
    import torch
    from safetensors.torch import load_file

    shutil.copytree(model_dir, target)
    torch.save(load_file(target / weights), target / pickle)
    (target / weights).unlink()
    return target


# --- 1. two writers of one output -------------------------------------------------------------------------------

HOLD = (
    "import sys, time; from neat_data.locks import WriteLock; lock = WriteLock(sys.argv[1]); "
    "print('held', flush=True); time.sleep(600)"
)


@contextmanager
def held_by_another_process(directory: Path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(directory)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def writer_cases(neat, tmp_path, hh_file, tiny_policy_dir, tiny_rm_dir) -> dict:
    """command -> (the directory it writes, its arguments)."""
    out = tmp_path / "run"
    return {
        "load": lambda: (round_dir(out, 0), ["load", "--dataset", hh_file, "--out", out]),
        "score": lambda: (round_dir(out, 0), ["score", "--dataset", hh_file, "--rm", tiny_rm_dir, "--out", out]),
        "generate": lambda: (
            round_dir(out, 1),
            ["generate", "--from", loaded_round(neat, hh_file, out), "--policy", tiny_policy_dir, "--rm", tiny_rm_dir],
        ),
        "train": lambda: (
            tmp_path / "adapter",
            [
                "train",
                "--shards",
                scored_round(neat, hh_file, tiny_rm_dir, out),
                "--policy",
                tiny_policy_dir,
                "--out",
                tmp_path / "adapter",
                "--train-split",
                "all",
                "--max-steps",
                "1",
            ],
        ),
    }


@pytest.mark.parametrize("command", ["load", "score", "generate", "train"])
def test_1_a_second_writer_fails_at_once_naming_the_holder(
    command, neat, tmp_path, hh_file, tiny_policy_dir, tiny_rm_dir
):
    target, args = writer_cases(neat, tmp_path, hh_file, tiny_policy_dir, tiny_rm_dir)[command]()
    with held_by_another_process(target) as holder:
        rc, _, err = neat(*args)
    assert rc == 2
    assert f"{target} is being written by another process (pid {holder.pid} on {socket.gethostname()}, since" in err
    assert f": -c {target})" in err  # when, and the holder's command line (here python -c)
    assert not (target / PENDING).exists() and not (target / "train_config.json").exists()


def test_1_a_second_neat_run_into_the_same_out_fails_at_once(neat, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"name": "t", "dataset": str(tmp_path / "d.jsonl"), "out": str(tmp_path / "o")}))
    with held_by_another_process(tmp_path / "o") as holder:
        rc, _, err = neat("run", "--config", config)  # refused before Prefect starts
        assert (
            rc == 2
            and f"the run directory {tmp_path / 'o'} is being written by another process (pid {holder.pid}" in err
        )
        from flows.rounds import claim_run_dir
        from flows.run_config import load_run_config

        with pytest.raises(NeatError, match="being written by another process"):  # and inside the flow
            claim_run_dir(load_run_config(config))


def test_1_a_lock_of_a_killed_process_is_free_again(tmp_path):
    with held_by_another_process(tmp_path / "r") as holder:
        with pytest.raises(NeatError, match=f"pid {holder.pid}"):
            WriteLock(tmp_path / "r")
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    with WriteLock(tmp_path / "r") as lock:  # the kernel released it; the file left behind does not matter
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    WriteLock(tmp_path / "r", part="rank-1").release()  # a part of an output has its own lock
    with WriteLock(tmp_path / "r"), WriteLock(tmp_path / "r", part="rank-1"):
        pass


# --- 2. YAML alias bomb -------------------------------------------------------------------------------------------


def test_2_a_yaml_alias_bomb_is_refused_before_it_expands(neat, tmp_path):
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)
    ]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("name: t\ndataset: d\nout: o\n" + "\n".join(levels) + "\ntrain_launcher: *i\n")
    assert len(bomb.read_bytes()) < 600  # 9^9 values once expanded
    rc, _, err = neat("run", "--config", bomb, "--check")
    assert rc == 2 and "anchors and aliases" in err and "expand this document to more than" in err
    # a few aliases are fine, and a long wrong value is shortened in the message
    ok = tmp_path / "ok.yaml"
    ok.write_text(
        "name: t\ndataset: &d data.jsonl\nout: o\neval: {limit: 4}\ntrain_launcher: [1" + ", 1" * 5000 + "]\n"
    )
    rc, _, err = neat("run", "--config", ok, "--check")
    assert rc == 2 and "expected list[str], got list [1, 1, 1, 1, 1, ...]" in err and len(err) < 2000


# --- 3. safetensors only --------------------------------------------------------------------------------------------

WEIGHT_LOADERS = ("AutoModel", "ForCausalLM", "ForSequenceClassification", "PeftModel", "PreTrainedModel")


def test_3_every_from_pretrained_of_weights_passes_use_safetensors():
    """Every ``<model class>.from_pretrained(...)`` in the project passes ``use_safetensors=True`` (tokenizers and
    configs hold no weights; a GGUF file is not a pickle)."""
    checked, missing = 0, []
    for path in [
        *ROOT.glob("neat_data/**/*.py"),
        *ROOT.glob("neat_train/**/*.py"),
        *ROOT.glob("flows/**/*.py"),
        *ROOT.glob("bench/**/*.py"),
    ]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "from_pretrained"
            ):
                continue
            owner = ast.unparse(node.func.value)
            if "Tokenizer" in owner or "Config" in owner or not any(w in owner for w in WEIGHT_LOADERS):
                continue
            keywords = {k.arg: k.value for k in node.keywords}
            if "gguf_file" in keywords:
                continue
            checked += 1
            flag = keywords.get("use_safetensors")
            if not (isinstance(flag, ast.Constant) and flag.value is True):
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno}: {owner}.from_pretrained")
    assert checked >= 6 and not missing, missing


@pytest.mark.parametrize("flag", ["--policy", "--rm", "--base"])
def test_3_a_pickle_only_model_is_refused_clearly(flag, neat, tmp_path, hh_file, tiny_policy_dir, tiny_rm_dir):
    model = pickle_only(tiny_rm_dir if flag in ("--rm", "--base") else tiny_policy_dir, tmp_path / "pickled")
    args = {
        "--policy": ["train", "--shards", tmp_path, "--out", tmp_path / "o", "--policy", model],
        "--rm": ["score", "--dataset", hh_file, "--rm", model, "--out", tmp_path / "o"],
        "--base": ["rm", "train", "--pairs", hh_file, "--base", model, "--out", tmp_path / "o", "--train-on", "all"],
    }[flag]
    rc, _, err = neat(*args)
    assert rc == 2
    assert f"{flag} {model}: only pickled weights (pytorch_model.bin)" in err and "safetensors only" in err
    assert not (tmp_path / "o").exists()


# --- 4. bad bytes ----------------------------------------------------------------------------------------------------


def _good_lines(hh_rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in hh_rows).encode()


@pytest.mark.parametrize(
    "name, content, message",
    [
        (
            "binary.jsonl",
            lambda good: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + good,
            "line 3 holds NUL bytes: a binary file",
        ),
        ("cut.jsonl.gz", lambda good: gzip.compress(good * 20)[:-40], "the gzip stream is cut off or corrupt"),
        ("plain.jsonl.gz", lambda good: good, "not a gzip file although it is named .gz"),
        ("broken.parquet", lambda good: b"PAR1" + good[:50], "not a readable Parquet file"),
    ],
)
def test_4_an_unreadable_file_is_exit_2_naming_it(name, content, message, neat, tmp_path, hh_rows):
    path = tmp_path / name
    path.write_bytes(content(_good_lines(hh_rows)))
    rc, _, err = neat("load", "--dataset", path, "--out", tmp_path / "o")
    assert rc == 2 and f"neat load: error: {path}: {message}" in err
    assert not (tmp_path / "o").exists()


def test_4_unreadable_rows_are_rejects_with_file_line_and_reason(neat, tmp_path, hh_rows):
    path = tmp_path / "in.jsonl"
    good = _good_lines(hh_rows)
    path.write_bytes(b"\xef\xbb\xbf" + good + b'{"chosen": "\xff\xfe"}\n42\n["a"]\nnull\n')  # BOM, bad UTF-8, scalars
    rc, out, err = neat("load", "--dataset", path, "--out", tmp_path / "o", "--max-reject-share", "0.5")
    assert rc == 0 and "read 8 rows: 4 queries" in out  # the BOM did not cost the first row
    rejects = [json.loads(x) for x in (round_dir(tmp_path / "o", 0) / REJECTS).read_text().splitlines()]
    assert [(r["origin"], r["reason"]) for r in rejects] == [
        ("in.jsonl:5", "invalid UTF-8 (byte 0xff at position 12)"),
        ("in.jsonl:6", "the row is a JSON number, not an object with chosen/rejected"),
        ("in.jsonl:7", "the row is a JSON list, not an object with chosen/rejected"),
        ("in.jsonl:8", "the row is JSON null, not an object with chosen/rejected"),
    ]
    assert rejects[0]["row"] == '{"chosen": "\ufffd\ufffd"}'  # the bad row is kept (bytes shown replaced)


# --- 5. a failed command does not block its corrected rerun ------------------------------------------------------


def test_5_generate_with_a_bad_policy_then_the_corrected_rerun(neat, tmp_path, hh_file, tiny_policy_dir, tiny_rm_dir):
    previous = loaded_round(neat, hh_file, tmp_path / "run")
    args = ["generate", "--from", previous, "--rm", tiny_rm_dir, "--max-new-tokens", "4", "--limit", "2"]
    rc, _, err = neat(*args, "--policy", tmp_path / "no-such-policy")
    assert rc == 2 and "no such file or directory" in err and not round_dir(tmp_path / "run", 1).exists()
    broken = tmp_path / "broken-policy"  # exists, fails only when loaded: after the round was claimed
    shutil.copytree(tiny_policy_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    rc, _, err = neat(*args, "--policy", broken)
    assert rc == 2 and f"policy {str(broken)!r}: could not load it" in err
    assert (round_dir(tmp_path / "run", 1) / PENDING).exists()
    rc, _, err = neat(*args, "--policy", tiny_policy_dir)
    assert rc == 0 and "started with another config that failed before writing a shard" in err
    assert len(read_round(round_dir(tmp_path / "run", 1))) == 2


def test_5_train_with_a_bad_value_then_the_corrected_rerun(neat, tmp_path, hh_file, tiny_policy_dir, tiny_rm_dir):
    data = scored_round(neat, hh_file, tiny_rm_dir, tmp_path / "run")
    out = tmp_path / "adapter"
    args = ["train", "--shards", data, "--out", out, "--train-split", "all", "--max-steps", "1"]
    rc, _, err = neat(*args, "--policy", tiny_policy_dir, "--learning-rate", "-0.1")
    assert rc == 2 and "--learning_rate: input should be greater than 0, got -0.1" in err and not out.exists()
    broken = tmp_path / "broken-policy"
    shutil.copytree(tiny_policy_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    assert neat(*args, "--policy", broken)[0] == 2  # fails after train_config.json, before any checkpoint
    assert (out / "train_config.json").exists()
    rc, _, err = neat(*args, "--policy", tiny_policy_dir, "--learning-rate", "0.001")
    assert rc == 0 and "stopped before its first checkpoint; starting it again" in err
    assert "-0.1" not in err


def test_5_train_into_a_foreign_folder_is_refused_leaving_nothing(
    neat, tmp_path, hh_file, tiny_policy_dir, tiny_rm_dir
):
    data = scored_round(neat, hh_file, tiny_rm_dir, tmp_path / "run")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("someone else's folder")
    rc, _, err = neat("train", "--shards", data, "--output_dir", out, "--policy", tiny_policy_dir)
    assert rc == 2 and f"{out} is not empty and not a neat train output" in err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]  # not even a lock file


# --- 6. a path that does not exist is not a hub id ---------------------------------------------------------------


@pytest.fixture
def no_hub(monkeypatch, tmp_path):
    """cwd with ``in/`` and ``models/`` directories; the hub is never asked (HF_HUB_OFFLINE unset)."""
    import datasets
    import huggingface_hub

    def hub(*args, **kwargs):
        raise AssertionError("went to the hub")

    monkeypatch.setattr(datasets, "load_dataset", hub)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    (tmp_path / "models").mkdir()


@pytest.mark.parametrize(
    "args, missing",
    [
        (["load", "--dataset", "in/missing.jsonl", "--out", "o"], "dataset in/missing.jsonl"),
        (["score", "--dataset", "HH", "--rm", "models/x", "--out", "o"], "--rm models/x"),
        (["generate", "--from", "R0", "--policy", "models/x", "--rm", "RM"], "--policy models/x"),
        (["train", "--shards", "R0", "--policy", "models/x", "--out", "o"], "--policy models/x"),
        (["eval", "--dataset", "HH", "--policy", "models/x", "--rm", "RM"], "--policy models/x"),
        (["rm", "train", "--pairs", "HH", "--base", "models/x", "--out", "o", "--train-on", "all"], "--base models/x"),
    ],
)
def test_6_a_missing_path_fails_at_once_with_no_such_file(
    args, missing, no_hub, neat, tmp_path, hh_file, tiny_rm_dir, tiny_policy_dir
):
    r0 = scored_round(neat, hh_file, tiny_rm_dir, tmp_path / "run") if "R0" in args else None
    names = {"HH": DEMO, "RM": tiny_rm_dir, "R0": r0}
    rc, _, err = neat(*[names.get(a, a) for a in args])
    assert rc == 2 and f"{missing}: no such file or directory (and it is not a hub id like org/name)" in err
    assert not (tmp_path / "o").exists() and not round_dir(tmp_path / "run", 1).exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rm", "models/x"], "--rm models/x: no such file or directory"),
        (["--judge", "models/x"], "--judge models/x: no such file or directory"),
        (["--judge", "POLICY"], "is a causal LM (LlamaForCausalLM), not a reward model: --judge needs"),
        (["--baseline-policy", "models/x"], "--baseline-policy models/x: no such file or directory"),
        (["--baseline-responses", "in/answers.jsonl"], "--baseline-responses in/answers.jsonl: no such file"),
        (["--responses-out", "in.jsonl/answers.jsonl"], "--responses-out in.jsonl/answers.jsonl: a file is in the way"),
    ],
)
def test_6_eval_refuses_its_other_models_and_files_before_generating(
    args, message, no_hub, neat, tmp_path, tiny_policy_dir, tiny_rm_dir, monkeypatch
):
    import neat_train.eval_cmd

    monkeypatch.setattr(neat_train.eval_cmd, "generate", lambda *a: pytest.fail("generated before refusing"))
    (tmp_path / "in.jsonl").write_text("")
    args = [str(tiny_policy_dir) if a == "POLICY" else a for a in args]
    rc, _, err = neat("eval", "--dataset", DEMO, "--policy", tiny_policy_dir, "--rm", tiny_rm_dir, *args)
    assert rc == 2 and message in err, err


def test_6_only_a_real_hub_id_goes_to_the_hub(no_hub, monkeypatch):
    from neat_data.models import hub_id_or_path

    assert hub_id_or_path("Anthropic/hh-rlhf", "dataset") == "Anthropic/hh-rlhf"
    assert hub_id_or_path("in", "dataset") == Path("in")
    for name in ("in/x", "models/x", "./x", "/abs/x", "x.jsonl", "org/data.parquet", "a/b/c", "plain"):
        with pytest.raises(NeatError, match="no such file or directory"):
            hub_id_or_path(name, "dataset")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(NeatError, match="HF_HUB_OFFLINE is set"):
        hub_id_or_path("Anthropic/hh-rlhf", "dataset")


# --- 7. malformed manifests ---------------------------------------------------------------------------------------


def _no_shards(m):
    del m["shards"]
    return m


def _escaping(m):
    m["shards"][0]["file"] = "../outside.parquet"
    return m


def _shards_object(m):
    m["shards"] = {"file": "shard-00000.parquet"}
    return m


@pytest.mark.parametrize(
    "edit, message",
    [
        (_no_shards, "shards: Field required"),
        (lambda m: [m], "expected a JSON object, found a list"),
        (_escaping, "shards.0.file: Value error, '../outside.parquet' is not a file name inside the round"),
        (_shards_object, "shards: Input should be a valid list"),
    ],
)
def test_7_a_malformed_manifest_is_exit_2_for_every_reader(
    edit, message, neat, tmp_path, hh_file, tiny_rm_dir, tiny_policy_dir
):
    directory = scored_round(neat, hh_file, tiny_rm_dir, tmp_path / "run")
    shutil.copy(directory / "data" / "shard-00000.parquet", tmp_path / "run" / "outside.parquet")  # what `..` reaches
    manifest = directory / MANIFEST
    manifest.write_text(json.dumps(edit(json.loads(manifest.read_text()))))
    for args in (
        ["inspect", directory],
        ["inspect", directory / "data" / "shard-00000.parquet"],
        ["inspect", tmp_path / "run"],
        ["train", "--shards", directory, "--out", tmp_path / "o", "--policy", tiny_policy_dir],
        ["generate", "--from", directory, "--policy", tiny_policy_dir, "--rm", tiny_rm_dir],
    ):
        rc, _, err = neat(*args)
        assert rc == 2 and f"{manifest}" in err and message in err, (args, err)
    assert not (tmp_path / "o").exists() and not round_dir(tmp_path / "run", 1).exists()


# --- 8. tracebacks on user errors -----------------------------------------------------------------------------------


def _edit_config(model: Path, **changes):
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, **changes}))


@pytest.mark.parametrize(
    "case, message",
    [
        ("invalid json", "config.json is not valid JSON"),
        ("invalid value", "config.json is not a valid transformers config (Validation error for field 'hidden_size'"),
        (
            "auto_map",
            "asks for custom code (auto_map: AutoModelForSequenceClassification) and neat never runs remote code",
        ),
        ("causal lm", "is a causal LM (LlamaForCausalLM), not a reward model"),
    ],
)
def test_8_a_bad_reward_model_is_a_clear_error(case, message, neat, tmp_path, hh_file, tiny_rm_dir, tiny_policy_dir):
    rm = tmp_path / "rm"
    shutil.copytree(tiny_policy_dir if case == "causal lm" else tiny_rm_dir, rm)
    if case == "invalid json":
        (rm / "config.json").write_text('{"model_type": "bert",')
    elif case == "invalid value":
        _edit_config(rm, hidden_size="big")
    elif case == "auto_map":
        _edit_config(rm, model_type="my-rm", auto_map={"AutoModelForSequenceClassification": "modeling.MyRM"})
    rc, _, err = neat("score", "--dataset", hh_file, "--rm", rm, "--out", tmp_path / "o")
    assert rc == 2 and message in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "case, message",
    [
        ("invalid json", "config.json is not valid JSON"),
        ("invalid value", "config.json is not a valid transformers config (Validation error for field 'hidden_size'"),
        ("auto_map", "asks for custom code (auto_map: AutoModelForCausalLM) and neat never runs remote code"),
        ("reward model", "is a BertForSequenceClassification, not a causal language model"),
    ],
)
def test_8_a_bad_policy_is_a_clear_error_before_any_weights_load(
    case, message, neat, tmp_path, tiny_rm_dir, tiny_policy_dir
):
    policy = tmp_path / "policy"
    shutil.copytree(tiny_rm_dir if case == "reward model" else tiny_policy_dir, policy)
    if case == "invalid json":
        (policy / "config.json").write_text('{"model_type": "llama",')
    elif case == "invalid value":
        _edit_config(policy, hidden_size="big")
    elif case == "auto_map":
        _edit_config(policy, auto_map={"AutoModelForCausalLM": "modeling.MyLM"})
    rc, _, err = neat("eval", "--dataset", DEMO, "--policy", policy, "--rm", tiny_rm_dir, "--limit", "2")
    assert rc == 2 and message in err and "Traceback" not in err, err


def test_8_an_adapter_with_pickled_weights_only_is_refused(neat, tmp_path, hh_file, tiny_policy_dir, tiny_rm_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir, use_safetensors=True)
    get_peft_model(model, LoraConfig(r=2, target_modules="all-linear")).save_pretrained(tmp_path / "lora")
    adapter = pickle_only(tmp_path / "lora", tmp_path / "adapter", "adapter_model.safetensors", "adapter_model.bin")
    data = scored_round(neat, hh_file, tiny_rm_dir, tmp_path / "run")
    for args in (
        ["train", "--shards", data, "--out", tmp_path / "o", "--policy", tiny_policy_dir],
        ["generate", "--from", data, "--policy", tiny_policy_dir, "--rm", tiny_rm_dir],
        ["eval", "--dataset", DEMO, "--policy", tiny_policy_dir, "--rm", tiny_rm_dir],
    ):
        rc, _, err = neat(*args, "--adapter", adapter)
        assert rc == 2 and f"--adapter {adapter}: only pickled weights (adapter_model.bin)" in err, (args, err)
    assert not (tmp_path / "o").exists() and not round_dir(tmp_path / "run", 1).exists()


def test_8_neat_run_exits_2_without_tracebacks_when_a_stage_reports_bad_input(tmp_path, tiny_policy_dir, tiny_rm_dir):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"chosen": "no Human turn", "rejected": "at all"}\n')
    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "t",
                "dataset": str(bad),
                "out": str(tmp_path / "o"),
                "rounds": 1,
                "policy": str(tiny_policy_dir),
                "rm": str(tiny_rm_dir),
            }
        )
    )
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--config", str(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert "neat score: error:" in output and "1 of 1 rows (100.0%) are bad" in output
    assert "neat run: error: the stage `neat score` reported bad input (its error is above)" in output


# --- 9. --check refuses what the stages refuse -------------------------------------------------------------------


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("data", "limit", -5, "--limit: input should be greater than or equal to 1, got -5"),
        ("score", "batch_size", 0, "--batch-size: input should be greater than or equal to 1, got 0"),
        ("generate", "max_new_tokens", -16, "--max-new-tokens: input should be greater than or equal to 1, got -16"),
        ("train", "learning_rate", -0.1, "--learning_rate: input should be greater than 0, got -0.1"),
        ("data", "max_reject_share", 7, "--max-reject-share: input should be less than or equal to 1, got 7"),
        ("eval", "max_new_tokens", -16, "--max-new-tokens: input should be greater than or equal to 1, got -16"),
        (
            "train",
            "lr_scheduler_type",
            "cosin",
            "argument --lr_scheduler_type/--lr-scheduler-type: invalid choice: 'cosin'",
        ),
    ],
)
def test_9_check_refuses_a_value_the_stage_refuses_with_the_stages_own_message(
    section, key, value, message, neat, tmp_path
):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"name": "t", "dataset": "d.jsonl", "out": "o", section: {key: value}}))
    rc, _, err = neat("run", "--config", config, "--check")
    assert rc == 2 and f"{config}:{section}: {message}" in err
    assert err.count(message) == 1  # `score` also parses `data`: said once
    stage = {
        "data": ["load", "--dataset", "d.jsonl"],
        "score": ["score", "--dataset", "d.jsonl"],
        "generate": ["generate", "--from", "r"],
        "train": ["train", "--shards", "r", "--out", "o"],
        "eval": ["eval", "--dataset", "d.jsonl"],
    }[section]
    rc, _, err = neat(*stage, f"--{key.replace('_', '-')}", value)
    assert rc == 2 and message in err  # the stage's own message: one rule


def test_9_unknown_flags_and_bad_typed_values_are_one_line_errors(neat):
    rc, _, err = neat("train", "--shards", "r", "--output_dir", "o", "--max-stepz", "3")
    assert rc == 2 and err.strip() == (
        "neat train: error: unrecognized arguments: --max-stepz (did you mean "
        "--max-steps?) 3 (neat train --help lists the flags)"
    )
    rc, _, err = neat("load", "--dataset", "d", "--limit", "abc")
    assert rc == 2 and err.strip().startswith("neat load: error: argument --limit: invalid int value: 'abc'")
    assert len(err.strip().splitlines()) == 1


# --- 10. input left out is said and counted ------------------------------------------------------------------------


def test_10_skipped_files_and_identical_replies_are_said_and_counted(neat, tmp_path, hh_rows):
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    same = {"chosen": hh_rows[0]["chosen"], "rejected": hh_rows[0]["chosen"]}
    (d / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in hh_rows[1:] + [same]))
    (d / "c.json").write_text(json.dumps(hh_rows[0]))
    (d / "sub" / "b.jsonl").write_text(json.dumps(hh_rows[0]) + "\n")
    rc, _, err = neat("load", "--dataset", d, "--out", tmp_path / "o")
    assert rc == 0
    assert f"note: {d / 'c.json'} not read: not a .jsonl, .jsonl.gz, .parquet file" in err
    assert f"note: {d / 'sub'} not read: a sub-directory (directories are not read recursively)" in err
    assert "note: 1 row(s) have identical chosen and rejected replies (a.jsonl:4)" in err
    load = json.loads((round_dir(tmp_path / "o", 0) / MANIFEST).read_text())["extra"]["load"]
    assert [Path(s["path"]).name for s in load["skipped_files"]] == ["c.json", "sub"]
    assert load["identical_replies"] == 1 and load["identical_replies_origins"] == ["a.jsonl:4"]


# --- 11. minor -------------------------------------------------------------------------------------------------------


def test_11_score_into_a_finished_round_refuses_before_scoring(neat, tmp_path, hh_file, tiny_rm_dir, monkeypatch):
    scored_round(neat, hh_file, tiny_rm_dir, tmp_path / "run")
    import neat_data.scoring

    monkeypatch.setattr(neat_data.scoring, "score_rows", lambda *a: pytest.fail("scored before refusing"))
    rc, _, err = neat("score", "--dataset", hh_file, "--rm", tiny_rm_dir, "--out", tmp_path / "run")
    assert rc == 2 and "is a finished round" in err


def test_11_out_naming_a_round_directory_is_refused(neat, tmp_path, hh_file, tiny_policy_dir, tiny_rm_dir):
    round0 = loaded_round(neat, hh_file, tmp_path / "run")
    before = sorted(str(p.relative_to(round0)) for p in round0.rglob("*"))
    for args in (
        ["load", "--dataset", hh_file],
        ["generate", "--from", round0, "--policy", tiny_policy_dir, "--rm", tiny_rm_dir],
        ["score", "--dataset", hh_file, "--rm", tiny_rm_dir],
    ):
        for out in (round0, round0 / "data", round0 / "data" / "deeper"):  # a round is never written inside a round
            rc, _, err = neat(*args, "--out", out)
            assert rc == 2 and f"{round0} is a round directory; --out takes the data root" in err, err
    for args in (["train", "--shards", round0, "--policy", tiny_policy_dir], ["export", round0]):
        for out in (round0, round0 / "adapter"):  # nor anything else: a round is immutable, and its readers read all
            rc, _, err = neat(*args, "--out", out)
            assert rc == 2 and f" {out}: {round0} is a round directory, and nothing is written into" in err, err
    for flag in ("--out", "--delta-out"):  # neither the RM nor its delta
        rc, _, err = neat("rm", "train", "--pairs", hh_file, flag, round0 / "rm")
        assert rc == 2 and f"{flag} {round0 / 'rm'}: {round0} is a round directory" in err, err
    assert sorted(str(p.relative_to(round0)) for p in round0.rglob("*")) == before


def test_11_out_that_cannot_be_a_directory_is_a_clear_error(neat, tmp_path, hh_file):
    (tmp_path / "taken").write_text("a file, not a directory")
    rc, _, err = neat("load", "--dataset", hh_file, "--out", tmp_path / "taken")
    assert rc == 2 and f"neat load: error: {tmp_path / 'taken' / 'round-000'}: Not a directory" in err


def test_11_inspect_says_a_loose_shard_is_unverified(neat, tmp_path, hh_file):
    round0 = loaded_round(neat, hh_file, tmp_path / "run")
    rc, out, _ = neat("inspect", round0 / "data" / "shard-00000.parquet")
    assert rc == 0 and "UNVERIFIED" not in out
    loose = tmp_path / "copy.parquet"
    shutil.copy(round0 / "data" / "shard-00000.parquet", loose)
    rc, out, _ = neat("inspect", loose)
    assert rc == 0 and "UNVERIFIED: this shard is not inside a finished round" in out
    rc, out, _ = neat("inspect", loose, "--json")
    assert json.loads(out)["verified"] is False

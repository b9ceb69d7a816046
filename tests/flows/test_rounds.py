"""The Prefect rounds loop (``neat run``) on tiny random-init models: the full loop, a real ``kill -9`` during
generation and during training followed by a resume, refusing a different config, and the train_on setting.

The runs are real ``neat run`` processes (each with its own Prefect home and temporary local API), so the
kills hit the flow process and the stage process it is running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from flows.run_config import load_run_config
from neat_data.errors import NeatError
from neat_data.locks import LOCK_FILE
from neat_data.shards import MANIFEST, load_manifest, read_round, verify_round

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo" / "hh-demo.jsonl"
TRAIN_STEPS = 4


def write_config(tmp_path: Path, policy: Path, rm: Path, out: Path, **overrides) -> Path:
    config = {
        "name": "tiny",
        "dataset": str(DEMO),
        "out": str(out),
        "rounds": 2,
        "policy": str(policy),
        "rm": str(rm),
        "data": {"limit": 24},
        "generate": {"max_new_tokens": 12, "batch_size": 4, "rows_per_shard": 3},
        "train": {
            "max_steps": TRAIN_STEPS,
            "batch_size": 2,
            "save_steps": 1,
            "max_length": 128,
            "max_response_length": 48,
            "learning_rate": 0.001,
        },
        "eval": {"limit": 3, "max_new_tokens": 8},
        **overrides,
    }
    path = tmp_path / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_run(config: Path, home: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", "--config", str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    output, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, output[-4000:]
    return output


def kill_when(proc: subprocess.Popen, condition, what: str, timeout: float = 300) -> None:
    """SIGKILL the run's whole process group (flow, stage child, local API) as soon as ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {what}: {proc.stdout.read()[-4000:]}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def rows_by_query(directory: Path) -> dict[str, dict]:
    rows = read_round(directory)
    ids = [r["query_id"] for r in rows]
    assert len(ids) == len(set(ids)), f"{directory}: duplicated queries"
    return {r["query_id"]: r for r in rows}


def responses(row: dict) -> list[tuple]:
    return [(r["text"], r["source"], round(r["reward"], 5)) for r in row["responses"]]


def test_kill_9_during_generation_and_training_then_resume_loses_and_duplicates_nothing(
    tmp_path, tiny_policy_dir, tiny_rm_dir, tiny_judge_dir
):
    out = tmp_path / "killed"
    judged = {"eval": {"limit": 3, "max_new_tokens": 8, "judge": str(tiny_judge_dir)}}
    config = write_config(tmp_path, tiny_policy_dir, tiny_rm_dir, out, **judged)
    home = tmp_path / "prefect"

    # 1. killed while round 1 is being generated: some shards written, no manifest yet
    round1 = out / "round-001"
    proc = start_run(config, home)
    kill_when(
        proc,
        lambda: any(round1.glob("data/shard-*.parquet")) and not (round1 / MANIFEST).exists(),
        "round 1 to be half-written",
    )
    assert not (round1 / MANIFEST).exists()

    # 2. resumed, then killed while round 1 is being trained: a checkpoint exists, the adapter is not final
    partial = out / "adapters" / "round-001.partial"
    proc = start_run(config, home)
    kill_when(proc, lambda: any((partial / "checkpoints").glob("checkpoint-*")), "a training checkpoint")
    assert not (out / "adapters" / "round-001").exists()

    # 3. resumed to the end
    output = finish(start_run(config, home))
    assert "finished run 'tiny'" in output and str(out) in output

    # the same config run without interruption
    reference = tmp_path / "reference"
    finish(
        start_run(write_config(tmp_path, tiny_policy_dir, tiny_rm_dir, reference, **judged), tmp_path / "prefect-ref")
    )

    for index in (0, 1, 2):
        verify_round(out / f"round-{index:03d}")
    killed0, ref0 = rows_by_query(out / "round-000"), rows_by_query(reference / "round-000")
    assert len(killed0) == 24 and killed0.keys() == ref0.keys()
    # round 1 samples with the base policy: the resumed round is exactly the uninterrupted one
    killed1, ref1 = rows_by_query(out / "round-001"), rows_by_query(reference / "round-001")
    assert killed1.keys() == ref1.keys() == killed0.keys()
    for qid, row in killed1.items():
        assert responses(row) == responses(ref1[qid])
        assert sorted(r["source"] for r in row["responses"]).count("negative_prompt") == 1
    # round 2 carries every response of round 1 plus one per prompt, less the exact duplicates of an earlier
    # response that the merge drops and counts (the tiny random policy often repeats itself): nothing lost
    killed2 = rows_by_query(out / "round-002")
    assert killed2.keys() == killed0.keys()
    for qid, row in killed2.items():
        ids = [r["response_id"] for r in row["responses"]]
        assert len(ids) == len(set(ids))
        assert {r["response_id"] for r in killed1[qid]["responses"]} <= set(ids)
        assert [r["source"] for r in row["responses"]].count("negative_prompt") in (1, 2)
    generated = load_manifest(out / "round-002")["extra"]["generate"]
    assert generated["samples"] == 2 * len(killed2)
    assert sum(len(r["responses"]) for r in killed2.values()) == (
        sum(len(r["responses"]) for r in killed1.values()) + generated["samples"] - generated["duplicates_dropped"]
    )

    # the training resumed from its checkpoint: every step logged once, losses as in the uninterrupted run
    for index in (1, 2):
        log = [json.loads(line) for line in (out / "adapters" / f"round-{index:03d}" / "train_log.jsonl").open()]
        assert [entry["step"] for entry in log] == list(range(1, TRAIN_STEPS + 1))
    log = [json.loads(line) for line in (out / "adapters" / "round-001" / "train_log.jsonl").open()]
    ref_log = [json.loads(line) for line in (reference / "adapters" / "round-001" / "train_log.jsonl").open()]
    assert [e["loss"] for e in log] == pytest.approx([e["loss"] for e in ref_log], rel=1e-4)
    assert not list((out / "adapters").glob("*.partial"))

    # evaluations of rounds 0..2 and the report
    report = json.loads((out / "report.json").read_text())
    assert [r["round"] for r in report["rounds"]] == [0, 1, 2]
    for r in report["rounds"]:
        assert r["eval"]["n"] == 3 and "mean_reward" in r["eval"]
        # the judge of the eval section scored every round; the kept answers give the length control
        assert r["heldout"]["judge_reward"] == r["eval"]["judge"]["mean_reward"]
        assert r["heldout"]["length_controlled_reward"] is not None
    assert report["judge"] == str(tiny_judge_dir) and report["length_control"]["by"] == "judge"
    assert isinstance(report["warnings"], list)
    assert [r["adapter"] is not None for r in report["rounds"]] == [False, True, True]
    assert (out / "reward_curve.png").stat().st_size > 0

    # re-running a finished run redoes nothing (the run's lock file records its new holder: not data)
    before = {
        p: p.stat().st_mtime_ns
        for p in out.rglob("*")
        if p.is_file() and p.name != "report.json" and p.suffix != ".png" and p.name != LOCK_FILE
    }
    finish(start_run(config, home))
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_a_run_directory_from_another_config_is_refused(tmp_path, tiny_policy_dir, tiny_rm_dir):
    from flows.rounds import claim_run_dir

    out = tmp_path / "run"
    config = load_run_config(write_config(tmp_path, tiny_policy_dir, tiny_rm_dir, out))
    claim_run_dir(config).release()
    claim_run_dir(config).release()  # the same config resumes
    extended = load_run_config(write_config(tmp_path, tiny_policy_dir, tiny_rm_dir, out, rounds=5))
    claim_run_dir(extended).release()  # more rounds extend the run
    changed = load_run_config(write_config(tmp_path, tiny_policy_dir, tiny_rm_dir, out, train={"max_steps": 7}))
    with pytest.raises(NeatError, match="different config.*start fresh"):
        claim_run_dir(changed)
    stranger = tmp_path / "not-a-run"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(NeatError, match="not empty and not a neat run"):
        claim_run_dir(load_run_config(write_config(tmp_path, tiny_policy_dir, tiny_rm_dir, stranger)))


@pytest.mark.parametrize("train_on, expected", [("round", ["round-002"]), ("all", ["round-001", "round-002"])])
def test_train_on_selects_the_rounds_trained_on(
    tmp_path, monkeypatch, tiny_policy_dir, tiny_rm_dir, train_on, expected
):
    import flows.rounds as rounds

    out = tmp_path / "run"
    config = load_run_config(
        write_config(
            tmp_path, tiny_policy_dir, tiny_rm_dir, out, train_on=train_on, train_launcher=["accelerate", "launch"]
        )
    )
    calls = []

    def fake_stage(args, launcher=None, capture=False):
        calls.append((args, launcher))
        Path(args[args.index("--output_dir") + 1]).mkdir(parents=True)
        return ""

    monkeypatch.setattr(rounds, "run_stage", fake_stage)
    adapter = rounds.train_round.fn(config, 2, str(out / "adapters" / "round-001"))
    assert adapter == str(out / "adapters" / "round-002") and Path(adapter).is_dir()
    ((args, launcher),) = calls
    shards = args[args.index("--shards") + 1 : args.index("--policy")]
    assert [Path(s).name for s in shards] == expected
    assert args[args.index("--adapter") + 1].endswith("round-001")
    assert args[args.index("--output_dir") + 1].endswith("round-002.partial")
    assert launcher == ["accelerate", "launch"]
    assert rounds.train_round.fn(config, 2, None) == adapter and len(calls) == 1  # finished: reused

"""report.json, reward_curve.png and the reward-hacking warnings of ``neat run``, on hand-written rounds and
evaluations (no model): the report function is called directly."""

from __future__ import annotations

import json
import logging

import pytest

import flows.rounds as rounds
from flows.cli import main as neat
from flows.run_config import RunConfig
from neat_data.atomic import atomic_write_json, atomic_write_jsonl
from neat_data.ranking import make_response
from neat_data.shards import RoundWriter, round_dir

QUERIES = ["q0", "q1"]


def write_run(tmp_path, evals: list[dict], answers: list[list[tuple[float, float, int]]]) -> RunConfig:
    """A run directory with rounds 0..N (one query, scored), adapters for rounds ≥ 1, and per round the eval JSON
    and its kept answers: (reward, judge reward, tokens) per query."""
    config = RunConfig(name="hack", dataset="d.jsonl", out=str(tmp_path / "run"))
    for index, (ev, kept) in enumerate(zip(evals, answers)):
        writer = RoundWriter(round_dir(config.out, index), index, config={"i": index})
        source = "dataset" if index == 0 else "positive_prompt"
        writer.write_shard(
            0,
            [
                {
                    "query_id": "train-q",
                    "messages": [{"role": "user", "content": "hi"}],
                    "responses": [make_response("hello", source, reward=0.1 * index)],
                }
            ],
        )
        writer.commit()
        if index:
            rounds.adapter_dir(config, index).mkdir(parents=True)
        atomic_write_jsonl(
            rounds.answers_path(config, index),
            [
                {"query_id": q, "response": "x" * n, "tokens": n, "reward": r, "judge_reward": j}
                for q, (r, j, n) in zip(QUERIES, kept)
            ],
        )
        atomic_write_json(rounds.eval_path(config, index), {"round": index, "adapter": None, **ev})
    return config


def eval_json(rm: float, judge: float, tokens: float) -> dict:
    return {
        "n": 2,
        "mean_reward": rm,
        "reward_std": 0.1,
        "chosen_mean_reward": 0.2,
        "mean_tokens": tokens,
        "length": {"mean_tokens": tokens},
        "judge": {"rm": "my-judge", "mean_reward": judge, "reward_std": 0.3, "chosen_mean_reward": 0.4},
    }


def hacked_run(tmp_path) -> RunConfig:
    """The demo's failure: answers 40 → 20 → 8 tokens; the RM's reward up, the judge's down."""
    return write_run(
        tmp_path,
        [eval_json(0.8, 1.0, 40), eval_json(1.5, 0.8, 20), eval_json(1.1, 0.5, 8)],
        [[(0.7, 1.1, 38), (0.9, 0.9, 42)], [(1.4, 0.7, 18), (1.6, 0.9, 22)], [(1.0, 0.4, 8), (1.2, 0.6, 8)]],
    )


def test_report_separates_training_data_from_the_held_out_evaluation_and_warns(tmp_path):
    report = rounds.build_report(hacked_run(tmp_path))
    assert report["name"] == "hack" and report["judge"] == "my-judge"
    first, second, third = report["rounds"]
    assert first["training_data"]["queries"] == 1
    assert first["training_data"]["mean_reward_by_source"] == {"dataset": 0.0}
    assert second["training_data"]["mean_reward_by_source"] == {"positive_prompt": pytest.approx(0.1)}
    assert [r["adapter"] is not None for r in report["rounds"]] == [False, True, True]
    assert third["eval"]["mean_reward"] == 1.1  # neat eval's whole JSON is kept
    held = [r["heldout"] for r in report["rounds"]]
    assert [h["rm_reward"] for h in held] == [0.8, 1.5, 1.1]
    assert [h["judge_reward"] for h in held] == [1.0, 0.8, 0.5]
    assert [h["mean_tokens"] for h in held] == [40, 20, 8]
    # length control by the judge, one fit over the 6 kept answers, the base round as reference
    control = report["length_control"]
    assert control["by"] == "judge" and control["base_round"] == 0 and control["answers"] == 6
    assert control["base_mean_tokens"] == 40
    assert held[0]["length_controlled_reward"] == pytest.approx(1.0)  # the base keeps its own mean
    assert held[2]["win_rate_vs_base"] == 0.0 and held[2]["length_controlled_win_rate_vs_base"] is not None
    warnings = report["warnings"]
    assert any(
        w.startswith("round 1: mean answer length 20.0 tokens is 50% of the base policy's 40.0") for w in warnings
    )
    assert any(w.startswith("round 2: mean answer length 8.0 tokens is 20%") for w in warnings)
    assert any(
        "round 1: vs the base policy (round 0), the training RM's reward rose (0.800 → 1.500) while the "
        "judge's fell (1.000 → 0.800)" in w
        for w in warnings
    )
    assert any(
        "round 2: vs the base policy (round 0), the training RM's reward rose (0.800 → 1.100)" in w for w in warnings
    )
    assert len(warnings) == 4  # round 2 vs round 1: both fell, no warning


def test_a_healthy_run_has_no_warning(tmp_path):
    config = write_run(
        tmp_path,
        [eval_json(0.8, 1.0, 40), eval_json(1.0, 1.2, 36), eval_json(1.2, 1.3, 30)],
        [[(0.7, 1.0, 40), (0.9, 1.0, 40)], [(1.0, 1.2, 36), (1.0, 1.2, 36)], [(1.2, 1.3, 30), (1.2, 1.3, 30)]],
    )
    report = rounds.build_report(config)
    assert report["warnings"] == []
    assert [r["heldout"]["length_controlled_reward"] is not None for r in report["rounds"]] == [True] * 3


def test_write_report_logs_the_warnings_and_plots_the_curves(tmp_path, monkeypatch, caplog):
    config = hacked_run(tmp_path)
    # older evaluations without kept answers: the report still reads, without length-controlled numbers
    rounds.answers_path(config, 0).unlink()
    stages, titles = [], []
    monkeypatch.setattr(rounds, "run_stage", lambda args, **kw: stages.append(args) or neat(args))
    monkeypatch.setattr(rounds, "get_run_logger", lambda: logging.getLogger("test-flow"))
    from matplotlib.figure import Figure

    savefig = Figure.savefig
    monkeypatch.setattr(
        Figure, "savefig", lambda fig, *a, **kw: titles.append(fig.get_suptitle()) or savefig(fig, *a, **kw)
    )
    with caplog.at_level(logging.WARNING, logger="test-flow"):
        path = rounds.write_report.fn(config)
    assert titles == ["hack: held-out test-split queries, n = 2 per round"]  # the run's name and n on the plot
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert path == str(tmp_path / "run" / "report.json") and len(report["warnings"]) == 4
    assert "not kept" in report["length_control"]["note"]
    assert all(r["heldout"]["length_controlled_reward"] is None for r in report["rounds"])
    assert [rec.getMessage() for rec in caplog.records] == [f"REWARD HACKING? {w}" for w in report["warnings"]]
    png = tmp_path / "run" / "reward_curve.png"
    assert stages == [["eval", "--plot", str(png), "--plot-from", path]]
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


def test_neat_run_prints_the_warnings_at_the_end(tmp_path, monkeypatch, capsys):
    config = hacked_run(tmp_path)
    path = tmp_path / "run" / "report.json"
    atomic_write_json(path, rounds.build_report(config))
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text(f"name: hack\ndataset: d.jsonl\nout: {config.out}\n")
    monkeypatch.setattr(rounds, "neat_rounds", lambda config_path: str(path))
    assert neat(["run", "--config", str(run_yaml)]) == 0
    err = capsys.readouterr().err
    assert err.count("WARNING: round ") == 4 and "!" * 100 in err
    assert "WARNING: round 2: mean answer length 8.0 tokens is 20% of the base policy's 40.0" in err

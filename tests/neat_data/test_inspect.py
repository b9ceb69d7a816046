import json

import pytest

from flows.cli import main
from neat_data.ranking import make_response
from neat_data.shards import REJECTS, RoundWriter, round_dir


def prompted_row(qid, chosen, rejected, pos, neg):
    responses = [
        make_response(f"{qid} c", "dataset_chosen", reward=chosen),
        make_response(f"{qid} r", "dataset_rejected", reward=rejected),
        make_response(f"{qid} p", "positive_prompt", prompt_id="pos-1", generator="m@base", reward=pos),
        make_response(f"{qid} n", "negative_prompt", prompt_id="neg-1", generator="m@base", reward=neg),
    ]
    return {"query_id": qid, "messages": [{"role": "user", "content": f"question {qid}"}], "responses": responses}


@pytest.fixture
def data_root(tmp_path):
    rows = [
        prompted_row("a", 1.0, 0.5, 2.0, -4.0),  # gap 6.0, pos > neg
        prompted_row("b", 0.0, -0.5, 0.2, 0.1),  # gap 0.7, pos > neg
        prompted_row("c", 2.0, 0.0, -1.0, 1.0),  # gap 3.0, pos < neg
    ]
    for index in (0, 1):
        w = RoundWriter(round_dir(tmp_path, index), index, config={"i": index})
        w.write_shard(0, rows)
        if index == 0:
            w.write_jsonl(REJECTS, [{"origin": "x:1", "reason": "empty chosen reply"}])
        w.commit()
    return tmp_path


def run_json(capsys, *args):
    assert main(["inspect", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_report_of_a_round(data_root, capsys):
    report = run_json(capsys, str(round_dir(data_root, 0)))
    assert report["queries"] == 3 and report["rejects"] == 1
    assert report["responses_by_source"] == {
        "dataset_chosen": 3,
        "dataset_rejected": 3,
        "negative_prompt": 3,
        "positive_prompt": 3,
    }
    neg = report["reward"]["negative_prompt"]
    assert neg["count"] == 3 and neg["min"] == -4.0 and neg["max"] == 1.0
    assert neg["mean"] == pytest.approx(-0.9666666, abs=1e-6)
    assert report["gap_over_1"] == pytest.approx(2 / 3) and report["gap_over_5"] == pytest.approx(1 / 3)
    assert report["pos_gt_neg_share"] == pytest.approx(2 / 3)
    assert report["samples"][0]["responses"][0]["rank"] == 0


def test_data_root_reports_latest_round_and_every_round(data_root, capsys):
    report = run_json(capsys, str(data_root), "--samples", "0")
    assert report["kind"] == "root" and report["round"] == 1
    assert [r["round"] for r in report["rounds"]] == [0, 1]
    assert [r["rejects"] for r in report["rounds"]] == [1, 0]


def test_single_shard_and_text_report_and_plot(data_root, capsys, tmp_path):
    shard = round_dir(data_root, 1) / "data" / "shard-00000.parquet"
    assert run_json(capsys, str(shard))["kind"] == "shard"
    png = tmp_path / "plots" / "rewards.png"
    assert main(["inspect", str(data_root), "--samples", "1", "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "reward gap best-worst: > 1.0 on 66.7%, > 5.0 on 33.3% of 3 queries" in text
    assert "best positive outscores best negative on 66.7% of 3 queries" in text
    assert "2 rounds (one line each; the latest, round 1, is described below):" in text  # a root: a line per round
    assert "\n  round 0: 3 queries," in text and "\n  round 1: 3 queries," in text
    assert f"wrote {png} (round 1)" in text  # which round the plot shows
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_negative_prompt_without_signal_is_flagged(tmp_path, capsys):
    w = RoundWriter(round_dir(tmp_path, 0), 0, config={})
    w.write_shard(0, [prompted_row("a", 1, 0, -1.0, 1.0), prompted_row("b", 1, 0, 0.0, 0.5)])
    w.commit()
    report = run_json(capsys, str(round_dir(tmp_path, 0)))
    assert report["pos_gt_neg_share"] == 0.0 and "is not below" in report["efficacy_warning"]
    assert report["fluency"] == {} and report["separation"]["samples"] == "all responses"


def test_a_generated_rounds_separation_comes_from_its_manifest_judged_by_todays_rule(tmp_path, capsys):
    """Round 2 carries round 1's samples: its separation report is its own samples' (the manifest's), the verdict
    comes from the one rule in stats.efficacy (an old manifest's stored warning is not trusted)."""
    w = RoundWriter(round_dir(tmp_path, 2), 2, config={})
    w.write_shard(0, [prompted_row("a", 1, 0, 2.0, 1.0), prompted_row("b", 1, 0, 2.0, 1.5)])  # all rows: pos wins
    stored = {
        "mean_reward": {"negative_prompt": 0.9, "positive_prompt": 0.2},
        "pos_gt_neg_share": 0.25,
        "pos_neg_queries": 4,
        "fluency": {"negative_prompt": -3.5, "positive_prompt": -1.2},
        "pos_gt_neg_share_judge": 0.75,
        "warning": "stale text from an older rule",
    }
    w.commit({"efficacy": stored})
    report = run_json(capsys, str(tmp_path))
    assert report["pos_gt_neg_share"] == 0.25 and report["pos_neg_queries"] == 4
    assert report["fluency"] == stored["fluency"] and report["pos_gt_neg_share_judge"] == 0.75
    assert "is not below" in report["efficacy_warning"] and "probably not fluent" in report["efficacy_warning"]
    assert report["rounds"][0]["fluency"] == stored["fluency"]
    assert main(["inspect", str(round_dir(tmp_path, 2))]) == 0
    text = capsys.readouterr().out
    assert "the round's own samples (manifest)" in text and "fluency (base-policy log-prob, nats/token)" in text
    assert "(judge) on 75.0% of 4 queries" in text


def test_unscored_data_says_so(hh_file, tmp_path, capsys):
    assert main(["load", "--dataset", str(hh_file), "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "run")]) == 0
    assert "unscored data" in capsys.readouterr().out
    report = run_json(capsys, str(tmp_path / "run"))
    assert report["scored"] is False and report["pos_gt_neg_share"] is None and report["queries"] == 4


def test_corrupted_shard_exits_non_zero_with_a_message(data_root, capsys):
    shard = round_dir(data_root, 0) / "data" / "shard-00000.parquet"
    shard.write_bytes(shard.read_bytes()[:-10])
    assert main(["inspect", str(round_dir(data_root, 0)), "--json"]) == 2
    assert "shard-00000.parquet: sha256 does not match" in capsys.readouterr().err


def test_missing_path(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope")]) == 2
    assert "no such file" in capsys.readouterr().err

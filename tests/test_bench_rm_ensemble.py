"""bench/bench_rm_ensemble.py on two tiny RMs: a one-RM "ensemble" must rank exactly as that RM does."""

import json
import subprocess
import sys

import pytest

from bench import bench_rm_ensemble
from neat_data.hh import load_hh
from neat_data.scoring import RewardScorer
from neat_train.reward_model import evaluate_pairs


def test_single_rm_rows_match_evaluate_pairs_and_combinations_are_complete(
    tiny_rm_dir, tiny_judge_dir, tmp_path, monkeypatch, capsys
):
    argv = ["bench_rm_ensemble.py", "--rm", f"a={tiny_rm_dir}", f"b={tiny_judge_dir}", "--hh", str(tmp_path / "none")]
    monkeypatch.setattr(sys, "argv", argv)
    bench_rm_ensemble.main()
    out = json.loads(capsys.readouterr().out)
    assert set(out["results"]) == {"a", "b", "a+b"}
    assert set(out["results"]["a"]) == {"sanity", "sanity-dev", "demo"}  # no held-out file: that set is left out
    sanity = load_hh(str(bench_rm_ensemble.ROOT / "data/rm-sanity/sanity.jsonl")).pairs
    for name, rm in (("a", tiny_rm_dir), ("b", tiny_judge_dir)):
        expected = evaluate_pairs(RewardScorer(str(rm), device="cpu", use_cache=False, progress=False), sanity)
        row = out["results"][name]["sanity"]
        assert row["pairs"] == expected["pairs"] == len(sanity)
        assert row["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-4)
        assert row["accuracy_chosen_longer"] == pytest.approx(expected["accuracy_chosen_longer"], abs=1e-4)


def test_bad_rm_spec_is_a_usage_error(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["bench_rm_ensemble.py", "--rm", "default"])
    with pytest.raises(SystemExit) as e:
        bench_rm_ensemble.main()
    assert e.value.code == 2


def test_unknown_rm_is_one_line_and_exit_2(tmp_path):
    script = bench_rm_ensemble.ROOT / "bench" / "bench_rm_ensemble.py"
    for spec in (f"x={tmp_path / 'missing'}", f"x=relevance:{tmp_path / 'missing'}"):
        done = subprocess.run([sys.executable, str(script), "--rm", spec], capture_output=True, text=True)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.strip().splitlines() == [
            f"bench_rm_ensemble.py: error: --rm {tmp_path / 'missing'}: no such file or directory "
            "(and it is not a hub id like org/name)"
        ]


def test_relevance_probe_prefers_the_reply_that_answers_the_question():
    rel = bench_rm_ensemble.make_scorer("relevance")
    dialogue = [{"role": "user", "content": "Tell me a joke."}, {"role": "assistant", "content": "Why?"}]
    dialogue += [{"role": "user", "content": "What is the capital of France?"}]
    same, answer, other = rel.score(
        [
            (dialogue, "What is the capital of France?"),
            (dialogue, "The capital of France is Paris."),
            (dialogue, "Bananas are rich in potassium."),
        ]
    )
    assert same == pytest.approx(1.0, abs=1e-5)  # the last human turn itself, not the first
    assert same > answer > other

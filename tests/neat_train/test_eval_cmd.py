"""`neat eval` on the tiny policy and RM: held-out queries only, the JSON report, perplexity, win rate, plots."""

import json
import math

import pytest
import torch

from flows.cli import main as neat
from neat_data.hh import split_of


@pytest.fixture
def hh_many(tmp_path, monkeypatch):
    """40 HH-format pairs (so several fall in the test split); the RM score cache goes under tmp_path."""
    monkeypatch.setenv("NEAT_DATA_DIR", str(tmp_path / "neat-data"))
    path = tmp_path / "hh.jsonl"
    rows = []
    for i in range(40):
        q = f"\n\nHuman: What is {i} plus {i}?"
        rows.append({"chosen": f"{q}\n\nAssistant: It is {2 * i}.", "rejected": f"{q}\n\nAssistant: No idea."})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_eval(capsys, *args, stderr: list | None = None):
    code = neat(["eval", "--device", "cpu", "--max-new-tokens", "6", "--json", *map(str, args)])
    captured = capsys.readouterr()
    if stderr is not None:
        stderr.append(captured.err)
    return code, (json.loads(captured.out) if code == 0 else captured.err)


def test_eval_reports_reward_perplexity_length_and_distinct2_on_held_out_queries(
    hh_many, tiny_policy_dir, tiny_rm_dir, tmp_path, capsys
):
    answers, stderr = tmp_path / "answers.jsonl", []
    code, report = run_eval(
        capsys,
        "--policy",
        tiny_policy_dir,
        "--rm",
        tiny_rm_dir,
        "--dataset",
        hh_many,
        "--limit",
        5,
        "--responses-out",
        answers,
        stderr=stderr,
    )
    assert code == 0
    assert f"answering ({tiny_policy_dir.name}@base): 100%" in stderr[0] and "5/5" in stderr[0]  # tqdm progress
    assert {"mean_reward", "reward_std", "perplexity", "n", "distinct_2", "length", "chosen_mean_reward"} <= set(report)
    rows = [json.loads(ln) for ln in answers.read_text().splitlines()]
    assert report["n"] == len(rows) == 5
    assert all(split_of(r["query_id"]) == "test" for r in rows)  # never a training query
    rewards = [r["reward"] for r in rows]
    assert report["mean_reward"] == pytest.approx(sum(rewards) / 5)
    assert report["reward_std"] == pytest.approx(torch.tensor(rewards, dtype=torch.float64).std(unbiased=False).item())
    assert 0 <= report["distinct_2"] <= 1 and report["length"]["max_tokens"] <= 6
    assert report["perplexity"] > 1 and math.isfinite(report["perplexity"])


def test_perplexity_matches_the_models_own_loss_on_the_chosen_reply(hh_many, tiny_policy_dir, tiny_rm_dir, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from neat_data.hh import load_hh

    code, report = run_eval(
        capsys, "--policy", tiny_policy_dir, "--rm", tiny_rm_dir, "--dataset", hh_many, "--limit", 1
    )
    assert code == 0
    pair = next(p for p in load_hh(str(hh_many)).pairs if split_of(p.query_id) == "test")
    tok = AutoTokenizer.from_pretrained(tiny_policy_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    prompt = tok.apply_chat_template(pair.messages, tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template([*pair.messages, {"role": "assistant", "content": pair.chosen}], tokenize=False)
    ids = tok(full, add_special_tokens=False, return_tensors="pt")["input_ids"]
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    labels = ids.clone()
    labels[:, :n_prompt] = -100
    with torch.no_grad():
        loss = model(input_ids=ids, labels=labels).loss.item()
    assert report["perplexity"] == pytest.approx(math.exp(loss), rel=1e-4)
    assert report["perplexity_tokens"] == ids.shape[1] - n_prompt


def test_win_rate_against_a_baseline(hh_many, tiny_policy_dir, tiny_rm_dir, tmp_path, capsys):
    answers = tmp_path / "answers.jsonl"
    common = ["--policy", tiny_policy_dir, "--rm", tiny_rm_dir, "--dataset", hh_many, "--limit", 4]
    assert run_eval(capsys, *common, "--responses-out", answers)[0] == 0
    # greedy answers of the same policy: every comparison is a tie, so the win rate is exactly 1/2
    code, report = run_eval(capsys, *common, "--baseline-policy", tiny_policy_dir)
    assert code == 0 and report["ties"] == report["n"] == 4 and report["win_rate"] == 0.5
    # a baseline file of empty answers: the wins are those where the RM prefers the policy's answer to ""
    from neat_data.hh import load_hh
    from neat_data.scoring import RewardScorer

    rows = [json.loads(ln) for ln in answers.read_text().splitlines()]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("".join(json.dumps({"query_id": r["query_id"], "response": ""}) + "\n" for r in rows))
    code, report = run_eval(capsys, *common, "--baseline-responses", empty)
    messages = {p.query_id: p.messages for p in load_hh(str(hh_many)).pairs}
    empty_rewards = RewardScorer(str(tiny_rm_dir), device="cpu", use_cache=False, progress=False).score(
        [(messages[r["query_id"]], "") for r in rows]
    )
    expected = sum(r["reward"] > e for r, e in zip(rows, empty_rewards))
    assert code == 0 and report["n"] == 4 and report["wins"] == expected
    assert report["baseline_mean_reward"] == pytest.approx(sum(empty_rewards) / 4, rel=1e-5)
    # a baseline file missing a query is refused, naming the file
    empty.write_text(json.dumps({"query_id": rows[0]["query_id"], "response": ""}) + "\n")
    code, err = run_eval(capsys, *common, "--baseline-responses", empty)
    assert code == 2 and f"--baseline-responses {empty}: no response for 3" in err


def test_plot_reward_curves_from_eval_reports_and_train_logs(tmp_path):
    files = []
    for r, reward in enumerate([0.1, 0.4, 0.7]):
        p = tmp_path / f"round-{r:03d}.json"
        p.write_text(json.dumps({"round": r, "mean_reward": reward, "reward_std": 0.2, "n": 10}))
        files.append(str(p))
    log = tmp_path / "run" / "train_log.jsonl"
    log.parent.mkdir()
    log.write_text("".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in range(1, 5)))
    png = tmp_path / "curve.png"
    assert neat(["eval", "--plot", str(png), "--plot-from", *files, str(log)]) == 0
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


def test_eval_bad_input(tmp_path, capsys):
    assert neat(["eval", "--policy", "default"]) == 2
    assert "--dataset is required" in capsys.readouterr().err
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    assert neat(["eval", "--plot", str(tmp_path / "p.png"), "--plot-from", str(bad)]) == 2
    assert "no mean_reward" in capsys.readouterr().err


def test_judge_scores_the_same_answers_with_length_control(
    hh_many, diverse_policy_dir, tiny_rm_dir, tiny_judge_dir, tmp_path, capsys
):
    from transformers import AutoTokenizer

    from neat_data.hh import load_hh
    from neat_data.scoring import RewardScorer
    from neat_train import metrics

    answers = tmp_path / "answers.jsonl"
    common = ["--policy", diverse_policy_dir, "--rm", tiny_rm_dir, "--dataset", hh_many, "--limit", 4]
    code, report = run_eval(capsys, *common, "--judge", tiny_judge_dir, "--responses-out", answers)
    assert code == 0
    rows = [json.loads(ln) for ln in answers.read_text().splitlines()]
    assert {"mean_tokens", "length_controlled_reward", "length_control", "judge", "mean_reward"} <= set(report)
    judge = report["judge"]
    assert {
        "mean_reward",
        "reward_std",
        "chosen_mean_reward",
        "length_controlled_reward",
        "rm",
        "rm_fingerprint",
        "same_as_rm",
    } <= set(judge)
    assert judge["same_as_rm"] is False and judge["rm_fingerprint"] != report["rm_fingerprint"]
    # every answer kept with its length in policy tokens and both rewards
    tok = AutoTokenizer.from_pretrained(diverse_policy_dir)
    assert [r["tokens"] for r in rows] == [len(tok(r["response"], add_special_tokens=False)["input_ids"]) for r in rows]
    assert report["mean_tokens"] > 0 and report["mean_tokens"] == pytest.approx(sum(r["tokens"] for r in rows) / 4)
    assert judge["mean_reward"] == pytest.approx(sum(r["judge_reward"] for r in rows) / 4)
    assert report["mean_reward"] == pytest.approx(sum(r["reward"] for r in rows) / 4)
    # without a baseline, the length control compares the answers with the dataset's chosen replies
    pairs = {p.query_id: p for p in load_hh(str(hh_many)).pairs}
    chosen = [pairs[r["query_id"]] for r in rows]
    judge_chosen = RewardScorer(str(tiny_judge_dir), device="cpu", use_cache=False, progress=False).score(
        [(p.messages, p.chosen) for p in chosen]
    )
    fit = metrics.length_controlled(
        {
            "policy": ([r["judge_reward"] for r in rows], [r["tokens"] for r in rows]),
            "reference": (judge_chosen, [len(tok(p.chosen, add_special_tokens=False)["input_ids"]) for p in chosen]),
        },
        "reference",
    )
    assert judge["length_control"]["reference"] == "dataset chosen replies"
    assert judge["length_controlled_reward"] == pytest.approx(fit["reward"]["policy"], rel=1e-5)
    assert judge["chosen_mean_reward"] == pytest.approx(sum(judge_chosen) / 4, rel=1e-5)

    # a baseline: win rates by both reward models; the same greedy policy ties on every query, at any length
    code, report = run_eval(capsys, *common, "--judge", tiny_judge_dir, "--baseline-policy", diverse_policy_dir)
    assert code == 0
    for fields in (report, report["judge"]):
        assert fields["win_rate"] == fields["length_controlled_win_rate"] == 0.5 and fields["ties"] == 4
        assert fields["length_control"]["reference"] == "baseline"
        assert fields["length_controlled_reward"] == pytest.approx(fields["baseline_mean_reward"])


def test_a_judge_equal_to_the_training_rm_is_allowed_with_a_warning(
    hh_many, tiny_policy_dir, tiny_rm_dir, tmp_path, capsys
):
    import shutil

    copy = shutil.copytree(tiny_rm_dir, tmp_path / "same-rm")  # another name, the same weights
    common = [
        "eval",
        "--device",
        "cpu",
        "--max-new-tokens",
        "6",
        "--policy",
        str(tiny_policy_dir),
        "--rm",
        str(tiny_rm_dir),
        "--dataset",
        str(hh_many),
        "--limit",
        "2",
    ]
    for judge in (tiny_rm_dir, copy):
        code = neat([*common, "--json", "--judge", str(judge)])
        captured = capsys.readouterr()
        assert code == 0 and "cannot detect reward hacking" in captured.err
        report = json.loads(captured.out)
        assert report["judge"]["same_as_rm"] is True
        assert report["judge"]["mean_reward"] == report["mean_reward"]
    # the plain-text report (no --json), with a baseline: both reward models' lines
    assert neat([*common, "--judge", str(copy), "--baseline-policy", str(tiny_policy_dir)]) == 0
    out = capsys.readouterr().out
    assert "length-controlled reward" in out and "at matched length 0.500" in out
    assert f"judge {copy}: reward" in out

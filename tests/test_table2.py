"""bench/table2.py without running a model: the stage plan (who samples from which policy, equal training budgets,
the sampling flags) and the numbers (length control, win rates, mean ± s.e., the claim verdicts) on hand-written
evaluations."""

from __future__ import annotations

import pytest

from bench import table2


def args(*extra: str):
    return table2.parser().parse_args(["--out", "/tmp/t2", "--dataset", "hh.jsonl", *extra])


def stage(stages, name):
    [found] = [s for s in stages if s.name == name]
    return found


def flag(s, name):
    return s.args[s.args.index(name) + 1] if name in s.args else None


def test_online_methods_sample_from_their_own_previous_policy_offline_ones_repeat_round_0():
    stages = table2.plan(args("--seeds", "3", "--rounds", "2", "--steps", "5"))
    for method in ("rrhf", "neat", "neat-pp"):
        first = stage(stages, f"seed 3 generate {method} round 1")
        second = stage(stages, f"seed 3 generate {method} round 2")
        assert flag(first, "--from").endswith("round0/round-000") and flag(first, "--adapter") is None
        assert flag(second, "--from").endswith(f"seed-3/data/{method}/round-001")
        assert flag(second, "--adapter").endswith(f"seed-3/adapters/{method}/round-001")
        train2 = stage(stages, f"seed 3 train {method} round 2")
        assert flag(train2, "--shards").endswith(f"seed-3/data/{method}/round-002")
    for method in ("sft", "dpo"):
        assert not [s for s in stages if s.name.startswith(f"seed 3 generate {method}")]
        for r in (1, 2):
            assert flag(stage(stages, f"seed 3 train {method} round {r}"), "--shards").endswith("round0/round-000")
    for method in table2.METHODS:  # the same budget: two rounds of 5 steps, round 2 continuing round 1's adapter
        train1, train2 = (stage(stages, f"seed 3 train {method} round {r}") for r in (1, 2))
        assert flag(train1, "--max_steps") == flag(train2, "--max_steps") == "5"
        assert flag(train1, "--seed") == "3" and flag(train1, "--adapter") is None
        assert flag(train2, "--adapter") == flag(train1, "--output_dir")
        assert flag(stage(stages, f"seed 3 eval {method}"), "--adapter") == flag(train2, "--output_dir")
    assert flag(stage(stages, "eval base"), "--adapter") is None  # greedy: once, for every seed
    assert [s.name for s in stages].count("score round 0") == 1


def test_guidance_and_prefill_go_to_negative_samples_and_neat_is_guided_like_neat_pp():
    stages = table2.plan(
        args(
            "--seeds",
            "0",
            "--negative-guidance",
            "2",
            "--negative-prefill",
            "Sure,",
            "--placement",
            "user_prefix",
            "--temperature",
            "0.7",
        )
    )
    neat, neat_pp, rrhf = (stage(stages, f"seed 0 generate {m} round 1") for m in ("neat", "neat-pp", "rrhf"))
    assert flag(neat, "--prompts") == "paper-negative" and flag(neat, "--guidance-reference") == "paper-positive"
    assert flag(neat_pp, "--prompts") == "paper-negative,paper-positive"
    assert flag(neat_pp, "--guidance-reference") == "positive"
    for s in (neat, neat_pp):
        assert (flag(s, "--negative-guidance"), flag(s, "--negative-prefill")) == ("2.0", "Sure,")
    assert flag(rrhf, "--prompts") == "plain" and "--negative-guidance" not in rrhf.args
    assert "--negative-prefill" not in rrhf.args
    assert all((flag(s, "--placement"), flag(s, "--temperature")) == ("user_prefix", "0.7") for s in (neat, rrhf))
    unguided = stage(table2.plan(args("--seeds", "0")), "seed 0 generate neat round 1")
    assert "--negative-guidance" not in unguided.args  # W = 0 (generate's default): plain sampling


def answers(rewards, tokens, judge=None):
    judge = judge or rewards
    return [
        {"query_id": f"q{i}", "reward": r, "judge_reward": j, "tokens": n}
        for i, (r, j, n) in enumerate(zip(rewards, judge, tokens))
    ]


def report(rewards, perplexity, tokens):
    return {
        "mean_reward": sum(rewards) / len(rewards),
        "judge": {"mean_reward": sum(rewards) / len(rewards)},
        "mean_tokens": sum(tokens) / len(tokens),
        "perplexity": perplexity,
        "distinct_2": 0.5,
        "length": {"hit_max_new_tokens": 0.0},
    }


def test_seed_numbers_control_for_length_and_count_wins_per_query():
    # reward = 0.1 · length exactly: every difference is length, so at matched length every method is the base
    tokens = {"base": [10, 20, 30, 40], "sft": [5, 5, 5, 5], "rrhf": [40, 30, 20, 10], "neat": [50, 20, 20, 60]}
    rewards = {m: [0.1 * n for n in ns] for m, ns in tokens.items()}
    evals = {m: report(rewards[m], 10.0 + i, tokens[m]) for i, m in enumerate(tokens)}
    rows = table2.seed_numbers(evals, {m: answers(rewards[m], tokens[m]) for m in tokens})
    for m in tokens:
        assert rows[m]["rm_lc_reward"] == pytest.approx(2.5) and rows[m]["judge_lc_reward"] == pytest.approx(2.5)
    assert rows["neat"]["win_rm_vs_rrhf"] == 0.625  # q0 and q3 won, q1 lost, q2 tied → 2.5 / 4
    assert rows["neat"]["win_rm_vs_sft"] == 1.0 and rows["sft"]["win_rm_vs_rrhf"] == 0.0
    assert rows["neat"]["win_rm_lc_vs_rrhf"] == rows["neat"]["win_judge_lc_vs_sft"] == 0.5  # all ties
    assert "win_rm_vs_sft" not in rows["sft"] and "win_rm_vs_rrhf" in rows["base"]
    assert rows["neat"]["ppl_vs_sft"] == pytest.approx(13.0 / 11.0) and rows["sft"]["ppl_vs_sft"] == 1.0


def test_seed_numbers_without_a_judge():
    tokens, rewards = [1, 2], [0.5, 0.2]
    evals = {m: {**report(rewards, 5.0, tokens), "judge": None} for m in ("base", "sft")}
    rows = table2.seed_numbers(evals, {m: answers(rewards, tokens, judge=[None, None]) for m in evals})
    assert rows["sft"]["judge_reward"] is None and "judge_lc_reward" not in rows["sft"]
    assert rows["sft"]["rm_lc_reward"] == pytest.approx(0.35)


def seeds(neat, rrhf, sft, dpo, ppl_neat, ppl_sft=10.0):
    """per_seed rows: each argument one value per seed (the same for every reward metric)."""
    per_seed = {}
    for s, values in enumerate(zip(neat, rrhf, sft, dpo, ppl_neat)):
        per_seed[s] = {
            m: {k: v for k in table2.CLAIM_METRICS} for m, v in zip(("neat", "rrhf", "sft", "dpo"), values[:4])
        }
        per_seed[s]["neat"]["ppl_vs_sft"] = values[4] / ppl_sft
    return per_seed


def test_verdicts_follow_the_95_percent_interval_of_the_per_seed_differences():
    per_seed = seeds(
        neat=[1.5, 1.7, 1.6],
        rrhf=[1.0, 1.2, 1.1],  # NEAT ahead by 0.5 in every seed: holds
        sft=[1.9, 2.1, 2.0],  # SFT ahead of RRHF by 0.9 in every seed: RRHF > SFT does not hold
        dpo=[0.5, 1.9, 1.0],  # RRHF − DPO = 0.5, −0.7, 0.1: within noise
        ppl_neat=[10.5, 10.4, 10.6],
    )
    v = {(x["claim"], x["metric"]): x for x in table2.claim_verdicts(per_seed)}
    assert v[("neat > rrhf", "judge_reward")]["verdict"] == "holds"
    assert v[("neat > rrhf", "judge_reward")]["difference"] == pytest.approx(0.5)
    assert v[("rrhf > sft", "rm_reward")]["verdict"] == "does not hold"
    assert v[("rrhf > dpo", "judge_lc_reward")]["verdict"] == "within noise"
    ppl = v[("neat perplexity <= 1.15 x sft", "ppl_vs_sft")]
    assert ppl["verdict"] == "holds" and ppl["ratio"] == pytest.approx(1.05)
    assert not [c for c, _ in v if c.startswith("neat-pp")]  # NEAT-PP was not run: its claim is left out
    assert table2.overall(list(v.values()))["neat > rrhf"] == "holds"


def test_a_difference_of_two_standard_errors_is_within_noise_with_three_seeds():
    # differences 0.1, 0.3, 0.5: mean 0.3, s.e. 0.115; t(2) = 4.30 puts the interval at [−0.20, 0.80]
    per_seed = seeds(
        neat=[1.1, 1.3, 1.5], rrhf=[1.0, 1.0, 1.0], sft=[0.0] * 3, dpo=[0.0] * 3, ppl_neat=[12.0, 12.1, 12.2]
    )
    v = {(x["claim"], x["metric"]): x for x in table2.claim_verdicts(per_seed)}
    assert v[("neat > rrhf", "rm_reward")]["verdict"] == "within noise"
    assert v[("neat > rrhf", "rm_reward")]["ci95"] == pytest.approx(
        [0.3 - 4.303 * 0.2 / 3**0.5, 0.3 + 4.303 * 0.2 / 3**0.5]
    )
    assert v[("neat perplexity <= 1.15 x sft", "ppl_vs_sft")]["verdict"] == "does not hold"  # 1.21 ± 0.006
    one = table2.claim_verdicts({0: per_seed[0]})
    assert {x["verdict"] for x in one} == {"one seed, no verdict"}


def test_overall_names_the_metrics_that_disagree():
    verdicts = [
        {"claim": "neat > rrhf", "metric": "rm_reward", "verdict": "holds"},
        {"claim": "neat > rrhf", "metric": "judge_reward", "verdict": "within noise"},
    ]
    assert table2.overall(verdicts) == {"neat > rrhf": "mixed (rm_reward: holds, judge_reward: within noise)"}


def test_aggregate_is_mean_and_standard_error_over_seeds():
    rows = table2.aggregate(
        {
            0: {"neat": {"rm_reward": 1.0, "judge_reward": None}},
            1: {"neat": {"rm_reward": 2.0, "judge_reward": None}},
            2: {"neat": {"rm_reward": 3.0, "judge_reward": None}},
        }
    )
    assert rows["neat"]["rm_reward"]["mean"] == 2.0 and rows["neat"]["rm_reward"]["se"] == pytest.approx(1 / 3**0.5)
    assert "judge_reward" not in rows["neat"]

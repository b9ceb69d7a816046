"""The length control and the reward-hacking warnings of ``neat_train.metrics`` on hand-computed numbers."""

import pytest

from neat_train import metrics

# policy: short answers, high reward; reference: long answers, low reward. Pooled over the 4 answers:
# mean length 5, mean reward 3, Sxy = (-3)(1) + (-1)(1) + (1)(-2) + (3)(0) = -6, Sxx = 9 + 1 + 1 + 9 = 20,
# so slope -0.3 and intercept 3 - (-0.3)(5) = 4.5; the reference's mean length is 7.
POLICY = ([4.0, 4.0], [2, 4])
REFERENCE = ([1.0, 3.0], [6, 8])


def test_length_fit_is_least_squares_and_flat_for_constant_lengths():
    assert metrics.length_fit([2, 4, 6, 8], [4, 4, 1, 3]) == pytest.approx((-0.3, 4.5))
    assert metrics.length_fit([5, 5, 5], [1.0, 2.0, 6.0]) == (0.0, 3.0)  # no length effect can be fitted
    assert metrics.length_fit([7], [2.5]) == (0.0, 2.5)


def test_length_controlled_reward_is_the_residual_mean_on_the_reward_scale():
    fit = metrics.length_controlled({"policy": POLICY, "reference": REFERENCE}, "reference")
    assert fit["slope"] == pytest.approx(-0.3) and fit["intercept"] == pytest.approx(4.5)
    assert fit["reference_mean_tokens"] == 7
    # policy: mean(4 + 0.3·(2 − 7), 4 + 0.3·(4 − 7)) = mean(2.5, 3.1) = 2.8 (raw mean 4); the reference keeps its mean
    assert fit["reward"] == pytest.approx({"policy": 2.8, "reference": 2.0})
    # = residual mean + the fitted reward at the reference's mean length (4.5 − 0.3·7 = 2.4):
    # policy residuals 4 − 3.9 = 0.1 and 4 − 3.3 = 0.7 (mean 0.4); reference −1.7 and 0.9 (mean −0.4)
    assert fit["reward"]["policy"] - 2.4 == pytest.approx(0.4)
    assert fit["reward"]["reference"] - 2.4 == pytest.approx(-0.4)


def test_a_policy_that_only_got_shorter_along_the_fitted_line_gains_nothing():
    fit = metrics.length_controlled({"base": ([1.0, 1.0], [10, 10]), "short": ([2.0, 2.0], [5, 5])}, "base")
    assert fit["slope"] == pytest.approx(-0.2)
    assert fit["reward"] == pytest.approx({"base": 1.0, "short": 1.0})  # raw: 2 vs 1


def test_length_controlled_win_rate_compares_the_length_adjusted_rewards_per_query():
    # query 1: 4 − 1 = 3 > −0.3·(2 − 6) = 1.2: a win; query 2: 4 − 3 = 1 < −0.3·(4 − 8) = 1.2: a loss
    assert metrics.win_rate(POLICY[0], REFERENCE[0])["win_rate"] == 1.0
    assert metrics.length_controlled_win_rate(POLICY, REFERENCE, -0.3) == 0.5
    # exactly on the line: a tie, counted one half
    assert metrics.length_controlled_win_rate(([2.0], [5]), ([1.0], [10]), -0.2) == 0.5
    assert metrics.length_controlled_win_rate(([2.0], [5]), ([1.0], [10]), 0.0) == 1.0


def eval_report(round_, rm, judge=None, tokens=40.0, n=8):
    report = {
        "round": round_,
        "n": n,
        "mean_reward": rm,
        "reward_std": 0.1,
        "chosen_mean_reward": 0.5,
        "mean_tokens": tokens,
    }
    if judge is not None:
        report["judge"] = {"mean_reward": judge, "reward_std": 0.2, "chosen_mean_reward": 0.7}
    return report


def answers(rewards, tokens, key="judge_reward"):
    return [
        {"query_id": f"q{i}", "response": "x", "tokens": n, "reward": 0.0, key: r}
        for i, (r, n) in enumerate(zip(rewards, tokens))
    ]


def test_curves_across_rounds_fit_once_over_all_rounds_with_the_base_as_reference():
    evals = [eval_report(0, 0.8, judge=1.0, tokens=10), eval_report(1, 1.5, judge=2.0, tokens=5)]
    curves = metrics.curves_across_rounds(evals, {0: answers([1.0, 1.0], [10, 10]), 1: answers([2.0, 2.0], [5, 5])})
    control = curves["length_control"]
    assert control["by"] == "judge" and control["base_round"] == 0 and control["answers"] == 4
    assert control["slope"] == pytest.approx(-0.2) and control["base_mean_tokens"] == 10
    base, last = curves["rounds"]
    assert (base["rm_reward"], base["judge_reward"], base["mean_tokens"]) == (0.8, 1.0, 10)
    assert base["length_controlled_reward"] == pytest.approx(1.0) and base["win_rate_vs_base"] is None
    # the judge prefers round 1's answers on every query (2 > 1), but at matched length they tie
    assert last["length_controlled_reward"] == pytest.approx(1.0)
    assert last["win_rate_vs_base"] == 1.0 and last["length_controlled_win_rate_vs_base"] == 0.5


def test_curves_without_a_judge_control_the_rm_and_without_answers_report_none():
    evals = [eval_report(0, 1.0), eval_report(1, 3.0)]
    curves = metrics.curves_across_rounds(
        evals, {0: answers([1.0, 3.0], [4, 8], "reward"), 1: answers([3.0, 3.0], [6, 6], "reward")}
    )
    assert curves["length_control"]["by"] == "rm"
    assert curves["rounds"][1]["judge_reward"] is None
    # pooled lengths 4, 8, 6, 6 (mean 6), rewards 1, 3, 3, 3: slope (−2·−1.5 + 2·0.5) / 8 = 0.5
    assert curves["length_control"]["slope"] == pytest.approx(0.5)
    assert curves["rounds"][1]["length_controlled_reward"] == pytest.approx(3.0)  # same mean length as the base
    none = metrics.curves_across_rounds(evals, {1: answers([3.0], [6], "reward")})
    assert "not kept" in none["length_control"]["note"]
    assert [r["length_controlled_reward"] for r in none["rounds"]] == [None, None]


def test_warns_when_answers_collapse_or_the_judge_falls_while_the_rm_rises():
    # the demo's shape: length 43 → 22 → 8 tokens, RM 0.80 → 1.46 → 1.12, judge 0.50 → 0.40 → 0.45
    rounds = metrics.curves_across_rounds(
        [eval_report(0, 0.80, 0.50, 43), eval_report(1, 1.46, 0.40, 22), eval_report(2, 1.12, 0.45, 8)], {}
    )["rounds"]
    warnings = metrics.hacking_warnings(rounds)
    assert len(warnings) == 4
    assert warnings[0].startswith("round 1: mean answer length 22.0 tokens is 51% of the base policy's 43.0")
    assert (
        "round 1: vs the base policy (round 0), the training RM's reward rose (0.800 → 1.460) while the "
        "judge's fell (0.500 → 0.400)" in warnings[1]
    )
    assert warnings[2].startswith("round 2: mean answer length 8.0 tokens is 19%")
    # round 2 vs round 1: the RM fell and the judge rose, no warning; vs the base: RM up, judge down
    assert (
        "round 2: vs the base policy (round 0), the training RM's reward rose (0.800 → 1.120) while the "
        "judge's fell (0.500 → 0.450)" in warnings[3]
    )


def test_no_warning_for_a_healthy_run_or_a_single_round():
    rounds = metrics.curves_across_rounds(
        [eval_report(0, 0.8, 0.5, 43), eval_report(1, 1.0, 0.6, 40), eval_report(2, 0.9, 0.55, 26)], {}
    )["rounds"]  # 26 ≥ 0.6·43 = 25.8
    assert metrics.hacking_warnings(rounds) == []
    assert metrics.hacking_warnings(rounds[:1]) == []
    # the RM rises while the judge falls vs the previous round only: said so
    rounds[2]["rm_reward"] = 1.2
    (warning,) = metrics.hacking_warnings(rounds)
    assert warning.startswith("round 2: vs the previous round (1), the training RM's reward rose (1.000 → 1.200)")

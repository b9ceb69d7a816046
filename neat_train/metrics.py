"""Evaluation metrics of generated responses (plain functions over lists); the curves are drawn by ``plots``."""

from __future__ import annotations

import math
import statistics


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and population standard deviation."""
    return statistics.fmean(values), statistics.pstdev(values)


def distinct_n(texts: list[str], n: int = 2) -> float:
    """Distinct-n (Li et al. 2016): unique word n-grams / all word n-grams over all texts (0 if none).

    A policy that hacks the reward model often collapses onto a few phrasings: distinct-2 falls first.
    """
    grams = [tuple(words[i : i + n]) for t in texts for words in [t.lower().split()] for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def length_stats(n_tokens: list[int], finish_reasons: list[str], texts: list[str]) -> dict:
    return {
        "mean_tokens": statistics.fmean(n_tokens),
        "median_tokens": statistics.median(n_tokens),
        "max_tokens": max(n_tokens),
        "mean_chars": statistics.fmean(len(t) for t in texts),
        "hit_max_new_tokens": sum(r == "length" for r in finish_reasons) / len(finish_reasons),
        "empty": sum(not t for t in texts),
    }


def win_rate(policy: list[float], baseline: list[float]) -> dict:
    """Share of queries where the policy's reward beats the baseline's (ties count one half)."""
    wins = sum(p > b for p, b in zip(policy, baseline))
    ties = sum(p == b for p, b in zip(policy, baseline))
    return {"win_rate": (wins + 0.5 * ties) / len(policy), "wins": wins, "ties": ties, "n": len(policy)}


def length_fit(lengths: list[float], rewards: list[float]) -> tuple[float, float]:
    """Least-squares line ``reward ≈ intercept + slope · length``: (slope, intercept). Slope 0 (the line is the
    mean reward) when every length is the same, where no length effect can be fitted."""
    try:
        slope, intercept = statistics.linear_regression(lengths, rewards)
    except statistics.StatisticsError:  # constant lengths, or fewer than two answers
        return 0.0, statistics.fmean(rewards)
    return slope, intercept


def length_adjusted(rewards: list[float], lengths: list[float], slope: float, reference_length: float) -> list[float]:
    """Each reward moved along the fitted line to the reference length: ``r − slope · (length − reference_length)``.

    It differs from the residual ``r − (intercept + slope · length)`` by a constant shared by every answer of one
    fit (the fitted reward at the reference length), so it ranks answers and compares policies exactly as the
    residuals do, and reads on the reward's own scale.
    """
    return [r - slope * (n - reference_length) for r, n in zip(rewards, lengths)]


def length_controlled(groups: dict[str, tuple[list[float], list[float]]], reference: str) -> dict:
    """Length-controlled reward of each group of answers (``{name: (rewards, lengths)}``, e.g. a policy and the
    dataset's chosen replies, or every round of a run).

    One line ``reward ≈ intercept + slope · length`` is fitted on all answers of all groups; a group's
    length-controlled reward is the mean of its ``length_adjusted`` rewards at the mean length of the
    ``reference`` group: ``mean(r) − slope · (mean(length) − mean(length of reference))`` = the group's mean
    residual plus the fitted reward at the reference's mean length. The reference's own length-controlled reward
    is therefore its mean reward, and a group that differs from it only in length gets the same value.
    """
    lengths = [n for _, ns in groups.values() for n in ns]
    slope, intercept = length_fit(lengths, [r for rs, _ in groups.values() for r in rs])
    reference_length = statistics.fmean(groups[reference][1])
    return {
        "slope": slope,
        "intercept": intercept,
        "reference_mean_tokens": reference_length,
        "reward": {
            name: statistics.fmean(length_adjusted(rs, ns, slope, reference_length))
            for name, (rs, ns) in groups.items()
        },
    }


def length_controlled_win_rate(
    policy: tuple[list[float], list[float]], baseline: tuple[list[float], list[float]], slope: float
) -> float:
    """Win rate at matched length: per query (``(rewards, lengths)`` aligned by query), the policy wins when its
    length-adjusted reward beats the baseline's, i.e. ``r_p − r_b > slope · (length_p − length_b)`` (ties ½).

    The slope of the pooled fit prices each token of length difference, so every query counts however different
    its two answers' lengths are (keeping only pairs of nearly equal length would leave none once a policy's
    answers have collapsed, exactly when the number matters). Equivalently: the policy's residual beats the
    baseline's.
    """
    return win_rate(length_adjusted(*policy, slope, 0.0), length_adjusted(*baseline, slope, 0.0))["win_rate"]


def perplexity(nll_sum: float, tokens: int) -> float:
    """exp(mean token NLL), token-weighted over all responses."""
    return math.exp(nll_sum / tokens) if tokens else float("nan")


#: a round whose mean answer length falls below this share of the base policy's is warned about
LENGTH_FLOOR = 0.6


def heldout_summary(ev: dict) -> dict:
    """The numbers of one ``neat eval`` report that are compared across rounds (``judge_*`` None without a judge,
    ``mean_tokens`` None in a report without lengths)."""
    judge = ev.get("judge") or {}
    return {
        "round": ev.get("round"),
        "n": ev.get("n"),
        "rm_reward": ev["mean_reward"],
        "rm_reward_std": ev.get("reward_std"),
        "rm_chosen_reward": ev.get("chosen_mean_reward"),
        "judge_reward": judge.get("mean_reward"),
        "judge_reward_std": judge.get("reward_std"),
        "judge_chosen_reward": judge.get("chosen_mean_reward"),
        "mean_tokens": ev.get("mean_tokens", (ev.get("length") or {}).get("mean_tokens")),  # older reports: length
    }


def curves_across_rounds(evals: list[dict], answers: dict[int, list[dict]]) -> dict:
    """The held-out numbers of every round of a run, the first of ``evals`` being the base policy (round 0).

    ``evals`` are ``neat eval`` reports with their ``round``; ``answers[round]`` the rows of that round's
    ``--responses-out`` (``query_id``, ``tokens``, ``reward``, ``judge_reward``). The length control is fitted
    once on the kept answers of all rounds (``length_controlled``, reference = the base round), on the judge's
    rewards when every round has them, else on the training RM's; each round then gets its length-controlled
    reward and, vs the base policy on the same queries, its win rate and win rate at matched length
    (``length_controlled_win_rate``). Rounds without kept answers get None there.
    """
    rounds = [
        {
            **heldout_summary(ev),
            "length_controlled_reward": None,
            "win_rate_vs_base": None,
            "length_controlled_win_rate_vs_base": None,
        }
        for ev in evals
    ]
    by = "judge" if evals and all(ev.get("judge") for ev in evals) else "rm"
    key = "judge_reward" if by == "judge" else "reward"
    kept = {r: rows for r, rows in answers.items() if rows and all(a.get(key) is not None for a in rows)}
    base = rounds[0]["round"] if rounds else None
    control = {"by": by, "base_round": base, "rounds": sorted(kept)}
    if base not in kept:
        control["note"] = "the base round's answers were not kept: no length-controlled numbers"
        return {"length_control": control, "rounds": rounds}
    fit = length_controlled(
        {r: ([a[key] for a in rows], [a["tokens"] for a in rows]) for r, rows in kept.items()}, base
    )
    control.update(
        slope=fit["slope"],
        intercept=fit["intercept"],
        base_mean_tokens=fit["reference_mean_tokens"],
        answers=sum(map(len, kept.values())),
    )
    base_answers = {a["query_id"]: a for a in kept[base]}
    for row in rounds:
        if row["round"] not in kept:
            continue
        row["length_controlled_reward"] = fit["reward"][row["round"]]
        pairs = [(a, base_answers[a["query_id"]]) for a in kept[row["round"]] if a["query_id"] in base_answers]
        if row["round"] != base and pairs:
            policy, baseline = (([x[key] for x in side], [x["tokens"] for x in side]) for side in zip(*pairs))
            row["win_rate_vs_base"] = win_rate(policy[0], baseline[0])["win_rate"]
            row["length_controlled_win_rate_vs_base"] = length_controlled_win_rate(policy, baseline, fit["slope"])
    return {"length_control": control, "rounds": rounds}


def hacking_warnings(rounds: list[dict]) -> list[str]:
    """Signs of reward hacking in the rows of ``curves_across_rounds`` (the first is the base policy): a round whose
    mean answer length is below ``LENGTH_FLOOR`` of the base policy's, and a round where the judge's reward fell
    while the training RM's rose, vs the previous round and vs the base policy (each said with its numbers)."""
    warnings = []
    base = rounds[0] if rounds else None
    for prev, cur in zip(rounds, rounds[1:]):
        length, base_length = cur["mean_tokens"], base["mean_tokens"]
        if length is not None and base_length and length < LENGTH_FLOOR * base_length:
            warnings.append(
                f"round {cur['round']}: mean answer length {length:.1f} tokens is {length / base_length:.0%} of the "
                f"base policy's {base_length:.1f} (round {base['round']}), below {LENGTH_FLOOR:.0%}: the answers are "
                "collapsing, as when a policy exploits a length-biased reward model; read them before trusting "
                "the reward"
            )
        if cur["judge_reward"] is None:
            continue
        for ref in [prev] if prev is base else [prev, base]:
            what = f"the base policy (round {ref['round']})" if ref is base else f"the previous round ({ref['round']})"
            if cur["rm_reward"] > ref["rm_reward"] and cur["judge_reward"] < ref["judge_reward"]:
                warnings.append(
                    f"round {cur['round']}: vs {what}, the training RM's reward rose ({ref['rm_reward']:.3f} → "
                    f"{cur['rm_reward']:.3f}) while the judge's fell ({ref['judge_reward']:.3f} → "
                    f"{cur['judge_reward']:.3f}): the policy may be exploiting the training RM (reward hacking)"
                )
    return warnings

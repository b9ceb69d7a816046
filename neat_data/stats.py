"""Summary statistics of ranked rows (shared by round manifests and ``neat inspect``), and the separation report
of prompted samples with the one rule that decides whether the negative prompt works.

The reward-gap analysis follows the paper: for each query, the gap between its best and worst reward;
we report the share of queries whose gap exceeds 1.0 and 5.0.
``pos_gt_neg_share`` is the share of queries, among those with both a positive- and a negative-prompt
response, whose best positive-prompt response outscores their best negative-prompt one.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
#: negative samples this many nats/token less likely under the base policy than the reference samples are
#: flagged as probably not fluent (word salad teaches the penalty term nothing)
FLUENCY_GAP = 1.5


def reward_stats(values: list[float]) -> dict:
    a = np.asarray(values, dtype=np.float64)
    stats = {
        "count": int(a.size),
        "mean": float(a.mean()),
        "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
        "min": float(a.min()),
        "max": float(a.max()),
    }
    stats.update({f"q{int(q * 100):02d}": float(np.quantile(a, q)) for q in QUANTILES})
    return stats


def _best(responses: list[dict], source: str, key: str) -> float | None:
    values = [r[key] for r in responses if r["source"] == source and r.get(key) is not None]
    return max(values) if values else None


def pos_gt_neg(rows: list[dict], key: str = "reward") -> tuple[float | None, int]:
    """(share of queries whose best positive-prompt response outscores the best negative one by ``key``, number of
    queries with both); share None when no query has both."""
    wins = []
    for row in rows:
        pos, neg = _best(row["responses"], "positive_prompt", key), _best(row["responses"], "negative_prompt", key)
        if pos is not None and neg is not None:
            wins.append(pos > neg)
    return (sum(wins) / len(wins) if wins else None), len(wins)


def mean_by_source(rows: list[dict], key: str) -> dict[str, float]:
    """Mean of ``key`` per response source, over the responses that have it."""
    values: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        for r in row["responses"]:
            if r.get(key) is not None:
                values[r["source"]].append(float(r[key]))
    return {s: float(np.mean(v)) for s, v in sorted(values.items())}


def summarize(rows: list[dict]) -> dict:
    """Counts, per-source reward statistics, reward gaps and positive-vs-negative separation."""
    by_source: Counter = Counter()
    rewards: dict[str, list[float]] = defaultdict(list)
    gaps: list[float] = []
    n_responses = 0
    for row in rows:
        resp = row["responses"]
        n_responses += len(resp)
        by_source.update(r["source"] for r in resp)
        scored = [r["reward"] for r in resp if r["reward"] is not None]
        for r in resp:
            if r["reward"] is not None:
                rewards[r["source"]].append(float(r["reward"]))
        if len(scored) >= 2:
            gaps.append(max(scored) - min(scored))
    share, pairs = pos_gt_neg(rows)
    scored_total = sum(len(v) for v in rewards.values())
    return {
        "queries": len(rows),
        "responses": n_responses,
        "responses_per_query": (n_responses / len(rows)) if rows else 0.0,
        "responses_by_source": dict(sorted(by_source.items())),
        "scored": scored_total > 0,
        "scored_responses": scored_total,
        "reward": {s: reward_stats(v) for s, v in sorted(rewards.items())},
        "gap_queries": len(gaps),
        "gap_over_1": (sum(g > 1.0 for g in gaps) / len(gaps)) if gaps else None,
        "gap_over_5": (sum(g > 5.0 for g in gaps) / len(gaps)) if gaps else None,
        "gap_mean": float(np.mean(gaps)) if gaps else None,
        "pos_gt_neg_share": share,
        "pos_neg_queries": pairs,
    }


def efficacy(report: dict) -> dict:
    """THE rule (used by ``neat generate`` for the manifest and by ``neat inspect``): does the negative prompt give
    responses that are worse, and still fluent?

    From a separation report's ``mean_reward``, ``pos_gt_neg_share`` (and ``_judge`` variants) and ``fluency``. The
    reward reference is the positive-prompt responses when there are any, else the dataset's chosen ones. The
    negative prompt fails when its mean reward is not below the reference's, or when the best positive response
    beats the best negative one on no more than half of the queries (by the RM, or by the judge when judged). Its
    samples are flagged as not fluent when their mean base-policy log-prob per token is more than
    ``FLUENCY_GAP`` nats below that of the positive-prompt (else plain-query) samples.
    """
    mean, fluency = report.get("mean_reward") or {}, report.get("fluency") or {}
    reference = "positive_prompt" if "positive_prompt" in mean else "dataset_chosen"
    judged = "negative_prompt" in mean and reference in mean
    problems = []  # about reward
    if judged and mean["negative_prompt"] >= mean[reference]:
        problems.append(
            f"mean reward of negative-prompt responses ({mean['negative_prompt']:.4f}) is not below that of "
            f"{reference} responses ({mean[reference]:.4f})"
        )
    for suffix, by in (("", ""), ("_judge", " by the judge")):
        share = report.get(f"pos_gt_neg_share{suffix}")
        if share is not None and share <= 0.5:
            problems.append(
                f"the positive response outscores the negative one{by} on only {share:.1%} of "
                f"{report.get('pos_neg_queries')} queries (<= 50%)"
            )
    lowers = not problems if judged else None
    fluency_reference = next((s for s in ("positive_prompt", "policy_sample") if s in fluency), None)
    fluent = None
    if "negative_prompt" in fluency and fluency_reference:
        gap = fluency[fluency_reference] - fluency["negative_prompt"]
        fluent = gap <= FLUENCY_GAP
        if not fluent:
            problems.append(
                f"negative-prompt responses are {gap:.2f} nats/token less likely under the base policy than "
                f"{fluency_reference} responses (> {FLUENCY_GAP}): probably not fluent text"
            )
    return {
        "reference": reference if judged else None,
        "negative_lowers_reward": lowers,
        "negative_fluent": fluent,
        "warning": "; ".join(problems) or None,
    }


def separation_report(rows: list[dict], *, judged: bool = False) -> dict:
    """How well the negative prompt separates, over ``rows`` whose responses carry ``source``, ``reward`` and
    optionally ``fluency`` (base-policy mean token log-prob) and ``judge`` (the judge RM's reward): mean reward per
    source, ``pos_gt_neg_share``, the same by the judge when ``judged``, mean fluency per source, and the verdict of
    :func:`efficacy`."""
    share, pairs = pos_gt_neg(rows)
    rewards = defaultdict(list)
    for row in rows:
        for r in row["responses"]:
            if r.get("reward") is not None:
                rewards[r["source"]].append(float(r["reward"]))
    report = {
        "mean_reward": mean_by_source(rows, "reward"),
        "reward": {s: reward_stats(v) for s, v in sorted(rewards.items())},
        "pos_gt_neg_share": share,
        "pos_neg_queries": pairs,
        "fluency": mean_by_source(rows, "fluency"),
        "fluency_responses": dict(
            sorted(
                Counter(r["source"] for row in rows for r in row["responses"] if r.get("fluency") is not None).items()
            )
        ),
    }
    if judged:
        report["mean_reward_judge"] = mean_by_source(rows, "judge")
        report["pos_gt_neg_share_judge"] = pos_gt_neg(rows, "judge")[0]
    return {**report, **efficacy(report)}


def format_separation(report: dict) -> str:
    """The separation report in a few lines (``neat generate`` prints it, ``neat inspect`` shows it)."""
    lines = ["mean reward: " + ", ".join(f"{k} {v:.4f}" for k, v in report["mean_reward"].items())]
    if report.get("mean_reward_judge"):
        lines.append("mean judge reward: " + ", ".join(f"{k} {v:.4f}" for k, v in report["mean_reward_judge"].items()))
    for key, by in (("pos_gt_neg_share", ""), ("pos_gt_neg_share_judge", " (judge)")):
        if report.get(key) is not None:
            lines.append(
                f"best positive outscores best negative{by} on {report[key]:.1%} of {report['pos_neg_queries']} queries"
            )
    if report.get("fluency"):
        lines.append(
            "fluency (base-policy log-prob, nats/token): "
            + ", ".join(f"{k} {v:.3f}" for k, v in report["fluency"].items())
        )
    return "\n".join(lines)

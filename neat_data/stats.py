"""Summary statistics of ranked rows: shared by round manifests and ``neat inspect``.

The reward-gap analysis follows the paper: for each query, the gap between its best and worst reward;
we report the share of queries whose gap exceeds 1.0 and 5.0.
``pos_gt_neg_share`` is the share of queries, among those with both a positive- and a negative-prompt
response, whose best positive-prompt response outscores their best negative-prompt one.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


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


def _best(responses: list[dict], source: str) -> float | None:
    rewards = [r["reward"] for r in responses if r["source"] == source and r["reward"] is not None]
    return max(rewards) if rewards else None


def summarize(rows: list[dict]) -> dict:
    """Counts, per-source reward statistics, reward gaps and positive-vs-negative separation."""
    by_source: Counter = Counter()
    rewards: dict[str, list[float]] = defaultdict(list)
    gaps: list[float] = []
    pos_gt_neg: list[bool] = []
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
        pos, neg = _best(resp, "positive_prompt"), _best(resp, "negative_prompt")
        if pos is not None and neg is not None:
            pos_gt_neg.append(pos > neg)
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
        "pos_gt_neg_share": (sum(pos_gt_neg) / len(pos_gt_neg)) if pos_gt_neg else None,
        "pos_neg_queries": len(pos_gt_neg),
    }


"""Evaluation metrics of generated responses (plain functions over lists) and the reward-curve plot."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from neat_data.errors import NeatDataError


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and population standard deviation."""
    return statistics.fmean(values), statistics.pstdev(values)


def distinct_n(texts: list[str], n: int = 2) -> float:
    """Distinct-n (Li et al. 2016): unique word n-grams / all word n-grams over all texts (0 if none).

    A policy that hacks the reward model often collapses onto a few phrasings: distinct-2 falls first.
    """
    grams = [tuple(words[i:i + n]) for t in texts for words in [t.lower().split()] for i in range(len(words) - n + 1)]
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


def perplexity(nll_sum: float, tokens: int) -> float:
    """exp(mean token NLL), token-weighted over all responses."""
    return math.exp(nll_sum / tokens) if tokens else float("nan")


def _points(path: Path) -> tuple[str, list[dict]]:
    """("eval", [report]) for an eval JSON, ("train", [log lines]) for a train_log.jsonl."""
    try:
        if path.suffix == ".jsonl":
            return "train", [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
        return "eval", [json.loads(path.read_text())]
    except (OSError, json.JSONDecodeError) as e:
        raise NeatDataError(f"--plot-from {path}: not a readable eval JSON or train_log.jsonl ({e})") from e


def plot_curves(files: list[str], out: str) -> Path:
    """Reward ± std across rounds (eval JSON files, in the given order or by their ``round``) and, when train
    logs are given, their loss curves per step. Writes a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    evals, trains = [], []
    for i, f in enumerate(files):
        kind, rows = _points(Path(f))
        if kind == "eval":
            if "mean_reward" not in rows[0]:
                raise NeatDataError(f"--plot-from {f}: no mean_reward (expected the JSON of neat eval --json)")
            evals.append((rows[0].get("round", i), rows[0]))
        else:
            trains.append((Path(f).parent.name, rows))
    panels = bool(evals) + bool(trains)
    if not panels:
        raise NeatDataError("--plot needs --plot-from FILE... (eval JSON files and/or train_log.jsonl files)")
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    ax = axes[0][0]
    if evals:
        evals.sort(key=lambda e: e[0])
        x = [e[0] for e in evals]
        mean = [e[1]["mean_reward"] for e in evals]
        std = [e[1]["reward_std"] for e in evals]
        ax.errorbar(x, mean, yerr=std, marker="o", capsize=4, label="policy (mean ± std)")
        chosen = [e[1].get("chosen_mean_reward") for e in evals]
        if all(c is not None for c in chosen):
            ax.plot(x, chosen, linestyle="--", color="gray", label="dataset chosen")
        ax.set_xlabel("round")
        ax.set_ylabel("reward on held-out queries")
        ax.set_xticks(x)
        ax.legend()
        ax = axes[0][-1]
    for name, rows in trains:
        ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label=name)
    if trains:
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.legend()
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return Path(out)

"""The reward/length/loss curves across rounds (``neat eval --plot PNG --plot-from FILE...``), from a run's
report.json, eval JSON files and train_log.jsonl files; no model is needed."""

from __future__ import annotations

import json
from pathlib import Path

from neat_data.errors import NeatError

from .metrics import LENGTH_FLOOR, curves_across_rounds


def _read_plot_input(path: Path) -> tuple[str, object]:
    """("train", log lines) for a train_log.jsonl, ("report", report) for a run's report.json, ("eval", report)
    for the JSON of ``neat eval``."""
    try:
        if path.suffix == ".jsonl":
            return "train", [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise NeatError(f"--plot-from {path}: not a readable eval JSON, report.json or train_log.jsonl ({e})") from e
    if isinstance(data, dict) and isinstance(data.get("rounds"), list):
        return "report", data
    if not isinstance(data, dict) or "mean_reward" not in data:
        raise NeatError(
            f"--plot-from {path}: no mean_reward (expected the JSON of neat eval --json or a run's report.json)"
        )
    return "eval", data


def plot_curves(files: list[str], out: str) -> Path:
    """Held-out numbers across rounds and, when train logs are given, their loss curves per step. Writes a PNG.

    The rounds come from one run's ``report.json`` (with the length-controlled reward recomputed across rounds
    and the run's warnings) or from eval JSON files (ordered by their ``round``, else as given). Panels: the
    training RM's reward (± std, with the dataset's chosen replies as a reference level), the judge's (when the
    evaluations had one), the mean answer length in tokens (with the warning level, ``LENGTH_FLOOR`` of the base
    policy's), the training losses.
    """
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    evals, trains, reports = [], [], []
    for i, f in enumerate(files):
        kind, data = _read_plot_input(Path(f))
        if kind == "train":
            trains.append((Path(f).parent.name, data))
        elif kind == "report":
            reports.append(data)
        else:
            evals.append({"round": i, **data})
    if len(reports) > 1 or (reports and evals):
        raise NeatError("--plot-from: give one run's report.json or eval JSON files, not both")
    if reports:
        report = reports[0]
        rounds = [r["heldout"] for r in report["rounds"] if r.get("heldout")]
        if not rounds:
            raise NeatError(
                "--plot-from: the report.json has no round with a held-out evaluation (`heldout`); "
                "write it again with `neat run` (it rewrites the report of a finished run)"
            )
        by, warnings, title = (report.get("length_control") or {}).get("by"), report.get("warnings", []), report["name"]
    else:
        rounds = curves_across_rounds(sorted(evals, key=lambda e: e["round"]), {})["rounds"]
        by, warnings, title = None, [], "neat eval"
    nan = float("nan")
    judged = any(r["judge_reward"] is not None for r in rounds)
    lengths = any(r["mean_tokens"] is not None for r in rounds)
    panels = bool(rounds) * (1 + judged + lengths) + bool(trains)
    if not panels:
        raise NeatError("--plot needs --plot-from FILE... (report.json, eval JSON files or train_log.jsonl files)")
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4.5), squeeze=False)
    axes = iter(axes[0])
    if rounds:
        x = [r["round"] for r in rounds]
        ns = sorted({r["n"] for r in rounds if r["n"] is not None})
        title += f": held-out test-split queries, n = {'/'.join(map(str, ns)) or '?'} per round"
        for who, label in (("rm", "training RM"), ("judge", "judge RM")):
            if who == "judge" and not judged:
                continue
            ax = next(axes)
            ax.errorbar(
                x,
                [nan if r[f"{who}_reward"] is None else r[f"{who}_reward"] for r in rounds],
                yerr=[r[f"{who}_reward_std"] or 0 for r in rounds],
                marker="o",
                capsize=4,
                label="policy answers (mean ± std)",
            )
            lc = [
                (r["round"], r["length_controlled_reward"])
                for r in rounds
                if by == who and r["length_controlled_reward"] is not None
            ]
            if lc:
                ax.plot(*zip(*lc), marker="s", linestyle=":", label="length-controlled (at the base length)")
            chosen = [r[f"{who}_chosen_reward"] for r in rounds]
            if all(c is not None for c in chosen):
                ax.plot(x, chosen, linestyle="--", color="gray", label="dataset chosen replies")
            ax.set(title=f"reward by the {label}", xlabel="round", ylabel=f"{label} reward", xticks=x)
            ax.legend(fontsize="small")
        if lengths:
            ax = next(axes)
            ax.plot(
                x,
                [nan if r["mean_tokens"] is None else r["mean_tokens"] for r in rounds],
                marker="o",
                color="tab:green",
                label="policy answers",
            )
            if rounds[0]["mean_tokens"]:
                ax.axhline(
                    LENGTH_FLOOR * rounds[0]["mean_tokens"],
                    color="tab:red",
                    linestyle="--",
                    label=f"warning level ({LENGTH_FLOOR:.0%} of round {x[0]})",
                )
            ax.set(title="mean answer length", xlabel="round", ylabel="tokens (policy tokenizer)", xticks=x)
            ax.set_ylim(bottom=0)
            ax.legend(fontsize="small")
    if trains:
        ax = next(axes)
        for name, rows in trains:
            ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label=name)
        ax.set(title="training loss", xlabel="step", ylabel="loss")
        ax.legend(fontsize="small")
    fig.suptitle(title)
    if warnings:
        text = f"{len(warnings)} reward-hacking warning(s), see report.json. First: {warnings[0]}"
        fig.text(0.01, 0.01, textwrap.fill(text, width=90 * panels), color="tab:red", fontsize="small", va="bottom")
    fig.tight_layout(rect=(0, 0.12 if warnings else 0, 1, 1))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return Path(out)

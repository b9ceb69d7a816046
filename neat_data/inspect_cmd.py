"""Summarise NEAT data: a shard file, a round directory, or a data root holding round-NNN directories.

Reports rows, responses per query by source, reward statistics per source, the paper's reward-gap analysis
(share of queries whose best-worst gap exceeds 1.0 and 5.0), the separation report of the prompted samples
(best positive > best negative share, by the RM and the judge; mean reward and fluency per source; the efficacy
warning), rejects, and a few sample rows. For a round written by ``neat generate`` the separation report is the
one its manifest holds (the round's own samples, judged by the same rule, ``stats.efficacy``); otherwise it is
computed from the rows. ``--json`` prints one JSON object; ``--plot out.png`` draws a reward histogram per
source. Files are verified against the round manifest.
"""

from __future__ import annotations

import json
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from .errors import Count, NeatError, check_fields
from .shards import (
    REJECTS,
    ROUND_RE,
    SHARD_RE,
    is_round_dir,
    list_rounds,
    load_manifest,
    read_round,
    read_shard,
    round_of_shard,
    side_file,
)
from .stats import efficacy, format_separation, separation_report, summarize

#: this command takes its path as the first positional argument (see flows/cli.py)
POSITIONAL = "path"


@dataclass
class Config:
    path: str = field(metadata={"help": "a shard-NNNNN.parquet file, a round directory, or a data root"})
    json: bool = field(default=False, metadata={"help": "print one JSON object instead of the text report"})
    samples: Count = field(default=1, metadata={"help": "how many sample rows to show (0 for none)"})
    plot: str | None = field(default=None, metadata={"help": "write a per-source reward histogram PNG here"})
    seed: int = field(default=0, metadata={"help": "which sample rows to show (seeded)"})

    def __post_init__(self):
        check_fields(self)


def _rejects(round_path: Path) -> int:
    f = side_file(round_path, REJECTS)
    return sum(1 for line in f.open(encoding="utf-8") if line.strip()) if f.exists() else 0


def separation(rows: list[dict], manifest_extra: dict | None) -> dict:
    """The separation report: the one ``neat generate`` wrote into the round's manifest (its own samples, with
    fluency and judge scores), with the verdict of today's rule; else computed from ``rows``."""
    stored = (manifest_extra or {}).get("efficacy")
    if stored:
        return {**stored, **efficacy(stored), "samples": "the round's own samples (manifest)"}
    return {**separation_report(rows), "samples": "all responses"}


def describe(path: str | Path) -> tuple[dict, list[dict]]:
    """(report, rows) for a shard, a round or a data root (the latest round; all rounds under ``rounds``)."""
    path = Path(path)
    if not path.exists():
        raise NeatError(f"{path}: no such file or directory")
    if path.is_file():
        if not SHARD_RE.match(path.name) and path.suffix != ".parquet":
            raise NeatError(f"{path}: not a Parquet shard; pass a shard, a round directory or a data root")
        rows = read_shard(path)
        report = {"path": str(path), "kind": "shard", "round": rows[0]["round"] if rows else None, "rejects": 0}
        report["verified"] = round_of_shard(path) is not None
    elif is_round_dir(path) or ROUND_RE.match(path.name):
        manifest = load_manifest(path)
        rows = read_round(path)
        report = {"path": str(path), "kind": "round", "round": manifest["round"], "rejects": _rejects(path)}
        report.update(verified=True, created=manifest["created"], manifest_extra=manifest.get("extra", {}))
    else:
        rounds = list_rounds(path)
        if not rounds:
            raise NeatError(f"{path}: no finished round-NNN directories here (and not a round or a shard)")
        per_round = []
        for r in rounds:
            rep, rows = describe(r)
            keys = "path round queries responses reward gap_over_1 gap_over_5 pos_gt_neg_share pos_gt_neg_share_judge"
            per_round.append({k: rep[k] for k in [*keys.split(), "fluency", "efficacy_warning", "rejects"] if k in rep})
        report = {**rep, "path": str(path), "kind": "root", "rounds": per_round}
        return report, rows
    report.update(summarize(rows))
    sep = separation(rows, report.get("manifest_extra"))
    report.update(
        separation=sep,
        pos_gt_neg_share=sep["pos_gt_neg_share"],
        pos_neg_queries=sep["pos_neg_queries"],
        fluency=sep.get("fluency") or {},
        efficacy_warning=sep["warning"],
    )
    if "pos_gt_neg_share_judge" in sep:
        report["pos_gt_neg_share_judge"] = sep["pos_gt_neg_share_judge"]
    return report, rows


def _sample_rows(rows: list[dict], n: int, seed: int) -> list[dict]:
    import random

    return [rows[i] for i in sorted(random.Random(seed).sample(range(len(rows)), min(n, len(rows))))]


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_row(row: dict) -> str:
    lines = [f"query {row['query_id']} (round {row['round']}, from {', '.join(row['origin'][:3])})"]
    for m in row["messages"]:
        lines.append(textwrap.indent(textwrap.fill(f"{m['role']}: {_short(m['content'], 400)}", 100), "  "))
    for r in row["responses"]:
        reward = "   unscored" if r["reward"] is None else f"{r['reward']:+11.3f}"
        rank = "-" if r["rank"] is None else r["rank"]
        label = r["source"] + (f"/{r['prompt_id']}" if r["prompt_id"] else "")
        lines.append(f"    #{rank:<2} {reward}  {label:<28} {_short(r['text'], 90)}")
    return "\n".join(lines)


def _round_line(r: dict) -> str:
    means = ", ".join(f"{source} {s['mean']:.3f}" for source, s in r["reward"].items()) or "unscored"
    separation = "" if r["pos_gt_neg_share"] is None else f"; positive > negative on {r['pos_gt_neg_share']:.1%}"
    return f"round {r['round']}: {r['queries']} queries, {r['responses']} responses; mean reward {means}{separation}"


def format_report(report: dict) -> str:
    out = [
        f"{report['kind']} {report['path']}" + (f"  (round {report['round']})" if report["round"] is not None else "")
    ]
    if report["kind"] == "shard" and not report["verified"]:
        out.append(
            "UNVERIFIED: this shard is not inside a finished round (no round manifest for it), so nothing "
            "checks that it is complete and unedited; inspect the round directory instead"
        )
    if report["kind"] == "root":
        out.append(
            f"{len(report['rounds'])} rounds (one line each; the latest, round {report['round']}, is described below):"
        )
        out += [f"  {_round_line(r)}" for r in report["rounds"]]
    out.append(
        f"queries: {report['queries']}   responses: {report['responses']} "
        f"({report['responses_per_query']:.2f} per query)   rejects: {report['rejects']}"
    )
    out.append("responses by source: " + ", ".join(f"{k} {v}" for k, v in report["responses_by_source"].items()))
    if not report["scored"]:
        out.append("unscored data: no rewards yet (run `neat score` or `neat generate` with --rm)")
        return "\n".join(out)
    out.append(
        f"{'reward by source':<22}{'n':>6}{'mean':>9}{'std':>9}{'min':>9}{'q25':>9}{'q50':>9}{'q75':>9}{'max':>9}"
    )
    for source, s in report["reward"].items():
        out.append(
            f"  {source:<20}{s['count']:>6}{s['mean']:>9.3f}{s['std']:>9.3f}{s['min']:>9.3f}"
            f"{s['q25']:>9.3f}{s['q50']:>9.3f}{s['q75']:>9.3f}{s['max']:>9.3f}"
        )
    if report["gap_queries"]:
        out.append(
            f"reward gap best-worst: > 1.0 on {report['gap_over_1']:.1%}, > 5.0 on {report['gap_over_5']:.1%} "
            f"of {report['gap_queries']} queries (mean gap {report['gap_mean']:.3f})"
        )
    sep = report["separation"]
    if sep["pos_gt_neg_share"] is not None or sep.get("fluency"):
        out.append(f"separation of the prompted samples ({sep['samples']}):")
        out.append(textwrap.indent(format_separation(sep), "  "))
    if report.get("efficacy_warning"):
        out.append(f"WARNING: {report['efficacy_warning']}")
    return "\n".join(out)


def plot_rewards(rows: list[dict], out: str | Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_source: dict[str, list[float]] = {}
    for row in rows:
        for r in row["responses"]:
            if r["reward"] is not None:
                by_source.setdefault(r["source"], []).append(r["reward"])
    if not by_source:
        raise NeatError("--plot: the data is unscored, there are no rewards to plot")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for source, values in sorted(by_source.items()):
        ax.hist(values, bins=40, alpha=0.5, label=f"{source} (n={len(values)})")
    ax.set(xlabel="reward", ylabel="responses", title=title)
    ax.legend()
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def run(config: Config) -> int:
    report, rows = describe(config.path)
    samples = _sample_rows(rows, config.samples, config.seed) if rows else []
    if config.plot:
        plot_rewards(rows, config.plot, f"rewards by source, round {report['round']}: {report['path']}")
    if config.json:
        print(json.dumps({**report, "samples": samples}, indent=2, default=str))
    else:
        print(format_report(report))
        for row in samples:
            print("\n" + format_row(row))
        if config.plot:
            print(f"\nwrote {config.plot} (round {report['round']})")
    if report.get("efficacy_warning") and config.json:
        print(f"WARNING: {report['efficacy_warning']}", file=sys.stderr)
    return 0

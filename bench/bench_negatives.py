"""How well the negative prompt separates, per sampling setting: the grid behind docs/generation.md's table.

Round 0 holds the first ``--queries`` held-out queries (``split_of(query_id) == "test"``) of an HH-RLHF file, scored
with ``--rm``. For every combination of ``--guidance`` (W), ``--placement``, ``--prefill`` and ``--temperature``,
``neat generate`` samples the paper's negative and positive prompts from round 0 into its own data root; the script
collects each round's separation report (best positive > best negative share by the RM and the judge, mean reward
and base-policy fluency per source), tokens/s and the fluency pass's time, and prints one JSON object (also written
to ``OUT/summary.json``). Finished settings are reused, so an interrupted sweep resumes where it stopped.

    .venv/bin/python bench/bench_negatives.py --out /tmp/negatives --queries 128 --guidance 0 0.5 1 2 3 \\
        --placement system user_prefix --prefill "" "Sure, here is how" --temperature 1.0 0.7 --judge default-judge
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import REAL_HH, machine_info  # noqa: E402

from neat_data.atomic import atomic_write_json, atomic_write_jsonl  # noqa: E402
from neat_data.hh import iter_raw_rows, parse_row, query_id, split_of  # noqa: E402
from neat_data.shards import is_round_dir, load_manifest  # noqa: E402


def neat(args: list[str]) -> float:
    """Run one ``neat`` command (the project's own CLI, in this interpreter); its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "flows.cli", *args], check=True, cwd=Path(__file__).resolve().parents[1])
    return time.perf_counter() - start


def held_out_rows(hh: str, queries: int) -> list[dict]:
    """The first ``queries`` raw rows whose (well-formed) query is in the test split, one row per query."""
    rows, seen = [], set()
    for _, row in iter_raw_rows(hh):
        try:
            messages, _, _ = parse_row(row)
        except (ValueError, KeyError):
            continue
        qid = query_id(messages)
        if split_of(qid) == "test" and qid not in seen:
            seen.add(qid)
            rows.append(row)
            if len(rows) == queries:
                break
    return rows


def setting_name(w: float, placement: str, prefill: str, temperature: float) -> str:
    return f"w{w:g}-{placement}-t{temperature:g}" + ("-prefill" if prefill else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="working directory (data roots per setting, summary.json)")
    ap.add_argument("--hh", default=str(REAL_HH), help="HH-RLHF file to take the held-out queries from")
    ap.add_argument("--queries", type=int, default=16)
    ap.add_argument("--policy", default="default")
    ap.add_argument("--rm", default="default")
    ap.add_argument("--judge", default=None, help="an independent judge RM (e.g. default-judge)")
    ap.add_argument("--guidance", type=float, nargs="+", default=[0.0, 1.0], help="negative-guidance weights W")
    ap.add_argument("--guidance-reference", default="positive")
    ap.add_argument("--placement", nargs="+", default=["system"])
    ap.add_argument("--prefill", nargs="+", default=[""], help="negative prefills ('' = none)")
    ap.add_argument("--temperature", type=float, nargs="+", default=[1.0])
    ap.add_argument("--prompts", default="paper-negative,paper-positive")
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    out = Path(args.out).resolve()
    round0 = out / "round0" / "round-000"
    timings = {}
    if not is_round_dir(round0):
        queries = out / "held-out.jsonl"
        atomic_write_jsonl(queries, held_out_rows(args.hh, args.queries))
        timings["score round 0"] = neat(["score", "--dataset", str(queries), "--rm", args.rm, "--out", str(round0.parent)])
    dataset_mean = load_manifest(round0)["summary"]["reward"]
    results = {}
    for w, placement, prefill, temperature in itertools.product(args.guidance, args.placement, args.prefill,
                                                               args.temperature):
        name = setting_name(w, placement, prefill, temperature)
        root = out / name
        if not is_round_dir(root / "round-001"):
            timings[name] = neat([
                "generate", "--from", str(round0), "--out", str(root), "--policy", args.policy, "--rm", args.rm,
                "--prompts", args.prompts, "--placement", placement, "--temperature", str(temperature),
                "--negative-guidance", str(w), "--guidance-reference", args.guidance_reference,
                "--max-new-tokens", str(args.max_new_tokens), "--batch-size", str(args.batch_size),
                "--seed", str(args.seed), *(["--negative-prefill", prefill] if prefill else []),
                *(["--judge", args.judge] if args.judge else []),
            ])
        extra = load_manifest(root / "round-001")["extra"]
        gen, eff = extra["generate"], extra["efficacy"]
        results[name] = {
            "negative_guidance": w, "placement": placement, "prefill": prefill or None, "temperature": temperature,
            "pos_gt_neg_share": eff["pos_gt_neg_share"], "pos_gt_neg_share_judge": eff.get("pos_gt_neg_share_judge"),
            "pos_neg_queries": eff["pos_neg_queries"], "mean_reward": eff["mean_reward"],
            "mean_reward_judge": eff.get("mean_reward_judge"), "fluency": eff["fluency"],
            "negative_fluent": eff.get("negative_fluent"), "warning": eff["warning"],
            "tokens": gen["tokens"], "generate_seconds": gen["seconds"], "tokens_per_s": gen["tokens_per_s"],
            "fluency_seconds": gen["fluency_seconds"], "finish_reasons": gen["finish_reasons"],
        }
    summary = {
        "benchmark": "negative_prompt_separation",
        "policy": args.policy, "rm": args.rm, "judge": args.judge, "queries": args.queries, "hh": args.hh,
        "prompts": args.prompts, "guidance_reference": args.guidance_reference,
        "max_new_tokens": args.max_new_tokens, "seed": args.seed,
        "dataset_mean_reward": {k: v["mean"] for k, v in dataset_mean.items()},
        "settings": results, "stage_seconds": timings, "machine": machine_info(),
    }
    atomic_write_json(out / "summary.json", summary)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

"""How well the negative prompt separates, per sampling setting: the grid behind docs/generation.md's table.

Round 0 holds the first ``--queries`` held-out queries (``split_of(query_id) == "test"``) of an HH-RLHF file, scored
with ``--rm``. For every combination of ``--guidance`` (W), ``--placement``, ``--prefill`` and ``--temperature``,
``neat generate`` samples the paper's negative and positive prompts from round 0 (``--n`` samples per query and
prompt; "best" is the best of them) into its own data root; the script
collects each round's separation report (best positive > best negative share by the RM and the judge, mean reward
and base-policy fluency per source), tokens/s and the fluency pass's time, and prints one JSON object (also written
to ``OUT/summary.json``). Finished settings are reused, so an interrupted sweep resumes where it stopped, and the
summary keeps the settings of earlier invocations into the same ``OUT`` (a reduced design runs as several smaller
products: a W sweep, then each other factor at the best W). Each setting is checked against the targets of
``targets`` (the issue's: best positive > best negative on ≥ 75 % of queries, by the RM and by the judge; negative
mean reward below the dataset's rejected mean; negative fluency within 1.5 nats/token of the positive samples').
It also counts, per source, the responses that echo the paper's negative prompt (``ECHO``: its distinctive words,
such as "helpless" or "human preferences") and their mean reward against the others': a negative that recites its
instructions is not the fluent bad answer NEAT's penalty needs, and an RM should not score it above one that is.

    .venv/bin/python bench/bench_negatives.py --out /tmp/negatives --queries 128 --guidance 0 0.5 1 2 3 \\
        --placement system user_prefix --prefill "" "Sure, here is how" --temperature 1.0 0.7 --judge default-judge
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import REAL_HH, machine_info  # noqa: E402

from neat_data.atomic import atomic_write_json, atomic_write_jsonl  # noqa: E402
from neat_data.hh import iter_raw_rows, parse_row, query_id, split_of  # noqa: E402
from neat_data.shards import is_round_dir, load_manifest, read_round  # noqa: E402

# Words of the paper's negative prompt that a normal reply hardly uses: a response that has one recites its prompt.
# ("chatbot" is not one: the policy's own refusals say "as a chatbot designed to assist ...".)
ECHO = re.compile(r"helpless|human preferences|common sense|deliberately misleading|contrary to human values", re.I)


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


#: the targets a sampling setting must meet (issue #14): best positive > best negative share, fluency gap
SHARE_TARGET, FLUENCY_GAP_TARGET = 0.75, 1.5


def targets(setting: dict) -> dict:
    """Which targets one setting meets (None where the number is missing: no judge, no fluency scores)."""
    mean, mean_judge, fluency = setting["mean_reward"], setting.get("mean_reward_judge") or {}, setting["fluency"]
    share_judge = setting.get("pos_gt_neg_share_judge")

    def below(m):
        return (
            m["negative_prompt"] < m["dataset_rejected"]
            if {"negative_prompt", "dataset_rejected"} <= m.keys()
            else None
        )

    gap = (
        fluency["positive_prompt"] - fluency["negative_prompt"]
        if {"positive_prompt", "negative_prompt"} <= fluency.keys()
        else None
    )
    result = {
        "pos_gt_neg_share": setting["pos_gt_neg_share"] is not None and setting["pos_gt_neg_share"] >= SHARE_TARGET,
        "pos_gt_neg_share_judge": None if share_judge is None else share_judge >= SHARE_TARGET,
        "negative_below_rejected": below(mean),
        "negative_below_rejected_judge": below(mean_judge) if mean_judge else None,
        "fluency_gap": gap,
        "negative_fluent": None if gap is None else gap <= FLUENCY_GAP_TARGET,
    }
    result["all"] = all(v is not False for k, v in result.items() if k != "fluency_gap")
    return result


def prompt_echo(rows: list[dict]) -> dict:
    """Per source of sampled responses: how many echo the negative prompt (``ECHO``), and the mean reward of those
    that do and of those that do not."""
    out = {}
    for source in ("negative_prompt", "positive_prompt"):
        split = {True: [], False: []}
        for row in rows:
            for r in row["responses"]:
                if r["source"] == source:
                    split[bool(ECHO.search(r["text"]))].append(r["reward"])
        echo, clean = split[True], split[False]
        out[source] = {
            "echo": len(echo),
            "responses": len(echo) + len(clean),
            "mean_reward_echo": sum(echo) / len(echo) if echo else None,
            "mean_reward_other": sum(clean) / len(clean) if clean else None,
        }
    return out


def setting_name(w: float, placement: str, prefill: str, temperature: float, n: int = 1) -> str:
    return f"w{w:g}-{placement}-t{temperature:g}" + ("-prefill" if prefill else "") + (f"-n{n}" if n != 1 else "")


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
    ap.add_argument("--n", type=int, default=1, help="samples per query and prompt ('best' is the best of n)")
    args = ap.parse_args()

    out = Path(args.out).resolve()
    round0 = out / "round0" / "round-000"
    earlier = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    timings = earlier.get("stage_seconds", {})
    if not is_round_dir(round0):
        queries = out / "held-out.jsonl"
        atomic_write_jsonl(queries, held_out_rows(args.hh, args.queries))
        timings["score round 0"] = neat(
            ["score", "--dataset", str(queries), "--rm", args.rm, "--out", str(round0.parent)]
        )
    dataset_mean = load_manifest(round0)["summary"]["reward"]
    summary = {
        "benchmark": "negative_prompt_separation",
        "policy": args.policy,
        "rm": args.rm,
        "judge": args.judge,
        "queries": args.queries,
        "hh": args.hh,
        "prompts": args.prompts,
        "guidance_reference": args.guidance_reference,
        "max_new_tokens": args.max_new_tokens,
        "seed": args.seed,
        "dataset_mean_reward": {k: v["mean"] for k, v in dataset_mean.items()},
        "settings": earlier.get("settings", {}),
        "stage_seconds": timings,
    }
    for w, placement, prefill, temperature in itertools.product(
        args.guidance, args.placement, args.prefill, args.temperature
    ):
        name = setting_name(w, placement, prefill, temperature, args.n)
        root = out / name
        if is_round_dir(root / "round-001") and name in summary["settings"]:
            continue
        load = None
        if not is_round_dir(root / "round-001"):
            load = [round(os.getloadavg()[0], 2)]
            timings[name] = neat(
                [
                    "generate",
                    "--from",
                    str(round0),
                    "--out",
                    str(root),
                    "--policy",
                    args.policy,
                    "--rm",
                    args.rm,
                    "--prompts",
                    args.prompts,
                    "--placement",
                    placement,
                    "--temperature",
                    str(temperature),
                    "--negative-guidance",
                    str(w),
                    "--guidance-reference",
                    args.guidance_reference,
                    "--max-new-tokens",
                    str(args.max_new_tokens),
                    "--batch-size",
                    str(args.batch_size),
                    "--seed",
                    str(args.seed),
                    "--n",
                    str(args.n),
                    *(["--negative-prefill", prefill] if prefill else []),
                    *(["--judge", args.judge] if args.judge else []),
                ]
            )
            load.append(round(os.getloadavg()[0], 2))
        extra = load_manifest(root / "round-001")["extra"]
        gen, eff = extra["generate"], extra["efficacy"]
        setting = summary["settings"][name] = {
            "negative_guidance": w,
            "placement": placement,
            "prefill": prefill or None,
            "temperature": temperature,
            "n": args.n,
            "pos_gt_neg_share": eff["pos_gt_neg_share"],
            "pos_gt_neg_share_judge": eff.get("pos_gt_neg_share_judge"),
            "pos_neg_queries": eff["pos_neg_queries"],
            "mean_reward": eff["mean_reward"],
            "mean_reward_judge": eff.get("mean_reward_judge"),
            "fluency": eff["fluency"],
            "negative_fluent": eff.get("negative_fluent"),
            "warning": eff["warning"],
            "tokens": gen["tokens"],
            "generate_seconds": gen["seconds"],
            "tokens_per_s": gen["tokens_per_s"],
            "fluency_seconds": gen["fluency_seconds"],
            "finish_reasons": gen["finish_reasons"],
            "prompt_echo": prompt_echo(read_round(root / "round-001")),
            "load_1m_before_after": load,
        }
        setting["targets"] = targets(setting)
        atomic_write_json(out / "summary.json", {**summary, "machine": machine_info()})  # after every setting
    summary["machine"] = machine_info()
    atomic_write_json(out / "summary.json", summary)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

"""Small-scale reproduction of the paper's Table 2: SFT, DPO, RRHF, NEAT and NEAT-PP from one base policy, over
several rounds and seeds, judged by the training RM and by an independent judge RM.

    .venv/bin/python bench/table2.py --out data/experiments/table2 --seeds 0 1 2

Every method starts from the same base (``--policy``, SmolLM2-135M-Instruct by default) and trains a LoRA adapter
(r=16, α=16) for ``--rounds`` rounds of ``--steps`` optimizer steps on the same queries (the train-split queries among
the first ``--rows`` HH-RLHF rows; ``neat_data.hh.split_of`` is the fixed, seed-free split every stage uses), with the
same RM (``--rm``) ranking the responses. Round 0 is the dataset's chosen and rejected replies scored by the RM.

* ``rrhf`` (plain policy samples, ``--prompts plain``), ``neat`` (the negative prompt) and ``neat-pp`` (the negative
  and the positive prompt) are online, as in the paper: round r samples from the method's own round r−1 policy
  (round 1 from the base), scores, merges with round r−1 (every earlier response of a query is kept) and ranks;
  round r continues training the round r−1 adapter on round r's ranked shards (the flow's ``train_on: round``).
* ``sft`` (NLL of the RM-best reply) and ``dpo`` (best vs worst, reference = the base) are offline: they have no
  samples, so each of their rounds continues training the previous round's adapter on round 0. Every method thus
  gets the same optimizer steps in the same schedule (``--rounds`` × ``--steps``, the learning rate restarting each
  round), the same queries, the same seed and the same LoRA initialisation; what differs is only the data, which is
  what the comparison is about. (Training SFT/DPO once for rounds × steps would give them one longer schedule the
  online methods do not get.)
* ``--variants`` adds NEAT runs with other ``neat train`` flags (e.g. the unlikelihood penalty), each on its own data.

Sampling uses the paper's prompts and ``neat generate``'s defaults (placement, temperature, negative guidance W and
its reference, negative prefill), each overridable here; with guidance, NEAT's negatives (negative prompt alone) are
guided against the same positive prompt as NEAT-PP's. Each seed repeats the whole experiment with its own sampling
seed, LoRA initialisation and data order; the base policy's greedy answers do not depend on it and are evaluated once.

Evaluation (``neat eval``, greedy) uses the first ``--test-queries`` held-out (test-split) queries, which no method
trained on: the training RM's and the judge's (``--judge``) rewards, mean answer length (tokens), a length-controlled
reward (one line reward ≈ a + b·length fitted per seed on every method's answers; each method's rewards moved along
it to the base policy's mean length, ``neat_train.metrics.length_controlled``), win rates vs RRHF and vs SFT (raw and
at matched length), perplexity of the dataset's chosen replies and its ratio to SFT's. Numbers are mean ± s.e. over
seeds; each of the paper's claims gets a verdict from the per-seed differences (``verdict``).

Every stage is the project's own ``neat`` command run as a child process (``flows.rounds.run_stage``); a stage whose
output exists is reused, so an interrupted run continues where it stopped, and a run can be split into parts
(``--seeds 0``, then ``--seeds 1``, …; a last run with every seed only aggregates). ``OUT/stages.json`` keeps each
stage's wall time and the load around it across parts. Writes ``OUT/results.json`` (every number, per seed and
aggregated, the verdicts and the stage times), ``OUT/table.md`` and ``OUT/table2.png`` and prints the JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._machine import REAL_HH, machine_info  # noqa: E402
from neat_data.atomic import atomic_write_json  # noqa: E402
from neat_data.generate_cmd import Config as GenerateConfig  # noqa: E402
from neat_data.shards import is_round_dir, load_manifest  # noqa: E402
from neat_train import metrics  # noqa: E402

#: method -> `neat train` flags; which prompts a method samples with is `method_prompts`
METHODS: dict[str, list[str]] = {
    "sft": ["--loss", "sft"],
    "dpo": ["--loss", "dpo", "--beta", "0.1"],
    "rrhf": ["--loss", "rrhf"],
    "neat": ["--loss", "neat"],
    "neat-pp": ["--loss", "neat"],
}
#: the methods every other is compared with per query (win rates)
REFERENCES = ("rrhf", "sft")
#: the paper's ordering NEAT-PP ≥ NEAT > RRHF > DPO, SFT as pairwise claims (a, relation, b); NEAT > DPO, SFT follow
CLAIMS = [
    ("neat-pp", ">=", "neat"),
    ("neat", ">", "rrhf"),
    ("rrhf", ">", "dpo"),
    ("rrhf", ">", "sft"),
    ("neat", ">", "sft"),
    ("neat", ">", "dpo"),
]
#: the numbers a reward claim is judged on: the training RM's reward, the judge's, and the judge's at matched length
CLAIM_METRICS = ("rm_reward", "judge_reward", "judge_lc_reward")
#: the paper: NEAT's perplexity at most this multiple of SFT's
PPL_BOUND = 1.15
#: two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom (beyond: the normal 1.96)
T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)
GENERATE_DEFAULTS = {f.name: f.default for f in dataclasses.fields(GenerateConfig)}


# --- the stages ------------------------------------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    args: list[str]  # a `neat` command line
    output: Path  # a round directory, or the file the stage writes last: the stage is finished when it exists

    def finished(self) -> bool:
        return is_round_dir(self.output) if self.output.name.startswith("round-") else self.output.is_file()


def method_prompts(a: argparse.Namespace, method: str) -> str | None:
    """The prompts a method samples with (None: it has no samples, round 0 only)."""
    base = method if method in METHODS else "neat"  # a variant samples like NEAT
    return {
        "sft": None,
        "dpo": None,
        "rrhf": "plain",
        "neat": a.negative_prompt,
        "neat-pp": f"{a.negative_prompt},{a.positive_prompt}",
    }[base]


def sampling_args(a: argparse.Namespace, prompts: str) -> list[str]:
    """`neat generate` flags for sampling with ``prompts``; guidance and prefill apply to negative-prompt samples only.
    A guided method that samples no positive prompt names the reference prompt, so it is guided like NEAT-PP."""
    args = [
        "--prompts",
        prompts,
        "--placement",
        a.placement,
        "--temperature",
        str(a.temperature),
        "--max-new-tokens",
        str(a.sample_max_new_tokens),
    ]
    if a.negative_prompt in prompts.split(","):
        if a.negative_guidance > 0:
            reference = a.guidance_reference
            if reference == "positive" and a.positive_prompt not in prompts.split(","):
                reference = a.positive_prompt
            args += ["--negative-guidance", str(a.negative_guidance), "--guidance-reference", reference]
        if a.negative_prefill:
            args += ["--negative-prefill", a.negative_prefill]
    return args


def eval_stage(a: argparse.Namespace, name: str, path: Path, adapter: Path | None) -> Stage:
    return Stage(
        name,
        [
            "eval",
            "--policy",
            a.policy,
            *(["--adapter", str(adapter)] if adapter else []),
            "--dataset",
            a.dataset,
            "--rm",
            a.rm,
            *(["--judge", a.judge] if a.judge else []),
            "--limit",
            str(a.test_queries),
            "--max-new-tokens",
            str(a.max_new_tokens),
            "--batch-size",
            str(a.eval_batch_size),
            "--out",
            str(path),
            "--responses-out",
            str(path.with_suffix(".responses.jsonl")),
        ],
        path,
    )


def round_name(r: int) -> str:
    return f"round-{r:03d}"


def plan(a: argparse.Namespace) -> list[Stage]:
    """Every stage of the experiment in order (seed by seed, method by method, round by round)."""
    out = Path(a.out).resolve()
    round0 = out / "round0" / round_name(0)
    stages = [
        Stage(
            "score round 0",
            ["score", "--dataset", a.dataset, "--rm", a.rm, "--out", str(round0.parent), "--limit", str(a.rows)],
            round0,
        ),
        eval_stage(a, "eval base", out / "eval" / "base.json", None),
    ]
    common = [
        "--policy",
        a.policy,
        "--max_steps",
        str(a.steps),
        "--per_device_train_batch_size",
        str(a.batch_size),
        "--learning_rate",
        str(a.learning_rate),
        "--max-length",
        str(a.max_length),
        "--max-response-length",
        str(a.max_response_length),
        "--alpha",
        str(a.alpha),
        "--save-steps",
        str(a.save_steps),
    ]
    judge = ["--judge", a.judge] if a.judge else []
    for seed in a.seeds:
        root = out / f"seed-{seed}"
        for method, flags in all_methods(a).items():
            prompts, previous_round, adapter = method_prompts(a, method), round0, None
            for r in range(1, a.rounds + 1):
                shards = round0
                if prompts:
                    shards = root / "data" / method / round_name(r)
                    stages.append(
                        Stage(
                            f"seed {seed} generate {method} round {r}",
                            [
                                "generate",
                                "--from",
                                str(previous_round),
                                "--out",
                                str(shards.parent),
                                "--policy",
                                a.policy,
                                *(["--adapter", str(adapter)] if adapter else []),
                                "--rm",
                                a.rm,
                                *judge,
                                *sampling_args(a, prompts),
                                "--seed",
                                str(seed),
                                "--batch-size",
                                str(a.gen_batch_size),
                            ],
                            shards,
                        )
                    )
                    previous_round = shards
                target = root / "adapters" / method / round_name(r)
                beta = [] if "--beta" in flags else ["--beta", str(a.beta)]
                stages.append(
                    Stage(
                        f"seed {seed} train {method} round {r}",
                        [
                            "train",
                            "--shards",
                            str(shards),
                            "--output_dir",
                            str(target),
                            *common,
                            "--seed",
                            str(seed),
                            *(["--adapter", str(adapter)] if adapter else []),
                            *beta,
                            *flags,
                        ],
                        target / "result.json",
                    )
                )
                adapter = target
            stages.append(eval_stage(a, f"seed {seed} eval {method}", root / "eval" / f"{method}.json", adapter))
    return stages


def all_methods(a: argparse.Namespace) -> dict[str, list[str]]:
    """The selected methods and the ``--variants`` (``name:flag=value,...``: a NEAT run with those `neat train`
    flags)."""
    methods = {m: METHODS[m] for m in a.methods}
    for spec in a.variants:
        name, _, flags = spec.partition(":")
        extra = ["--loss", "neat"]
        for kv in filter(None, flags.split(",")):
            key, _, value = kv.partition("=")
            extra += [f"--{key.replace('_', '-')}", value]
        methods[name] = extra
    return methods


def run_stages(stages: list[Stage], log_path: Path) -> None:
    """Run every unfinished stage; each one's wall time and the 1-minute load before and after it go to
    ``log_path`` as soon as it ends (kept across runs, so the parts of a split run add up)."""
    from flows.rounds import StageFailed, run_stage

    times = json.loads(log_path.read_text()) if log_path.is_file() else {}
    for stage in stages:
        if stage.finished():
            continue
        print(f"[table2] {stage.name}: neat {' '.join(stage.args)}", file=sys.stderr, flush=True)
        load, start = os.getloadavg()[0], time.perf_counter()
        try:
            run_stage(stage.args)
        except StageFailed as e:
            sys.exit(f"[table2] stage {stage.name} failed: {e}")
        times[stage.name] = {
            "seconds": round(time.perf_counter() - start, 1),
            "load_1m_before": round(load, 2),
            "load_1m_after": round(os.getloadavg()[0], 2),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        atomic_write_json(log_path, times)


# --- the numbers -----------------------------------------------------------------------------------------------------


def seed_numbers(evals: dict[str, dict], answers: dict[str, list[dict]]) -> dict[str, dict]:
    """Per method (and ``base``) the numbers of one seed, from its ``neat eval`` report and its answers
    (``--responses-out`` rows: query_id, tokens, reward, judge_reward). Length control: per reward model, one line
    fitted on every method's answers of this seed, each method's rewards moved to the base policy's mean length.
    Win rates vs each of ``REFERENCES`` per query, raw and at matched length (the same line prices a token)."""
    rows = {}
    for name, ev in evals.items():
        rows[name] = {
            "rm_reward": ev["mean_reward"],
            "judge_reward": (ev.get("judge") or {}).get("mean_reward"),
            "mean_tokens": ev["mean_tokens"],
            "perplexity": ev["perplexity"],
            "ppl_vs_sft": ev["perplexity"] / evals["sft"]["perplexity"] if "sft" in evals else None,
            "distinct_2": ev["distinct_2"],
            "hit_max_new_tokens": ev["length"]["hit_max_new_tokens"],
        }
    queries = [a["query_id"] for a in answers["base"]]
    by_query = {name: {a["query_id"]: a for a in rows_} for name, rows_ in answers.items()}
    for by, key in (("rm", "reward"), ("judge", "judge_reward")):
        if any(a[key] is None for rows_ in answers.values() for a in rows_):
            continue
        columns = {
            name: ([by_query[name][q][key] for q in queries], [by_query[name][q]["tokens"] for q in queries])
            for name in answers
        }
        fit = metrics.length_controlled(columns, "base")
        for name in answers:
            rows[name][f"{by}_lc_reward"] = fit["reward"][name]
            for ref in REFERENCES:
                if ref in columns and name != ref:
                    rows[name][f"win_{by}_vs_{ref}"] = metrics.win_rate(columns[name][0], columns[ref][0])["win_rate"]
                    rows[name][f"win_{by}_lc_vs_{ref}"] = metrics.length_controlled_win_rate(
                        columns[name], columns[ref], fit["slope"]
                    )
    return rows


def mean_se(values: list[float]) -> dict:
    """Mean, standard error of the mean (None for one value) and the values."""
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None
    return {"mean": statistics.fmean(values), "se": se, "n": len(values), "values": values}


def aggregate(per_seed: dict[int, dict[str, dict]]) -> dict[str, dict]:
    """{method: {number: mean_se over the seeds that have it}} from ``seed_numbers`` of every seed."""
    result = {}
    for rows in per_seed.values():
        for name, numbers in rows.items():
            for key, value in numbers.items():
                if value is not None:
                    result.setdefault(name, {}).setdefault(key, []).append(value)
    return {name: {key: mean_se(values) for key, values in numbers.items()} for name, numbers in result.items()}


def interval(values: list[float]) -> tuple[float, float, float, float | None]:
    """Mean, the two-sided 95 % t interval of the mean (the mean itself for one value) and the s.e."""
    stats = mean_se(values)
    t = T975[len(values) - 2] if len(values) - 1 <= len(T975) else 1.96
    half = 0.0 if stats["se"] is None else t * stats["se"]
    return stats["mean"], stats["mean"] - half, stats["mean"] + half, stats["se"]


def verdict(low: float, high: float, seeds: int, holds_if, fails_if) -> str:
    """ "holds" when the whole 95 % interval satisfies the claim, "does not hold" when the whole interval
    contradicts it, else "within noise"; with one seed there is no interval: "one seed, no verdict"."""
    if seeds < 2:
        return "one seed, no verdict"
    return "holds" if holds_if(low, high) else "does not hold" if fails_if(low, high) else "within noise"


def claim_verdicts(per_seed: dict[int, dict[str, dict]]) -> list[dict]:
    """Each of the paper's claims, judged on the per-seed paired differences (a − b) of each number of
    ``CLAIM_METRICS``: "holds" when the 95 % t interval of the mean difference is above 0, "does not hold" when it is
    below 0, else "within noise" (for a "≥" claim, within noise does not contradict it). Then NEAT's perplexity
    ratio to SFT's against ``PPL_BOUND``. Claims whose methods were not run are left out."""
    out = []
    for a, relation, b in CLAIMS:
        for metric in CLAIM_METRICS:
            diffs = [
                rows[a][metric] - rows[b][metric]
                for rows in per_seed.values()
                if a in rows and b in rows and rows[a].get(metric) is not None and rows[b].get(metric) is not None
            ]
            if not diffs:
                continue
            mean, low, high, se = interval(diffs)
            out.append(
                {
                    "claim": f"{a} {relation} {b}",
                    "metric": metric,
                    "difference": mean,
                    "se": se,
                    "ci95": [low, high],
                    "seeds": len(diffs),
                    "verdict": verdict(low, high, len(diffs), lambda lo, hi: lo > 0, lambda lo, hi: hi < 0),
                }
            )
    ratios = [
        rows["neat"]["ppl_vs_sft"]
        for rows in per_seed.values()
        if "neat" in rows and rows["neat"].get("ppl_vs_sft") is not None
    ]
    if ratios:
        mean, low, high, se = interval(ratios)
        out.append(
            {
                "claim": f"neat perplexity <= {PPL_BOUND} x sft",
                "metric": "ppl_vs_sft",
                "ratio": mean,
                "se": se,
                "ci95": [low, high],
                "seeds": len(ratios),
                "verdict": verdict(
                    low, high, len(ratios), lambda lo, hi: hi <= PPL_BOUND, lambda lo, hi: lo > PPL_BOUND
                ),
            }
        )
    return out


def overall(verdicts: list[dict]) -> dict[str, str]:
    """One word per claim: the verdict its metrics agree on, else "mixed" with each metric's."""
    by_claim: dict[str, dict[str, str]] = {}
    for v in verdicts:
        by_claim.setdefault(v["claim"], {})[v["metric"]] = v["verdict"]
    return {
        claim: next(iter(set(vs.values())))
        if len(set(vs.values())) == 1
        else "mixed (" + ", ".join(f"{m}: {w}" for m, w in vs.items()) + ")"
        for claim, vs in by_claim.items()
    }


# --- putting it together ---------------------------------------------------------------------------------------------


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def read_answers(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def collect(a: argparse.Namespace, stages: list[Stage]) -> dict:
    out = Path(a.out).resolve()
    methods = list(all_methods(a))
    per_seed, separation = {}, {}
    for seed in a.seeds:
        root = out / f"seed-{seed}"
        paths = {"base": out / "eval" / "base.json", **{m: root / "eval" / f"{m}.json" for m in methods}}
        evals = {name: read_json(path) for name, path in paths.items()}
        answers = {name: read_answers(path.with_suffix(".responses.jsonl")) for name, path in paths.items()}
        per_seed[seed] = seed_numbers(evals, answers)
        for m in methods:
            results = [read_json(root / "adapters" / m / round_name(r) / "result.json") for r in range(1, a.rounds + 1)]
            per_seed[seed][m].update(
                train_steps=sum(x["steps"] for x in results),
                train_response_tokens=sum(x["response_tokens"] for x in results),
                train_seconds=sum(x["seconds_this_session"] for x in results),
            )
            if method_prompts(a, m):
                separation.setdefault(m, {})[seed] = {
                    r: {
                        k: eff.get(k)
                        for k in (
                            "pos_gt_neg_share",
                            "pos_gt_neg_share_judge",
                            "mean_reward",
                            "mean_reward_judge",
                            "fluency",
                            "warning",
                        )
                    }
                    for r in range(1, a.rounds + 1)
                    for eff in [load_manifest(root / "data" / m / round_name(r))["extra"]["efficacy"]]
                }
    times = read_json(out / "stages.json") if (out / "stages.json").is_file() else {}
    wanted = {s.name for s in stages}
    parts = {"shared": 0.0, **{f"seed {s}": 0.0 for s in a.seeds}}
    for name, t in times.items():
        if name in wanted:
            key = next((p for p in parts if name.startswith(p + " ")), "shared")
            parts[key] += t["seconds"]
    verdicts = claim_verdicts(per_seed)
    return {
        "command": " ".join(sys.argv),
        "settings": vars(a),
        "methods": {
            m: {"samples": method_prompts(a, m) or "none (round 0 only)", "train_flags": f}
            for m, f in all_methods(a).items()
        },
        "sampling": {m: sampling_args(a, p) for m in methods if (p := method_prompts(a, m))},
        "eval_queries": evals["base"]["n"],
        "chosen_mean_reward": {
            "rm": evals["base"]["chosen_mean_reward"],
            "judge": (evals["base"].get("judge") or {}).get("chosen_mean_reward"),
        },
        "rows": aggregate(per_seed),
        "per_seed": per_seed,
        "verdicts": verdicts,
        "overall": overall(verdicts),
        "separation": separation,
        "stage_seconds": {n: t for n, t in times.items() if n in wanted},
        "seconds_by_part": {k: round(v, 1) for k, v in parts.items()},
        "machine": machine_info("float32"),
    }


def fmt(stat: dict | None, digits: int = 3) -> str:
    if not stat:
        return "–"
    se = "" if stat["se"] is None else f" ± {stat['se']:.{digits}f}"
    return f"{stat['mean']:.{digits}f}{se}"


def markdown(result: dict) -> str:
    rows = result["rows"]
    lines = [
        f"Mean ± s.e. over {len(result['per_seed'])} seeds; {result['eval_queries']} held-out queries. "
        "LC = length-controlled (at the base policy's mean length).",
        "",
        "| method | RM reward | judge reward | judge LC reward | RM LC reward | mean tokens | perplexity | "
        "ppl / SFT | distinct-2 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {fmt(r.get('rm_reward'))} | {fmt(r.get('judge_reward'))} | "
            f"{fmt(r.get('judge_lc_reward'))} | {fmt(r.get('rm_lc_reward'))} | {fmt(r.get('mean_tokens'), 1)} "
            f"| {fmt(r.get('perplexity'), 2)} | {fmt(r.get('ppl_vs_sft'))} | {fmt(r.get('distinct_2'))} |"
        )
    lines += [
        "",
        "Win rates (share of queries whose answer the reward model prefers; ties ½; LC = at matched length):",
        "",
        "| method | "
        + " | ".join(f"vs {ref}: {by}" for ref in REFERENCES for by in ("RM", "RM LC", "judge", "judge LC"))
        + " |",
        "|---|" + "---|" * 4 * len(REFERENCES),
    ]
    for name, r in rows.items():
        cells = [fmt(r.get(f"win_{by}_vs_{ref}")) for ref in REFERENCES for by in ("rm", "rm_lc", "judge", "judge_lc")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "The paper's claims (per-seed differences a − b; 95 % t interval over seeds):",
        "",
        "| claim | number | difference (or ratio) ± s.e. | 95 % interval | verdict |",
        "|---|---|---|---|---|",
    ]
    for v in result["verdicts"]:
        value = f"{v['difference']:+.3f}" if "difference" in v else f"{v['ratio']:.3f}"
        se = "" if v["se"] is None else f" ± {v['se']:.3f}"
        lines.append(
            f"| {v['claim']} | {v['metric']} | {value}{se} | [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}] | "
            f"{v['verdict']} |"
        )
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    """Held-out rewards (RM, judge, judge at matched length) and mean answer length per method, mean ± s.e."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["rows"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    for i, (key, label) in enumerate(
        [("rm_reward", "training RM"), ("judge_reward", "judge"), ("judge_lc_reward", "judge, length-controlled")]
    ):
        stats = [result["rows"][n].get(key) for n in names]
        if all(s is None for s in stats):
            continue
        xs = [j + (i - 1) * 0.2 for j, s in enumerate(stats) if s]
        left.errorbar(
            xs,
            [s["mean"] for s in stats if s],
            yerr=[s["se"] or 0 for s in stats if s],
            fmt="o",
            capsize=3,
            label=label,
        )
    left.set_xticks(range(len(names)), names)
    left.set_ylabel(f"reward on {result['eval_queries']} held-out queries")
    left.legend()
    lengths = [result["rows"][n]["mean_tokens"] for n in names]
    right.bar(range(len(names)), [s["mean"] for s in lengths], yerr=[s["se"] or 0 for s in lengths], capsize=3)
    right.set_xticks(range(len(names)), names)
    right.set_ylabel("mean answer length (tokens)")
    fig.suptitle(f"mean ± s.e. over {len(result['per_seed'])} seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(a: argparse.Namespace) -> dict:
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    stages = plan(a)
    run_stages(stages, out / "stages.json")
    result = collect(a, stages)
    atomic_write_json(out / "results.json", result)
    (out / "table.md").write_text(markdown(result))
    plot(result, out / "table2.png")
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default=str(REAL_HH), help="HH-RLHF file (default: the shared dev sample)")
    p.add_argument("--out", default=str(ROOT / "data" / "experiments" / "table2"))
    p.add_argument("--policy", default="default")
    p.add_argument("--rm", default="default", help="the training reward model (ranks every round)")
    p.add_argument("--judge", default="default-judge", help="an independent RM scoring the evaluation ('' = none)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument(
        "--rows",
        type=int,
        default=160,
        help="first N dataset rows scored for round 0 (train on their train-split queries)",
    )
    p.add_argument("--test-queries", type=int, default=128, help="held-out queries evaluated")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--variants", nargs="*", default=[], help="extra NEAT runs, e.g. neat-ul:penalty=unlikelihood")
    p.add_argument("--steps", type=int, default=32, help="optimizer steps per method and round (the same for all)")
    p.add_argument("--batch-size", type=int, default=4, help="queries per step")
    p.add_argument("--learning-rate", type=float, default=3e-4)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--beta", type=float, default=0.1)
    p.add_argument("--max-length", type=int, default=320)
    p.add_argument("--max-response-length", type=int, default=96)
    p.add_argument("--save-steps", type=int, default=16, help="training checkpoints (resume inside a stage)")
    g = p.add_argument_group("sampling (defaults: neat generate's)")
    g.add_argument("--negative-prompt", default="paper-negative")
    g.add_argument("--positive-prompt", default="paper-positive")
    for name in ("placement", "temperature", "negative_guidance", "guidance_reference", "negative_prefill"):
        default = GENERATE_DEFAULTS[name]
        g.add_argument(
            f"--{name.replace('_', '-')}",
            default=default,
            type=type(default) if isinstance(default, (int, float)) else str,
        )
    g.add_argument("--sample-max-new-tokens", type=int, default=64)
    g.add_argument("--gen-batch-size", type=int, default=16)
    e = p.add_argument_group("evaluation")
    e.add_argument("--max-new-tokens", type=int, default=64, help="per answer (greedy)")
    e.add_argument("--eval-batch-size", type=int, default=16)
    return p


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)  # the stages' output
    result = run(parser().parse_args())
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

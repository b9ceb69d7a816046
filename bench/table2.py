"""Small-scale reproduction of the paper's Table 2: SFT, DPO, RRHF, NEAT and NEAT-PP from one base policy.

    .venv/bin/python bench/table2.py --dataset ../shared/data/hh-rlhf/harmless-base-dev.jsonl.gz \
        --out data/experiments/table2

Every method starts from the same base (``--policy``, SmolLM2-135M-Instruct by default), trains a LoRA adapter
(r=16, α=16) for the same number of optimizer steps on the same queries (the train-split queries among the first
``--rows`` HH-RLHF rows; ``neat_data.hh.split_of`` is the fixed, seed-free split every stage uses), with the
same RM ranking the responses, and is evaluated on the first ``--test-queries`` held-out (test-split) queries,
which no method trained on. Data per method:

* ``sft``, ``dpo`` — round 0: the dataset's chosen and rejected replies, ranked by the RM (SFT imitates the
  best, DPO prefers the best over the worst);
* ``rrhf`` — round 0 + one plain sample of the base policy per query (``--prompts plain``), rank loss + SFT;
* ``neat`` — round 0 + one negative-prompt sample per query, the NEAT loss;
* ``neat-pp`` — round 0 + one negative- and one positive-prompt sample per query, the NEAT loss;
* ``--variants`` adds NEAT runs with other settings on the ``neat`` data (e.g. the unlikelihood penalty).

The experiment is one round (sample with the base policy, score, rank, train); the paper iterates. Every stage
is the project's own ``neat`` command run as a child process; a stage whose output exists is reused, so an
interrupted run continues where it stopped. Writes ``OUT/results.json`` (every number and the time of every
stage), ``OUT/table.md`` and ``OUT/reward_curve.png`` and prints the JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._machine import REAL_HH, machine_info  # noqa: E402
from neat_data.shards import is_round_dir, load_manifest  # noqa: E402


#: method -> (prompts sampled for its data, or None for round 0 alone; extra `neat train` flags)
METHODS: dict[str, tuple[str | None, list[str]]] = {
    "sft": (None, ["--loss", "sft"]),
    "dpo": (None, ["--loss", "dpo", "--beta", "0.1"]),
    "rrhf": ("plain", ["--loss", "rrhf"]),
    "neat": ("negative", ["--loss", "neat"]),
    "neat-pp": ("negative,positive", ["--loss", "neat"]),
}
BASELINES = ("sft", "dpo", "rrhf")


def stage(args: list[str], timings: dict, name: str, capture: bool = False) -> str:
    argv = [sys.executable, "-m", "flows.cli", *args]
    print(f"[table2] {name}: {' '.join(args)}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE if capture else None, text=True)
    if proc.returncode != 0:
        sys.exit(f"[table2] stage {name} failed (exit {proc.returncode}): {' '.join(argv)}")
    timings[name] = round(time.perf_counter() - start, 1)
    return proc.stdout or ""


def parse_variants(specs: list[str]) -> dict[str, tuple[str, list[str]]]:
    """``name:flag=value,flag=value`` → a NEAT run on the negative-prompt data with those `neat train` flags."""
    variants = {}
    for spec in specs:
        name, _, flags = spec.partition(":")
        extra = ["--loss", "neat"]
        for kv in filter(None, flags.split(",")):
            key, _, value = kv.partition("=")
            extra += [f"--{key.replace('_', '-')}", value]
        variants[name] = ("negative", extra)
    return variants


def stderr_of_mean(values: list[float]) -> float:
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")


def run(a: argparse.Namespace) -> dict:
    out = Path(a.out).resolve()
    data, adapters, evals = out / "data", out / "adapters", out / "eval"
    timings: dict[str, float] = {}
    started = time.perf_counter()

    round0 = data / "round0" / "round-000"
    if not is_round_dir(round0):
        stage(["score", "--dataset", a.dataset, "--rm", a.rm, "--out", str(round0.parent), "--limit", str(a.rows)],
              timings, "score round 0")

    methods = {**METHODS, **parse_variants(a.variants)}
    methods = {m: methods[m] for m in a.methods + [v.partition(":")[0] for v in a.variants]}
    shards = {}
    for prompts in sorted({p for p, _ in methods.values() if p}):
        root = data / prompts.replace(",", "+")
        if not is_round_dir(root / "round-001"):
            stage(["generate", "--from", str(round0), "--out", str(root), "--policy", a.policy, "--rm", a.rm,
                   "--prompts", prompts, "--max-new-tokens", str(a.max_new_tokens), "--seed", str(a.seed),
                   "--batch-size", str(a.gen_batch_size)], timings, f"generate {prompts}")
        shards[prompts] = root / "round-001"

    common = ["--policy", a.policy, "--max-steps", str(a.steps), "--batch-size", str(a.batch_size),
              "--learning-rate", str(a.learning_rate), "--seed", str(a.seed), "--max-length", str(a.max_length),
              "--max-response-length", str(a.max_response_length), "--alpha", str(a.alpha)]
    for name, (prompts, extra) in methods.items():
        target = adapters / name
        if not (target / "result.json").is_file():
            beta = [] if "--beta" in extra else ["--beta", str(a.beta)]
            stage(["train", "--shards", str(shards[prompts] if prompts else round0), "--out", str(target),
                   *common, *beta, *extra], timings, f"train {name}")

    reports = {}
    for name in ["base", *methods]:
        path = evals / f"{name}.json"
        if not path.is_file():
            adapter = [] if name == "base" else ["--adapter", str(adapters / name)]
            stage(["eval", "--policy", a.policy, *adapter, "--dataset", a.dataset, "--rm", a.rm,
                   "--limit", str(a.test_queries), "--max-new-tokens", str(a.max_new_tokens), "--out", str(path),
                   "--responses-out", str(evals / f"{name}.responses.jsonl")], timings, f"eval {name}")
        reports[name] = json.loads(path.read_text())

    rewards = {name: [json.loads(ln)["reward"] for ln in (evals / f"{name}.responses.jsonl").open()]
               for name in reports}
    from neat_train.metrics import win_rate

    rows = {}
    for name, rep in reports.items():
        trained = {} if name == "base" else json.loads((adapters / name / "result.json").read_text())
        rows[name] = {
            "mean_reward": rep["mean_reward"],
            "reward_sem": stderr_of_mean(rewards[name]),
            "reward_std": rep["reward_std"],
            "perplexity": rep["perplexity"],
            "ppl_vs_sft": rep["perplexity"] / reports["sft"]["perplexity"] if "sft" in reports else None,
            "mean_tokens": rep["length"]["mean_tokens"],
            "hit_max_new_tokens": rep["length"]["hit_max_new_tokens"],
            "distinct_2": rep["distinct_2"],
            "train_steps": trained.get("steps"),
            "train_response_tokens": trained.get("response_tokens"),
            "train_seconds": trained.get("seconds_this_session"),
        }
    wins = {}
    for name in ("neat", "neat-pp"):
        if name in rewards:
            wins[name] = {other: win_rate(rewards[name], rewards[other])["win_rate"]
                          for other in ["base", *BASELINES, "neat"] if other in rewards and other != name}
    result = {
        "command": " ".join(sys.argv),
        "settings": vars(a),
        "methods": {name: {"data": prompts or "round 0", "train_flags": extra} for name, (prompts, extra) in
                    methods.items()},
        "chosen_mean_reward": reports["base"]["chosen_mean_reward"],
        "eval_queries": reports["base"]["n"],
        "rows": rows,
        "win_rate": wins,
        "efficacy": {p: load_manifest(s)["extra"]["efficacy"] for p, s in shards.items()},
        "seconds": timings,
        "total_seconds_this_session": round(time.perf_counter() - started, 1),
        "machine": machine_info("float32"),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=2))
    (out / "table.md").write_text(markdown_table(result))
    plot(result, out / "reward_curve.png", adapters)
    return result


def markdown_table(result: dict) -> str:
    lines = ["| method | data | mean RM reward ± s.e. | perplexity (chosen) | ppl / SFT | NEAT win rate vs it | "
             "mean length (tokens) | distinct-2 |", "|---|---|---|---|---|---|---|---|"]
    for name, r in result["rows"].items():
        data = "–" if name == "base" else result["methods"][name]["data"]
        win = result["win_rate"].get("neat", {}).get(name)
        ratio = f"{r['ppl_vs_sft']:.3f}" if r["ppl_vs_sft"] is not None else "–"
        lines.append(f"| {name} | {data} | {r['mean_reward']:.3f} ± {r['reward_sem']:.3f} | {r['perplexity']:.2f} | "
                     f"{ratio} | {'–' if win is None else f'{win:.3f}'} | {r['mean_tokens']:.1f} | "
                     f"{r['distinct_2']:.3f} |")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path, adapters: Path) -> None:
    """Held-out reward ± s.e. per method (base = before training) and each method's training-loss curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["rows"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    means = [result["rows"][n]["mean_reward"] for n in names]
    sems = [result["rows"][n]["reward_sem"] for n in names]
    left.errorbar(range(len(names)), means, yerr=sems, fmt="o", capsize=4)
    left.axhline(result["chosen_mean_reward"], linestyle="--", color="gray", label="dataset chosen")
    left.set_xticks(range(len(names)), names)
    left.set_ylabel(f"RM reward on {result['eval_queries']} held-out queries")
    left.legend()
    for name in names[1:]:
        log = [json.loads(ln) for ln in (adapters / name / "train_log.jsonl").open()]
        right.plot([e["step"] for e in log], [e["loss_sft"] for e in log], label=name)
    right.set_xlabel("step")
    right.set_ylabel("L_sft (NLL of the best response)")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default=str(REAL_HH), help="HH-RLHF file (default: the shared dev sample)")
    p.add_argument("--out", default=str(ROOT / "data" / "experiments" / "table2"))
    p.add_argument("--policy", default="default")
    p.add_argument("--rm", default="default")
    p.add_argument("--rows", type=int, default=160, help="first N dataset rows scored for round 0 (train on their "
                                                         "train-split queries)")
    p.add_argument("--test-queries", type=int, default=64, help="held-out queries evaluated")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--variants", nargs="*", default=[], help="extra NEAT runs, e.g. neat-ul:penalty=unlikelihood")
    p.add_argument("--steps", type=int, default=32, help="optimizer steps per method (the same for all)")
    p.add_argument("--batch-size", type=int, default=4, help="queries per step")
    p.add_argument("--learning-rate", type=float, default=3e-4)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--beta", type=float, default=0.1)
    p.add_argument("--max-new-tokens", type=int, default=64, help="sampling and evaluation")
    p.add_argument("--gen-batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=320)
    p.add_argument("--max-response-length", type=int, default=96)
    p.add_argument("--seed", type=int, default=0)
    result = run(p.parse_args())
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

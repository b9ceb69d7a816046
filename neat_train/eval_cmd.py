"""Evaluate a policy on held-out HH-RLHF queries: RM reward, perplexity, win rate, length and distinct-2, a
length-controlled reward, and a second (judge) reward model.

    neat eval --policy default --adapter runs/x/adapters/round-001 --dataset hh.jsonl.gz --rm default --json

The queries are the project-wide test split (``neat_data.hh.split_of(query_id) == "test"``), never trained
on by ``neat train``; ``--limit`` takes the first N of them. The policy answers each (greedy by default,
``--temperature`` > 0 samples); the reward model scores the answers (mean ± std) and the dataset's chosen
responses (``chosen_mean_reward``, a reference level). Perplexity is that of the dataset's chosen responses
under the policy (query tokens excluded, as in training). With ``--baseline-policy`` (and
``--baseline-adapter``) or ``--baseline-responses FILE`` (the ``--responses-out`` of an earlier eval), the RM
judges policy vs baseline per query: ``win_rate``. Answer lengths are counted in tokens of the policy's
tokenizer (``mean_tokens``); the length-controlled reward removes the part of the reward that a line fitted on
reward ~ length explains (``metrics.length_controlled``), against the baseline's answers or else the chosen
replies. ``--judge RM`` scores everything again with a reward model the loop never trained on (``judge``).
``--json`` prints one JSON object on stdout (everything else goes to stderr). ``--plot PNG --plot-from
FILE...`` draws curves across rounds from a run's report.json or eval JSON files (and loss curves from
train_log.jsonl files) and needs no model.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from neat_data.atomic import atomic_write_json, atomic_write_jsonl
from neat_data.errors import AtLeast1, NeatError, check_fields

from . import metrics


@dataclass
class Config:
    policy: str = field(default="default", metadata={"help": "HF causal LM id or path; 'default' = embedded SmolLM2"})
    adapter: str | None = field(default=None, metadata={"help": "LoRA adapter of the policy (peft dir)"})
    dataset: str | None = field(default=None, metadata={"help": "HH-RLHF hub id or local .jsonl/.jsonl.gz/.parquet"})
    split: str = field(
        default="train", metadata={"help": "split of a hub dataset (the held-out split is then applied)"}
    )
    rm: str = field(default="default", metadata={"help": "reward model id or path; 'default' = the embedded RM"})
    judge: str | None = field(
        default=None,
        metadata={
            "help": "a second reward model, never trained on, that scores the same answers (reported under 'judge'); "
            "'default-judge' = the embedded judge"
        },
    )
    json: bool = field(default=False, metadata={"help": "print the report as one JSON object on stdout"})
    out: str | None = field(default=None, metadata={"help": "also write the JSON report to this file"})
    limit: AtLeast1 = field(default=64, metadata={"help": "evaluate the first N held-out (test split) queries"})
    temperature: float = field(default=0.0, metadata={"help": "0 = greedy; > 0 samples"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus cut when sampling"})
    max_new_tokens: AtLeast1 = field(default=128, metadata={"help": "maximum tokens per response"})
    seed: int = field(default=0, metadata={"help": "sampling seed"})
    batch_size: AtLeast1 = field(
        default=8, metadata={"help": "conversations per generate batch, sequences per NLL batch"}
    )
    rm_batch_size: AtLeast1 = field(default=16, metadata={"help": "responses per reward-model batch"})
    max_length: AtLeast1 = field(
        default=1024, metadata={"help": "tokens per perplexity sequence (query cut from the left)"}
    )
    backend: str = field(default="transformers", metadata={"help": "generation backend: transformers | vllm"})
    dtype: str = field(default="float32", metadata={"help": "model dtype: float32 | bfloat16 | float16"})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda | cuda:N"})
    chat_template: str | None = field(
        default=None, metadata={"help": "'chatml' or a Jinja file for template-less policies"}
    )
    baseline_policy: str | None = field(default=None, metadata={"help": "judge win rate against this policy's answers"})
    baseline_adapter: str | None = field(default=None, metadata={"help": "LoRA adapter of the baseline policy"})
    baseline_responses: str | None = field(default=None, metadata={"help": "JSONL {query_id, response}: the baseline"})
    responses_out: str | None = field(
        default=None,
        metadata={"help": "write the policy's answers here (JSONL: query_id, response, tokens, reward, judge_reward)"},
    )
    plot: str | None = field(default=None, metadata={"help": "write reward/loss curves to this PNG (with --plot-from)"})
    plot_from: list[str] = field(
        default_factory=list, metadata={"help": "a run's report.json or eval JSON files, and/or train_log.jsonl files"}
    )

    def __post_init__(self):
        if self.plot:
            if not self.plot_from:
                raise NeatError("--plot needs --plot-from FILE... (report.json, eval JSON or train_log.jsonl files)")
            return
        if not self.dataset:
            raise NeatError("--dataset is required (the HH-RLHF file or hub id whose test split is evaluated)")
        check_fields(self)
        if self.baseline_policy and self.baseline_responses:
            raise NeatError("give either --baseline-policy or --baseline-responses, not both")
        if self.baseline_adapter and not self.baseline_policy:
            raise NeatError("--baseline-adapter needs --baseline-policy (the base model of that adapter)")


def heldout_queries(config: Config) -> list:
    """The first ``limit`` distinct held-out queries (one Pair each: messages and the dataset's chosen reply)."""
    from neat_data.hh import load_hh, split_of

    result = load_hh(config.dataset, split=config.split)
    seen, pairs = set(), []
    for p in result.pairs:
        if split_of(p.query_id) == "test" and p.query_id not in seen:
            seen.add(p.query_id)
            pairs.append(p)
    if not pairs:
        raise NeatError(f"{config.dataset}: no query of the held-out test split (split_of == 'test'); use more rows")
    return pairs[: config.limit]


def generate(config: Config, policy: str, adapter: str | None, pairs: list) -> list:
    from tqdm import tqdm

    from neat_data.generation import SamplingConfig, make_backend

    sampling = SamplingConfig(config.temperature, config.top_p, config.max_new_tokens, 1, config.seed)
    name = f"{Path(policy).name}@{Path(adapter).name if adapter else 'base'}"
    with (
        make_backend(
            config.backend,
            policy,
            adapter=adapter,
            dtype=config.dtype,
            device=config.device,
            batch_size=config.batch_size,
            chat_template=config.chat_template,
        ) as backend,
        tqdm(total=len(pairs), unit="query", desc=f"answering ({name})", file=sys.stderr) as bar,
    ):
        gens = backend.generate([p.messages for p in pairs], sampling, on_batch=lambda done, _: bar.update(done))
    return [g[0] for g in gens]


def count_tokens(policy: str, *groups: list[str]) -> list[list[int]]:
    """Length of each text of each group in tokens of the policy's tokenizer (no special tokens): the one length
    measure of every answer compared (the policy's, the baseline's, the dataset's chosen replies)."""
    from transformers import AutoTokenizer

    from neat_data.models import resolve_policy

    tokenizer = AutoTokenizer.from_pretrained(resolve_policy(policy))
    return [[len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]] for texts in groups]


def read_answers(path: str | Path, what: str = "--baseline-responses") -> list[dict]:
    """The rows of a ``--responses-out`` file (``query_id`` and ``response`` at least)."""
    try:
        rows = [json.loads(ln) for ln in Path(path).read_text().splitlines() if ln.strip()]
        for row in rows:
            if not isinstance(row["query_id"], str) or not isinstance(row["response"], str):
                raise TypeError(f"non-string query_id or response in {row!r:.80}")
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise NeatError(f"{what} {path}: expected JSONL lines {{query_id, response, ...}} ({e})") from e
    return rows


def read_baseline(path: str, pairs: list) -> list[str]:
    rows = {r["query_id"]: r["response"] for r in read_answers(path)}
    missing = [p.query_id for p in pairs if p.query_id not in rows]
    if missing:
        raise NeatError(
            f"--baseline-responses {path}: no response for {len(missing)} evaluated queries (e.g. {missing[0]}); "
            "write it with the same --dataset and --limit (neat eval --responses-out)"
        )
    return [rows[p.query_id] for p in pairs]


def chosen_perplexity(config: Config, pairs: list) -> dict:
    """Perplexity of the dataset's chosen replies under the policy, tokenised exactly as in training."""
    import torch

    from neat_data.generation.base import resolve_chat_template
    from neat_data.models import load_policy

    from .data import ResponseCollator, tokenize_example
    from .losses import token_logprobs

    model, tokenizer = load_policy(config.policy, dtype=config.dtype, device=config.device, adapter=config.adapter)
    template = resolve_chat_template(tokenizer, config.chat_template, config.policy)
    collate = ResponseCollator(tokenizer.pad_token_id)
    features = [
        tokenize_example(
            {"query_id": p.query_id, "messages": p.messages, "texts": [p.chosen], "rewards": [0.0]},
            tokenizer,
            template,
            "best",
            config.max_length,
            config.max_length // 2,
        )
        for p in pairs
    ]
    features.sort(key=lambda f: len(f["prompt"]) + len(f["responses"][0]))  # batches of similar length pad little
    nll, tokens = 0.0, 0
    device = next(model.parameters()).device
    with torch.inference_mode():
        for start in range(0, len(features), config.batch_size):
            batch = collate(features[start : start + config.batch_size])
            ids, attention = batch["input_ids"].to(device), batch["attention_mask"].to(device)
            logits = model(input_ids=ids, attention_mask=attention).logits
            logp, _ = token_logprobs(logits, ids, batch["loss_mask"].to(device))
            nll -= logp.sum().item()
            tokens += logp.numel()
    return {"perplexity": metrics.perplexity(nll, tokens), "perplexity_tokens": tokens}


def reward_fields(scorer, pairs: list, answers: tuple, chosen: tuple, baseline: tuple | None) -> tuple[dict, list]:
    """The numbers one reward model gives (the training RM's at the top level of the report, the judge's under
    ``judge``) and its rewards of the policy's answers. ``answers``, ``chosen`` (the dataset's chosen replies) and
    ``baseline`` are (texts, tokens) aligned with ``pairs``. The length control compares the policy's answers with
    the baseline's when given, else with the chosen replies (``metrics.length_controlled``)."""

    def score(texts: list[str]) -> list[float]:
        return scorer.score([(p.messages, t) for p, t in zip(pairs, texts)])

    rewards, chosen_rewards = score(answers[0]), score(chosen[0])
    mean, std = metrics.mean_std(rewards)
    fields = {"mean_reward": mean, "reward_std": std, "chosen_mean_reward": metrics.mean_std(chosen_rewards)[0]}
    reference, name = (chosen_rewards, chosen[1]), "dataset chosen replies"
    if baseline is not None:
        reference, name = (score(baseline[0]), baseline[1]), "baseline"
        fields["baseline_mean_reward"] = metrics.mean_std(reference[0])[0]
        fields.update(metrics.win_rate(rewards, reference[0]))
    fit = metrics.length_controlled({"policy": (rewards, answers[1]), "reference": reference}, "reference")
    fields["length_controlled_reward"] = fit["reward"]["policy"]
    fields["length_control"] = {
        "reference": name,
        **{k: fit[k] for k in ("reference_mean_tokens", "slope", "intercept")},
    }
    if baseline is not None:
        fields["length_controlled_win_rate"] = metrics.length_controlled_win_rate(
            (rewards, answers[1]), reference, fit["slope"]
        )
    return fields, rewards


def check_inputs(config: Config) -> None:
    """Refuse a missing or unusable RM, judge, baseline or output path before minutes of generation."""
    from neat_data.models import adapter_hash, resolve_policy, resolve_rm
    from neat_data.rm_loading import check_rm

    for flag, name in (("--rm", config.rm), ("--judge", config.judge)):
        if name:
            check_rm(resolve_rm(name), flag)
    if config.baseline_policy:
        resolve_policy(config.baseline_policy, "--baseline-policy")
    if config.baseline_adapter:
        adapter_hash(config.baseline_adapter)
    if config.baseline_responses and not Path(config.baseline_responses).is_file():
        raise NeatError(f"--baseline-responses {config.baseline_responses}: no such file")
    parent = Path(config.responses_out).parent if config.responses_out else None
    if parent is not None and any(p.exists() and not p.is_dir() for p in (parent, *parent.parents)):
        raise NeatError(f"--responses-out {config.responses_out}: a file is in the way of its directory")


def evaluate(config: Config) -> dict:
    from neat_data.models import resolve_rm
    from neat_data.scoring import RewardScorer

    check_inputs(config)
    pairs = heldout_queries(config)
    gens = generate(config, config.policy, config.adapter, pairs)
    texts = [g.text for g in gens]
    baseline = None
    if config.baseline_responses:
        baseline = read_baseline(config.baseline_responses, pairs)
    elif config.baseline_policy:
        baseline = [g.text for g in generate(config, config.baseline_policy, config.baseline_adapter, pairs)]
    chosen_texts = [p.chosen for p in pairs]
    lengths = count_tokens(config.policy, texts, chosen_texts, *([baseline] if baseline is not None else []))
    answers, chosen = (texts, lengths[0]), (chosen_texts, lengths[1])
    if baseline is not None:
        baseline = (baseline, lengths[2])
    rm_path = resolve_rm(config.rm)
    scorer = RewardScorer(rm_path, device=config.device, batch_size=config.rm_batch_size)
    fields, rewards = reward_fields(scorer, pairs, answers, chosen, baseline)
    report = {
        "n": len(pairs),
        **fields,
        "mean_tokens": metrics.mean_std(answers[1])[0],
        **chosen_perplexity(config, pairs),
        "distinct_1": metrics.distinct_n(texts, 1),
        "distinct_2": metrics.distinct_n(texts, 2),
        "length": metrics.length_stats([g.n_tokens for g in gens], [g.finish_reason for g in gens], texts),
        "policy": config.policy,
        "adapter": config.adapter,
        "rm": config.rm,
        "rm_fingerprint": scorer.fingerprint,
        "dataset": config.dataset,
        "sampling": {k: getattr(config, k) for k in ("temperature", "top_p", "max_new_tokens", "seed")},
    }
    if baseline is not None:
        report["baseline"] = (
            config.baseline_responses or f"{config.baseline_policy}@{config.baseline_adapter or 'base'}"
        )
    judge_rewards = [None] * len(pairs)
    if config.judge:
        judge_path = resolve_rm(config.judge)
        judge = (
            scorer
            if judge_path == rm_path
            else RewardScorer(judge_path, device=config.device, batch_size=config.rm_batch_size, flag="--judge")
        )
        same = judge.fingerprint == scorer.fingerprint
        if same:
            print(
                f"WARNING: --judge {config.judge} is the training RM --rm {config.rm} (same weights): its rewards "
                "cannot detect reward hacking; judge with a reward model the loop never trained on",
                file=sys.stderr,
            )
        judge_fields, judge_rewards = reward_fields(judge, pairs, answers, chosen, baseline)
        report["judge"] = {"rm": config.judge, "rm_fingerprint": judge.fingerprint, "same_as_rm": same, **judge_fields}
    if config.responses_out:
        atomic_write_jsonl(
            config.responses_out,
            [
                {"query_id": p.query_id, "response": t, "tokens": n, "reward": r, "judge_reward": j}
                for p, t, n, r, j in zip(pairs, texts, answers[1], rewards, judge_rewards)
            ],
        )
    return report


def run(config: Config) -> int:
    if config.plot:
        from .plots import plot_curves

        print(f"wrote {plot_curves(config.plot_from, config.plot)}", file=sys.stderr)
        return 0
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the JSON report
        report = evaluate(config)
    if config.out:
        atomic_write_json(config.out, report)
    if config.json:
        print(json.dumps(report, sort_keys=True))
        return 0
    line = (
        f"n={report['n']}  reward {report['mean_reward']:.4f} ± {report['reward_std']:.4f} (dataset chosen "
        f"{report['chosen_mean_reward']:.4f})  perplexity {report['perplexity']:.3f}  distinct-2 "
        f"{report['distinct_2']:.3f}  mean length {report['mean_tokens']:.1f} tokens  length-controlled reward "
        f"{report['length_controlled_reward']:.4f}"
    )
    if "win_rate" in report:
        line += (
            f"  win rate vs {report['baseline']} {report['win_rate']:.3f} (at matched length "
            f"{report['length_controlled_win_rate']:.3f})"
        )
    if "judge" in report:
        judge = report["judge"]
        line += (
            f"\njudge {judge['rm']}: reward {judge['mean_reward']:.4f} ± {judge['reward_std']:.4f} (dataset chosen "
            f"{judge['chosen_mean_reward']:.4f})  length-controlled {judge['length_controlled_reward']:.4f}"
        )
        if "win_rate" in judge:
            line += f"  win rate {judge['win_rate']:.3f} (at matched length {judge['length_controlled_win_rate']:.3f})"
    print(line)
    return 0

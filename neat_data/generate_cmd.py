"""Sample positive/negative prompted responses from the policy, score them, merge and re-rank: write round N.

Reads round N-1 (verified), samples ``--n`` responses per query under each prompt of ``--prompts`` (the prompt
is used only to sample; the shard keeps the plain query), scores the new responses with the reward model,
merges them with the previous round's responses (exact duplicates dropped, counted), re-ranks, and writes
OUT/round-NNN shard by shard. An interrupted run resumes: re-running the same command skips finished shards.

The manifest's ``extra`` records the policy, adapter hash, prompts, sampling parameters, the RM fingerprint,
truncation counts and the negative-prompt efficacy report; a loud warning is printed (and flagged in the
manifest) when the negative prompt does not lower reward, because NEAT's penalty term then has no signal.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .atomic import atomic_write_json
from .errors import NeatDataError
from .generation.base import BACKENDS, SamplingConfig, make_backend
from .prompts import DEFAULT_PLACEMENT, PLACEMENTS, apply_prompt, select_prompts
from .ranking import make_response, merge_responses
from .shards import RoundWriter, load_manifest, read_round, round_dir
from .stats import summarize

STATS_FILE = ".generate-shard-{:05d}.json"  # per-shard accounting, kept for resume, removed on commit


@dataclass
class Config:
    from_round: str = field(metadata={"aliases": ["--from"], "help": "the previous round directory (round N-1)"})
    round: int | None = field(default=None, metadata={"help": "index of the round to write (default: previous + 1)"})
    out: str | None = field(default=None, metadata={"help": "data root; writes OUT/round-NNN (default: beside --from)"})
    policy: str = field(default="default", metadata={"help": "HF causal LM id or path; 'default' = embedded SmolLM2"})
    adapter: str | None = field(default=None, metadata={"help": "LoRA adapter of round N-1 (peft dir); none in round 1"})
    prompts: str = field(default="negative,positive", metadata={"help": "comma-separated prompt ids to sample with"})
    prompt_file: str | None = field(default=None, metadata={"help": "YAML/JSON file with more prompts {id, kind, text}"})
    placement: str = field(default=DEFAULT_PLACEMENT, metadata={"help": f"where the prompt goes: {' | '.join(PLACEMENTS)}"})
    rm: str = field(default="default", metadata={"help": "reward model id or path; 'default' = the embedded RM"})
    backend: str = field(default="transformers", metadata={"help": f"generation backend: {' | '.join(BACKENDS)}"})
    n: int = field(default=1, metadata={"help": "responses sampled per query and prompt"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature (paper: 1.0)"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling cut (1.0 = off)"})
    max_new_tokens: int = field(default=128, metadata={"help": "maximum tokens per sampled response"})
    seed: int = field(default=0, metadata={"help": "sampling seed (same seed, inputs and settings: same samples)"})
    limit: int | None = field(default=None, metadata={"help": "use only the first N queries of the previous round"})
    batch_size: int = field(default=16, metadata={"help": "conversations per generate batch (transformers backend)"})
    rm_batch_size: int = field(default=16, metadata={"help": "responses per reward-model batch"})
    rows_per_shard: int = field(default=256, metadata={"help": "queries per output shard (the unit of resume)"})
    dtype: str = field(default="float32", metadata={"help": "model dtype: float32 | bfloat16 | float16"})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda | cuda:N"})
    chat_template: str | None = field(
        default=None, metadata={"help": "for a policy without a chat template: 'chatml' or a Jinja template file"}
    )
    tensor_parallel_size: int = field(default=1, metadata={"help": "GPUs per model (vllm backend)"})

    def __post_init__(self):
        if self.round is not None and self.round < 1:
            raise NeatDataError(f"--round must be >= 1 (round 0 is the dataset: neat load / neat score), got {self.round}")
        if self.placement not in PLACEMENTS:
            raise NeatDataError(f"--placement must be one of {', '.join(PLACEMENTS)}, got {self.placement!r}")
        if self.backend not in BACKENDS:
            raise NeatDataError(f"--backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        for name in ("limit",):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise NeatDataError(f"--{name} must be >= 1, got {getattr(self, name)}")
        for name in ("batch_size", "rm_batch_size", "rows_per_shard", "tensor_parallel_size"):
            if getattr(self, name) < 1:
                raise NeatDataError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        self.sampling()  # validates temperature, top_p, max_new_tokens, n
        select_prompts(self.prompts, self.prompt_file)  # validates the prompt set

    def sampling(self) -> SamplingConfig:
        return SamplingConfig(self.temperature, self.top_p, self.max_new_tokens, self.n, self.seed)


def efficacy_report(view_rows: list[dict]) -> dict:
    """Does the negative prompt lower reward? Computed over the dataset and the newly sampled responses.

    The reference is the positive-prompt responses when sampled, else the dataset's chosen responses. The negative
    prompt fails when its mean reward is not below the reference's, or when the best positive response beats the
    best negative one on no more than half of the queries (``pos_gt_neg_share`` <= 0.5).
    """
    s = summarize(view_rows)
    mean = {src: st["mean"] for src, st in s["reward"].items()}
    reference = "positive_prompt" if "positive_prompt" in mean else "dataset_chosen"
    problems = []
    if "negative_prompt" in mean and reference in mean and mean["negative_prompt"] >= mean[reference]:
        problems.append(
            f"mean reward of negative-prompt responses ({mean['negative_prompt']:.4f}) is not below that of "
            f"{reference} responses ({mean[reference]:.4f})"
        )
    if s["pos_gt_neg_share"] is not None and s["pos_gt_neg_share"] <= 0.5:
        problems.append(
            f"the positive response outscores the negative one on only {s['pos_gt_neg_share']:.1%} of "
            f"{s['pos_neg_queries']} queries (<= 50%)"
        )
    judged = "negative_prompt" in mean and reference in mean
    return {
        "mean_reward": mean,
        "reward": s["reward"],
        "reference": reference if judged else None,
        "pos_gt_neg_share": s["pos_gt_neg_share"],
        "pos_neg_queries": s["pos_neg_queries"],
        "negative_lowers_reward": (not problems) if judged else None,
        "warning": "; ".join(problems) or None,
    }


def warn_loudly(report: dict) -> None:
    bar = "!" * 100
    print(
        f"\n{bar}\nWARNING: the negative prompt does NOT lower reward: {report['warning']}.\n"
        "NEAT's penalty term has no signal with these responses. Check the prompts and --placement, use a larger "
        "policy or a better reward model (see docs/generation.md); this is flagged in the manifest "
        f"(extra.efficacy.warning).\n{bar}\n",
        file=sys.stderr,
    )


def _previous_round(config: Config) -> tuple[Path, dict, list[dict], int]:
    prev_dir = Path(config.from_round)
    rows = read_round(prev_dir)  # verifies every shard against the manifest
    manifest = load_manifest(prev_dir)
    index = config.round if config.round is not None else manifest["round"] + 1
    if index != manifest["round"] + 1:
        raise NeatDataError(
            f"--round {index} must follow the --from round ({prev_dir} is round {manifest['round']}); "
            f"pass --round {manifest['round'] + 1} or the right --from directory"
        )
    if not rows:
        raise NeatDataError(f"{prev_dir}: the previous round has no queries")
    return prev_dir, manifest, rows[: config.limit] if config.limit else rows, index


def _carried_responses(rows: list[dict], prev_manifest: dict, rm_fingerprint: str) -> tuple[list[dict], bool]:
    """Previous responses keep their rewards only if the same RM scored them; otherwise they are re-scored."""
    scored = any(r["reward"] is not None for row in rows for r in row["responses"])
    prev_rm = (prev_manifest.get("extra") or {}).get("rm", {}).get("fingerprint")
    if not scored or prev_rm == rm_fingerprint:
        return rows, False
    cleared = [{**row, "responses": [{**r, "reward": None, "rank": None} for r in row["responses"]]} for row in rows]
    return cleared, True


def _generate_shard(part, prompts, config, backend, scorer, on_batch) -> tuple[list[dict], dict]:
    from .scoring import score_rows

    sampling = config.sampling()
    record = sampling.as_record(config.placement)
    conversations = [apply_prompt(row["messages"], p, config.placement) for row in part for p in prompts]
    truncated_before, rm_truncated_before = backend.stats["truncated"], scorer.truncated
    started = time.perf_counter()
    outputs = backend.generate(conversations, sampling, on_batch=on_batch)
    seconds = time.perf_counter() - started
    finish, tokens, empty, duplicates = Counter(), 0, 0, 0
    rows, new_per_row = [], []
    for qi, row in enumerate(part):
        new = []
        for pi, prompt in enumerate(prompts):
            for g in outputs[qi * len(prompts) + pi]:
                finish[g.finish_reason] += 1
                tokens += g.n_tokens
                empty += not g.text
                new.append(
                    make_response(
                        g.text,
                        prompt.source,
                        generator=backend.generator,
                        prompt_id=prompt.prompt_id,
                        sampling=record,
                        finish_reason=g.finish_reason,
                    )
                )
        merged, dropped = merge_responses(row["responses"], new)
        duplicates += dropped
        rows.append({**row, "responses": merged})
        new_per_row.append(new)
    score_rows(rows, scorer)
    view = []  # dataset responses + every new sample with its reward: what the efficacy report looks at
    for row, new in zip(rows, new_per_row):
        reward = {r["response_id"]: r["reward"] for r in row["responses"]}
        view.append(
            {
                "responses": [
                    {"source": r["source"], "reward": r["reward"]}
                    for r in row["responses"]
                    if r["source"].startswith("dataset")
                ]
                + [{"source": r["source"], "reward": reward[r["response_id"]]} for r in new]
            }
        )
    stats = {
        "queries": len(part),
        "samples": sum(len(n) for n in new_per_row),
        "finish_reasons": dict(finish),
        "empty_responses": empty,
        "duplicates_dropped": duplicates,
        "tokens": tokens,
        "seconds": seconds,
        "prompts_truncated": backend.stats["truncated"] - truncated_before,
        "rm_truncated": scorer.truncated - rm_truncated_before,
        "view": view,
    }
    return rows, stats


def _sum_stats(stats: list[dict]) -> dict:
    finish = Counter()
    for s in stats:
        finish.update(s["finish_reasons"])
    total = {k: sum(s[k] for s in stats) for k in ("queries", "samples", "empty_responses", "duplicates_dropped",
                                                    "tokens", "seconds", "prompts_truncated", "rm_truncated")}
    total["finish_reasons"] = dict(finish)
    total["tokens_per_s"] = total["tokens"] / total["seconds"] if total["seconds"] else None
    return total


def run(config: Config) -> int:
    from tqdm import tqdm

    from .models import adapter_hash, resolve_policy, resolve_rm
    from .scoring import RewardScorer

    prompts = select_prompts(config.prompts, config.prompt_file)
    prev_dir, prev_manifest, prev_rows, index = _previous_round(config)
    out_root = Path(config.out) if config.out else prev_dir.parent
    directory = round_dir(out_root, index)
    inputs = {
        "from": {"dir": str(prev_dir.resolve()), "round": prev_manifest["round"],
                 "config_fingerprint": prev_manifest["config_fingerprint"]},
        "adapter_hash": adapter_hash(config.adapter) if config.adapter else None,
    }
    resolve_policy(config.policy)  # a missing local policy fails here, before the round is claimed
    scorer = RewardScorer(resolve_rm(config.rm), device=config.device, dtype=config.dtype,
                          batch_size=config.rm_batch_size)
    writer = RoundWriter(directory, index, config=asdict(config), inputs=inputs)  # refuses finished rounds
    rows, rescored_previous = _carried_responses(prev_rows, prev_manifest, scorer.fingerprint)
    backend_kwargs = {"chat_template": config.chat_template}
    if config.backend == "vllm":
        backend_kwargs["tensor_parallel_size"] = config.tensor_parallel_size
    backend = make_backend(config.backend, config.policy, adapter=config.adapter, dtype=config.dtype,
                           device=config.device, batch_size=config.batch_size, **backend_kwargs)
    shards = [rows[i : i + config.rows_per_shard] for i in range(0, len(rows), config.rows_per_shard)]
    bar = tqdm(total=len(rows) * len(prompts), unit="conv", desc=f"round {index}", file=sys.stderr)
    progress = {"tokens": 0, "start": time.perf_counter()}

    def on_batch(conversations: int, tokens: int) -> None:
        progress["tokens"] += tokens
        bar.update(conversations)
        bar.set_postfix(tok_s=f"{progress['tokens'] / (time.perf_counter() - progress['start']):.1f}")

    stats, resumed = [], 0
    try:
        for i, part in enumerate(shards):
            stats_path = directory / STATS_FILE.format(i)
            if writer.has_shard(i):
                if not stats_path.is_file():
                    raise NeatDataError(f"{directory}: {writer.shard_path(i).name} exists without its "
                                        f"{stats_path.name}; delete {directory} and run again")
                stats.append(json.loads(stats_path.read_text()))
                resumed += 1
                bar.update(len(part) * len(prompts))
                continue
            new_rows, shard_stats = _generate_shard(part, prompts, config, backend, scorer, on_batch)
            atomic_write_json(stats_path, shard_stats)  # before the shard: a written shard always has its stats
            writer.write_shard(i, new_rows)
            stats.append(shard_stats)
    finally:
        bar.close()
        backend.close()

    efficacy = efficacy_report([v for s in stats for v in s["view"]])
    totals = _sum_stats(stats)
    extra = {
        "generate": {
            "policy": config.policy,
            "adapter": config.adapter,
            "adapter_hash": inputs["adapter_hash"],
            "generator": backend.generator,
            "backend": config.backend,
            "prompts": [p.as_record() for p in prompts],
            "placement": config.placement,
            "sampling": {**config.sampling().as_record(config.placement), "n": config.n},
            "context_tokens": backend.stats["context"],
            "shards_resumed": resumed,
            **totals,
        },
        "rm": {"name": config.rm, "fingerprint": scorer.fingerprint, "truncated": totals["rm_truncated"],
               "rescored_previous_responses": rescored_previous},
        "truncation": {"prompts_truncated": totals["prompts_truncated"], "prompts": totals["queries"] * len(prompts),
                       "rm_truncated": totals["rm_truncated"]},
        "efficacy": efficacy,
    }
    writer.commit(extra)
    for i in range(len(shards)):
        (directory / STATS_FILE.format(i)).unlink(missing_ok=True)

    mean = efficacy["mean_reward"]
    print(
        f"round {index}: {len(rows)} queries, {totals['samples']} new responses "
        f"({totals['duplicates_dropped']} duplicates dropped, {totals['empty_responses']} empty), "
        f"finish {totals['finish_reasons']}, {totals['prompts_truncated']} prompts left-truncated"
    )
    print("mean reward: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(mean.items()))
          + (f"; pos_gt_neg_share {efficacy['pos_gt_neg_share']:.3f}" if efficacy["pos_gt_neg_share"] is not None else ""))
    if efficacy["warning"]:
        warn_loudly(efficacy)
    print(f"wrote {directory}")
    return 0

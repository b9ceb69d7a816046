"""Sample positive/negative prompted responses from the policy, score them, merge and re-rank: write round N.

Reads round N-1 (verified), samples ``--n`` responses per query under each prompt of ``--prompts`` (the prompt
is used only to sample; the shard keeps the plain query), scores the new responses with the reward model,
merges them with the previous round's responses (exact duplicates dropped, counted), re-ranks, and writes
OUT/round-NNN shard by shard. An interrupted run resumes: re-running the same command skips finished shards.

Negative-prompt samples can be guided (``--negative-guidance W``: sample from logits_neg + W·(logits_neg −
logits_ref), the reference being the positive prompt or the plain query, with the same generated prefix) and made
to start with a given text (``--negative-prefill``). Every sample has its own seed, derived from ``--seed``, the
round, the query, the prompt and the sample index (``generation.base.sample_seed``).

The manifest's ``extra`` records the policy, adapter hash, prompts, sampling parameters, the RM fingerprint,
truncation counts and the separation report of the round's samples (``extra.efficacy``: mean reward per source,
best-positive > best-negative share by the RM and by ``--judge``, the base policy's fluency per source); a loud
warning is printed (and flagged in the manifest) when the negative prompt does not lower reward or its samples are
not fluent, because NEAT's penalty term then has no useful signal.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from .errors import AtLeast1, Count, NeatError, NonNegative, check_fields
from .generation.base import BACKENDS, Request, SamplingConfig, make_backend, sample_seed
from .parts import Part, agreed, in_round_order, parts_provenance, shard_rows
from .prompts import BUILTIN_PROMPTS, DEFAULT_PLACEMENT, DEFAULT_PROMPTS, PLACEMENTS, apply_prompt, select_prompts
from .ranking import make_response, merge_responses
from .shards import RoundCommitted, RoundWriter, load_manifest, read_round, round_dir
from .stats import format_separation, separation_report

GUIDANCE_REFERENCES = ("positive", "plain")


@dataclass
class Config:
    from_round: str = field(metadata={"aliases": ["--from"], "help": "the previous round directory (round N-1)"})
    round: AtLeast1 | None = field(
        default=None, metadata={"help": "index of the round to write (default: previous + 1; round 0 is the dataset)"}
    )
    out: str | None = field(default=None, metadata={"help": "data root; writes OUT/round-NNN (default: beside --from)"})
    policy: str = field(default="default", metadata={"help": "HF causal LM id or path; 'default' = embedded SmolLM2"})
    adapter: str | None = field(
        default=None, metadata={"help": "LoRA adapter of round N-1 (peft dir); none in round 1"}
    )
    prompts: str = field(default=DEFAULT_PROMPTS, metadata={"help": "comma-separated prompt ids to sample with"})
    prompt_file: str | None = field(
        default=None, metadata={"help": "YAML/JSON file with more prompts {id, kind, text}"}
    )
    placement: Literal[PLACEMENTS] = field(
        default=DEFAULT_PLACEMENT, metadata={"help": f"where the prompt goes: {' | '.join(PLACEMENTS)}"}
    )
    negative_guidance: NonNegative = field(
        default=0.0,
        metadata={"help": "W: sample negatives from logits_neg + W*(logits_neg - logits_ref) (0 = off; transformers)"},
    )
    guidance_reference: str = field(
        default="positive",
        metadata={
            "help": f"context of logits_ref: {' | '.join(GUIDANCE_REFERENCES)} (the positive prompt of --prompts, "
            "or the plain query), or the id of a positive prompt, sampled or not (NEAT: negatives only)"
        },
    )
    negative_prefill: str | None = field(
        default=None, metadata={"help": "negative responses start with this text (stored with the response)"}
    )
    rm: str = field(default="default", metadata={"help": "reward model id or path; 'default' = the embedded RM"})
    fluency_queries: Count = field(
        default=64,
        metadata={
            "help": "queries per shard (the first N) whose new responses get a base-policy fluency score; 0 = none"
        },
    )
    judge: str | None = field(
        default=None, metadata={"help": "a second, independent RM (e.g. default-judge) for the separation report only"}
    )
    backend: Literal[BACKENDS] = field(
        default="transformers", metadata={"help": f"generation backend: {' | '.join(BACKENDS)}"}
    )
    n: int = field(default=1, metadata={"help": "responses sampled per query and prompt"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature (paper: 1.0)"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling cut (1.0 = off)"})
    max_new_tokens: int = field(default=128, metadata={"help": "maximum tokens per sampled response"})
    seed: int = field(
        default=0,
        metadata={
            "help": "run seed: each response's own seed derives from it, the round, the "
            "query, the prompt and the sample index"
        },
    )
    limit: AtLeast1 | None = field(
        default=None, metadata={"help": "use only the first N queries of the previous round"}
    )
    batch_size: AtLeast1 = field(
        default=16, metadata={"help": "conversations per generate batch (transformers backend)"}
    )
    rm_batch_size: AtLeast1 = field(default=16, metadata={"help": "responses per reward-model batch"})
    rows_per_shard: AtLeast1 = field(default=256, metadata={"help": "queries per output shard (the unit of resume)"})
    dtype: str = field(default="float32", metadata={"help": "model dtype: float32 | bfloat16 | float16"})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda | cuda:N"})
    chat_template: str | None = field(
        default=None, metadata={"help": "for a policy without a chat template: 'chatml' or a Jinja template file"}
    )
    tensor_parallel_size: AtLeast1 = field(default=1, metadata={"help": "GPUs per model (vllm backend)"})
    part: str | None = field(
        default=None,
        metadata={
            "help": "I/N: write only part I of N of the round (parts may run at once, on several machines "
            "sharing --out; the last to finish commits the round; docs/scaling.md)"
        },
    )

    def __post_init__(self):
        check_fields(self)
        self.sampling()  # validates temperature, top_p, max_new_tokens, n
        self.reference_prompt()  # validates the prompt set and the guidance / prefill flags
        Part.parse(self.part)

    def sampling(self) -> SamplingConfig:
        return SamplingConfig(self.temperature, self.top_p, self.max_new_tokens, self.n, self.seed)

    def reference_prompt(self):
        """The prompt whose context gives the guidance reference logits (None without guidance)."""
        prompts = select_prompts(self.prompts, self.prompt_file)
        kinds = [p.kind for p in prompts]
        named = None if self.guidance_reference in GUIDANCE_REFERENCES else self.named_reference()
        if self.negative_prefill is not None and not self.negative_prefill.strip():
            raise NeatError("--negative-prefill is empty; pass a text or leave the flag out")
        for flag, used in (
            ("--negative-guidance", self.negative_guidance > 0),
            ("--negative-prefill", self.negative_prefill),
        ):
            if used and "negative" not in kinds:
                raise NeatError(
                    f"{flag} applies to negative-prompt samples, but --prompts {self.prompts} selects no "
                    "negative prompt; add one (e.g. paper-negative)"
                )
        if self.negative_guidance == 0:
            return None
        if self.backend == "vllm":
            from .generation.vllm_backend import GUIDANCE_UNSUPPORTED

            raise NeatError(GUIDANCE_UNSUPPORTED)
        if self.guidance_reference == "plain":
            return BUILTIN_PROMPTS["plain"]
        if named:
            return named
        positives = [p for p in prompts if p.kind == "positive"]
        if len(positives) != 1:
            raise NeatError(
                f"--guidance-reference positive needs exactly one positive prompt in --prompts (got "
                f"{', '.join(p.prompt_id for p in positives) or 'none'} in {self.prompts}); add one, e.g. "
                "--prompts paper-negative,paper-positive, name the reference (--guidance-reference paper-positive) or "
                "use --guidance-reference plain"
            )
        return positives[0]

    def named_reference(self):
        """The positive prompt that ``--guidance-reference`` names by id: a reference for negatives only, so NEAT
        (negative prompt alone) can be guided against the same context as NEAT-PP's positive samples."""
        try:
            [prompt] = select_prompts(self.guidance_reference, self.prompt_file)
        except (NeatError, ValueError):
            prompt = None
        if prompt is None or prompt.kind != "positive":
            raise NeatError(
                f"--guidance-reference must be one of {', '.join(GUIDANCE_REFERENCES)} or the id of a "
                f"positive prompt (e.g. paper-positive), got {self.guidance_reference!r}"
            )
        return prompt

    def record(self, prompt) -> dict:
        """The ``sampling`` struct of the responses sampled under ``prompt``."""
        negative = prompt.kind == "negative"
        return self.sampling().as_record(
            self.placement,
            guidance=self.negative_guidance if negative else None,
            guidance_reference=self.guidance_reference if negative and self.negative_guidance > 0 else None,
            prefill=self.negative_prefill.strip() if negative and self.negative_prefill else None,
        )


def warn_loudly(report: dict) -> None:
    bar = "!" * 100
    print(
        f"\n{bar}\nWARNING: the negative prompt gives NEAT no usable signal: {report['warning']}.\n"
        "NEAT's penalty term needs negatives that are worse but fluent. Check the prompts, --placement and "
        "--negative-guidance, use a larger policy or a better reward model (see docs/generation.md); this is flagged "
        f"in the manifest (extra.efficacy.warning).\n{bar}\n",
        file=sys.stderr,
    )


def _previous_round(config: Config) -> tuple[Path, dict, list[dict], int]:
    prev_dir = Path(config.from_round)
    rows = read_round(prev_dir)  # verifies every shard against the manifest
    manifest = load_manifest(prev_dir)
    index = config.round if config.round is not None else manifest["round"] + 1
    if index != manifest["round"] + 1:
        raise NeatError(
            f"--round {index} must follow the --from round ({prev_dir} is round {manifest['round']}); "
            f"pass --round {manifest['round'] + 1} or the right --from directory"
        )
    if not rows:
        raise NeatError(f"{prev_dir}: the previous round has no queries")
    return prev_dir, manifest, rows[: config.limit] if config.limit else rows, index


def _carried_responses(rows: list[dict], prev_manifest: dict, rm_fingerprint: str) -> tuple[list[dict], bool]:
    """Previous responses keep their rewards only if the same RM scored them; otherwise they are re-scored."""
    scored = any(r["reward"] is not None for row in rows for r in row["responses"])
    prev_rm = (prev_manifest.get("extra") or {}).get("rm", {}).get("fingerprint")
    if not scored or prev_rm == rm_fingerprint:
        return rows, False
    cleared = [{**row, "responses": [{**r, "reward": None, "rank": None} for r in row["responses"]]} for row in rows]
    return cleared, True


def _generate_shard(shard, prompts, index, config, backend, scorer, judge, on_batch) -> tuple[list[dict], dict]:
    from .scoring import score_rows

    sampling = config.sampling()
    reference, w = config.reference_prompt(), config.negative_guidance
    records = {p.prompt_id: config.record(p) for p in prompts}
    requests = []
    for row in shard:
        for p in prompts:
            negative = p.kind == "negative"
            guided = negative and w > 0
            requests.append(
                Request(
                    apply_prompt(row["messages"], p, config.placement),
                    seeds=[sample_seed(config.seed, index, row["query_id"], p.prompt_id, j) for j in range(config.n)],
                    reference=apply_prompt(row["messages"], reference, config.placement) if guided else None,
                    guidance=w if guided else 0.0,
                    prefill=records[p.prompt_id]["prefill"],
                )
            )
    truncated_before, rm_truncated_before = backend.stats["truncated"], scorer.truncated
    started = time.perf_counter()
    outputs = backend.generate(requests, sampling, on_batch=on_batch)
    seconds = time.perf_counter() - started
    finish, tokens, empty, duplicates = Counter(), 0, 0, 0
    rows, new_per_row = [], []
    for qi, row in enumerate(shard):
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
                        sampling=records[prompt.prompt_id],
                        finish_reason=g.finish_reason,
                    )
                )
        merged, dropped = merge_responses(row["responses"], new)
        duplicates += dropped
        rows.append({**row, "responses": merged})
        new_per_row.append(new)
    score_rows(rows, scorer)
    started = time.perf_counter()
    scored = list(zip(shard, new_per_row))[: config.fluency_queries]  # a bounded sample: fluency is a mean per source
    fluency = iter(backend.fluency([(row["messages"], r["text"]) for row, new in scored for r in new]))
    fluency_seconds = time.perf_counter() - started
    view = []  # dataset responses + every new sample with its reward (and fluency, judge): the separation report's
    for row, new in zip(rows, new_per_row):
        reward = {r["response_id"]: r["reward"] for r in row["responses"]}
        responses = [
            {"source": r["source"], "reward": r["reward"], "text": r["text"]}
            for r in row["responses"]
            if r["source"].startswith("dataset")
        ]
        responses += [  # fluency: None past the first fluency_queries rows
            {
                "source": r["source"],
                "reward": reward[r["response_id"]],
                "text": r["text"],
                "fluency": next(fluency, None),
            }
            for r in new
        ]
        view.append({"messages": row["messages"], "responses": responses})
    if judge is not None:
        items = [(v["messages"], r["text"]) for v in view for r in v["responses"]]
        scores = iter(judge.score(items))
        for v in view:
            for r in v["responses"]:
                r["judge"] = next(scores)
    for v in view:  # the stats file keeps only what the report needs
        del v["messages"]
        for r in v["responses"]:
            del r["text"]
    stats = {
        "queries": len(shard),
        "samples": sum(len(n) for n in new_per_row),
        "finish_reasons": dict(finish),
        "empty_responses": empty,
        "duplicates_dropped": duplicates,
        "tokens": tokens,
        "seconds": seconds,
        "fluency_seconds": fluency_seconds,
        "prompts_truncated": backend.stats["truncated"] - truncated_before,
        "rm_truncated": scorer.truncated - rm_truncated_before,
        "view": view,
    }
    return rows, stats


def _sum_stats(stats: list[dict]) -> dict:
    finish = Counter()
    for s in stats:
        finish.update(s["finish_reasons"])
    counts = "queries samples empty_responses duplicates_dropped tokens seconds fluency_seconds prompts_truncated"
    total = {k: sum(s[k] for s in stats) for k in [*counts.split(), "rm_truncated"]}
    total["finish_reasons"] = dict(finish)
    total["tokens_per_s"] = total["tokens"] / total["seconds"] if total["seconds"] else None
    return total


def run(config: Config) -> int:
    from tqdm import tqdm

    from .models import adapter_hash, resolve_policy, resolve_rm
    from .scoring import RewardScorer

    part = Part.parse(config.part)
    prompts = select_prompts(config.prompts, config.prompt_file)
    prev_dir, prev_manifest, prev_rows, index = _previous_round(config)
    out_root = Path(config.out) if config.out else prev_dir.parent
    directory = round_dir(out_root, index)
    inputs = {
        "from": {
            "dir": str(prev_dir.resolve()),
            "round": prev_manifest["round"],
            "config_fingerprint": prev_manifest["config_fingerprint"],
        },
        "adapter_hash": adapter_hash(config.adapter) if config.adapter else None,
    }
    resolve_policy(config.policy)  # a missing local policy fails here, before the round is claimed
    scorer = RewardScorer(
        resolve_rm(config.rm), device=config.device, dtype=config.dtype, batch_size=config.rm_batch_size
    )
    judge = None
    if config.judge:
        judge = RewardScorer(
            resolve_rm(config.judge),
            device=config.device,
            dtype=config.dtype,
            batch_size=config.rm_batch_size,
            flag="--judge",
        )
    round_config = {k: v for k, v in asdict(config).items() if k != "part"}  # every part writes the same round
    try:
        writer = RoundWriter(directory, index, config=round_config, inputs=inputs, part=part)  # refuses finished rounds
    except RoundCommitted as e:
        print(f"note: {e}")
        return 0
    rows, rescored_previous = _carried_responses(in_round_order(prev_rows), prev_manifest, scorer.fingerprint)
    shards = shard_rows(rows, config.rows_per_shard)
    mine = part.shards(len(shards)) if part else range(len(shards))
    backend = None
    bar = tqdm(
        total=sum(len(shards[i]) for i in mine) * len(prompts),
        unit="conv",
        desc=f"round {index}" + (f" part {part}" if part else ""),
        file=sys.stderr,
    )
    progress = {"tokens": 0, "start": time.perf_counter()}

    def on_batch(conversations: int, tokens: int) -> None:
        progress["tokens"] += tokens
        bar.update(conversations)
        bar.set_postfix(tok_s=f"{progress['tokens'] / (time.perf_counter() - progress['start']):.1f}")

    resumed, started = 0, time.perf_counter()
    try:
        for i in mine:
            if writer.has_shard(i):
                writer.shard_stats(i)  # written with the shard, or the round is refused
                resumed += 1
                bar.update(len(shards[i]) * len(prompts))
                continue
            if backend is None:  # only a part with something left to sample loads the policy
                backend_kwargs = {"chat_template": config.chat_template}
                if config.backend == "vllm":
                    backend_kwargs["tensor_parallel_size"] = config.tensor_parallel_size
                backend = make_backend(
                    config.backend,
                    config.policy,
                    adapter=config.adapter,
                    dtype=config.dtype,
                    device=config.device,
                    batch_size=config.batch_size,
                    **backend_kwargs,
                )
            new_rows, shard_stats = _generate_shard(shards[i], prompts, index, config, backend, scorer, judge, on_batch)
            writer.write_shard(
                i,
                new_rows,
                {
                    **shard_stats,
                    "generator": backend.generator,
                    "context_tokens": backend.stats["context"],
                    "rm_fingerprint": scorer.fingerprint,
                    "judge_fingerprint": judge.fingerprint if judge else None,
                },
            )
    finally:
        bar.close()
        if backend is not None:
            backend.close()

    def extra(parts: list[dict]) -> dict:
        stats = [writer.shard_stats(i) for i in range(len(shards))]
        provenance = agreed(stats, ("generator", "context_tokens", "rm_fingerprint", "judge_fingerprint"))
        totals = _sum_stats(stats)
        return {
            "generate": {
                "policy": config.policy,
                "adapter": config.adapter,
                "adapter_hash": inputs["adapter_hash"],
                "generator": provenance["generator"],
                "backend": config.backend,
                "prompts": [p.as_record() for p in prompts],
                "placement": config.placement,
                "sampling": {
                    **config.sampling().as_record(config.placement),
                    "n": config.n,
                    "negative_guidance": config.negative_guidance,
                    "guidance_reference": config.guidance_reference if config.negative_guidance > 0 else None,
                    "negative_prefill": config.negative_prefill,
                },
                "context_tokens": provenance["context_tokens"],
                "shards_resumed": sum(p["shards_resumed"] for p in parts),
                **totals,
            },
            "rm": {
                "name": config.rm,
                "fingerprint": provenance["rm_fingerprint"],
                "truncated": totals["rm_truncated"],
                "rescored_previous_responses": rescored_previous,
            },
            "judge": {"name": config.judge, "fingerprint": provenance["judge_fingerprint"]} if judge else None,
            "truncation": {
                "prompts_truncated": totals["prompts_truncated"],
                "prompts": totals["queries"] * len(prompts),
                "rm_truncated": totals["rm_truncated"],
            },
            "efficacy": separation_report([v for s in stats for v in s["view"]], judged=bool(config.judge)),
            "parts": parts_provenance(parts, len(shards)),
        }

    manifest = writer.finish(
        list(mine),
        [r["query_id"] for r in rows],
        extra,
        record={"shards_resumed": resumed, "seconds": time.perf_counter() - started},
    )
    if manifest is None:
        print(
            f"round {index} part {part}: {len(mine)} shard(s) written to {directory}; the round is committed by the "
            f"last part to finish (waiting for part(s) {', '.join(writer.missing_parts) or 'being committed'})"
        )
        return 0
    gen, efficacy = manifest["extra"]["generate"], manifest["extra"]["efficacy"]
    print(
        f"round {index}: {len(rows)} queries, {gen['samples']} new responses "
        f"({gen['duplicates_dropped']} duplicates dropped, {gen['empty_responses']} empty), "
        f"finish {gen['finish_reasons']}, {gen['prompts_truncated']} prompts left-truncated; "
        f"{gen['tokens_per_s'] or 0:.1f} tokens/s, fluency pass {gen['fluency_seconds']:.1f} s"
        + (f"; committed by part {part}" if part else "")
    )
    print(format_separation(efficacy))
    if efficacy["warning"]:
        warn_loudly(efficacy)
    print(f"wrote {directory}")
    return 0

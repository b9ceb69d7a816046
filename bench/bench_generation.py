"""NEAT's decoding loop against transformers' own generation paths: generated tokens/s with the same policy, the same
prompted conversations (real HH queries under the negative and positive prompts), the same sampling settings, in
the same run:

* ``single``: transformers' own ``generate``, one prompt at a time (the baseline the target is set against);
* ``single_loop``: the backend's decoding loop, one prompt at a time (what batching alone adds);
* ``batched``: the backend (NEAT's loop) with ``--batch-size`` prompts per batch;
* ``batched_generate``: transformers ``generate`` on the same left-padded batches, with its own sampler;
* ``batched_fallback``: the backend's library path on the same batches: ``generate`` picking tokens with NEAT's
  per-sample-seeded sampler (what the backend runs for models its loop cannot pre-fill);
* ``generate_batch``: transformers' continuous batching (``model.generate_batch``, paged KV cache), all prompts at
  once, at most ``--batch-size`` requests per step (its sampler has one seed for all requests).

    .venv/bin/python bench/bench_generation.py [--hh PATH] [--queries 16] [--batch-size 32] [--max-new-tokens 128]
        [--skip-single]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402
from _machine import REAL_HH, machine_info  # noqa: E402

from neat_data.generation import SamplingConfig, make_backend  # noqa: E402
from neat_data.generation.base import render_prompts  # noqa: E402
from neat_data.hh import load_hh  # noqa: E402
from neat_data.prompts import DEFAULT_PLACEMENT, apply_prompt, select_prompts  # noqa: E402


def timed(generate, conversations, sampling, batch_size: int) -> dict:
    start = time.perf_counter()
    outputs = generate(conversations, sampling)
    seconds = time.perf_counter() - start
    tokens = sum(g.n_tokens for gens in outputs for g in gens)
    return {
        "batch_size": batch_size,
        "seconds": seconds,
        "tokens": tokens,
        "tokens_per_s": tokens / seconds,
        "finish_eos": sum(g.finish_reason == "eos" for gens in outputs for g in gens),
    }


def transformers_generate_one_at_a_time(backend):
    """transformers ``generate`` (its own sampler) on each prompt alone, with the backend's prompts and stop tokens."""

    def generate(conversations, sampling):
        ids, _ = render_prompts(backend.tokenizer, conversations, backend.template, None)
        torch.manual_seed(sampling.seed)
        with torch.inference_mode():
            return [
                [
                    backend._decode(t)
                    for t in backend.model.generate(
                        input_ids=torch.tensor([p], device=backend.device),
                        do_sample=sampling.temperature > 0,
                        temperature=sampling.temperature,
                        top_p=sampling.top_p,
                        top_k=0,
                        max_new_tokens=sampling.max_new_tokens,
                        eos_token_id=backend.stop_ids,
                        pad_token_id=backend.pad_id,
                    )[:, len(p) :].tolist()
                ]
                for p in ids
            ]

    return generate


@contextlib.contextmanager
def library_attention(backend):
    """transformers' own SDPA attention (not the backend's ragged variant) for the library's runs."""
    name = backend.model.config._attn_implementation
    backend.model.set_attn_implementation("sdpa")
    try:
        yield
    finally:
        backend.model.set_attn_implementation(name)


def library_generate_batched(backend):
    """transformers ``generate`` with its own sampler on the backend's batches (longest prompts first, left-padded)."""

    @library_attention(backend)
    def generate(conversations, sampling):
        ids, _ = render_prompts(backend.tokenizer, conversations, backend.template, None)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        out = [None] * len(ids)
        torch.manual_seed(sampling.seed)
        for start in range(0, len(order), backend.batch_size):
            chunk = order[start : start + backend.batch_size]
            width = max(len(ids[i]) for i in chunk)
            input_ids = torch.tensor([[backend.pad_id] * (width - len(ids[i])) + ids[i] for i in chunk])
            mask = torch.tensor([[0] * (width - len(ids[i])) + [1] * len(ids[i]) for i in chunk])
            with torch.inference_mode():
                tokens = backend.model.generate(
                    input_ids=input_ids.to(backend.device),
                    attention_mask=mask.to(backend.device),
                    do_sample=sampling.temperature > 0,
                    temperature=sampling.temperature,
                    top_p=sampling.top_p,
                    top_k=0,
                    max_new_tokens=sampling.max_new_tokens,
                    eos_token_id=backend.stop_ids,
                    pad_token_id=backend.pad_id,
                )
            for i, row in zip(chunk, tokens[:, width:].tolist()):
                out[i] = [backend._decode(row)]
        return out

    return generate


def library_fallback_batched(backend):
    """The backend's own library path (``generate`` + NEAT's sampler, ``_generate_with_transformers``), its batches."""
    from neat_data.generation.hf_backend import Rows

    def generate(conversations, sampling):
        rendered = backend._render(conversations_as_requests(conversations), sampling)
        order = sorted(range(len(rendered)), key=lambda i: -len(rendered[i].ids))
        out = [None] * len(rendered)
        for start in range(0, len(order), backend.batch_size):
            chunk = order[start : start + backend.batch_size]
            with torch.inference_mode():
                tokens = backend._generate_with_transformers(Rows.of([rendered[i] for i in chunk]), sampling)
            for i, row in zip(chunk, tokens):
                out[i] = [backend._decode(row)]
        return out

    return generate


def conversations_as_requests(conversations):
    from neat_data.generation.base import Request

    return [Request(c) for c in conversations]


def continuous_batching(backend, max_requests: int):
    """transformers' ``generate_batch`` (continuous batching, paged cache), sized explicitly: on CPU its automatic
    sizing reads the machine's whole memory as free and is killed for it."""
    from transformers import ContinuousBatchingConfig, GenerationConfig

    @library_attention(backend)
    def generate(conversations, sampling):
        ids, _ = render_prompts(backend.tokenizer, conversations, backend.template, None)
        page = 256
        blocks = max_requests * -(-(max(map(len, ids)) + sampling.max_new_tokens) // page) + 8
        cb = ContinuousBatchingConfig(
            page_size=page,
            num_blocks=blocks,
            max_batch_tokens=2048,
            max_requests_per_batch=max_requests,
            seed=sampling.seed,
            use_cuda_graph=False,
        )
        config = GenerationConfig(
            do_sample=sampling.temperature > 0,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=0,
            max_new_tokens=sampling.max_new_tokens,
            eos_token_id=backend.stop_ids,
            pad_token_id=backend.pad_id,
        )
        with torch.inference_mode():
            results = backend.model.generate_batch(inputs=ids, generation_config=config, continuous_batching_config=cb)
        outputs = list(results.values())
        if len(outputs) != len(ids) or any(o.error for o in outputs):
            raise RuntimeError(f"generate_batch returned {len(outputs)} of {len(ids)} requests")
        return [[backend._decode(o.generated_tokens)] for o in outputs]

    return generate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hh", default=str(REAL_HH), help="HH-RLHF file to take the queries from")
    ap.add_argument("--policy", default="default")
    ap.add_argument("--queries", type=int, default=16, help="queries; each is sampled under 2 prompts")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--placement", default=DEFAULT_PLACEMENT)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-single", action="store_true", help="skip the two one-prompt-at-a-time runs (slow)")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (on a busy shared machine 1 avoids OpenMP stalls); default: torch's",
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    pairs = load_hh(args.hh, sample=args.queries, seed=args.seed).pairs
    prompts = select_prompts("negative,positive")
    conversations = [apply_prompt(p.messages, prompt, args.placement) for p in pairs for prompt in prompts]
    sampling = SamplingConfig(temperature=1.0, top_p=1.0, max_new_tokens=args.max_new_tokens, n=1, seed=args.seed)
    backend = make_backend("transformers", args.policy, dtype=args.dtype, device=args.device, batch_size=1)
    backend.generate(conversations[:1], SamplingConfig(max_new_tokens=4))  # warm-up
    load_before = machine_info(args.dtype)["loadavg_1m"]
    runs = {}
    if not args.skip_single:
        runs["single"] = timed(transformers_generate_one_at_a_time(backend), conversations, sampling, 1)
        runs["single_loop"] = timed(backend.generate, conversations, sampling, 1)
    backend.batch_size = args.batch_size
    runs["batched"] = timed(backend.generate, conversations, sampling, args.batch_size)
    runs["batched_generate"] = timed(library_generate_batched(backend), conversations, sampling, args.batch_size)
    runs["batched_fallback"] = timed(library_fallback_batched(backend), conversations, sampling, args.batch_size)
    runs["generate_batch"] = timed(
        continuous_batching(backend, args.batch_size), conversations, sampling, args.batch_size
    )
    loop = runs["batched"]["tokens_per_s"]
    print(
        json.dumps(
            {
                "benchmark": "generation_loop_vs_library",
                "policy": args.policy,
                "generator": backend.generator,
                "conversations": len(conversations),
                "placement": args.placement,
                "sampling": sampling.as_record(args.placement),
                **runs,
                **(
                    {
                        "speedup_tokens_per_s": loop / runs["single"]["tokens_per_s"],
                        "speedup_vs_single_loop": loop / runs["single_loop"]["tokens_per_s"],
                        "target_speedup": 5.0,
                    }
                    if "single" in runs
                    else {}
                ),
                "loop_vs_library": {
                    name: loop / runs[name]["tokens_per_s"]
                    for name in ("batched_generate", "batched_fallback", "generate_batch")
                },
                "machine": {**machine_info(args.dtype), "loadavg_1m_before": load_before},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

"""Batched vs one-prompt-at-a-time generation throughput (generated tokens/s) with the transformers backend.

Three runs on the same policy, the same prompted conversations (real HH queries under the negative and positive
prompts) and the same sampling settings:

* ``single``: transformers' own ``generate``, one prompt at a time (the baseline the target is set against);
* ``single_loop``: the backend's decoding loop, one prompt at a time (what batching alone adds);
* ``batched``: the backend with ``--batch-size`` prompts per batch.

    .venv/bin/python bench/bench_generation.py [--hh PATH] [--queries 16] [--batch-size 32] [--max-new-tokens 128]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import REAL_HH, machine_info  # noqa: E402

import torch  # noqa: E402

from neat_data.generation import SamplingConfig, make_backend  # noqa: E402
from neat_data.generation.base import render_prompts  # noqa: E402
from neat_data.hh import load_hh  # noqa: E402
from neat_data.prompts import DEFAULT_PLACEMENT, apply_prompt, select_prompts  # noqa: E402


def timed(generate, conversations, sampling, batch_size: int) -> dict:
    start = time.perf_counter()
    outputs = generate(conversations, sampling)
    seconds = time.perf_counter() - start
    tokens = sum(g.n_tokens for gens in outputs for g in gens)
    return {"batch_size": batch_size, "seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds,
            "finish_eos": sum(g.finish_reason == "eos" for gens in outputs for g in gens)}


def transformers_generate_one_at_a_time(backend):
    """transformers ``generate`` (its own sampler) on each prompt alone, with the backend's prompts and stop tokens."""

    def generate(conversations, sampling):
        ids, _ = render_prompts(backend.tokenizer, conversations, backend.template, None)
        torch.manual_seed(sampling.seed)
        with torch.inference_mode():
            return [[backend._decode(t) for t in backend.model.generate(
                input_ids=torch.tensor([p], device=backend.device), do_sample=sampling.temperature > 0,
                temperature=sampling.temperature, top_p=sampling.top_p, top_k=0, max_new_tokens=sampling.max_new_tokens,
                eos_token_id=backend.stop_ids, pad_token_id=backend.pad_id)[:, len(p):].tolist()] for p in ids]

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
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (on a busy shared machine 1 avoids OpenMP stalls); default: torch's")
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
    single = timed(transformers_generate_one_at_a_time(backend), conversations, sampling, 1)
    single_loop = timed(backend.generate, conversations, sampling, 1)
    backend.batch_size = args.batch_size
    batched = timed(backend.generate, conversations, sampling, args.batch_size)
    print(json.dumps({
        "benchmark": "generation_batched_vs_single",
        "policy": args.policy,
        "generator": backend.generator,
        "conversations": len(conversations),
        "placement": args.placement,
        "sampling": sampling.as_record(args.placement),
        "single": single,
        "single_loop": single_loop,
        "batched": batched,
        "speedup_tokens_per_s": batched["tokens_per_s"] / single["tokens_per_s"],
        "speedup_vs_single_loop": batched["tokens_per_s"] / single_loop["tokens_per_s"],
        "target_speedup": 5.0,
        "machine": {**machine_info(args.dtype), "loadavg_1m_before": load_before},
    }, indent=2))


if __name__ == "__main__":
    main()

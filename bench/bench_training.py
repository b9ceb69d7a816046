"""Training benchmark: NEAT vs plain SFT throughput, peak RAM vs responses per query, fp32 vs bf16, MFU.

    .venv/bin/python bench/bench_training.py [--steps 3] [--queries-file PATH] [--max-length 192]

Prints one JSON object. The policy is SmolLM2-135M-Instruct (``resolve_policy("default")``) with the training
defaults (LoRA r=16, alpha=16 on all linear layers); the queries and response texts are real HH-RLHF rows when
the dev file is present, else synthetic text (``data_source`` says which).

* throughput: response tokens/s of one NEAT optimizer-free step (forward + backward through ``NeatTrainer``)
  vs a plain SFT step (the model's own cross-entropy over the same responses) on the very same batches.
  Both the single-pass path and the two-pass micro-batched path of NEAT are timed.
* memory: peak RSS during training steps (sampled every 5 ms in a fresh child process per setting) with 2 vs
  8 responses per query at ``--response-micro-batch 2``, and 8 responses without micro-batching for contrast.
* precision: NEAT step time in fp32 and under ``torch.autocast("cpu", bfloat16)``.
* MFU: 4·N·tokens FLOPs per step (forward 2N + backward through the activations 2N; LoRA's own weight
  gradients are negligible), N = all parameters of the base model, tokens = every non-padding token; against
  (a) the best large fp32 GEMM measured here ("measured peak") and (b) the nominal peak cores × clock × fp32
  FLOP/cycle (2 FMA units × 2 × 16 lanes with AVX-512, 8 with AVX2), with the clock /proc/cpuinfo reports (often
  the base clock, so a turbo-clocked GEMM can beat the "nominal" peak: trust (a)).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._machine import REAL_HH, machine_info  # noqa: E402


def load_texts(path: Path, n: int) -> tuple[list[tuple[list[dict], list[str]]], str]:
    """(messages, [chosen, rejected]) of ``n`` queries: real HH rows when available, else synthetic."""
    if path.is_file():
        from neat_data.hh import parse_row

        out = []
        with gzip.open(path, "rt") as f:
            for line in f:
                try:
                    messages, chosen, rejected = parse_row(json.loads(line))
                except ValueError:
                    continue
                out.append((messages, [chosen, rejected]))
                if len(out) == n:
                    return out, str(path)
    rng = random.Random(0)
    words = "the a help you can I would like to know how what why please thanks sure here is an answer".split()
    say = lambda k: " ".join(rng.choice(words) for _ in range(k))  # noqa: E731
    return [([{"role": "user", "content": say(30)}], [say(40), say(25)]) for _ in range(n)], "synthetic"


def make_batches(tokenizer, texts, k: int, n_batches: int, max_length: int, max_response: int):
    """``n_batches`` batches of one query with ``k`` responses (texts borrowed from neighbouring rows)."""
    from neat_train.data import ResponseCollator, tokenize_example

    rng = random.Random(0)
    collate = ResponseCollator(tokenizer.pad_token_id)
    batches = []
    for b in range(n_batches):
        messages = texts[b][0]
        pool = [t for _, pair in texts[b:] for t in pair]
        example = {
            "query_id": f"q{b}",
            "messages": messages,
            "texts": pool[:k],
            "rewards": [rng.uniform(-2, 2) for _ in range(k)],
        }
        feature = tokenize_example(example, tokenizer, tokenizer.chat_template, "all", max_length, max_response)
        batches.append(collate([feature]))
    return batches


def build(micro: int, loss: str = "neat"):
    """(trainer, model, tokenizer) for SmolLM2 + LoRA r=16, the training defaults."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import TrainingArguments

    from neat_data.models import load_policy
    from neat_train.losses import LossConfig
    from neat_train.trainer import NeatTrainer

    torch.manual_seed(0)
    model, tokenizer = load_policy("default", device="cpu", trainable=True)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    args = TrainingArguments(
        output_dir="/tmp/neat-bench-training", use_cpu=True, report_to=[], remove_unused_columns=False
    )
    trainer = NeatTrainer(
        model=model,
        args=args,
        train_dataset=[],
        loss_config=LossConfig(loss),
        response_micro_batch=micro,
        out_dir="/tmp/neat-bench-training",
    )
    trainer.current_gradient_accumulation_steps = 1
    return trainer, model, tokenizer


def neat_step(trainer, model, batch):
    trainer.training_step(model, dict(batch))
    model.zero_grad(set_to_none=True)


def sft_step(model, batch):
    """Plain SFT on the same responses: the model's own cross-entropy, labels -100 outside the responses."""
    labels = batch["input_ids"].masked_fill(batch["loss_mask"] == 0, -100)
    model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss.backward()
    model.zero_grad(set_to_none=True)


def timed(fn, batches) -> float:
    fn(batches[0])  # warm-up (allocator, kernels)
    start = time.perf_counter()
    for b in batches[1:]:
        fn(b)
    return time.perf_counter() - start


def tokens(batches) -> tuple[int, int]:
    """(response tokens, all non-padding tokens) of the timed batches (the first is the warm-up)."""
    resp = sum(int(b["loss_mask"][:, 1:].sum()) for b in batches[1:])
    total = sum(int(b["attention_mask"].sum()) for b in batches[1:])
    return resp, total


def peak_gemm_flops(size: int = 1536, reps: int = 5) -> float:
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def nominal_peak_flops() -> dict:
    info = Path("/proc/cpuinfo").read_text().splitlines()
    mhz = [float(ln.split(":")[1]) for ln in info if ln.startswith("cpu MHz")]
    flags = next((ln.split(":")[1].split() for ln in info if ln.startswith("flags")), [])
    per_cycle = 64 if "avx512f" in flags else 32 if "avx2" in flags else 16
    cores = os.cpu_count() or 1
    ghz = (sum(mhz) / len(mhz) / 1000) if mhz else None
    return {
        "cores": cores,
        "clock_ghz": ghz,
        "flop_per_cycle_per_core": per_cycle,
        "peak_flops": cores * ghz * 1e9 * per_cycle if ghz else None,
    }


def child_memory(k: int, micro: int, steps: int, max_length: int, max_response: int, queries_file: str) -> dict:
    """Peak RSS during ``steps`` NEAT steps with ``k`` responses per query (run in a fresh process)."""
    import psutil

    trainer, model, tokenizer = build(micro)
    texts, _ = load_texts(Path(queries_file), steps + 8)
    batches = make_batches(tokenizer, texts, k, steps, max_length, max_response)
    proc = psutil.Process()
    before = proc.memory_info().rss
    peak, stop = [before], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for b in batches:
        neat_step(trainer, model, b)
    stop.set()
    sampler.join()
    return {
        "k": k,
        "micro": micro,
        "rss_before_mb": before / 2**20,
        "peak_rss_mb": peak[0] / 2**20,
        "peak_delta_mb": (peak[0] - before) / 2**20,
        "responses_per_step": int(batches[0]["input_ids"].shape[0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per setting (after one warm-up)")
    parser.add_argument("--k", type=int, default=4, help="responses per query for the throughput comparison")
    parser.add_argument("--max-length", type=int, default=192)
    parser.add_argument("--max-response-length", type=int, default=64)
    parser.add_argument("--queries-file", default=str(REAL_HH))
    parser.add_argument("--child-memory", nargs=2, type=int, metavar=("K", "MICRO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory:
        k, micro = args.child_memory
        print(
            json.dumps(child_memory(k, micro, args.steps, args.max_length, args.max_response_length, args.queries_file))
        )
        return

    import torch

    from neat_data.models import resolve_policy

    try:
        policy = resolve_policy("default")
    except Exception as e:  # the embedded model package is missing
        print(json.dumps({"error": f"SmolLM2 default policy unavailable: {e}", "machine": machine_info()}))
        return
    texts, source = load_texts(Path(args.queries_file), args.steps + 9)
    trainer, model, tokenizer = build(micro=8)
    n_params = sum(p.numel() for p in model.get_base_model().parameters())
    batches = make_batches(tokenizer, texts, args.k, args.steps + 1, args.max_length, args.max_response_length)
    resp_tokens, all_tokens = tokens(batches)

    t_sft = timed(lambda b: sft_step(model, b), batches)
    t_neat = timed(lambda b: neat_step(trainer, model, b), batches)
    trainer.micro = 2
    t_neat_two_pass = timed(lambda b: neat_step(trainer, model, b), batches)
    trainer.micro = 8
    with torch.autocast("cpu", dtype=torch.bfloat16):
        t_neat_bf16 = timed(lambda b: neat_step(trainer, model, b), batches)

    gemm = peak_gemm_flops()
    nominal = nominal_peak_flops()
    flops = 4 * n_params * all_tokens
    steps = len(batches) - 1
    memory = []
    for k, micro in ((2, 2), (8, 2), (8, 8)):
        cmd = [
            sys.executable,
            __file__,
            "--child-memory",
            str(k),
            str(micro),
            "--steps",
            str(args.steps),
            "--max-length",
            str(args.max_length),
            "--max-response-length",
            str(args.max_response_length),
            "--queries-file",
            args.queries_file,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        memory.append(json.loads(out.strip().splitlines()[-1]))
    m2, m8, m8_single = memory
    result = {
        "benchmark": "training",
        "policy": policy,
        "n_params": n_params,
        "method": "lora r=16 alpha=16 all-linear",
        "data_source": source,
        "responses_per_query": args.k,
        "timed_steps": steps,
        "response_tokens": resp_tokens,
        "all_tokens": all_tokens,
        "throughput_response_tokens_per_s": {
            "sft_same_tokens": resp_tokens / t_sft,
            "neat_single_pass": resp_tokens / t_neat,
            "neat_two_pass_micro2": resp_tokens / t_neat_two_pass,
        },
        "neat_over_sft": t_sft / t_neat,
        "neat_two_pass_over_sft": t_sft / t_neat_two_pass,
        "target_neat_over_sft": 0.85,
        "step_seconds": {
            "sft_fp32": t_sft / steps,
            "neat_fp32": t_neat / steps,
            "neat_bf16_autocast": t_neat_bf16 / steps,
            "neat_two_pass_fp32": t_neat_two_pass / steps,
        },
        "memory": {
            "runs": memory,
            "peak_rss_ratio_k8_over_k2_micro2": m8["peak_rss_mb"] / m2["peak_rss_mb"],
            "peak_delta_ratio_k8_over_k2_micro2": m8["peak_delta_mb"] / m2["peak_delta_mb"],
            "peak_delta_ratio_k8_single_pass_over_k2": m8_single["peak_delta_mb"] / m2["peak_delta_mb"],
            "target_ratio": 1.3,
        },
        "mfu": {
            "flops_per_step": flops / steps,
            "formula": "4 * n_params * non-padding tokens",
            "measured_gemm_peak_flops": gemm,
            "nominal": nominal,
            "neat_fp32_vs_measured_peak": flops / t_neat / gemm,
            "neat_fp32_vs_nominal_peak": flops / t_neat / nominal["peak_flops"] if nominal["peak_flops"] else None,
            "sft_fp32_vs_measured_peak": flops / t_sft / gemm,
        },
        "machine": machine_info("float32"),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

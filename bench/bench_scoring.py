"""Reward scoring throughput: length-bucketed batches vs one response at a time, on the same responses.

    .venv/bin/python bench/bench_scoring.py [--responses 256] [--batch-size 32] [--rm default] [--hh PATH]

Uses real HH-RLHF pairs (chosen + rejected) when ``--hh`` exists, else synthetic dialogues. The score cache is
off, so both modes run the model; the scores of both modes are compared (they must agree to 1e-4).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import REAL_HH, machine_info  # noqa: E402

from neat_data.models import resolve_rm  # noqa: E402
from neat_data.scoring import RewardScorer, encode, rm_text  # noqa: E402


def items_from(hh: Path, n: int) -> tuple[list, str]:
    if hh.exists():
        from neat_data.hh import load_hh

        pairs = load_hh(str(hh)).pairs[: (n + 1) // 2]
        items = [(p.messages, r) for p in pairs for r in (p.chosen, p.rejected)][:n]
        return items, f"real HH-RLHF: {hh.name}"
    rng = random.Random(0)
    words = "the a model reply helpful harmless question answer please sure cannot help with that why".split()
    items = [
        (
            [{"role": "user", "content": " ".join(rng.choices(words, k=rng.randint(5, 120)))}],
            " ".join(rng.choices(words, k=rng.randint(3, 150))),
        )
        for _ in range(n)
    ]
    return items, "synthetic"


def timed(scorer: RewardScorer, items: list) -> tuple[float, list[float]]:
    started = time.perf_counter()
    scores = scorer.score(items)
    return time.perf_counter() - started, scores


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--responses", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rm", default="default")
    ap.add_argument("--hh", default=str(REAL_HH))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args()
    items, source = items_from(Path(args.hh), args.responses)
    scorer = RewardScorer(resolve_rm(args.rm), device=args.device, dtype=args.dtype, use_cache=False, progress=False)
    scorer.score(items[:8])  # warm-up
    load_before = os.getloadavg()[0]
    scorer.batch_size = 1
    per_sample_s, per_sample = timed(scorer, items)
    scorer.batch_size = args.batch_size
    bucketed_s, bucketed = timed(scorer, items)
    rows, _ = encode(scorer.tokenizer, [rm_text(scorer.tokenizer, m, r) for m, r in items], scorer.max_length)
    lengths = [len(row["input_ids"]) for row in rows]
    print(
        json.dumps(
            {
                "bench": "scoring",
                "rm": args.rm,
                "rm_fingerprint": scorer.fingerprint,
                "data": source,
                "responses": len(items),
                "mean_tokens": sum(lengths) / len(lengths),
                "max_length": scorer.max_length,
                "batch_size": args.batch_size,
                "per_sample_seconds": per_sample_s,
                "bucketed_seconds": bucketed_s,
                "per_sample_responses_per_s": len(items) / per_sample_s,
                "bucketed_responses_per_s": len(items) / bucketed_s,
                "speedup": per_sample_s / bucketed_s,
                "max_abs_score_diff": max(abs(a - b) for a, b in zip(per_sample, bucketed)),
                "loadavg_1m_before": load_before,
                "machine": machine_info(args.dtype),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

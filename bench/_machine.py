"""Machine facts every benchmark records next to its numbers, and the shared real-data sample they read."""

from __future__ import annotations

import os
import platform
from pathlib import Path

#: the 1600 real HH-RLHF pairs beside the checkout (never committed; benchmarks fall back or fail without it)
REAL_HH = Path(__file__).resolve().parents[2] / "shared" / "data" / "hh-rlhf" / "harmless-base-dev.jsonl.gz"


def machine_info(dtype: str | None = None) -> dict:
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "dtype": dtype,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "loadavg_1m": os.getloadavg()[0],
    }

"""Machine facts every benchmark records next to its numbers, and the shared real-data sample they read."""

from __future__ import annotations

import os
import platform
from pathlib import Path

#: the 1600 real HH-RLHF pairs beside the checkout (never committed; benchmarks fall back or fail without it)
REAL_HH = Path(__file__).resolve().parents[2] / "shared" / "data" / "hh-rlhf" / "harmless-base-dev.jsonl.gz"


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The CPU's model name (Linux: /proc/cpuinfo), or None where it cannot be read."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)


def machine_info(dtype: str | None = None) -> dict:
    """``cpu_capability`` is the vector ISA torch's CPU kernels use (e.g. AVX2, AVX512): float rounding, and so
    what sampling at temperature 1 draws, can differ between machines that differ in it."""
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "dtype": dtype,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "loadavg_1m": os.getloadavg()[0],
    }

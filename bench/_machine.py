"""Machine facts every benchmark records next to its numbers."""

from __future__ import annotations

import os
import platform


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

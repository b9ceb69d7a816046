"""Sampling responses from the policy: one small interface (``base``), a transformers and a vLLM backend."""

from .base import BACKENDS, Generation, GenerationBackend, SamplingConfig, make_backend

__all__ = ["BACKENDS", "Generation", "GenerationBackend", "SamplingConfig", "make_backend"]

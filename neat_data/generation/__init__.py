"""Sampling responses from the policy: one small interface (``base``), a transformers and a vLLM backend."""

from .base import BACKENDS, Generation, GenerationBackend, Request, SamplingConfig, make_backend, sample_seed

__all__ = ["BACKENDS", "Generation", "GenerationBackend", "Request", "SamplingConfig", "make_backend", "sample_seed"]

"""The default generation backend: transformers ``generate`` on CPU or CUDA.

Batched with left padding and the KV cache; conversations are sorted by length so a batch pads little.
Sampling is plain temperature / nucleus sampling (top-k off), stopping at EOS or an end-of-turn token.
The policy of round r is the base model plus the LoRA adapter of round r-1 (merged for speed).
"""

from __future__ import annotations

import torch

from .base import (
    Generation,
    GenerationBackend,
    OnBatch,
    SamplingConfig,
    batch_seed,
    context_length,
    generator_id,
    prompt_budget,
    render_prompts,
    resolve_chat_template,
    stop_token_ids,
)


class TransformersBackend(GenerationBackend):
    def __init__(
        self,
        policy: str,
        *,
        adapter: str | None = None,
        dtype: str = "float32",
        device: str = "auto",
        batch_size: int = 8,
        chat_template: str | None = None,
    ):
        from ..models import load_policy

        self.model, self.tokenizer = load_policy(policy, dtype=dtype, device=device, adapter=adapter)
        if adapter is not None and hasattr(self.model, "merge_and_unload"):
            self.model = self.model.merge_and_unload()  # plain weights generate faster than a LoRA wrapper
        self.model.eval()
        self.batch_size = batch_size
        self.template = resolve_chat_template(self.tokenizer, chat_template, policy)
        self.context = context_length(self.model.config, self.tokenizer)
        self.stop_ids = stop_token_ids(self.tokenizer, getattr(self.model, "generation_config", None))
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.stop_ids[0]
        self.generator = generator_id(policy, adapter)
        self.stats = {"prompts": 0, "truncated": 0, "context": self.context}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def generate(
        self, conversations: list[list[dict]], sampling: SamplingConfig, on_batch: OnBatch | None = None
    ) -> list[list[Generation]]:
        ids, truncated = render_prompts(
            self.tokenizer, conversations, self.template, prompt_budget(self.context, sampling.max_new_tokens)
        )
        self.stats["prompts"] += len(ids)
        self.stats["truncated"] += truncated
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # longest first: out-of-memory shows early
        results: list[list[Generation] | None] = [None] * len(ids)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            outputs = self._generate_batch([ids[i] for i in chunk], sampling)
            for i, gens in zip(chunk, outputs):
                results[i] = gens
            if on_batch is not None:
                on_batch(len(chunk), sum(g.n_tokens for gens in outputs for g in gens))
        return results

    def _generate_batch(self, prompts: list[list[int]], sampling: SamplingConfig) -> list[list[Generation]]:
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[self.pad_id] * (width - len(p)) + p for p in prompts], device=self.device)
        attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        torch.manual_seed(batch_seed(sampling.seed, prompts))
        sample = sampling.temperature > 0
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                do_sample=sample,
                temperature=sampling.temperature if sample else None,
                top_p=sampling.top_p if sample else None,
                top_k=0 if sample else None,
                max_new_tokens=sampling.max_new_tokens,
                num_return_sequences=sampling.n,
                eos_token_id=self.stop_ids,
                pad_token_id=self.pad_id,
                use_cache=True,
            )
        new_tokens = out[:, width:].tolist()
        gens = [self._decode(tokens) for tokens in new_tokens]
        return [gens[i * sampling.n : (i + 1) * sampling.n] for i in range(len(prompts))]

    def _decode(self, tokens: list[int]) -> Generation:
        stops = set(self.stop_ids)
        end = next((k for k, t in enumerate(tokens) if t in stops), None)
        content = tokens if end is None else tokens[:end]
        text = self.tokenizer.decode(content, skip_special_tokens=True).strip()
        return Generation(text=text, finish_reason="length" if end is None else "eos", n_tokens=len(content))

    def close(self) -> None:
        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

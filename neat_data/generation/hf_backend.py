"""The default generation backend: transformers ``generate`` on CPU or CUDA.

Batched with left padding and the KV cache; conversations are sorted by length so a batch pads little.
Prompts are pre-filled one at a time (no padding: the prefill is the compute-bound part) and their KV caches
left-padded into one batch cache, so the batch only pays for padding in the cheap decoding steps; that cache
appends each step into spare capacity rather than re-concatenating itself (``AppendingLayer``).
Sampling is plain temperature / nucleus sampling (top-k off), stopping at EOS or an end-of-turn token.
The policy of round r is the base model plus the LoRA adapter of round r-1 (merged for speed).
"""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from transformers.cache_utils import DynamicLayer

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


class AppendingLayer(DynamicLayer):
    """A ``DynamicLayer`` that appends each decoding step into spare capacity instead of re-concatenating the
    whole cache (``torch.cat`` copies every cached key and value at every step: 84 % of a batch-32 decoding step
    of SmolLM2 on CPU was spent there). Capacity doubles when full, so copying is amortised O(1) per token.
    ``keys``/``values`` stay views of the filled part; a method that replaces them (``crop``,
    ``batch_repeat_interleave``, ...) makes the next ``update`` start a new buffer from them."""

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized or self.keys.numel() == 0:
            return super().update(key_states, value_states, *args, **kwargs)
        length, new = self.keys.shape[-2], key_states.shape[-2]
        keys, values = getattr(self, "_spare", (None, None))
        if (keys is None or keys.data_ptr() != self.keys.data_ptr() or keys.shape[:-2] != self.keys.shape[:-2]
                or keys.shape[-2] < length + new):
            capacity = max(2 * (length + new), 64)
            keys = self.keys.new_empty(*self.keys.shape[:-2], capacity, self.keys.shape[-1])
            values = self.values.new_empty(*self.values.shape[:-2], capacity, self.values.shape[-1])
            keys[..., :length, :], values[..., :length, :] = self.keys, self.values
            self._spare = (keys, values)
        keys[..., length:length + new, :] = key_states
        values[..., length:length + new, :] = value_states
        self.keys, self.values = keys[..., :length + new, :], values[..., :length + new, :]
        return self.keys, self.values


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
        self._logits_to_keep = "logits_to_keep" in inspect.signature(self.model.forward).parameters

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
        n = sampling.n
        sample = sampling.temperature > 0
        with torch.inference_mode():
            cache = self._prefill(prompts)
            if cache is not None:  # generate does not expand a given cache: repeat everything n times here
                cache.batch_repeat_interleave(n)
                input_ids, attention_mask = input_ids.repeat_interleave(n, 0), attention_mask.repeat_interleave(n, 0)
            torch.manual_seed(batch_seed(sampling.seed, prompts))
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                past_key_values=cache,
                do_sample=sample,
                temperature=sampling.temperature if sample else None,
                top_p=sampling.top_p if sample else None,
                top_k=0 if sample else None,
                max_new_tokens=sampling.max_new_tokens,
                num_return_sequences=1 if cache is not None else n,
                eos_token_id=self.stop_ids,
                pad_token_id=self.pad_id,
                use_cache=True,
            )
        new_tokens = out[:, width:].tolist()
        gens = [self._decode(tokens) for tokens in new_tokens]
        return [gens[i * n : (i + 1) * n] for i in range(len(prompts))]

    def _prefill(self, prompts: list[list[int]]):
        """The KV cache of every prompt but its last token, computed prompt by prompt and left-padded into one
        batch cache. None (generate then pre-fills the padded batch itself) for caches other than a plain
        DynamicCache (sliding-window, hybrid or recurrent models) and for one-token prompts."""
        from transformers import DynamicCache

        if len(prompts) == 1 or min(len(p) for p in prompts) < 2:
            return None
        kwargs = {"logits_to_keep": 1} if self._logits_to_keep else {}
        caches = []
        for p in prompts:
            cache = self.model(input_ids=torch.tensor([p[:-1]], device=self.device), use_cache=True, **kwargs).past_key_values
            if type(cache) is not DynamicCache or any(type(layer) is not DynamicLayer for layer in cache.layers):
                return None
            caches.append(cache)
        width = max(len(p) for p in prompts) - 1

        def left_pad(t: torch.Tensor) -> torch.Tensor:  # [1, heads, length, dim] -> [1, heads, width, dim]
            return F.pad(t, (0, 0, width - t.shape[2], 0))

        batch_cache = DynamicCache(
            [
                (torch.cat([left_pad(c.layers[i].keys) for c in caches]), torch.cat([left_pad(c.layers[i].values) for c in caches]))
                for i in range(len(caches[0].layers))
            ]
        )
        for layer in batch_cache.layers:
            layer.__class__ = AppendingLayer  # same state, cheaper update (the subclass only overrides update)
        return batch_cache

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

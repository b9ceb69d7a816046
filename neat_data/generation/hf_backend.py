"""The default generation backend: transformers models on CPU or CUDA, with NEAT's own decoding loop.

Batched with left padding and the KV cache; conversations are sorted by length so a batch pads little.
Prompts are pre-filled one at a time (no padding: the prefill is the compute-bound part) and their KV caches
left-padded into one batch cache, so the batch only pays for padding in the cheap decoding steps; that cache
appends each step into spare capacity rather than re-concatenating itself (``AppendingLayer``). The decoding
loop samples with :func:`~neat_data.generation.sampling.sample_next` (temperature / nucleus, top-k off), stops a
row at EOS or an end-of-turn token and drops finished rows from the batch. Models whose cache cannot be
pre-filled prompt by prompt (sliding-window, hybrid, recurrent) fall back to transformers ``generate``.
The policy of round r is the base model plus the LoRA adapter of round r-1 (merged for speed).
"""

from __future__ import annotations

import inspect
import os

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
from .ragged_attention import use_ragged_attention
from .sampling import sample_next


class AppendingLayer(DynamicLayer):
    """A ``DynamicLayer`` that appends each decoding step into spare capacity instead of re-concatenating the
    whole cache (``torch.cat`` copies every cached key and value at every step: 84 % of a batch-32 decoding step
    of SmolLM2 on CPU was spent there). Capacity doubles when full, so copying is amortised O(1) per token.
    ``keys``/``values`` stay views of the filled part; a method that replaces them (``crop``,
    ``batch_repeat_interleave``, ...) makes the next ``update`` start a new buffer from them."""

    def _spare_buffers(self):
        """(keys, values) buffers whose filled part ``self.keys``/``self.values`` still are, else (None, None)."""
        keys, values = getattr(self, "_spare", (None, None))
        if keys is None or keys.data_ptr() != self.keys.data_ptr() or keys.shape[:-2] != self.keys.shape[:-2]:
            return None, None
        return keys, values

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized or self.keys.numel() == 0:
            return super().update(key_states, value_states, *args, **kwargs)
        length, new = self.keys.shape[-2], key_states.shape[-2]
        keys, values = self._spare_buffers()
        if keys is None or keys.shape[-2] < length + new:
            capacity = max(2 * (length + new), 64)
            keys = self.keys.new_empty(*self.keys.shape[:-2], capacity, self.keys.shape[-1])
            values = self.values.new_empty(*self.values.shape[:-2], capacity, self.values.shape[-1])
            keys[..., :length, :], values[..., :length, :] = self.keys, self.values
            self._spare = (keys, values)
        keys[..., length:length + new, :] = key_states
        values[..., length:length + new, :] = value_states
        self.keys, self.values = keys[..., :length + new, :], values[..., :length + new, :]
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep only the ``indices`` rows, with their spare capacity (the decoding loop drops finished rows)."""
        keys, values = self._spare_buffers()
        if keys is None:
            return super().batch_select_indices(indices)
        length = self.keys.shape[-2]
        self._spare = keys, values = keys.index_select(0, indices), values.index_select(0, indices)  # 5x keys[indices]
        self.keys, self.values = keys[..., :length, :], values[..., :length, :]


def shared_prefixes(prompts: list[list[int]], min_length: int = 16) -> list[int]:
    """For each prompt, how many of its first tokens to pre-fill once for a group of prompts starting with the
    same ``min_length`` or more tokens (0: none). Groups are runs of the sorted prompts whose neighbours share at
    least ``min_length`` tokens; a group's prefix is what all its prompts share, minus at least the last token of
    its shortest prompt (whose logits the prefill must return)."""
    order = sorted(range(len(prompts)), key=lambda i: prompts[i])
    shared = [0] * len(prompts)
    start = 0
    while start < len(order):
        end, common = start + 1, float("inf")
        while end < len(order):
            length = len(os.path.commonprefix([prompts[order[end - 1]], prompts[order[end]]]))
            if length < min_length:
                break
            end, common = end + 1, min(common, length)
        group = order[start:end]
        prefix = min([common] + [len(prompts[i]) - 1 for i in group])
        if len(group) > 1 and prefix >= min_length:
            for i in group:
                shared[i] = prefix
        start = end
    return shared


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
        self.ragged_attention = use_ragged_attention(self.model)
        self.batch_size = batch_size
        self.template = resolve_chat_template(self.tokenizer, chat_template, policy)
        self.context = context_length(self.model.config, self.tokenizer)
        self.stop_ids = stop_token_ids(self.tokenizer, getattr(self.model, "generation_config", None))
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.stop_ids[0]
        self.generator = generator_id(policy, adapter)
        self.stats = {"prompts": 0, "truncated": 0, "context": self.context}
        parameters = inspect.signature(self.model.forward).parameters
        self._forward_kwargs = {"logits_to_keep": 1} if "logits_to_keep" in parameters else {}  # last logits only
        self._cache_arg = "cache" if "cache" in parameters else "past_key_values"  # renamed in transformers 5.2x

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
        n = sampling.n
        with torch.inference_mode():
            prefilled = self._prefill(prompts)
            if prefilled is None:
                new_tokens = self._generate_with_transformers(prompts, sampling)
            else:
                new_tokens = self._decoding_loop(prompts, sampling, *prefilled)
        gens = [self._decode(tokens) for tokens in new_tokens]
        return [gens[i * n : (i + 1) * n] for i in range(len(prompts))]

    def _decoding_loop(self, prompts, sampling: SamplingConfig, cache, logits) -> list[list[int]]:
        """Sample ``sampling.n`` continuations of every prompt from its pre-filled cache and last logits.

        Rows that reached a stop token leave the batch (their cache rows are dropped) once they are an
        eighth of it, so the batch does not keep decoding finished answers until the longest one ends; until
        then a finished row's extra tokens are cut off by ``_decode`` at its first stop token."""
        n, steps, device = sampling.n, sampling.max_new_tokens, self.device
        if n > 1:
            cache.batch_repeat_interleave(n)
            logits = logits.repeat_interleave(n, 0)
        lengths = torch.tensor([len(p) for p in prompts], device=device).repeat_interleave(n)
        width = int(lengths.max())
        mask = torch.zeros(len(lengths), width + steps, dtype=torch.long, device=device)
        mask[:, :width] = torch.arange(width, device=device) >= width - lengths[:, None]  # left padding
        out = torch.full((len(lengths), steps), self.pad_id, dtype=torch.long, device=device)
        rows = torch.arange(len(lengths), device=device)  # the output row of each batch row
        finished = torch.zeros(len(lengths), dtype=torch.bool, device=device)
        stops = torch.tensor(self.stop_ids, device=device)
        generator = torch.Generator(device=device).manual_seed(batch_seed(sampling.seed, prompts))
        for step in range(steps):
            next_ids = sample_next(logits, sampling.temperature, sampling.top_p, generator)
            out[rows, step] = next_ids
            finished |= torch.isin(next_ids, stops)
            done = int(finished.sum())
            if step + 1 == steps or done == len(rows):
                break
            if done * 8 >= len(rows):
                keep = (~finished).nonzero().squeeze(1)
                cache.batch_select_indices(keep)
                rows, mask, lengths, next_ids, finished = rows[keep], mask[keep], lengths[keep], next_ids[keep], finished[keep]
            mask[:, width + step] = 1
            logits = self.model(
                input_ids=next_ids[:, None],
                attention_mask=mask[:, : width + step + 1],
                position_ids=(lengths + step)[:, None],
                use_cache=True,
                **{self._cache_arg: cache},
                **self._forward_kwargs,
            ).logits[:, -1]
        return out.tolist()

    def _generate_with_transformers(self, prompts, sampling: SamplingConfig) -> list[list[int]]:
        """transformers ``generate`` on the left-padded batch: the path of models whose cache cannot be
        pre-filled prompt by prompt (sliding-window, hybrid or recurrent caches)."""
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[self.pad_id] * (width - len(p)) + p for p in prompts], device=self.device)
        attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        sample = sampling.temperature > 0
        torch.manual_seed(batch_seed(sampling.seed, prompts))
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
        return out[:, width:].tolist()

    def _prefill(self, prompts: list[list[int]]):
        """(batch KV cache, last-token logits [prompts, vocab]) of the prompts, computed prompt by prompt (no
        padding: the prefill is the compute-bound part) and left-padded into one batch cache. A prefix several
        prompts share (the chat template's system turn, a prompt of the prompt set) is computed once
        (:func:`shared_prefixes`). None for caches other than a plain DynamicCache (sliding-window, hybrid or
        recurrent models)."""
        from transformers import DynamicCache

        def plain(cache) -> bool:
            return type(cache) is DynamicCache and all(type(layer) is DynamicLayer for layer in cache.layers)

        prefixes, caches, logits = {}, [], []
        for p, shared in zip(prompts, shared_prefixes(prompts)):
            cache = None
            if shared:
                key = tuple(p[:shared])
                if key not in prefixes:
                    prefix_ids = torch.tensor([p[:shared]], device=self.device)
                    prefixes[key] = self.model(input_ids=prefix_ids, use_cache=True, **self._forward_kwargs).past_key_values
                    if not plain(prefixes[key]):
                        return None
                cache = DynamicCache([(layer.keys.clone(), layer.values.clone()) for layer in prefixes[key].layers])
            out = self.model(input_ids=torch.tensor([p[shared:]], device=self.device), use_cache=True,
                             **{self._cache_arg: cache}, **self._forward_kwargs)
            if not plain(out.past_key_values):
                return None
            caches.append(out.past_key_values)
            logits.append(out.logits[:, -1])
        width = max(len(p) for p in prompts)

        def left_pad(t: torch.Tensor) -> torch.Tensor:  # [1, heads, length, dim] -> [1, heads, width, dim]
            return F.pad(t, (0, 0, width - t.shape[2], 0))

        batch_cache = DynamicCache(
            [
                (torch.cat([left_pad(c.layers[i].keys) for c in caches]), torch.cat([left_pad(c.layers[i].values) for c in caches]))
                for i in range(len(caches[0].layers))
            ]
        )
        for layer in batch_cache.layers:
            layer.__class__ = AppendingLayer  # same state; the subclass only overrides update and batch_select_indices
        return batch_cache, torch.cat(logits)

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

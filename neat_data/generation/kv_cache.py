"""The KV cache of the transformers backend's decoding loop: which prompt prefixes to pre-fill once
(:func:`shared_prefixes`), how per-prompt caches become one left-padded batch cache (:func:`left_padded_batch`), and
the cache layer that batch appends each decoding step to (:class:`AppendingLayer`).
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer


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
        keys[..., length : length + new, :] = key_states
        values[..., length : length + new, :] = value_states
        self.keys, self.values = keys[..., : length + new, :], values[..., : length + new, :]
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep only the ``indices`` rows, with their spare capacity (the decoding loop drops finished rows)."""
        keys, values = self._spare_buffers()
        if keys is None:
            return super().batch_select_indices(indices)
        length = self.keys.shape[-2]
        self._spare = keys, values = keys.index_select(0, indices), values.index_select(0, indices)  # 5x keys[indices]
        self.keys, self.values = keys[..., :length, :], values[..., :length, :]


def is_plain(cache) -> bool:
    """Whether ``cache`` is a plain DynamicCache, the only kind pre-filled prompt by prompt (not sliding-window,
    hybrid or recurrent)."""
    return type(cache) is DynamicCache and all(type(layer) is DynamicLayer for layer in cache.layers)


def left_padded_batch(caches: list) -> Cache:
    """One batch cache of :class:`AppendingLayer` layers from one-row plain caches, each left-padded to the longest."""
    width = max(c.layers[0].keys.shape[2] for c in caches)

    def left_pad(t: torch.Tensor) -> torch.Tensor:  # [1, heads, length, dim] -> [1, heads, width, dim]
        return F.pad(t, (0, 0, width - t.shape[2], 0))

    layers = []
    for i in range(len(caches[0].layers)):
        layer = AppendingLayer()
        layer.update(
            torch.cat([left_pad(c.layers[i].keys) for c in caches]),
            torch.cat([left_pad(c.layers[i].values) for c in caches]),
        )
        layers.append(layer)
    return Cache(layers=layers)


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

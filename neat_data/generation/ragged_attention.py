"""SDPA attention that skips the left padding of a decoding batch.

A left-padded batch cache is as wide as its longest prompt, and plain SDPA reads every row over that whole
width at every decoding step. With real HH queries this is most of the work: in 32 prompted conversations
of 53 to 544 tokens, 69 % of the cache cells attended were padding, and attention took 38 % of a
batch-32 SmolLM2 decoding step on CPU. Here a decoding step (one query per row) splits the batch into
groups of consecutive rows, and each group attends only from the first cache column some row of it can
see. The result is the same as plain SDPA (masked columns contribute nothing); the decoding loop keeps its
rows sorted by prompt length, so consecutive rows have similar padding.

Used by the transformers backend for models whose attention implementation is ``sdpa``.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "neat_ragged_sdpa"
GROUPS = 8  # at most this many row groups per decoding step
MIN_ROWS = 4  # and at least this many rows per group


def row_groups(mask: torch.Tensor) -> list[tuple[int, int, int]]:
    """(first row, end row, first visible column) of each group of rows of a boolean mask [rows, 1, 1, columns]."""
    rows = mask.shape[0]
    first_visible = mask[:, 0, -1, :].int().argmax(-1).tolist()
    count = max(1, min(GROUPS, rows // MIN_ROWS))
    bounds = [round(i * rows / count) for i in range(count + 1)]
    return [(a, b, min(first_visible[a:b])) for a, b in zip(bounds, bounds[1:])]


def ragged_sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs):
    """transformers' ``sdpa_attention_forward``, per row group during decoding; unchanged otherwise."""
    if (
        query.shape[2] != 1
        or attention_mask is None
        or attention_mask.dtype != torch.bool
        or query.shape[0] < 2 * MIN_ROWS
    ):
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    outputs = [
        sdpa_attention_forward(
            module, query[a:b], key[a:b, :, start:], value[a:b, :, start:], attention_mask[a:b, ..., start:], **kwargs
        )[0]
        for a, b, start in row_groups(attention_mask)
    ]
    return torch.cat(outputs), None


def use_ragged_attention(model) -> bool:
    """Switch ``model`` from ``sdpa`` to the ragged variant (same results); False if it uses anything else."""
    if getattr(model.config, "_attn_implementation", None) != "sdpa":
        return False
    AttentionInterface.register(NAME, ragged_sdpa_attention_forward)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    model.set_attn_implementation(NAME)
    return True

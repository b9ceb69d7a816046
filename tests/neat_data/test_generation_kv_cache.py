"""The decoding loop's KV cache: the appending layer and the shared prompt prefixes."""

import torch
from transformers.cache_utils import DynamicLayer

from neat_data.generation.kv_cache import AppendingLayer, shared_prefixes


def test_appending_cache_layer_returns_what_concatenation_would():
    torch.manual_seed(0)
    ours, reference = AppendingLayer(), DynamicLayer()
    steps = [torch.randn(2, 3, n, 4) for n in (5, 1, 1, 3)] + [torch.randn(2, 3, 1, 4) for _ in range(80)]
    for i, k in enumerate(steps):
        if i == 6:  # a method that replaces the tensors (as generate's n > 1 path does): a new buffer follows
            ours.batch_repeat_interleave(2)
            reference.batch_repeat_interleave(2)
        if i >= 6:
            k = k.repeat_interleave(2, dim=0)
        got, want = ours.update(k, -k), reference.update(k, -k)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert ours.get_seq_length() == reference.get_seq_length() == 5 + 1 + 1 + 3 + 80
    spare = ours._spare[0]
    assert spare.shape[-2] >= ours.get_seq_length() and ours.keys.data_ptr() == spare.data_ptr()  # appended in place


def test_shared_prefixes_groups_prompts_that_start_alike():
    system = list(range(100, 120))  # 20 tokens
    prompts = [system + [1, 2], [7] * 30, system + [1, 3, 4], system + [5], system[:10] + [6] * 12]
    assert shared_prefixes(prompts) == [20, 0, 20, 20, 0]  # the last shares only 10 < 16 tokens
    assert shared_prefixes([system, system]) == [19, 19]  # the last token stays: its logits are needed
    assert shared_prefixes([system]) == [0] and shared_prefixes([]) == []


def test_appending_cache_layer_drops_rows_like_dynamic_layer():
    torch.manual_seed(0)
    ours, reference = AppendingLayer(), DynamicLayer()
    for i in range(40):
        rows = 4 if i < 10 else 2
        k = torch.randn(rows, 3, 6 if i == 0 else 1, 4)
        if i == 10:
            keep = torch.tensor([0, 3])
            ours.batch_select_indices(keep)
            reference.batch_select_indices(keep)
            assert torch.equal(ours.keys, reference.keys) and ours.keys.data_ptr() == ours._spare[0].data_ptr()
        got, want = ours.update(k, -k), reference.update(k, -k)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])

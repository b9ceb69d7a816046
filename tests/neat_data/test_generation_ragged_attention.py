import torch
from torch import nn
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from neat_data.generation.ragged_attention import ragged_sdpa_attention_forward, row_groups


class Attention(nn.Module):  # what sdpa_attention_forward reads from a model's attention module
    num_key_value_groups = 3
    is_causal = True


def left_padded_mask(lengths: list[int], width: int) -> torch.Tensor:
    return (torch.arange(width) >= width - torch.tensor(lengths)[:, None])[:, None, None, :]


def test_decoding_step_equals_plain_sdpa_over_the_padded_batch():
    torch.manual_seed(0)
    lengths = [40, 40, 31, 30, 22, 17, 9, 9, 8, 3, 2, 1]  # sorted longest first, as the decoding loop keeps them
    width = max(lengths)
    q, k, v = torch.randn(12, 6, 1, 8), torch.randn(12, 2, width, 8), torch.randn(12, 2, width, 8)
    mask = left_padded_mask(lengths, width)
    ours, _ = ragged_sdpa_attention_forward(Attention(), q, k, v, mask, scaling=0.3)
    plain, _ = sdpa_attention_forward(Attention(), q, k, v, mask, scaling=0.3)
    assert torch.allclose(ours, plain, atol=1e-6)
    assert [start for _, _, start in row_groups(mask)] == [0, 40 - 22, 40 - 8]  # each group skips its common padding


def test_unsorted_rows_and_prefill_steps_stay_exact():
    torch.manual_seed(1)
    lengths = [3, 40, 9, 22, 1, 31, 8, 40]
    q, k, v = torch.randn(8, 6, 1, 8), torch.randn(8, 2, 40, 8), torch.randn(8, 2, 40, 8)
    mask = left_padded_mask(lengths, 40)
    ours, _ = ragged_sdpa_attention_forward(Attention(), q, k, v, mask)
    assert torch.allclose(ours, sdpa_attention_forward(Attention(), q, k, v, mask)[0], atol=1e-6)
    q5 = torch.randn(8, 6, 5, 8)  # more than one query per row (a prefill): plain SDPA
    mask5 = mask.expand(8, 1, 5, 40)
    assert torch.equal(
        ragged_sdpa_attention_forward(Attention(), q5, k, v, mask5)[0],
        sdpa_attention_forward(Attention(), q5, k, v, mask5)[0],
    )

import pytest
import torch

from neat_data.generation.sampling import nucleus_filter, sample_next

LOGITS = torch.tensor([[0.0, 1.0, 2.0, float("-inf")]])


def draw(logits, temperature, top_p, n=100_000, seed=0):
    generator = torch.Generator().manual_seed(seed)
    picks = sample_next(logits.repeat(n, 1), temperature, top_p, generator)
    return torch.bincount(picks, minlength=logits.shape[-1]).double() / n


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_samples_follow_the_tempered_softmax(temperature):
    expected = (LOGITS[0] / temperature).softmax(-1).double()
    got = draw(LOGITS, temperature, 1.0)
    assert torch.allclose(got, expected, atol=0.006)  # ~4 standard errors at n = 100 000
    assert got[3] == 0  # probability 0 is never drawn


def test_nucleus_keeps_the_smallest_set_reaching_top_p():
    probs = LOGITS.softmax(-1)[0]  # 0.090, 0.245, 0.665, 0
    assert torch.equal(nucleus_filter(LOGITS, 0.6).isfinite()[0], torch.tensor([False, False, True, False]))
    assert torch.equal(nucleus_filter(LOGITS, 0.7).isfinite()[0], torch.tensor([False, True, True, False]))
    assert torch.equal(nucleus_filter(LOGITS, 0.95).isfinite()[0], torch.tensor([True, True, True, False]))
    got = draw(LOGITS, 1.0, 0.7)
    expected = torch.tensor([0.0, probs[1], probs[2], 0.0]).double() / (probs[1] + probs[2])
    assert torch.allclose(got, expected, atol=0.006)


def test_greedy_is_argmax_and_same_generator_seed_same_draws():
    logits = torch.randn(5, 50, generator=torch.Generator().manual_seed(1))
    assert torch.equal(sample_next(logits, 0.0, 1.0, None), logits.argmax(-1))
    a = sample_next(logits, 1.0, 0.9, torch.Generator().manual_seed(3))
    b = sample_next(logits, 1.0, 0.9, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    draws = torch.stack([sample_next(logits, 1.0, 1.0, torch.Generator().manual_seed(s)) for s in range(20)])
    assert len({tuple(d.tolist()) for d in draws}) > 1  # other seeds, other draws

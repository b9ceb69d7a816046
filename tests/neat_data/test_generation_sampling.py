import pytest
import torch

from neat_data.generation.sampling import RowSampler, guide, nucleus_filter, row_uniforms, sample_next

LOGITS = torch.tensor([[0.0, 1.0, 2.0, float("-inf")]])


def draw(logits, temperature, top_p, n=100_000, seed=0):
    uniforms = torch.rand(n, generator=torch.Generator().manual_seed(seed))
    picks = sample_next(logits.repeat(n, 1), temperature, top_p, uniforms)
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


def test_greedy_is_argmax_and_same_uniforms_same_draws():
    logits = torch.randn(5, 50, generator=torch.Generator().manual_seed(1))
    assert torch.equal(sample_next(logits, 0.0, 1.0, None), logits.argmax(-1))
    a = sample_next(logits, 1.0, 0.9, row_uniforms([3, 4, 5, 6, 7], 1)[:, 0])
    b = sample_next(logits, 1.0, 0.9, row_uniforms([3, 4, 5, 6, 7], 1)[:, 0])
    assert torch.equal(a, b)
    draws = torch.stack([sample_next(logits, 1.0, 1.0, row_uniforms([s] * 5, 1)[:, 0]) for s in range(20)])
    assert len({tuple(d.tolist()) for d in draws}) > 1  # other seeds, other draws


def test_row_uniforms_depend_only_on_the_rows_own_seed():
    both = row_uniforms([11, 12, None], 6)
    assert torch.equal(both[0], row_uniforms([11], 6)[0]) and torch.equal(both[1], row_uniforms([12], 6)[0])
    assert not torch.equal(both[0], both[1]) and torch.equal(both[2], torch.zeros(6))
    assert ((both[:2] >= 0) & (both[:2] < 1)).all()


def test_guidance_formula_on_hand_set_logits():
    neg = torch.tensor([[0.0, 1.0, 2.0]])
    ref = torch.tensor([[0.0, 2.0, 1.0]])
    assert torch.equal(guide(neg, ref, torch.tensor([1.0])), torch.tensor([[0.0, 0.0, 3.0]]))  # 2*neg - ref
    assert torch.equal(guide(neg, ref, torch.tensor([0.5])), torch.tensor([[0.0, 0.5, 2.5]]))
    assert torch.equal(guide(neg, ref, torch.tensor([0.0])), neg)


def pair_sampler(weight, seeds=(5,), steps=4, temperature=1.0):
    """Sampling row 0 guided against reference row 1 (and more pairs for more seeds)."""
    leader, reference, weights, row_seeds = [], [], [], []
    for k, seed in enumerate(seeds):
        leader += [2 * k, 2 * k]
        reference += [2 * k + 1, 2 * k + 1]
        weights += [weight, 0.0]
        row_seeds += [seed, None]
    return RowSampler(row_seeds, leader, reference, weights, temperature, 1.0, steps, "cpu")


def test_guided_rows_sample_the_guided_distribution_and_reference_rows_follow():
    n = 40_000
    neg, ref = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([0.0, 2.0, 1.0])
    sampler = pair_sampler(1.0, seeds=range(n), steps=1)
    picked = sampler(torch.stack([neg, ref]).repeat(n, 1), 0)
    assert torch.equal(picked[0::2], picked[1::2])  # every reference row took its sampling row's token
    got = torch.bincount(picked[0::2], minlength=3).double() / n
    expected = torch.tensor([0.0, 0.0, 3.0]).softmax(-1).double()  # softmax(2*neg - ref)
    assert torch.allclose(got, expected, atol=0.01)
    unguided = pair_sampler(0.0, seeds=range(n), steps=1)(torch.stack([neg, ref]).repeat(n, 1), 0)
    assert torch.allclose(torch.bincount(unguided[0::2], minlength=3).double() / n, neg.softmax(-1).double(), atol=0.01)


def test_weight_zero_is_plain_sampling_whatever_the_reference_says():
    logits = torch.randn(2, 30, generator=torch.Generator().manual_seed(0))
    alone = RowSampler([5], [0], [0], [0.0], 1.0, 0.9, 3, "cpu")
    paired = pair_sampler(0.0, seeds=(5,), steps=3, temperature=1.0)
    paired.top_p = 0.9
    for step in range(3):
        assert paired(logits, step)[0] == alone(logits[:1], step)[0]


def test_select_keeps_pairs_and_streams_together():
    logits = torch.randn(6, 30, generator=torch.Generator().manual_seed(0))
    sampler = pair_sampler(2.0, seeds=(1, 2, 3), steps=3)
    first = sampler(logits, 0)
    sampler.select(torch.tensor([2, 3, 4, 5]))  # the first pair finished
    second = sampler(logits[2:], 1)
    assert torch.equal(second[0::2], second[1::2])
    fresh = pair_sampler(2.0, seeds=(2, 3), steps=3)  # the same pairs from the start: the same draws
    assert torch.equal(fresh(logits[2:], 0), first[2:]) and torch.equal(fresh(logits[2:], 1), second)

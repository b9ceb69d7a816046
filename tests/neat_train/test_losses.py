"""The losses on hand-set tensors with hand-computed values, and the direction of one gradient step."""

import math

import pytest
import torch

from neat_train.data import ResponseCollator, tokenize_example
from neat_train.losses import (
    LossConfig,
    ResponseStats,
    batch_loss,
    dpo_loss,
    log1mexp,
    rank_loss,
    response_stats,
    token_logprobs,
)


def test_token_logprobs_only_count_response_tokens():
    # vocab 4; sequence [0, 1, 2, 3]: query = [0, 1], response = [2, 3]
    logits = torch.zeros(1, 4, 4)
    logits[0, 1, 2] = math.log(3.0)  # position 1 predicts token 2 with p = 3/6
    input_ids = torch.tensor([[0, 1, 2, 3]])
    loss_mask = torch.tensor([[0, 0, 1, 1]])
    logp, rows = token_logprobs(logits, input_ids, loss_mask)
    assert rows.tolist() == [0, 0]
    assert logp.tolist() == pytest.approx([math.log(0.5), math.log(0.25)])  # uniform over 4 for token 3


def test_response_stats_mean_sum_and_both_penalties():
    logp = torch.tensor([-1.0, -7.0, -3.0, math.log(0.5)])
    rows = torch.tensor([0, 0, 0, 1])
    nll = response_stats(logp, rows, 2, LossConfig(penalty="nll", floor=-5.0))
    assert nll.mean.tolist() == pytest.approx([-11 / 3, math.log(0.5)])
    assert nll.sum.tolist() == pytest.approx([-11.0, math.log(0.5)])
    assert nll.tokens.tolist() == [3, 1]
    assert nll.pen.tolist() == pytest.approx([(1 + 5 + 3) / 3, -math.log(0.5)])  # -7 clamped at the floor -5
    ul = response_stats(logp, rows, 2, LossConfig(penalty="unlikelihood"))
    expected0 = (math.log(1 - math.exp(-1)) + math.log(1 - math.exp(-7)) + math.log(1 - math.exp(-3))) / 3
    assert ul.pen.tolist() == pytest.approx([expected0, math.log(0.5)])


def test_log1mexp_is_stable_at_both_ends():
    x = torch.tensor([-1e-8, -0.1, -0.7, -30.0])
    out = log1mexp(x)
    assert torch.isfinite(out).all()
    assert out[1].item() == pytest.approx(math.log(1 - math.exp(-0.1)))
    assert out[3].item() == pytest.approx(-math.exp(-30.0), rel=1e-3)


def test_rank_loss_hinge_over_ordered_pairs_and_ties_contribute_nothing():
    p = torch.tensor([-1.0, -0.5, -2.0])
    r = torch.tensor([2.0, 1.0, 0.0])
    # pairs with r_i < r_j: (1,0): max(0, -0.5 - -1) = 0.5; (2,0): max(0, -2 - -1) = 0; (2,1): 0
    assert rank_loss(p, r).item() == pytest.approx(0.5)
    assert rank_loss(torch.tensor([-2.0, -1.0]), torch.tensor([1.0, 1.0])).item() == 0.0
    # worst most likely: (1,0): 1.0, (2,0): 2.0, (2,1): 1.0
    assert rank_loss(torch.tensor([-3.0, -2.0, -1.0]), r).item() == pytest.approx(4.0)


def test_dpo_loss_value():
    value = dpo_loss(torch.tensor(-10.0), torch.tensor(-12.0), torch.tensor(-11.0), torch.tensor(-11.0), 0.1)
    assert value.item() == pytest.approx(math.log(1 + math.exp(-0.2)))  # margin (1) - (-1) = 2, β·2 = 0.2


def _stats(mean, pen, sums=None):
    mean = torch.tensor(mean)
    return ResponseStats(mean, torch.tensor(sums) if sums else mean * 10, torch.tensor(pen), torch.ones(len(mean)))


def test_batch_loss_neat_rrhf_sft_by_hand():
    # query 0: three responses; query 1: one response (SFT only, counted)
    stats = _stats([-1.0, -0.5, -2.0, -3.0], [1.0, 0.5, 2.0, 3.0])
    rewards = torch.tensor([2.0, 1.0, 0.0, 5.0])
    qidx = torch.tensor([0, 0, 0, 1])
    neat = batch_loss(stats, rewards, qidx, 2, LossConfig("neat", alpha=2.0, beta=0.1))
    assert neat.sft.item() == pytest.approx((1.0 + 3.0) / 2)  # mean over both queries of -p(best)
    assert neat.rank.item() == pytest.approx(0.5)  # query 0 only
    assert neat.pen.item() == pytest.approx(2.0)  # worst of query 0 (reward 0.0)
    assert neat.total.item() == pytest.approx(2.0 + 2.0 * 0.5 - 0.1 * 2.0)
    assert neat.counts == {"queries": 2, "single_response": 1, "tied": 0}
    rrhf = batch_loss(stats, rewards, qidx, 2, LossConfig("rrhf", alpha=2.0))
    assert rrhf.total.item() == pytest.approx(2.0 + 1.0)
    sft = batch_loss(stats, rewards, qidx, 2, LossConfig("sft"))
    assert sft.total.item() == pytest.approx(2.0)


def test_batch_loss_tied_rewards_have_no_penalty_and_no_dpo_pair():
    stats = _stats([-1.0, -2.0], [1.0, 2.0])
    terms = batch_loss(stats, torch.tensor([1.0, 1.0]), torch.tensor([0, 0]), 1, LossConfig("neat"))
    assert terms.pen.item() == 0.0 and terms.rank.item() == 0.0 and terms.counts["tied"] == 1
    assert terms.total.item() == pytest.approx(1.0)


def test_batch_loss_dpo_uses_summed_logps_and_the_reference():
    stats = _stats([-1.0, -1.2], [0.0, 0.0], sums=[-10.0, -12.0])
    ref = torch.tensor([-11.0, -11.0])
    terms = batch_loss(
        stats, torch.tensor([3.0, -3.0]), torch.tensor([0, 0]), 1, LossConfig("dpo", beta=0.1), ref_sum=ref
    )
    assert terms.total.item() == pytest.approx(math.log(1 + math.exp(-0.2)))


def test_the_unbounded_penalty_is_guarded_by_the_floor():
    """Once every token of the worst response is below the floor, the penalty gives no more gradient."""
    logp = torch.tensor([-6.0, -9.0], requires_grad=True)
    stats = response_stats(logp, torch.tensor([0, 0]), 1, LossConfig(floor=-5.0))
    stats.pen.sum().backward()
    assert logp.grad.abs().sum().item() == 0.0


def _sequence_logps(model, batch, cfg):
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logp, rows = token_logprobs(logits, batch["input_ids"], batch["loss_mask"])
    return response_stats(logp, rows, batch["input_ids"].shape[0], cfg)


@pytest.mark.parametrize("penalty", ["nll", "unlikelihood"])
def test_one_neat_step_raises_the_best_and_lowers_the_worst(tiny_policy_dir, tiny_tokenizer, penalty):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    cfg = LossConfig("neat", alpha=1.0, beta=1.0, penalty=penalty, floor=-50.0)
    example = {
        "query_id": "q",
        "messages": [{"role": "user", "content": "How do I bake bread?"}],
        "texts": ["Mix flour, water and yeast.", "I don't know any jokes.", "Use a bat."],
        "rewards": [2.0, 0.0, -3.0],
    }
    feature = tokenize_example(example, tiny_tokenizer, tiny_tokenizer.chat_template, "all", 128, 64)
    batch = ResponseCollator(tiny_tokenizer.pad_token_id)([feature])
    best = int(batch["rewards"].argmax())
    worst = int(batch["rewards"].argmin())
    before = _sequence_logps(model, batch, cfg).mean.detach()
    optim = torch.optim.SGD(model.parameters(), lr=0.05)
    terms = batch_loss(_sequence_logps(model, batch, cfg), batch["rewards"], batch["query_index"], 1, cfg)
    terms.total.backward()
    optim.step()
    after = _sequence_logps(model, batch, cfg).mean.detach()
    assert after[best] > before[best]
    assert after[worst] < before[worst]

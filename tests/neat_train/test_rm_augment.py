import os
import random
import re
import subprocess
import sys

import pytest
import torch

from neat_data.errors import NeatError
from neat_data.hh import Pair
from neat_train import rm_augment, rm_train_cmd
from neat_train.reward_model import BradleyTerryTrainer, PairCollator, length_balance_weights

REPLIES = [
    "You can bake bread by mixing flour, water and yeast, then letting it rise for 2 hours before baking.",
    "Paris is the capital of France, and it has been since the time of Hugh Capet in 987.",
    "I can't help with hurting anyone, but I can help you talk to your neighbour about the noise.",
    "Why did the chicken cross the road? To get to the other side, as every child in London knows.",
]


def pairs(n=4):
    return [
        Pair(f"q{i}", [{"role": "user", "content": f"Question {i}?"}], REPLIES[i % 4], "No.", f"f:{i}")
        for i in range(n)
    ]


def test_each_kind_makes_the_negative_it_promises():
    ps, rng = rm_augment.Pool(pairs()), random.Random(0)
    off = rm_augment.off_topic(ps.pairs[0], ps, rng)
    assert off in REPLIES[1:]  # another query's chosen reply
    cut = rm_augment.truncated(ps.pairs[0], ps, rng)
    assert REPLIES[0].startswith(cut) and 1 <= len(cut.split()) <= 4
    for seed in range(6):  # loop / shuffle / repeat: same words, never the reply itself
        bad = rm_augment.degenerate(ps.pairs[1], ps, random.Random(seed))
        assert bad != REPLIES[1] and set(bad.split()) <= set(REPLIES[1].split())
    wrong = rm_augment.swapped(ps.pairs[1], ps, random.Random(0))
    assert re.findall(r"\d+", wrong) != ["987"] and len(re.findall(r"\d+", wrong)) == 1
    assert wrong.startswith("Paris is") and "France" not in wrong and "Hugh Capet" not in wrong  # names replaced
    assert len(wrong.split()) == pytest.approx(len(REPLIES[1].split()), abs=3)
    assert rm_augment.dismissive(ps.pairs[0], ps, rng) == "No."  # the pool's only short reply, of another query
    assert rm_augment.dismissive(Pair("q", [], "Too short to be worth brushing off.", "x", "o"), ps, rng) is None
    assert rm_augment.truncated(Pair("q", [], "Too short.", "x", "o"), ps, rng) is None
    assert rm_augment.swapped(Pair("q", [], "no names or numbers here at all.", "x", "o"), ps, rng) is None


def test_near_topic_and_rambling_borrow_from_the_most_similar_queries():
    def pair(qid, question, chosen):
        return Pair(qid, [{"role": "user", "content": question}], chosen, "No.", "f")

    long_bread = "Bread " + " ".join(["keeps well wrapped in a cloth bag in a cool dry cupboard"] * 4)
    ps = [
        pair("a", "How long should I knead bread dough by hand?", "About ten minutes."),
        pair("b", "How should I store bread dough overnight?", long_bread),
        pair("c", "What is the capital of France?", "Paris."),
        pair("d", "Which river runs through the capital of Hungary?", "The Danube runs through Budapest."),
        pair("e", "Can I freeze bread?", "Yes, sliced bread freezes well for about three months."),
    ] + [pair(f"x{i}", f"filler question {i} about the weather", "It rains.") for i in range(20)]
    pool, rng = rm_augment.Pool(ps), random.Random(0)
    # 25 queries: only words in at most 2 of them count, so "bread" (3 queries) and "the" are left out, and a's one
    # neighbour is b ("how", "should", "dough")
    assert [p.query_id for p in pool.nearest(ps[0], 2)] == ["b"]
    assert pool.nearest(ps[2]) == [ps[3]]  # "capital" is the one word shared
    assert rm_augment.near_topic(ps[2], pool, rng) == "The Danube runs through Budapest."
    assert rm_augment.rambling(ps[0], pool, rng) == long_bread  # >= 40 words and 3x the chosen reply
    assert rm_augment.rambling(ps[2], pool, rng) is None  # its only neighbour's reply is short
    assert rm_augment.rambling(ps[1], pool, rng) is None  # the chosen reply is not short
    assert rm_augment.near_topic(pair("z", "zebra quagga okapi", "x"), pool, rng) is None  # no shared word


def test_nearest_queries_do_not_depend_on_the_process_string_hashing(real_hh_path):
    train = real_hh_path.parent / "harmless-base-train-lastturn.jsonl.gz"
    if not train.exists():
        pytest.skip(f"real HH-RLHF train pairs not found at {train}")
    # on these 6343 pairs, some neighbours have equal similarity: summed in set order they swapped between processes
    code = (
        "import hashlib, json, sys; from neat_data.hh import load_hh; from neat_train.rm_augment import Pool; "
        "ps = [p for f in sys.argv[1:] for p in load_hh(f).pairs]; pool = Pool(ps); "
        "print(hashlib.sha256(json.dumps([[o.query_id for o in pool.nearest(p)] for p in ps]).encode()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code, str(real_hh_path), str(train)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(digests) == 1


def test_augment_pairs_is_seeded_and_keeps_the_chosen_reply():
    ps = pairs(20)
    a = rm_augment.augment_pairs(ps, ["off_topic", "truncated"], 0.5, seed=3)
    assert a == rm_augment.augment_pairs(ps, ["off_topic", "truncated"], 0.5, seed=3)
    assert len(a) == 20  # 10 per kind, every one applicable
    assert all(p.chosen in REPLIES and p.rejected != p.chosen and p.origin.startswith("augment:") for p in a)
    assert {p.origin.split(":")[1] for p in a} == {"off_topic", "truncated"}
    with pytest.raises(NeatError, match="unknown kind.*bogus"):
        rm_augment.parse_kinds("truncated,bogus")
    assert rm_augment.parse_kinds("") == []


def test_length_balance_weights_make_length_uninformative():
    def tok(texts, add_special_tokens=True, verbose=True):
        return {"input_ids": [t.split() for t in texts]}

    q = [{"role": "user", "content": "?"}]
    # chosen shorter in 3 pairs, longer in 1, equal in 1
    ps = [
        Pair(str(i), q, c, r, "o")
        for i, (c, r) in enumerate([("a", "b c"), ("a", "b c d"), ("a b", "c d e"), ("a b c", "d"), ("a b", "c d")])
    ]
    w = length_balance_weights(ps, tok)
    assert w == [4 / 6, 4 / 6, 4 / 6, 2.0, 1.0]
    assert sum(w[:3]) == pytest.approx(w[3] * 1)  # shorter-chosen weight == longer-chosen weight


def test_pair_weights_weight_the_bradley_terry_loss(tiny_tokenizer):
    class Fixed(torch.nn.Module):  # reward = first token id / 100
        def forward(self, input_ids, attention_mask):
            return type("Out", (), {"logits": input_ids[:, :1].float() / 100})()

    collate = PairCollator(tiny_tokenizer)
    features = [
        {
            "chosen": {"input_ids": [200, 1], "attention_mask": [1, 1]},
            "rejected": {"input_ids": [100], "attention_mask": [1]},
            "weight": 3.0,
        },
        {
            "chosen": {"input_ids": [100], "attention_mask": [1]},
            "rejected": {"input_ids": [300], "attention_mask": [1]},
            "weight": 0.5,
        },
    ]
    batch = collate(features)
    assert batch["pair_weight"].tolist() == [3.0, 0.5]
    loss = BradleyTerryTrainer.compute_loss(BradleyTerryTrainer, Fixed(), dict(batch))
    expected = (
        3.0 * -torch.nn.functional.logsigmoid(torch.tensor(1.0))
        + 0.5 * -torch.nn.functional.logsigmoid(torch.tensor(-2.0))
    ) / 2
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    # the length penalty: margins (1, -2) against reply-length gaps (0, 0): no correlation, nothing added
    assert batch["length_gap"].tolist() == [0.0, 0.0]
    penalised = type("T", (), {"length_penalty": 2.0, "length_head": 0.0})
    assert BradleyTerryTrainer.compute_loss(penalised, Fixed(), dict(batch)).item() == pytest.approx(expected.item())


def test_length_penalty_is_the_margin_length_correlation_times_the_margin_spread(tiny_tokenizer):
    class Fixed(torch.nn.Module):  # reward = first token id / 100
        def forward(self, input_ids, attention_mask):
            return type("Out", (), {"logits": input_ids[:, :1].float() / 100})()

    one = {"attention_mask": [1]}
    # margins 1, 2, 0 against length gaps -4, 0, 4: rho = centred (0, 1, -1) . (-4, 0, 4) / (√2 · √32) = -0.5, and the
    # margins' (population) standard deviation is √(2/3)
    features = [
        {
            "chosen": {"input_ids": [200], **one},
            "rejected": {"input_ids": [100], **one},
            "chosen_length": 0,
            "rejected_length": 4,
        },
        {
            "chosen": {"input_ids": [300], **one},
            "rejected": {"input_ids": [100], **one},
            "chosen_length": 0,
            "rejected_length": 0,
        },
        {
            "chosen": {"input_ids": [100], **one},
            "rejected": {"input_ids": [100], **one},
            "chosen_length": 4,
            "rejected_length": 0,
        },
    ]
    batch = PairCollator(tiny_tokenizer)(features)
    assert batch["length_gap"].tolist() == [-4.0, 0.0, 4.0]  # derived from the reply lengths
    bt = -torch.nn.functional.logsigmoid(torch.tensor([1.0, 2.0, 0.0])).mean().item()
    rho, spread = -0.5, (2 / 3) ** 0.5
    penalised = type("T", (), {"length_penalty": 0.5, "length_head": 0.0})
    loss = BradleyTerryTrainer.compute_loss(penalised, Fixed(), dict(batch))
    assert loss.item() == pytest.approx(bt + 0.5 * abs(rho) * spread, rel=1e-5)
    # without the penalty, the plain Bradley-Terry loss
    assert BradleyTerryTrainer.compute_loss(BradleyTerryTrainer, Fixed(), dict(batch)).item() == pytest.approx(bt)


def test_length_head_ranks_by_the_sum_and_moves_length_out_of_the_quality_head(tiny_tokenizer):
    class TwoHeads(torch.nn.Module):  # quality: first token id / 100, length head: second
        def forward(self, input_ids, attention_mask):
            return type("Out", (), {"logits": input_ids[:, :2].float() / 100})()

    one = {"attention_mask": [1, 1]}
    # replies of 1, 3 (chosen) and 2, 6 (rejected) tokens; quality (2, 1 | 1, 3), length head (1, 3 | 2, 6)
    features = [
        {
            "chosen": {"input_ids": [200, 100], **one},
            "rejected": {"input_ids": [100, 200], **one},
            "chosen_length": 1,
            "rejected_length": 2,
        },
        {
            "chosen": {"input_ids": [100, 300], **one},
            "rejected": {"input_ids": [300, 600], **one},
            "chosen_length": 3,
            "rejected_length": 6,
        },
    ]
    batch = PairCollator(tiny_tokenizer)(features)
    assert batch["response_length"].tolist() == [1.0, 3.0, 2.0, 6.0]
    # ranked by quality + length: margins (2 + 1) - (1 + 2) = 0 and (1 + 3) - (3 + 6) = -5
    bt = -torch.nn.functional.logsigmoid(torch.tensor([0.0, -5.0])).mean().item()
    # quality (2, 1, 1, 3) against lengths (1, 3, 2, 6): centred (0.25, -0.75, -0.75, 1.25) . (-2, 0, -1, 3) = 4.0,
    # so rho = 4 / (√2.75 · √14); the length head equals the lengths: rho = 1
    rho_q = 4.0 / (2.75**0.5 * 14**0.5)
    trainer = type("T", (), {"length_penalty": 0.0, "length_head": 0.5})
    loss = BradleyTerryTrainer.compute_loss(trainer, TwoHeads(), dict(batch))
    assert loss.item() == pytest.approx(bt + 0.5 * (abs(rho_q) - 1.0), rel=1e-5)
    # off: one output ranks alone, the second is ignored
    plain = -torch.nn.functional.logsigmoid(torch.tensor([1.0, -2.0])).mean().item()
    assert BradleyTerryTrainer.compute_loss(BradleyTerryTrainer, TwoHeads(), dict(batch)).item() == pytest.approx(plain)


def test_parts_are_disjoint_and_validation_is_held_out(monkeypatch):
    import neat_data.hh

    monkeypatch.setattr(
        neat_data.hh,
        "split_of",
        lambda qid, share=0.2, seed=0: ("test" if int(qid[1:]) % 100 / 100 < share else "train") if seed else "train",
    )
    ps = [Pair(f"q{i}", [], "a", "b", "o") for i in range(100)]
    config = lambda **kw: rm_train_cmd.Config(dataset="x.jsonl", **kw)  # noqa: E731
    first, _ = rm_train_cmd.training_pool(ps, config(part="0:0.3"))
    second, _ = rm_train_cmd.training_pool(ps, config(part="0.3:1"))
    assert len(first) == 30 and len(second) == 70 and not {p.query_id for p in first} & {p.query_id for p in second}
    train, valid = rm_train_cmd.training_pool(ps, config(valid_share=0.1))
    assert len(valid) == 10 and len(train) == 90 and not set(map(id, train)) & set(map(id, valid))
    for bad in ("0.5", "0.6:0.4", "a:b", "0:1.5"):
        with pytest.raises(NeatError, match="--part must be LO:HI"):
            config(part=bad)
    with pytest.raises(NeatError, match="--valid-share"):
        config(valid_share=1.0)

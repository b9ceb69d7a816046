import json
import math

import pytest

from neat_data.errors import NeatError
from neat_data.hh import Pair, load_hh
from neat_data.scoring import RewardScorer
from neat_train import reward_model, rm_eval_cmd, rm_train_cmd
from neat_train.reward_model import evaluate_pairs, pair_diagnostics


def write_hh_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def sanity_file(tmp_path, hh_rows):
    """The four fixture pairs labelled with sanity-suite categories (two share one category)."""
    rows = [
        {**row, "category": cat}
        for row, cat in zip(hh_rows, ["helpful_vs_dismissive", "factual", "brief_refusal_vs_harmful", "factual"])
    ]
    return write_hh_jsonl(tmp_path / "sanity.jsonl", rows)


def train_config(hh_file, base, out, **kw):
    kw = {"train_on": "all", "epochs": 8, "learning_rate": 1e-2, "batch_size": 2, "lora_r": 4, "max_length": 64, **kw}
    pairs = hh_file if isinstance(hh_file, list) else str(hh_file)
    return rm_train_cmd.Config(dataset=pairs, out=str(out), base=str(base), **kw)


def accuracy(rm_dir, hh_file, tmp_path):
    scorer = RewardScorer(str(rm_dir), device="cpu", use_cache=False, progress=False)
    return evaluate_pairs(scorer, load_hh(str(hh_file)).pairs)


def assert_delta_rebuilds(base, delta, out, hh_file, tmp_path):
    """The RM rebuilt from ``base`` + the LoRA ``delta`` scores the pairs' chosen replies as the saved ``out``."""
    from neat_data.models import materialise_rm

    rebuilt = tmp_path / "rebuilt"
    materialise_rm(base, delta, rebuilt)
    items = [(p.messages, p.chosen) for p in load_hh(str(hh_file)).pairs]
    a = RewardScorer(str(out), device="cpu", use_cache=False, progress=False).score(items)
    b = RewardScorer(str(rebuilt), device="cpu", use_cache=False, progress=False).score(items)
    assert a == pytest.approx(b, abs=1e-5)


def tiny_model_dir(model_type, path):
    """A tiny random one-output sequence-classification model of ``model_type``, saved to ``path``; returns it."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    size = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32}
    size |= {"vocab_size": 64, "num_key_value_heads": 2, "pad_token_id": 0}
    model = AutoModelForSequenceClassification.from_config(AutoConfig.for_model(model_type, num_labels=1, **size))
    model.eval().save_pretrained(path)
    return model


def test_rm_train_fits_the_pairs_and_its_delta_rebuilds_the_same_model(
    hh_file, sanity_file, tiny_rm_dir, tmp_path, capsys
):
    before = accuracy(tiny_rm_dir, hh_file, tmp_path)
    out, delta = tmp_path / "rm", tmp_path / "rm-delta"
    config = train_config(hh_file, tiny_rm_dir, out, delta_out=str(delta), sanity=[str(sanity_file)])
    assert rm_train_cmd.run(config) == 0
    after = accuracy(out, hh_file, tmp_path)
    assert after["accuracy"] == 1.0 and after["mean_margin"] > before["mean_margin"]
    report = json.loads((out / "neat_rm_train.json").read_text())
    assert report["train"]["pairs"] == 4 and report["config"]["method"] == "lora"
    assert report["train"]["base"] == str(tiny_rm_dir)  # the --base given, not a path resolved on this machine
    assert json.loads((delta / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_rm_dir)
    sanity = report["sanity"]["sanity.jsonl"]  # the same pairs, labelled: the fitted RM gets them all right
    assert sanity["accuracy"] == 1.0 and sanity["by_category"]["factual"] == {"accuracy": 1.0, "pairs": 2}
    out_text = capsys.readouterr()
    assert "sanity suite sanity.jsonl: pairwise accuracy 100.0% on 4 pairs" in out_text.out
    curve, zero_margin = report["train"]["loss_curve"], report["train"]["zero_margin_loss"]
    assert len(curve) == 16 and zero_margin == pytest.approx(math.log(2))  # logged each step; weights all 1
    assert curve[-1][1] < reward_model.COLLAPSE_SHARE * zero_margin and report["train"]["warnings"] == []
    assert f"mean loss {report['train']['train_loss']:.4f}, last logged {curve[-1][1]:.4f}" in out_text.out
    assert "has learned little" not in out_text.err
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"] and len(config["id2label"]) == 1
    tok = json.loads((out / "tokenizer_config.json").read_text())
    assert tok["truncation_side"] == "left" and tok["model_max_length"] == 64
    assert_delta_rebuilds(tiny_rm_dir, delta, out, hh_file, tmp_path)
    with pytest.raises(NeatError, match="--overwrite"):
        rm_train_cmd.run(train_config(hh_file, tiny_rm_dir, out))


def test_rm_train_holds_out_the_test_split(hh_file, tiny_rm_dir, tmp_path, capsys, monkeypatch):
    import neat_data.hh

    monkeypatch.setattr(neat_data.hh, "split_of", lambda qid, *a, **k: "test" if qid < "8" else "train")
    pairs = load_hh(str(hh_file)).pairs
    n_test = sum(p.query_id < "8" for p in pairs)
    if n_test in (0, len(pairs)):
        pytest.skip("the fixture's query ids all fall on one side of the split")
    out = tmp_path / "rm"
    rm_train_cmd.run(train_config(hh_file, tiny_rm_dir, out, train_on="train", epochs=1))
    report = json.loads((out / "neat_rm_train.json").read_text())
    assert report["train"]["pairs"] == len(pairs) - n_test and report["held_out"]["pairs"] == n_test
    assert "held-out test split of" in capsys.readouterr().out


def test_rm_train_reads_several_sources_and_skips_a_missing_sanity_suite(
    hh_file, tiny_rm_dir, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(reward_model, "SANITY_SUITE", tmp_path / "absent.jsonl")
    other = write_hh_jsonl(
        tmp_path / "other.jsonl", [json.loads(line) for line in hh_file.read_text().splitlines()[:2]]
    )
    out = tmp_path / "rm"
    rm_train_cmd.run(train_config([str(hh_file), str(other)], tiny_rm_dir, out, epochs=1))
    report = json.loads((out / "neat_rm_train.json").read_text())
    assert report["train"]["pairs"] == 6 and report["sanity"] == {}
    assert "no sanity suite found" in capsys.readouterr().out
    with pytest.raises(NeatError, match="--sanity .*nope.jsonl: no such file"):
        train_config(hh_file, tiny_rm_dir, out, sanity=[str(tmp_path / "nope.jsonl")])


def test_rm_train_warns_when_the_loss_ends_at_the_zero_margin_loss(hh_file, tiny_rm_dir, tmp_path, capsys):
    out = tmp_path / "rm"
    rm_train_cmd.run(train_config(hh_file, tiny_rm_dir, out, epochs=1, learning_rate=1e-9))  # learns nothing
    train = json.loads((out / "neat_rm_train.json").read_text())["train"]
    assert train["warnings"] and "it never fell: train longer" in train["warnings"][0]
    assert "WARNING: the training loss ended at" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("curve", "expected"),
    [
        ([[100, 0.674], [200, 0.695], [603, 0.696]], "had fallen to 0.6740 by step 100 and climbed back"),  # m2's
        ([[1, 0.693], [2, 0.6931]], "it never fell"),
        ([[1, 0.69], [2, 0.575]], None),  # m1's run ended at 0.575: learned
        ([], None),  # nothing logged
    ],
)
def test_collapse_warning_on_hand_set_loss_curves(curve, expected):
    warning = reward_model.collapse_warning(curve, math.log(2))
    assert warning is None if expected is None else expected in warning


def test_rm_eval_json(hh_file, tiny_rm_dir, capsys):
    rm_eval_cmd.run(rm_eval_cmd.Config(dataset=str(hh_file), rm=str(tiny_rm_dir), json=True, device="cpu"))
    result = json.loads(capsys.readouterr().out)
    assert result["pairs"] == 4 and 0.0 <= result["accuracy"] <= 1.0
    assert {"mean_margin", "scores", "chosen", "rejected", "fingerprint"} <= set(result)
    scorer = RewardScorer(str(tiny_rm_dir), device="cpu", use_cache=False, progress=False)
    pairs = load_hh(str(hh_file)).pairs
    chosen = scorer.score([(p.messages, p.chosen) for p in pairs])
    rejected = scorer.score([(p.messages, p.rejected) for p in pairs])
    assert result["accuracy"] == sum(c > r for c, r in zip(chosen, rejected)) / 4
    assert result["mean_margin"] == pytest.approx(sum(c - r for c, r in zip(chosen, rejected)) / 4, abs=1e-6)
    with pytest.raises(NeatError, match="--subset"):
        rm_eval_cmd.Config(dataset=str(hh_file), subset="dev")


def test_rm_eval_json_has_the_diagnostics_others_rely_on(sanity_file, tiny_rm_dir, capsys):
    rm_eval_cmd.run(rm_eval_cmd.Config(dataset=str(sanity_file), rm=str(tiny_rm_dir), json=True, device="cpu"))
    result = json.loads(capsys.readouterr().out)
    assert {
        "accuracy",
        "pairs",
        "mean_margin",
        "by_category",
        "accuracy_chosen_longer",
        "accuracy_chosen_shorter",
        "shorter_wins_accuracy",
        "length_spearman",
        "warnings",
    } <= set(result)
    assert {cat: v["pairs"] for cat, v in result["by_category"].items()} == {
        "brief_refusal_vs_harmful": 1,
        "factual": 2,
        "helpful_vs_dismissive": 1,
    }
    # recomputed from the RM's scores and its tokenizer's response lengths
    scorer = RewardScorer(str(tiny_rm_dir), device="cpu", use_cache=False, progress=False)
    pairs = load_hh(str(sanity_file)).pairs
    chosen = scorer.score([(p.messages, p.chosen) for p in pairs])
    rejected = scorer.score([(p.messages, p.rejected) for p in pairs])
    length = [len(scorer.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in [p.chosen for p in pairs]]
    length_r = [len(scorer.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in [p.rejected for p in pairs]]
    assert all(lc > lr for lc, lr in zip(length, length_r))  # every fixture chosen reply is the longer one
    assert result["accuracy_chosen_longer"] == result["accuracy"] == sum(c > r for c, r in zip(chosen, rejected)) / 4
    assert result["accuracy_chosen_shorter"] is None and result["shorter_wins_accuracy"] == 0.0
    assert result["by_category"]["factual"]["accuracy"] == sum(chosen[i] > rejected[i] for i in (1, 3)) / 2
    rm_eval_cmd.run(rm_eval_cmd.Config(dataset=str(sanity_file), rm=str(tiny_rm_dir), device="cpu"))
    text = capsys.readouterr().out
    assert "where the chosen reply is longer (4 pairs)" in text and "by category: brief_refusal_vs_harmful" in text


def test_diagnostics_on_hand_set_scores():
    # pair:        0      1      2 (tie)  3
    chosen = [3.0, 1.0, 2.0, 0.0]
    rejected = [1.0, 2.0, 2.0, -1.0]
    chosen_len, rejected_len = [10, 5, 8, 3], [4, 9, 8, 6]  # chosen longer in pair 0, shorter in 1 and 3
    d = pair_diagnostics(chosen, rejected, chosen_len, rejected_len, ["a", "a", "b", None])
    assert d["by_category"] == {"a": {"accuracy": 0.5, "pairs": 2}, "b": {"accuracy": 0.0, "pairs": 1}}
    assert (d["accuracy_chosen_longer"], d["pairs_chosen_longer"]) == (1.0, 1)
    assert (d["accuracy_chosen_shorter"], d["pairs_chosen_shorter"]) == (0.5, 2)
    assert d["shorter_wins_accuracy"] == 0.5
    # ranks by hand (ties averaged): rewards [8, 3.5, 6, 2, 3.5, 6, 6, 1], lengths [8, 3, 5.5, 1, 2, 7, 5.5, 4]
    assert d["length_spearman"] == pytest.approx(33.5 / math.sqrt(39.5 * 41.5), abs=1e-12)
    assert len(d["warnings"]) == 1 and "100.0%" in d["warnings"][0] and "50.0%" in d["warnings"][0]
    # a gap of exactly 20 points does not warn; no pair on one side: that accuracy is None, no warning
    longer, shorter = [2] * 5 + [1] * 5, [1] * 5 + [2] * 5
    d = pair_diagnostics([1, 1, 1, 1, 0] + [1] * 5, [0] * 10, longer, shorter, [None] * 10)
    assert (d["accuracy_chosen_longer"], d["accuracy_chosen_shorter"], d["warnings"]) == (0.8, 1.0, [])
    d = pair_diagnostics([1, 1, 1, 0, 0] + [1] * 5, [0] * 10, longer, shorter, [None] * 10)
    assert (d["accuracy_chosen_longer"], d["accuracy_chosen_shorter"], len(d["warnings"])) == (0.6, 1.0, 1)
    d = pair_diagnostics([1, 0, 1, 1, 0], [0, 1, 0, 0, 1], [2, 2, 2, 2, 2], [1, 1, 1, 1, 1], [None] * 5)
    assert d["accuracy_chosen_shorter"] is None and d["warnings"] == [] and d["length_spearman"] is not None
    d = pair_diagnostics([1.0, 2.0], [0.0, 1.0], [3, 3], [3, 3], [None, None])
    assert d["length_spearman"] is None and d["shorter_wins_accuracy"] == 0.0


class StubScorer:
    """Known rewards per response text; response length = number of words."""

    name = "stub"

    def __init__(self, rewards: dict[str, float]):
        self.rewards = rewards

    @staticmethod
    def tokenizer(texts, add_special_tokens=True, verbose=True):
        return {"input_ids": [t.split() for t in texts]}

    def score(self, items):
        return [self.rewards[response] for _, response in items]


def stub_pairs(*replies):
    q = [{"role": "user", "content": "Question?"}]
    return [Pair(f"q{i}", q, c, r, f"stub:{i}", cat) for i, (c, r, cat) in enumerate(replies)]


def test_evaluate_pairs_uses_response_lengths_and_refuses_constant_scores():
    pairs = stub_pairs(("a b c", "d", "x"), ("e", "f g h i", "x"), ("j k", "l m n o p", "y"), ("q r s", "t", "y"))
    scorer = StubScorer(
        {"a b c": 1.0, "d": 0.0, "e": 0.0, "f g h i": 1.0, "j k": 2.0, "l m n o p": 1.0, "q r s": 1.5, "t": 2.0}
    )
    result = evaluate_pairs(scorer, pairs)
    assert result["accuracy"] == 0.5 and result["mean_margin"] == pytest.approx((1 - 1 + 1 - 0.5) / 4)
    assert (result["accuracy_chosen_longer"], result["accuracy_chosen_shorter"]) == (0.5, 0.5)
    assert result["by_category"] == {"x": {"accuracy": 0.5, "pairs": 2}, "y": {"accuracy": 0.5, "pairs": 2}}
    assert result["shorter_wins_accuracy"] == 0.5 and result["warnings"] == []
    with pytest.raises(NeatError, match="stub: its scores on these 4 pairs are all 0.25 .*broken or untrained"):
        evaluate_pairs(StubScorer(dict.fromkeys(scorer.rewards, 0.25)), pairs)
    with pytest.raises(NeatError, match="not all finite"):
        evaluate_pairs(StubScorer({**scorer.rewards, "d": float("nan")}), pairs)


def test_rm_eval_refuses_an_rm_with_a_constant_head(sanity_file, tiny_rm_dir, tmp_path, capsys):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from flows.cli import main

    model = AutoModelForSequenceClassification.from_pretrained(tiny_rm_dir)
    with torch.no_grad():
        model.classifier.weight.zero_()
    broken = tmp_path / "broken-rm"
    model.save_pretrained(broken)
    AutoTokenizer.from_pretrained(tiny_rm_dir).save_pretrained(broken)
    assert main(["rm", "eval", "--pairs", str(sanity_file), "--rm", str(broken), "--device", "cpu", "--json"]) == 2
    assert "broken or untrained head" in capsys.readouterr().err


def test_rm_train_rejects_bad_flags(hh_file):
    with pytest.raises(NeatError, match="--delta-out needs --method lora"):
        rm_train_cmd.Config(dataset=str(hh_file), method="full", delta_out="x")
    with pytest.raises(NeatError, match="--train-on"):
        rm_train_cmd.Config(dataset=str(hh_file), train_on="test")


@pytest.mark.parametrize("command", [["rm", "train"], ["rm", "eval"], ["score"]])
def test_help_lists_the_flags_others_rely_on(command, capsys):
    from flows.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    flags = {
        "rm train": ["--pairs", "--out", "--limit", "--seed"],
        "rm eval": ["--pairs", "--rm", "--json", "--limit"],
        "score": ["--dataset", "--rm", "--out", "--limit", "--batch-size"],
    }[" ".join(command)]
    assert all(flag in out for flag in flags)


def test_judge_head_init_scores_like_the_lm_asked_the_judge_question(tiny_policy_dir, monkeypatch):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from neat_data.scoring import rm_text

    monkeypatch.setattr(reward_model, "JUDGE_WORDS", ("Y", "N"))  # single tokens of the tiny tokenizer
    tok = AutoTokenizer.from_pretrained(tiny_policy_dir)
    tok.chat_template = reward_model.judge_template(tok.chat_template)
    text = rm_text(tok, [{"role": "user", "content": "How do I bake bread?"}], "Mix flour and water.")
    assert text.endswith(
        f"Mix flour and water.<|im_end|>\n<|im_start|>user\n{reward_model.JUDGE_QUESTION}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    rm = reward_model.build_model(tiny_policy_dir, "full", 4, tokenizer=tok, head_init="judge")
    lm = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    ids = tok(text, return_tensors="pt", add_special_tokens=False)
    y, n = (tok.encode(w, add_special_tokens=False)[0] for w in ("Y", "N"))
    with torch.no_grad():
        logits = lm(**ids).logits[0, -1]
        assert rm(**ids).logits[0, 0].item() == pytest.approx((logits[y] - logits[n]).item(), abs=1e-5)


def test_rm_train_on_an_lm_base_with_judge_head_and_top_layer_lora(hh_file, tiny_policy_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(reward_model, "JUDGE_WORDS", ("Y", "N"))
    out, delta = tmp_path / "rm", tmp_path / "rm-delta"
    config = train_config(
        hh_file,
        tiny_policy_dir,
        out,
        delta_out=str(delta),
        head_init="judge",
        lora_layers=1,
        max_length=256,
        sanity=[str(hh_file)],
    )
    assert rm_train_cmd.run(config) == 0
    adapter = json.loads((delta / "adapter_config.json").read_text())
    assert adapter["layers_to_transform"] == [1] and adapter["modules_to_save"] == ["score"]
    assert reward_model.JUDGE_QUESTION in (delta / "chat_template.jinja").read_text()  # scoring uses the template
    assert not (delta / "README.md").exists()
    assert_delta_rebuilds(tiny_policy_dir, delta, out, hh_file, tmp_path)
    with pytest.raises(NeatError, match="--head-init"):
        train_config(hh_file, tiny_policy_dir, out, head_init="zero")


def test_rm_train_keeps_the_model_when_an_evaluation_says_nothing(
    hh_file, sanity_file, tiny_rm_dir, tmp_path, capsys, monkeypatch
):
    def constant(scorer, pairs):
        raise NeatError("its scores on these 4 pairs are all 0.5")

    monkeypatch.setattr(reward_model, "evaluate_pairs", constant)
    out = tmp_path / "rm"
    assert rm_train_cmd.run(train_config(hh_file, tiny_rm_dir, out, epochs=1, sanity=[str(sanity_file)])) == 0
    report = json.loads((out / "neat_rm_train.json").read_text())
    assert report["sanity"]["sanity.jsonl"] == {"error": "its scores on these 4 pairs are all 0.5"}
    assert (out / "model.safetensors").is_file()
    assert "sanity suite sanity.jsonl: not evaluated: its scores" in capsys.readouterr().out


@pytest.mark.parametrize("model_type", sorted(reward_model.LORA_LAYOUT))
def test_each_lora_layout_adapts_every_named_module_of_its_model_type(model_type, tmp_path):
    tiny_model_dir(model_type, tmp_path)
    rm = reward_model.build_model(tmp_path, "lora", 4)
    targets, heads = reward_model.LORA_LAYOUT[model_type]
    adapted = [name for name, module in rm.named_modules() if hasattr(module, "lora_A")]
    for target in targets:  # at least one adapted module per target and layer (BERT has two output.dense a layer)
        assert sum(name.endswith(target) for name in adapted) in (2, 4), target
    trainable = {name for name, p in rm.named_parameters() if p.requires_grad}
    for head in heads:
        assert any(f"{head}.modules_to_save" in name for name in trainable), head


@pytest.mark.parametrize("model_type", sorted(reward_model.LORA_LAYOUT))
def test_dropping_the_length_head_keeps_the_quality_output(model_type, tmp_path):
    import torch

    plain = tiny_model_dir(model_type, tmp_path)
    rm = reward_model.build_model(tmp_path, "lora", 4, outputs=2).eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        two = rm(input_ids=ids).logits
        assert two[0, 0].item() == pytest.approx(plain(input_ids=ids).logits[0, 0].item(), abs=1e-6)  # head kept
        reward_model.drop_length_head(rm)
        one = rm(input_ids=ids).logits
    assert two.shape == (1, 2) and one.shape == (1, 1)
    assert one[0, 0].item() == pytest.approx(two[0, 0].item(), abs=1e-6)
    assert rm.config.num_labels == 1


def test_rm_train_with_a_length_head_saves_a_one_output_rm_its_delta_rebuilds(hh_file, tiny_rm_dir, tmp_path):
    out, delta = tmp_path / "rm", tmp_path / "rm-delta"
    assert rm_train_cmd.run(train_config(hh_file, tiny_rm_dir, out, delta_out=str(delta), length_head=1.0)) == 0
    assert len(json.loads((out / "config.json").read_text())["id2label"]) == 1
    assert json.loads((out / "neat_rm_train.json").read_text())["config"]["length_head"] == 1.0
    assert_delta_rebuilds(tiny_rm_dir, delta, out, hh_file, tmp_path)

import json
import shutil

import pytest
import torch

from neat_data.errors import NeatError
from neat_data.ranking import make_response
from neat_data.scoring import RewardScorer, hh_transcript, rm_text, score_rows

Q1 = [{"role": "user", "content": "How do I bake bread?"}]
Q2 = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Tell me a joke."},
]
ITEMS = [
    (Q1, "Mix flour, water, yeast and salt, knead, let it rise, then bake."),
    (Q1, "No."),
    (Q2, "Why did the chicken cross the road? To get to the other side."),
    (Q2, "I don't know any jokes."),
    (Q1, "the quick brown fox " * 12),
]


def scorer(rm_dir, tmp_path, **kw):
    kw.setdefault("cache_dir", tmp_path / "cache")
    return RewardScorer(str(rm_dir), device="cpu", progress=False, **kw)


def reference_scores(rm_dir, items):
    """One item at a time, no padding, through plain transformers: what batching must reproduce."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(rm_dir)
    model = AutoModelForSequenceClassification.from_pretrained(rm_dir).eval()
    out = []
    for messages, response in items:
        ids = tok(rm_text(tok, messages, response), return_tensors="pt")
        with torch.no_grad():
            out.append(model(**ids).logits[0, 0].item())
    return out


def test_scores_do_not_depend_on_batch_size_or_padding_side(tiny_rm_dir, tmp_path):
    expected = reference_scores(tiny_rm_dir, ITEMS)
    left = tmp_path / "left-padded-rm"
    shutil.copytree(tiny_rm_dir, left)
    cfg = json.loads((left / "tokenizer_config.json").read_text())
    (left / "tokenizer_config.json").write_text(json.dumps({**cfg, "padding_side": "left"}))
    for rm_dir in (tiny_rm_dir, left):
        for batch_size in (1, 2, 5):
            got = scorer(rm_dir, tmp_path, batch_size=batch_size, cache_dir=None, use_cache=False).score(ITEMS)
            assert got == pytest.approx(expected, abs=1e-4)
    assert len(set(round(s, 6) for s in expected)) > 1  # the tiny RM really distinguishes the items


def test_results_in_input_order_and_cached_across_instances(tiny_rm_dir, tmp_path):
    first = scorer(tiny_rm_dir, tmp_path, batch_size=2)
    scores = first.score(ITEMS)
    assert first.cache_hits == 0
    reversed_scores = scorer(tiny_rm_dir, tmp_path, batch_size=3).score(ITEMS[::-1])
    assert reversed_scores == pytest.approx(scores[::-1], abs=1e-6)
    again = scorer(tiny_rm_dir, tmp_path)  # a fresh process would see the same sqlite file
    again._score_uncached = lambda items: pytest.fail("cache miss for already scored items")
    assert again.score(ITEMS) == pytest.approx(scores, abs=1e-12)
    assert again.cache_hits == len(ITEMS) and again.fingerprint == first.fingerprint


def test_fingerprint_changes_with_max_length_so_the_cache_never_mixes_them(tiny_rm_dir, tmp_path):
    a = scorer(tiny_rm_dir, tmp_path)
    b = scorer(tiny_rm_dir, tmp_path, max_length=16)
    assert a.fingerprint != b.fingerprint
    full, cut = a.score(ITEMS[-1:]), b.score(ITEMS[-1:])
    assert b.truncated == 1 and full != pytest.approx(cut, abs=1e-6)


def test_left_truncation_keeps_the_end_of_the_response_and_is_counted(tiny_rm_dir, tmp_path):
    s = scorer(tiny_rm_dir, tmp_path, max_length=24, use_cache=False)
    long_item = (Q1, "blah " * 40 + "The end.")
    s.score([long_item, (Q1, "No.")])
    assert s.truncated == 1
    from neat_data.scoring import encode

    rows, n = encode(s.tokenizer, [rm_text(s.tokenizer, *long_item)], 24)
    assert n == 1 and len(rows[0]["input_ids"]) == 24
    assert s.tokenizer.decode(rows[0]["input_ids"]).rstrip().endswith("The end.<|im_end|>")


def test_truncated_inputs_raise_no_false_indexing_errors_warning(tiny_rm_dir, tmp_path):
    # transformers warns "will result in indexing errors" for a text over model_max_length; the scorer truncates it
    s = scorer(tiny_rm_dir, tmp_path, max_length=24, use_cache=False)
    s.tokenizer.model_max_length = 24
    s.score([(Q1, "blah " * 40 + "The end.")])
    assert s.truncated == 1
    assert not s.tokenizer.deprecation_warnings.get("sequence-length-is-longer-than-the-specified-maximum")


def test_hh_format_when_the_rm_has_no_chat_template(tiny_rm_dir, tmp_path):
    plain = tmp_path / "no-template-rm"
    shutil.copytree(tiny_rm_dir, plain)
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((plain / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(cfg))
    s = scorer(plain, tmp_path)
    assert not s.tokenizer.chat_template
    assert (
        rm_text(s.tokenizer, Q2, "Ha.")
        == "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Tell me a joke.\n\nAssistant: Ha."
    )
    assert hh_transcript(Q1, "x") == "\n\nHuman: How do I bake bread?\n\nAssistant: x"
    assert s.fingerprint != scorer(tiny_rm_dir, tmp_path).fingerprint


def test_score_rows_fills_missing_rewards_and_ranks(tiny_rm_dir, tmp_path):
    s = scorer(tiny_rm_dir, tmp_path)
    kept = {**make_response("kept as is", "positive_prompt"), "reward": 99.0}
    rows = [
        {
            "query_id": "q1",
            "messages": Q1,
            "responses": [
                make_response(ITEMS[1][1], "dataset_rejected"),
                make_response(ITEMS[0][1], "dataset_chosen"),
                kept,
            ],
        }
    ]
    out = score_rows(rows, s)
    assert out is rows  # in place, and returned
    responses = out[0]["responses"]
    assert [r["rank"] for r in responses] == [0, 1, 2] and responses[0]["reward"] == 99.0
    rewards = [r["reward"] for r in responses]
    assert rewards == sorted(rewards, reverse=True)
    assert {r["text"]: r["reward"] for r in responses}[ITEMS[0][1]] == pytest.approx(s.score([ITEMS[0]])[0])


def test_rm_with_several_labels_is_refused(tiny_rm_dir, tmp_path):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    two = tmp_path / "two-label"
    config = AutoConfig.from_pretrained(tiny_rm_dir, num_labels=2)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(two)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_rm_dir / name, two / name)
    with pytest.raises(NeatError, match="2 output labels"):
        scorer(two, tmp_path)


def test_missing_tokenizer_and_non_model_paths_are_refused(tiny_rm_dir, tmp_path):
    bare = tmp_path / "no-tokenizer"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_rm_dir / name, bare / name)
    with pytest.raises(NeatError, match="could not load its tokenizer"):
        scorer(bare, tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(NeatError, match="no config.json"):
        scorer(tmp_path / "empty", tmp_path)
    with pytest.raises(NeatError, match="no such file or directory"):
        scorer(tmp_path / "missing", tmp_path)


def test_failing_chat_template_names_the_model(tiny_rm_dir, tmp_path):
    broken = tmp_path / "broken-template"
    shutil.copytree(tiny_rm_dir, broken)
    (broken / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((broken / "tokenizer_config.json").read_text())
    cfg["chat_template"] = "{{ raise_exception('roles must alternate') }}"
    (broken / "tokenizer_config.json").write_text(json.dumps(cfg))
    s = scorer(broken, tmp_path)
    with pytest.raises(NeatError, match="broken-template.*chat template failed"):
        s.score(ITEMS[:1])

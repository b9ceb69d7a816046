import shutil

import pytest

from neat_data.errors import NeatError
from neat_data.generation import Generation, SamplingConfig, make_backend
from neat_data.generation.base import CHATML_TEMPLATE, Rendered, Request, render_prompts, sample_seed, stop_token_ids
from neat_data.generation.hf_backend import Rows

CONVERSATIONS = [
    [{"role": "user", "content": "How do I bake bread?"}],
    [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke."},
    ],
    [{"role": "user", "content": "What is the capital of France?"}],
]


@pytest.fixture(scope="module")
def backend(tiny_policy_dir):
    b = make_backend("transformers", str(tiny_policy_dir), device="cpu", batch_size=2)
    yield b
    b.close()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_new_tokens": 0}, "--max-new-tokens: input should be greater than or equal to 1, got 0"),
        ({"max_new_tokens": -3}, "--max-new-tokens: input should be greater than or equal to 1, got -3"),
        ({"n": 0}, "--n: input should be greater than or equal to 1"),
        ({"top_p": 0.0}, "--top-p: input should be greater than 0"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": 0.0, "n": 2}, "greedy"),
    ],
)
def test_sampling_config_validation(kwargs, message):
    with pytest.raises(NeatError, match=message):
        SamplingConfig(**kwargs)


def test_sampling_record_matches_the_shard_struct():
    from neat_data.shards import SAMPLING_TYPE

    record = SamplingConfig(temperature=0.7, top_p=0.9, max_new_tokens=16, n=3, seed=5).as_record("system")
    assert record == {
        "temperature": 0.7,
        "top_p": 0.9,
        "max_new_tokens": 16,
        "seed": 5,
        "placement": "system",
        "guidance": None,
        "guidance_reference": None,
        "prefill": None,
    }
    assert set(record) == {f.name for f in SAMPLING_TYPE}
    guided = SamplingConfig().as_record("system", guidance=1.5, guidance_reference="plain", prefill="Sure.")
    assert (guided["guidance"], guided["guidance_reference"], guided["prefill"]) == (1.5, "plain", "Sure.")


def test_generates_n_samples_per_conversation_in_input_order(backend):
    out = backend.generate(CONVERSATIONS, SamplingConfig(max_new_tokens=6, n=3, seed=1))
    assert len(out) == len(CONVERSATIONS) and all(len(g) == 3 for g in out)
    for gens in out:
        for g in gens:
            assert isinstance(g, Generation) and g.finish_reason in ("eos", "length")
            assert 0 <= g.n_tokens <= 6 and (g.finish_reason == "eos" or g.n_tokens == 6)
            assert "<|im_end|>" not in g.text and "<|im_start|>" not in g.text


def test_same_seed_same_samples_other_seed_other_samples(backend):
    a = backend.generate(CONVERSATIONS, SamplingConfig(max_new_tokens=8, n=2, seed=7))
    b = backend.generate(CONVERSATIONS, SamplingConfig(max_new_tokens=8, n=2, seed=7))
    c = backend.generate(CONVERSATIONS, SamplingConfig(max_new_tokens=8, n=2, seed=8))
    assert a == b
    assert a != c


def test_batched_left_padded_greedy_equals_one_at_a_time(diverse_policy_dir):
    batched = make_backend("transformers", str(diverse_policy_dir), device="cpu", batch_size=3)
    single = make_backend("transformers", str(diverse_policy_dir), device="cpu", batch_size=1)
    greedy = SamplingConfig(temperature=0.0, max_new_tokens=8)
    system = {"role": "system", "content": "You are a helpful and harmless assistant. " * 4}
    conversations = CONVERSATIONS + [[system, *c] for c in CONVERSATIONS]  # a prefix pre-filled once
    out = batched.generate(conversations, greedy)
    assert out == single.generate(conversations, greedy)
    assert len({gens[0].text for gens in out}) == len(conversations)  # the answers differ: padding would show


def test_on_batch_reports_every_conversation_and_token(backend):
    seen = []
    out = backend.generate(
        CONVERSATIONS, SamplingConfig(max_new_tokens=5, n=2), on_batch=lambda c, t: seen.append((c, t))
    )
    assert sum(c for c, _ in seen) == len(CONVERSATIONS)
    assert sum(t for _, t in seen) == sum(g.n_tokens for gens in out for g in gens)
    assert len(seen) == 2  # batch_size 2 over 3 conversations


def test_decode_stops_at_end_of_turn_and_strips_special_tokens(backend, tiny_tokenizer):
    im_start, im_end = tiny_tokenizer.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])
    words = tiny_tokenizer("Paris is", add_special_tokens=False)["input_ids"]
    stopped = backend._decode([im_start, *words, im_end, *words, backend.pad_id])
    assert stopped == Generation("Paris is", "eos", len(words) + 1)
    cut = backend._decode(words)
    assert cut == Generation("Paris is", "length", len(words))


def test_stop_tokens_include_end_of_turn(tiny_tokenizer):
    ids = stop_token_ids(tiny_tokenizer)
    assert tiny_tokenizer.convert_tokens_to_ids("<|im_end|>") in ids


def test_long_query_is_left_truncated_and_counted(tiny_policy_dir):
    b = make_backend("transformers", str(tiny_policy_dir), device="cpu")
    long = [{"role": "user", "content": "the quick brown fox " * 300 + "What is the capital of France?"}]
    out = b.generate([long, CONVERSATIONS[0]], SamplingConfig(max_new_tokens=4))
    assert len(out) == 2 and b.stats["truncated"] == 1 and b.stats["prompts"] == 2
    ids, truncated = render_prompts(b.tokenizer, [long], b.template, 100)
    full, _ = render_prompts(b.tokenizer, [long], b.template, None)
    assert truncated == 1 and len(ids[0]) == 100 and ids[0] == full[0][-100:]  # the end of the prompt is kept
    with pytest.raises(NeatError, match="lower --max-new-tokens"):
        b.generate([CONVERSATIONS[0]], SamplingConfig(max_new_tokens=b.context))


def test_policy_without_chat_template_fails_clearly_or_uses_the_fallback(tiny_policy_dir, tmp_path):
    plain = tmp_path / "plain-policy"
    shutil.copytree(tiny_policy_dir, plain)
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    import json

    cfg = json.loads((plain / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(cfg))
    with pytest.raises(NeatError, match="no chat template.*--chat-template chatml"):
        make_backend("transformers", str(plain), device="cpu")
    b = make_backend("transformers", str(plain), device="cpu", chat_template="chatml")
    assert b.template == CHATML_TEMPLATE
    assert len(b.generate([CONVERSATIONS[0]], SamplingConfig(max_new_tokens=3))[0]) == 1
    with pytest.raises(NeatError, match="no such file"):
        make_backend("transformers", str(plain), device="cpu", chat_template=str(tmp_path / "missing.jinja"))


def test_adapter_policy_and_generator_id(tiny_policy_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from neat_data.models import adapter_hash

    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_policy_dir),
        LoraConfig(r=4, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    model.save_pretrained(tmp_path / "adapter")
    base = make_backend("transformers", str(tiny_policy_dir), device="cpu")
    tuned = make_backend("transformers", str(tiny_policy_dir), adapter=str(tmp_path / "adapter"), device="cpu")
    assert base.generator == f"{tiny_policy_dir.name}@base"
    assert tuned.generator == f"{tiny_policy_dir.name}@{adapter_hash(tmp_path / 'adapter')}"
    ids = torch.tensor([[1, 2, 3, 4]])
    assert not torch.allclose(base.model(ids).logits, tuned.model(ids).logits)  # the adapter is applied


def test_sample_seed_is_a_function_of_seed_round_query_prompt_and_index():
    base = sample_seed(0, 1, "q1", "paper-negative", 0)
    assert base == sample_seed(0, 1, "q1", "paper-negative", 0) and 0 <= base < 2**63
    others = [
        sample_seed(1, 1, "q1", "paper-negative", 0),
        sample_seed(0, 2, "q1", "paper-negative", 0),
        sample_seed(0, 1, "q2", "paper-negative", 0),
        sample_seed(0, 1, "q1", "paper-positive", 0),
        sample_seed(0, 1, "q1", "paper-negative", 1),
    ]
    assert len({base, *others}) == 6


def test_unknown_backend_and_bad_batch_size(tiny_policy_dir):
    with pytest.raises(NeatError, match="unknown generation backend"):
        make_backend("onnx", str(tiny_policy_dir))
    with pytest.raises(NeatError, match="batch_size"):
        make_backend("transformers", str(tiny_policy_dir), batch_size=0)


def test_decoding_loop_greedy_equals_transformers_generate_while_rows_finish(diverse_policy_dir):
    import torch

    b = make_backend("transformers", str(diverse_policy_dir), device="cpu", batch_size=8)
    conversations = CONVERSATIONS + [[{"role": "user", "content": f"Question {i}: {'why ' * i}?"}] for i in range(5)]
    prompts, _ = render_prompts(b.tokenizer, conversations, b.template, None)
    greedy = SamplingConfig(temperature=0.0, max_new_tokens=12)
    rows = Rows.of([Rendered(p, [i], []) for i, p in enumerate(prompts)])
    with torch.inference_mode():
        free = b._generate_with_transformers(rows, greedy)
    # stop tokens taken from the middle of the free-running answers make rows finish at different steps
    b.stop_ids = sorted({row[3 + i % 6] for i, row in enumerate(free)})

    def cut(row):
        end = next((k for k, t in enumerate(row) if t in b.stop_ids), len(row) - 1)
        return row[: end + 1]

    with torch.inference_mode():
        reference = [cut(r) for r in b._generate_with_transformers(rows, greedy)]
        ours = [cut(r) for r in b._decoding_loop(rows, greedy, *b._prefill(prompts))]
    assert ours == reference
    assert len({len(r) for r in ours}) >= 3  # rows really left the batch at different steps


@pytest.mark.slow
def test_real_policy_decoding_loop_matches_transformers_generate():
    """SmolLM2 (GQA, 49k vocabulary, its chat template): greedy tokens of NEAT's loop equal transformers
    ``generate`` one prompt at a time, and batching (left padding, ragged attention) does not change them."""
    import torch

    b = make_backend("transformers", "default", device="cpu", batch_size=8)
    assert b.ragged_attention
    conversations = CONVERSATIONS + [
        [{"role": "user", "content": "Write a long story about " + "a cat, " * k}] for k in (1, 20, 60, 5, 40)
    ]
    prompts, _ = render_prompts(b.tokenizer, conversations, b.template, None)
    greedy = SamplingConfig(temperature=0.0, max_new_tokens=24)
    one = [Rows.of([Rendered(p, [0], [])]) for p in prompts]
    with torch.inference_mode():
        reference = [b._decode(b._generate_with_transformers(r, greedy)[0]) for r in one]
        single = [b._decode(b._decoding_loop(r, greedy, *b._prefill(r.prompts))[0]) for r in one]
    assert single == reference
    assert {g.finish_reason for g in single} == {"eos", "length"}
    batched = b.generate(conversations, greedy)
    b.batch_size = 1
    assert batched == b.generate(conversations, greedy)


SAMPLED = SamplingConfig(temperature=1.0, max_new_tokens=8, n=2)


def seeded(conversations, round_index=1, **kw):
    return [
        Request(c, seeds=[sample_seed(0, round_index, c[-1]["content"], "p", j) for j in range(2)], **kw)
        for c in conversations
    ]


def test_samples_do_not_depend_on_batch_size_or_neighbours_but_on_the_round(tiny_policy_dir):
    b = make_backend("transformers", str(tiny_policy_dir), device="cpu", batch_size=4)
    four = b.generate(seeded(CONVERSATIONS), SAMPLED)
    b.batch_size = 1
    assert b.generate(seeded(CONVERSATIONS), SAMPLED) == four
    assert b.generate(seeded(CONVERSATIONS[2:]), SAMPLED) == four[2:]  # without the other requests
    other_round = b.generate(seeded(CONVERSATIONS, round_index=2), SAMPLED)
    assert all(a != o for a, o in zip(four, other_round))
    assert all(gens[0] != gens[1] for gens in four)  # the n samples of a request differ too


def test_fallback_generate_path_samples_like_the_decoding_loop(diverse_policy_dir):
    import torch

    b = make_backend("transformers", str(diverse_policy_dir), device="cpu")
    rendered = b._render(
        seeded(CONVERSATIONS[:2]) + seeded(CONVERSATIONS[2:], reference=CONVERSATIONS[0], guidance=1.5), SAMPLED
    )
    rows = Rows.of(rendered)
    assert len(rows.prompts) == 2 * 2 + 2 * 2  # the guided request's samples each have a reference row

    def cut(row):
        end = next((k for k, t in enumerate(row) if t in b.stop_ids), len(row) - 1)
        return row[: end + 1]

    with torch.inference_mode():
        loop = [cut(r) for r in b._generate_rows(rows, SAMPLED)]
        fallback = [cut(r) for r in b._generate_with_transformers(rows, SAMPLED)]
    assert loop == fallback


def test_guidance_weight_zero_is_plain_sampling(diverse_policy_dir):
    b = make_backend("transformers", str(diverse_policy_dir), device="cpu", batch_size=8)
    plain = b.generate(seeded(CONVERSATIONS), SAMPLED)
    assert b.generate(seeded(CONVERSATIONS, reference=CONVERSATIONS[0], guidance=0.0), SAMPLED) == plain
    guided = b.generate(
        seeded(CONVERSATIONS[:1], reference=CONVERSATIONS[1], guidance=2.0) + seeded(CONVERSATIONS)[1:], SAMPLED
    )
    assert guided[1:] == plain[1:]  # unguided requests batched with a guided one are unchanged
    assert guided[0] != plain[0]


def test_guided_greedy_follows_the_guided_logits_with_the_reference_on_the_same_prefix(diverse_policy_dir):
    """Each token of a guided greedy answer is the argmax of logits_neg + W (logits_neg - logits_ref), both computed
    here directly on the answer so far: so the reference rows really followed the negative row's tokens."""
    import torch

    b = make_backend("transformers", str(diverse_policy_dir), device="cpu")
    greedy = SamplingConfig(temperature=0.0, max_new_tokens=8)
    negative, reference, w = CONVERSATIONS[1], CONVERSATIONS[2], 1.0
    ((gen,),) = b.generate([Request(negative, reference=reference, guidance=w, prefill="Why")], greedy)
    (rendered,) = b._render([Request(negative, reference=reference, guidance=w, prefill="Why")], greedy)
    rows = Rows.of([rendered])
    with torch.inference_mode():
        (tokens, _) = b._generate_rows(rows, greedy)
        for t in range(len(tokens)):
            neg = b.model(input_ids=torch.tensor([rendered.ids + tokens[:t]])).logits[0, -1]
            ref = b.model(input_ids=torch.tensor([rendered.reference + tokens[:t]])).logits[0, -1]
            assert tokens[t] == int((neg + w * (neg - ref)).argmax())
    unguided = b.generate([Request(negative, prefill="Why")], greedy)[0][0]
    assert gen.text != unguided.text  # guidance changed the answer
    assert gen.text.startswith("Why") and unguided.text.startswith("Why")  # the prefill is part of the response
    assert rendered.ids[-len(rendered.prefill) :] == rendered.prefill == rendered.reference[-len(rendered.prefill) :]


def test_fluency_is_the_base_policys_mean_token_logprob_of_the_response(tiny_policy_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    peft = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_policy_dir),
        LoraConfig(r=4, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    peft.save_pretrained(tmp_path / "adapter")
    base = make_backend("transformers", str(tiny_policy_dir), device="cpu", batch_size=2)
    tuned = make_backend("transformers", str(tiny_policy_dir), adapter=str(tmp_path / "adapter"), device="cpu")
    items = [
        (CONVERSATIONS[0], "Mix flour, water and yeast."),
        (CONVERSATIONS[1], ""),
        (CONVERSATIONS[2], "Paris."),
        (CONVERSATIONS[1], "Why did the chicken cross the road?"),
    ]
    values = base.fluency(items)
    assert values[1] is None
    with torch.inference_mode():
        for (messages, text), value in zip(items, values):
            if not text:
                continue
            (query,), _ = render_prompts(base.tokenizer, [messages], base.template, None)
            response = base.tokenizer(text, add_special_tokens=False)["input_ids"]
            logprobs = base.model(input_ids=torch.tensor([query + response])).logits[0].log_softmax(-1)
            direct = sum(float(logprobs[len(query) + k - 1, t]) for k, t in enumerate(response)) / len(response)
            assert value == pytest.approx(direct, abs=1e-5)
    assert tuned.fluency(items) == pytest.approx(values, abs=1e-5)  # the adapter is disabled for fluency
    base._prefill = lambda prompts: None  # a model whose cache cannot be pre-filled: whole padded sequences
    assert base.fluency(items) == pytest.approx(values, abs=1e-5)
    with torch.inference_mode():  # while the tuned policy itself does differ
        ids = torch.tensor([[1, 2, 3, 4]])
        assert not torch.allclose(base.model(ids).logits, tuned.model(ids).logits)


def test_off_the_cpu_the_library_generate_samples_instead_of_the_loop(tiny_policy_dir, monkeypatch):
    """The decoding loop runs only on the CPU (where it was measured faster); elsewhere transformers ``generate``
    picks the same tokens through NEAT's sampler."""
    b = make_backend("transformers", str(tiny_policy_dir), device="cpu", batch_size=4)
    assert b.decoding_loop
    loop = b.generate(seeded(CONVERSATIONS), SAMPLED)
    calls = []
    real = b._generate_with_transformers
    monkeypatch.setattr(b, "_generate_with_transformers", lambda *a: calls.append(1) or real(*a))
    b.decoding_loop = False  # what a CUDA device sets
    assert b.generate(seeded(CONVERSATIONS), SAMPLED) == loop and calls

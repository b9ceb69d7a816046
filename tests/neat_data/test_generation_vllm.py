"""The vLLM backend against a fake engine (vLLM itself needs a GPU): the arguments it passes, the child process."""

import json
import os
from types import SimpleNamespace

import pytest

from neat_data.errors import NeatError
from neat_data.generation import SamplingConfig, make_backend
from neat_data.generation.base import Request, render_prompts
from neat_data.generation.vllm_backend import GUIDANCE_UNSUPPORTED, LORA_ID, LORA_NAME, VllmApi, vllm_api

CALLS: dict = {}

CONVERSATIONS = [
    [{"role": "user", "content": "How do I bake bread?"}],
    [{"role": "user", "content": "Tell me a joke."}],
]
LOG = "NEAT_FAKE_VLLM_LOG"  # the fake engine in a child process writes what it received to this file


class FakeSamplingParams:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


class FakeLoRARequest:
    def __init__(self, lora_name, lora_int_id, lora_path):
        self.args = (lora_name, lora_int_id, lora_path)


def fake_tokens(seed: int, stop: int) -> list[int]:
    """What the fake samples for a request of this seed: 3 tokens, then a stop token for even seeds."""
    return [10 + seed % 50, 11 + seed % 40, 12 + seed % 30] + ([stop] if seed % 2 == 0 else [])


def fake_logprob(token: int) -> float:
    return -(token % 7) / 10


class FakeLLM:
    """Records its arguments; samples ``fake_tokens(seed)``; prompt log-probs are ``fake_logprob(token)``."""

    def __init__(self, **kwargs):
        CALLS["llm"] = kwargs

    def generate(self, prompts, sampling_params, lora_request=None, use_tqdm=True):
        params = sampling_params if isinstance(sampling_params, list) else [sampling_params] * len(prompts)
        call = {"prompts": prompts, "sampling": [p.kwargs for p in params], "lora": lora_request and lora_request.args}
        CALLS.setdefault("generate", []).append(call)
        if os.environ.get(LOG):
            with open(os.environ[LOG], "a") as f:
                f.write(json.dumps(call) + "\n")
        outputs = []
        for prompt, p in zip(prompts, params):
            ids = prompt["prompt_token_ids"]
            if p.kwargs.get("prompt_logprobs") is not None:
                logprobs = [None] + [{t: SimpleNamespace(logprob=fake_logprob(t))} for t in ids[1:]]
                outputs.append(SimpleNamespace(prompt_logprobs=logprobs, outputs=[]))
            else:
                tokens = fake_tokens(p.kwargs["seed"], p.kwargs["stop_token_ids"][0])
                outputs.append(SimpleNamespace(outputs=[SimpleNamespace(token_ids=tokens, text="ignored")]))
        return outputs


def fake_api() -> VllmApi:
    return VllmApi(FakeLLM, FakeSamplingParams, FakeLoRARequest)


def broken_api() -> VllmApi:
    class Broken:
        def __init__(self, **kwargs):
            raise ValueError("CUDA out of memory (fake)")

    return VllmApi(Broken, FakeSamplingParams, FakeLoRARequest)


@pytest.fixture
def adapter_dir(tmp_path):
    d = tmp_path / "adapter"
    d.mkdir()
    (d / "adapter_config.json").write_text(json.dumps({"r": 16, "lora_alpha": 16, "peft_type": "LORA"}))
    (d / "adapter_model.safetensors").write_bytes(b"not read by the fake engine, only hashed")
    return d


def test_passes_engine_sampling_and_lora_arguments_with_one_seed_per_sample(tiny_policy_dir, adapter_dir):
    CALLS.clear()
    backend = make_backend(
        "vllm",
        str(tiny_policy_dir),
        adapter=str(adapter_dir),
        dtype="bfloat16",
        batch_size=4,
        tensor_parallel_size=2,
        engine_factory=fake_api,
        in_process=True,
    )
    sampling = SamplingConfig(temperature=1.0, top_p=0.9, max_new_tokens=32, n=2, seed=3)
    out = backend.generate([Request(c, seeds=[10 * i + 1, 10 * i + 2]) for i, c in enumerate(CONVERSATIONS)], sampling)
    llm = CALLS["llm"]
    assert llm["model"] == str(tiny_policy_dir) and llm["tensor_parallel_size"] == 2 and llm["dtype"] == "bfloat16"
    assert llm["enable_lora"] is True and llm["max_lora_rank"] == 16 and llm["trust_remote_code"] is False
    assert llm["load_format"] == "safetensors"  # never vLLM's fallback to pickled weights
    assert llm["max_model_len"] == 512
    (call,) = CALLS["generate"]
    assert call["lora"] == (LORA_NAME, LORA_ID, str(adapter_dir.resolve()))
    im_end = backend.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert [sp["seed"] for sp in call["sampling"]] == [1, 2, 11, 12]  # a SamplingParams per sample, its own seed
    for sp in call["sampling"]:
        assert (sp["n"], sp["temperature"], sp["top_p"], sp["max_tokens"]) == (1, 1.0, 0.9, 32)
        assert im_end in sp["stop_token_ids"] and sp["skip_special_tokens"] is True and sp["top_k"] == -1
    expected, _ = render_prompts(backend.tokenizer, CONVERSATIONS, backend.template, 512 - 32)
    assert call["prompts"] == [{"prompt_token_ids": ids} for ids in expected for _ in range(2)]  # same as transformers
    assert [len(g) for g in out] == [2, 2]
    for gens, seeds in zip(out, ([1, 2], [11, 12])):
        for g, seed in zip(gens, seeds):  # decoded in the parent by the shared code
            tokens = fake_tokens(seed, im_end)
            assert g.text == backend.tokenizer.decode(tokens[:3], skip_special_tokens=True).strip()
            assert (g.finish_reason, g.n_tokens) == ("eos" if seed % 2 == 0 else "length", 3)
    assert backend.generator == f"{tiny_policy_dir.name}@" + __import__("neat_data.models").models.adapter_hash(
        adapter_dir
    )
    backend.close()


def test_prefill_is_sent_and_kept_and_guidance_is_refused(tiny_policy_dir):
    CALLS.clear()
    backend = make_backend("vllm", str(tiny_policy_dir), engine_factory=fake_api, in_process=True)
    out = backend.generate(
        [Request(CONVERSATIONS[0], seeds=[4], prefill="Sure, here")], SamplingConfig(max_new_tokens=8)
    )
    prefill = backend.tokenizer("Sure, here", add_special_tokens=False)["input_ids"]
    (call,) = CALLS["generate"]
    assert call["prompts"][0]["prompt_token_ids"][-len(prefill) :] == prefill
    assert out[0][0].text.startswith("Sure, here") and out[0][0].n_tokens == 3
    guided = Request(CONVERSATIONS[0], reference=CONVERSATIONS[1], guidance=1.0)
    with pytest.raises(NeatError, match="--negative-guidance") as e:
        backend.generate([guided], SamplingConfig(max_new_tokens=8))
    assert str(e.value) == GUIDANCE_UNSUPPORTED and len(CALLS["generate"]) == 1  # nothing sent to the engine


def test_fluency_uses_prompt_logprobs_of_the_base_model(tiny_policy_dir, adapter_dir):
    CALLS.clear()
    backend = make_backend(
        "vllm", str(tiny_policy_dir), adapter=str(adapter_dir), engine_factory=fake_api, in_process=True
    )
    items = [(CONVERSATIONS[0], "Mix flour and water."), (CONVERSATIONS[1], ""), (CONVERSATIONS[1], "No.")]
    values = backend.fluency(items)
    (call,) = CALLS["generate"]
    assert call["lora"] is None  # the base policy: no adapter
    assert all(sp["prompt_logprobs"] == 0 and sp["max_tokens"] == 1 for sp in call["sampling"])
    for (messages, text), value in zip(items, values):
        if not text:
            assert value is None
            continue
        response = backend.tokenizer(text, add_special_tokens=False)["input_ids"]
        (query,), _ = render_prompts(backend.tokenizer, [messages], backend.template, None)
        assert {"prompt_token_ids": query + response} in call["prompts"]
        assert value == pytest.approx(sum(fake_logprob(t) for t in response) / len(response))


def test_base_model_has_no_lora(tiny_policy_dir):
    CALLS.clear()
    backend = make_backend("vllm", str(tiny_policy_dir), engine_factory=fake_api, in_process=True)
    backend.generate(CONVERSATIONS[:1], SamplingConfig(max_new_tokens=4))
    assert CALLS["llm"]["enable_lora"] is False and "max_lora_rank" not in CALLS["llm"]
    assert CALLS["generate"][0]["lora"] is None
    assert backend.generator.endswith("@base")


def test_engine_runs_in_a_spawned_child_process_that_close_ends(tiny_policy_dir, adapter_dir, tmp_path, monkeypatch):
    log = tmp_path / "engine.jsonl"
    monkeypatch.setenv(LOG, str(log))
    backend = make_backend("vllm", str(tiny_policy_dir), adapter=str(adapter_dir), engine_factory=fake_api)
    proc = backend._proc
    assert proc.is_alive() and proc.pid != os.getpid()
    out = backend.generate(
        [Request(c, seeds=[s]) for c, s in zip(CONVERSATIONS, (11, 12))], SamplingConfig(max_new_tokens=8, n=1)
    )
    (call,) = [json.loads(line) for line in log.read_text().splitlines()]  # what the child's engine received
    assert [sp["seed"] for sp in call["sampling"]] == [11, 12] and call["sampling"][0]["max_tokens"] == 8
    assert call["lora"] == [LORA_NAME, LORA_ID, str(adapter_dir.resolve())]
    assert [g.finish_reason for gens in out for g in gens] == ["length", "eos"]
    backend.generate(CONVERSATIONS[:1], SamplingConfig(max_new_tokens=8))  # the engine stays up between calls
    backend.close()
    assert not proc.is_alive() and proc.exitcode == 0  # the process (and its GPU memory) is gone


def test_engine_start_up_failure_is_reported_not_hung(tiny_policy_dir):
    with pytest.raises(RuntimeError, match="CUDA out of memory \\(fake\\)"):
        make_backend("vllm", str(tiny_policy_dir), engine_factory=broken_api)


def test_missing_vllm_and_cpu_device_are_clear_errors(tiny_policy_dir, tmp_path):
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(NeatError, match="pip install 'neat\\[vllm\\]'"):
            vllm_api()
    with pytest.raises(NeatError, match="--backend transformers"):
        make_backend("vllm", str(tiny_policy_dir), device="cpu", engine_factory=fake_api, in_process=True)
    with pytest.raises(NeatError, match="PEFT adapter"):
        make_backend("vllm", str(tiny_policy_dir), adapter=str(tmp_path), engine_factory=fake_api, in_process=True)


@pytest.mark.parametrize(
    "adapter_config, given, expected",
    [
        ({"r": 16}, None, 16),
        ({"r": 4}, None, 8),  # vLLM serves ranks 1, 8, 16, 32, ...: the next one up
        ({"r": 12, "rank_pattern": {"q_proj": 48}}, None, 64),  # a module of a larger rank
        ({"r": 16}, 32, 32),
    ],
)
def test_max_lora_rank_follows_the_adapters_rank(tiny_policy_dir, tmp_path, adapter_config, given, expected):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({**adapter_config, "peft_type": "LORA"}))
    (adapter / "adapter_model.safetensors").write_bytes(b"hashed only")
    CALLS.clear()
    backend = make_backend(
        "vllm",
        str(tiny_policy_dir),
        adapter=str(adapter),
        engine_factory=fake_api,
        in_process=True,
        max_lora_rank=given,
    )
    backend.generate(CONVERSATIONS, SamplingConfig(max_new_tokens=4))
    assert CALLS["llm"]["max_lora_rank"] == expected and CALLS["llm"]["enable_lora"] is True
    assert CALLS["generate"][0]["lora"] == (LORA_NAME, LORA_ID, str(adapter.resolve()))  # the adapter, per request


def test_an_adapter_above_the_largest_rank_or_the_given_one_is_refused(tiny_policy_dir, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 1024, "peft_type": "LORA"}))
    (adapter / "adapter_model.safetensors").write_bytes(b"hashed only")
    with pytest.raises(NeatError, match="rank 1024 is above the largest LoRA rank vLLM serves"):
        make_backend("vllm", str(tiny_policy_dir), adapter=str(adapter), engine_factory=fake_api, in_process=True)
    with pytest.raises(NeatError, match="max_lora_rank 16 is below the adapter's rank 1024"):
        make_backend(
            "vllm",
            str(tiny_policy_dir),
            adapter=str(adapter),
            engine_factory=fake_api,
            in_process=True,
            max_lora_rank=16,
        )


def test_eval_gives_vllm_the_chat_template(tiny_policy_dir, tiny_rm_dir, tmp_path, monkeypatch, capsys):
    """``neat eval --backend vllm --chat-template chatml`` on a policy without a template of its own."""
    import shutil

    import neat_data.generation as generation
    from flows.cli import main as neat
    from neat_data.generation.base import CHATML_TEMPLATE

    policy = shutil.copytree(tiny_policy_dir, tmp_path / "no-template")
    (policy / "chat_template.jinja").unlink(missing_ok=True)
    tokenizer_config = json.loads((policy / "tokenizer_config.json").read_text())
    tokenizer_config.pop("chat_template", None)
    (policy / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    dataset = tmp_path / "hh.jsonl"
    dataset.write_text(
        "".join(
            json.dumps(
                {
                    "chosen": f"\n\nHuman: What is {i}?\n\nAssistant: {i}.",
                    "rejected": f"\n\nHuman: What is {i}?\n\nAssistant: No.",
                }
            )
            + "\n"
            for i in range(30)
        )
    )
    real, seen = generation.make_backend, []

    def on_the_fake_engine(name, policy, **kwargs):
        seen.append((name, kwargs["chat_template"]))
        return real(name, policy, **{**kwargs, "device": "auto"}, engine_factory=fake_api, in_process=True)

    monkeypatch.setattr(generation, "make_backend", on_the_fake_engine)
    monkeypatch.setenv("NEAT_HOME", str(tmp_path / "home"))
    CALLS.clear()
    args = [
        "eval",
        "--policy",
        str(policy),
        "--rm",
        str(tiny_rm_dir),
        "--dataset",
        str(dataset),
        "--limit",
        "2",
        "--backend",
        "vllm",
        "--device",
        "cpu",
        "--max-new-tokens",
        "4",
        "--json",
    ]
    assert neat(args) == 2 and "has no chat template" in capsys.readouterr().err
    assert neat([*args, "--chat-template", "chatml"]) == 0
    assert seen[-1] == ("vllm", "chatml") and json.loads(capsys.readouterr().out)["n"] == 2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(policy)
    sent = [tokenizer.decode(p["prompt_token_ids"]) for p in CALLS["generate"][0]["prompts"]]
    assert all(text.startswith("<|im_start|>user\n") and text.endswith("<|im_start|>assistant\n") for text in sent)
    assert CHATML_TEMPLATE.startswith("{% for message in messages %}")

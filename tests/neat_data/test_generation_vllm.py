"""The vLLM backend against a fake engine (vLLM itself needs a GPU): the arguments it passes, the child process."""

import json
from types import SimpleNamespace

import pytest

from neat_data.errors import NeatDataError
from neat_data.generation import SamplingConfig, make_backend
from neat_data.generation.base import render_prompts
from neat_data.generation.vllm_backend import LORA_ID, LORA_NAME, VllmApi, vllm_api

CALLS: dict = {}

CONVERSATIONS = [
    [{"role": "user", "content": "How do I bake bread?"}],
    [{"role": "user", "content": "Tell me a joke."}],
]


class FakeSamplingParams:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


class FakeLoRARequest:
    def __init__(self, lora_name, lora_int_id, lora_path):
        self.args = (lora_name, lora_int_id, lora_path)


class FakeLLM:
    """Records its arguments; sample j of prompt i is "<echo>" and finishes by stop (token 99) or length."""

    def __init__(self, **kwargs):
        CALLS["llm"] = kwargs

    def generate(self, prompts, sampling_params, lora_request=None, use_tqdm=True):
        CALLS.setdefault("generate", []).append(
            {"prompts": prompts, "sampling": sampling_params.kwargs, "lora": lora_request and lora_request.args}
        )
        echo = json.dumps({"sampling": sampling_params.kwargs, "lora": lora_request and lora_request.args,
                           "prompt_lengths": [len(p["prompt_token_ids"]) for p in prompts]})
        stop = sampling_params.kwargs["stop_token_ids"][0]
        outputs = []
        for i, _ in enumerate(prompts):
            outs = [
                SimpleNamespace(text=f"  {echo if i == 0 and j == 0 else f'sample {i}.{j}'}  ",
                                token_ids=[5, 6, stop] if j % 2 == 0 else [5, 6, 7],
                                finish_reason="stop" if j % 2 == 0 else "length")
                for j in range(sampling_params.kwargs["n"])
            ]
            outputs.append(SimpleNamespace(outputs=outs))
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


def test_passes_engine_sampling_and_lora_arguments(tiny_policy_dir, adapter_dir):
    CALLS.clear()
    backend = make_backend(
        "vllm", str(tiny_policy_dir), adapter=str(adapter_dir), dtype="bfloat16", batch_size=4,
        tensor_parallel_size=2, engine_factory=fake_api, in_process=True,
    )
    sampling = SamplingConfig(temperature=1.0, top_p=0.9, max_new_tokens=32, n=2, seed=3)
    out = backend.generate(CONVERSATIONS, sampling)
    llm = CALLS["llm"]
    assert llm["model"] == str(tiny_policy_dir) and llm["tensor_parallel_size"] == 2 and llm["dtype"] == "bfloat16"
    assert llm["enable_lora"] is True and llm["max_lora_rank"] == 16 and llm["trust_remote_code"] is False
    assert llm["load_format"] == "safetensors"  # never vLLM's fallback to pickled weights
    assert llm["max_model_len"] == 512
    (call,) = CALLS["generate"]
    assert call["lora"] == (LORA_NAME, LORA_ID, str(adapter_dir.resolve()))
    im_end = backend.tokenizer.convert_tokens_to_ids("<|im_end|>")
    sp = call["sampling"]
    assert (sp["n"], sp["temperature"], sp["top_p"], sp["max_tokens"], sp["seed"]) == (2, 1.0, 0.9, 32, 3)
    assert im_end in sp["stop_token_ids"] and sp["skip_special_tokens"] is True and sp["top_k"] == -1
    expected, _ = render_prompts(backend.tokenizer, CONVERSATIONS, backend.template, 512 - 32)
    assert call["prompts"] == [{"prompt_token_ids": ids} for ids in expected]  # the same prompts as transformers
    assert [len(g) for g in out] == [2, 2]
    assert out[1][0].text == "sample 1.0" and out[1][0].finish_reason == "eos" and out[1][0].n_tokens == 2
    assert out[1][1].finish_reason == "length" and out[1][1].n_tokens == 3
    assert backend.generator == f"{tiny_policy_dir.name}@" + __import__("neat_data.models").models.adapter_hash(adapter_dir)
    backend.close()


def test_base_model_has_no_lora(tiny_policy_dir):
    CALLS.clear()
    backend = make_backend("vllm", str(tiny_policy_dir), engine_factory=fake_api, in_process=True)
    backend.generate(CONVERSATIONS[:1], SamplingConfig(max_new_tokens=4))
    assert CALLS["llm"]["enable_lora"] is False and "max_lora_rank" not in CALLS["llm"]
    assert CALLS["generate"][0]["lora"] is None
    assert backend.generator.endswith("@base")


def test_engine_runs_in_a_spawned_child_process_that_close_ends(tiny_policy_dir, adapter_dir):
    backend = make_backend("vllm", str(tiny_policy_dir), adapter=str(adapter_dir), engine_factory=fake_api)
    proc = backend._proc
    assert proc.is_alive() and proc.pid != __import__("os").getpid()
    out = backend.generate(CONVERSATIONS, SamplingConfig(max_new_tokens=8, n=1, seed=11))
    echo = json.loads(out[0][0].text)  # what the child's engine received
    assert echo["sampling"]["seed"] == 11 and echo["sampling"]["max_tokens"] == 8
    assert echo["lora"] == [LORA_NAME, LORA_ID, str(adapter_dir.resolve())]
    assert out[1][0].text == "sample 1.0"
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
        with pytest.raises(NeatDataError, match="pip install 'neat\\[vllm\\]'"):
            vllm_api()
    with pytest.raises(NeatDataError, match="--backend transformers"):
        make_backend("vllm", str(tiny_policy_dir), device="cpu", engine_factory=fake_api, in_process=True)
    with pytest.raises(NeatDataError, match="PEFT adapter"):
        make_backend("vllm", str(tiny_policy_dir), adapter=str(tmp_path), engine_factory=fake_api, in_process=True)

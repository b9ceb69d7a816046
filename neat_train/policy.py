"""The policy a ``neat train`` run trains: the base model with a new or continued LoRA adapter, or all its weights
(``build_model``); the check that a continued adapter fits the base (``check_adapter_base``); what is recorded of the
trained weights (``record_portable_base``, ``weights_sha256``).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

from neat_data.atomic import atomic_write_json
from neat_data.errors import NeatError

from .resume import IDENTITY, config_sha256


def check_adapter_base(adapter: str, policy_path: str) -> None:
    """Refuse an adapter trained on another base model than ``policy_path`` (clear error naming the file)."""
    from neat_data.models import DEFAULT_POLICY_ID, resolve_policy

    cfg_path = Path(adapter) / "adapter_config.json"
    if not cfg_path.is_file():
        raise NeatError(f"--adapter {adapter}: no adapter_config.json, so it is not a PEFT adapter directory")
    ours = Path(adapter) / IDENTITY
    expected = config_sha256(policy_path)
    if ours.is_file():  # trained by neat train: compare the exact base config it was trained on
        recorded = json.loads(ours.read_text()).get("policy_config_sha256")
        if recorded and expected and recorded != expected:
            raise NeatError(
                f"{ours}: the adapter was trained on another base model "
                f"({json.loads(ours.read_text())['policy_path']}) than --policy {policy_path}; pass the --policy it "
                "was trained on"
            )
        return
    base = json.loads(cfg_path.read_text()).get("base_model_name_or_path")
    if not base:
        return
    if base == DEFAULT_POLICY_ID:
        base = resolve_policy(base)
    same = base == policy_path or (Path(base).exists() and Path(base).resolve() == Path(policy_path).resolve())
    if not same and Path(base).exists() and config_sha256(base) == expected:
        same = True  # a copy of the same model
    if not same:
        raise NeatError(
            f"{cfg_path}: base_model_name_or_path is {base!r} but --policy is {policy_path}; an adapter only fits the "
            "base model it was trained on: pass that --policy"
        )


def build_model(config, policy_path: str):
    """(model ready to train, tokenizer, frozen reference model for DPO with full fine-tuning or None)."""
    from peft import LoraConfig, PeftModel, get_peft_model

    from neat_data.models import load_policy

    model, tokenizer = load_policy(policy_path, dtype=config.dtype, device="cpu", trainable=True)
    if config.adapter:
        model = PeftModel.from_pretrained(model, config.adapter, is_trainable=True, use_safetensors=True)
        # it may name its base `neat:default-policy`: peft looks at the base's config when saving
        model.peft_config["default"].base_model_name_or_path = policy_path
    elif config.method == "lora":
        targets = config.lora_targets if config.lora_targets == "all-linear" else config.lora_targets.split(",")
        model = get_peft_model(
            model,
            LoraConfig(
                r=config.lora_r,
                lora_alpha=config.lora_alpha,
                lora_dropout=config.lora_dropout,
                target_modules=targets,
                task_type="CAUSAL_LM",
            ),
        )
    ref_model = None
    if config.loss == "dpo" and config.method == "full":
        ref_model = copy.deepcopy(model).eval().requires_grad_(False)
    return model, tokenizer, ref_model


def record_portable_base(out: Path, policy: str) -> None:
    """``adapter_config.json`` names the base by its portable id (``neat:default-policy``, the hub id), not by the
    machine-local directory it was loaded from."""
    from neat_data.models import portable_policy_id

    path = out / "adapter_config.json"
    adapter_config = json.loads(path.read_text())
    adapter_config["base_model_name_or_path"] = portable_policy_id(policy)
    atomic_write_json(path, adapter_config)


def weights_sha256(model) -> str:
    """Hash of the trainable weights (equal on every rank after DDP training)."""
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        if p.requires_grad:
            h.update(name.encode())
            h.update(p.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()

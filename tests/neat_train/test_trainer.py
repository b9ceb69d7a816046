"""NeatTrainer: two-pass micro-batching gives the single-pass gradient; DPO's reference; NaN stops training."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, TrainingArguments

from flows.cli import main as neat
from neat_data.errors import NeatError
from neat_train.data import ResponseCollator, load_examples, tokenize_all
from neat_train.losses import LossConfig
from neat_train.trainer import NeatTrainer


def _trainer(model, tokenizer, features, tmp_path, cfg, micro):
    args = TrainingArguments(
        output_dir=str(tmp_path / "ckpt"),
        use_cpu=True,
        report_to=[],
        per_device_train_batch_size=3,
        remove_unused_columns=False,
    )
    trainer = NeatTrainer(
        model=model,
        args=args,
        train_dataset=features,
        data_collator=ResponseCollator(tokenizer.pad_token_id),
        loss_config=cfg,
        response_micro_batch=micro,
        out_dir=tmp_path,
    )
    trainer.current_gradient_accumulation_steps = 1
    return trainer


@pytest.mark.parametrize("loss,penalty", [("neat", "nll"), ("neat", "unlikelihood"), ("rrhf", "nll")])
def test_two_pass_micro_batching_gives_the_single_pass_gradient(
    scored_round, tiny_policy_dir, tiny_tokenizer, tmp_path, loss, penalty
):
    cfg = LossConfig(loss, alpha=1.0, beta=0.5, penalty=penalty, floor=-50.0)
    examples, _ = load_examples([str(scored_round)])
    features, _ = tokenize_all(examples[:3], tiny_tokenizer, tiny_tokenizer.chat_template, "all", 256, 64)
    batch = ResponseCollator(tiny_tokenizer.pad_token_id)(features)
    assert batch["input_ids"].shape[0] > 2  # more responses than the micro-batch below
    grads, losses = [], []
    for micro in (100, 2):  # single pass, then two passes in chunks of 2
        model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
        trainer = _trainer(model, tiny_tokenizer, features, tmp_path, cfg, micro)
        losses.append(trainer.training_step(model, dict(batch)).item())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    assert grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-6)


def test_dpo_starts_at_log2_because_the_reference_is_the_policy_without_its_adapter(
    scored_round, tiny_policy_dir, tmp_path
):
    out = tmp_path / "dpo"
    assert (
        neat(
            [
                "train",
                "--shards",
                str(scored_round),
                "--policy",
                str(tiny_policy_dir),
                "--out",
                str(out),
                "--loss",
                "dpo",
                "--max-steps",
                "3",
                "--batch-size",
                "2",
                "--learning-rate",
                "0.01",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    log = [json.loads(ln) for ln in (out / "train_log.jsonl").read_text().splitlines()]
    # LoRA's B starts at zero: policy == reference at step 1, so every pair's loss is -log σ(0) = log 2
    assert log[0]["loss_dpo"] == pytest.approx(0.693147, abs=1e-5) and log[0]["loss"] == log[0]["loss_dpo"]
    assert log[-1]["loss_dpo"] != pytest.approx(0.693147, abs=1e-5)  # and then it moves


def test_a_non_finite_loss_stops_training_with_a_clear_message(
    scored_round, tiny_policy_dir, tmp_path, monkeypatch, capsys
):
    import neat_train.trainer as trainer_module

    real = trainer_module.batch_loss

    def poisoned(*args, **kwargs):
        terms = real(*args, **kwargs)
        terms.total = terms.total * float("nan")
        return terms

    monkeypatch.setattr(trainer_module, "batch_loss", poisoned)
    code = neat(
        [
            "train",
            "--shards",
            str(scored_round),
            "--policy",
            str(tiny_policy_dir),
            "--out",
            str(tmp_path / "nan"),
            "--max-steps",
            "2",
            "--device",
            "cpu",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "the loss is not finite at step 1" in err and "--penalty unlikelihood" in err


def test_two_pass_refuses_fsdp(tiny_policy_dir, tiny_tokenizer, tmp_path, scored_round, monkeypatch):
    from accelerate.utils import DistributedType

    examples, _ = load_examples([str(scored_round)])
    features, _ = tokenize_all(examples[:2], tiny_tokenizer, tiny_tokenizer.chat_template, "all", 256, 64)
    model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    trainer = _trainer(model, tiny_tokenizer, features, tmp_path, LossConfig(), 2)
    monkeypatch.setattr(type(trainer.accelerator), "distributed_type", property(lambda self: DistributedType.FSDP))
    with pytest.raises(NeatError, match="raise --response-micro-batch"):
        trainer.training_step(model, ResponseCollator(tiny_tokenizer.pad_token_id)(features))

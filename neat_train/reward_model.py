"""Bradley-Terry reward-model training (loss −log σ(r_chosen − r_rejected)) and pairwise evaluation.

The RM is a standard ``AutoModelForSequenceClassification`` with one output (BERT's pooled [CLS] + a linear
head on all-MiniLM-L6-v2 by default), so everything else loads it exactly like a hub RM. Training uses the
transformers ``Trainer`` on paired batches (chosen and rejected of a pair in one forward pass) with LoRA on
every encoder linear layer plus fully trained pooler and head (``method="lora"``), or full fine-tuning.
Inputs are formatted and left-truncated exactly as ``neat_data.scoring`` scores them.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import Trainer

from neat_data.errors import NeatDataError
from neat_data.hh import Pair
from neat_data.scoring import encode, pad_batch, rm_text

LORA_TARGETS = ["query", "key", "value", "intermediate.dense", "output.dense"]  # every encoder linear layer
HEAD_MODULES = ["pooler", "classifier"]  # trained fully and shipped with the LoRA delta


class PairCollator:
    """Tokenized pairs -> one right-padded batch: the chosen sequences, then the rejected ones."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, features: list[dict]) -> dict:
        rows = [f["chosen"] for f in features] + [f["rejected"] for f in features]
        return dict(pad_batch(self.tokenizer, rows))


class BradleyTerryTrainer(Trainer):
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        rewards = model(**inputs).logits[:, 0]
        chosen, rejected = rewards.chunk(2)
        loss = -F.logsigmoid(chosen - rejected).mean()
        return (loss, {"rewards": rewards}) if return_outputs else loss


def encode_pairs(pairs: list[Pair], tokenizer, max_length: int) -> tuple[list[dict], int]:
    """Training features (chosen/rejected encodings + length); returns (features, inputs truncated)."""
    chosen, t1 = encode(tokenizer, [rm_text(tokenizer, p.messages, p.chosen) for p in pairs], max_length)
    rejected, t2 = encode(tokenizer, [rm_text(tokenizer, p.messages, p.rejected) for p in pairs], max_length)
    features = [
        {"chosen": c, "rejected": r, "length": max(len(c["input_ids"]), len(r["input_ids"]))}
        for c, r in zip(chosen, rejected)
    ]
    return features, t1 + t2


def build_model(base: str | Path, method: str, lora_r: int):
    from transformers import AutoModelForSequenceClassification

    from neat_data.models import require_safetensors

    if Path(base).is_dir():
        require_safetensors(Path(base), "--base")
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, dtype=torch.float32,
                                                               use_safetensors=True)
    if method == "full":
        return model
    if method != "lora":
        raise NeatDataError(f"unknown RM training method {method!r}; use lora or full")
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=lora_r, lora_alpha=lora_r, lora_dropout=0.05, target_modules=LORA_TARGETS, modules_to_save=HEAD_MODULES
    )
    return get_peft_model(model, config)


def train_reward_model(
    pairs: list[Pair],
    out_dir: str | Path,
    *,
    base: str | Path,
    method: str = "lora",
    lora_r: int = 16,
    max_length: int = 128,
    epochs: float = 2.0,
    learning_rate: float = 1e-3,
    batch_size: int = 16,
    seed: int = 0,
    delta_dir: str | Path | None = None,
    work_dir: str | Path | None = None,
) -> dict:
    """Train on ``pairs`` and save a standard one-output RM + tokenizer (left truncation) to ``out_dir``.

    With ``method="lora"`` and ``delta_dir``, the adapter (LoRA + pooler + head) is also saved there: combined
    with the base encoder it rebuilds exactly the same RM (``neat_data.models.resolve_rm``).
    """
    from transformers import AutoTokenizer, TrainingArguments, set_seed

    if not pairs:
        raise NeatDataError("no training pairs: the reward model needs preference pairs to train on")
    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(base, model_max_length=max_length, truncation_side="left",
                                              padding_side="right")  # init kwargs: saved with the RM
    features, truncated = encode_pairs(pairs, tokenizer, max_length)
    model = build_model(base, method, lora_r)
    steps_per_epoch = math.ceil(len(features) / batch_size)
    args = TrainingArguments(
        output_dir=str(work_dir or Path(out_dir).parent / f".{Path(out_dir).name}.trainer"),
        per_device_train_batch_size=batch_size,
        num_train_epochs=epochs,
        learning_rate=learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=max(1, int(0.1 * steps_per_epoch * epochs)),
        weight_decay=0.0,
        train_sampling_strategy="group_by_length",
        length_column_name="length",
        remove_unused_columns=False,
        save_strategy="no",
        logging_steps=max(1, steps_per_epoch // 4),
        report_to="none",
        seed=seed,
        data_seed=seed,
        disable_tqdm=False,
    )
    from datasets import Dataset

    dataset = Dataset.from_list(features)
    trainer = BradleyTerryTrainer(model=model, args=args, train_dataset=dataset, data_collator=PairCollator(tokenizer))
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    model = trainer.model.eval()
    if method == "lora":
        if delta_dir is not None:
            model.save_pretrained(delta_dir, safe_serialization=True)
            tokenizer.save_pretrained(delta_dir)
        model = model.merge_and_unload()
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return {
        "pairs": len(pairs),
        "inputs_truncated": truncated,
        "train_seconds": seconds,
        "train_loss": result.training_loss,
        "steps": result.global_step,
        "method": method,
        "lora_r": lora_r if method == "lora" else None,
        "max_length": max_length,
        "epochs": epochs,
        "learning_rate": learning_rate,
        "batch_size": batch_size,
        "seed": seed,
        "base": str(base),
    }


def evaluate_pairs(scorer, pairs: list[Pair]) -> dict:
    """Pairwise accuracy (share with r_chosen > r_rejected; ties count as wrong), margins, score distribution."""
    if not pairs:
        raise NeatDataError("no pairs to evaluate the reward model on")
    scores = scorer.score([(p.messages, p.chosen) for p in pairs] + [(p.messages, p.rejected) for p in pairs])
    chosen = torch.tensor(scores[: len(pairs)], dtype=torch.float64)
    rejected = torch.tensor(scores[len(pairs) :], dtype=torch.float64)
    margin = chosen - rejected
    everything = torch.cat([chosen, rejected])
    quantiles = torch.quantile(everything, torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95], dtype=torch.float64))

    def dist(x: torch.Tensor) -> dict:
        return {"mean": x.mean().item(), "std": x.std().item() if len(x) > 1 else 0.0,
                "min": x.min().item(), "max": x.max().item()}

    return {
        "pairs": len(pairs),
        "accuracy": (margin > 0).double().mean().item(),
        "ties": int((margin == 0).sum()),
        "mean_margin": margin.mean().item(),
        "median_margin": margin.median().item(),
        "chosen": dist(chosen),
        "rejected": dist(rejected),
        "scores": {**dist(everything), "quantiles": dict(zip(["p05", "p25", "p50", "p75", "p95"], quantiles.tolist()))},
    }

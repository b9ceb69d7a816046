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

from neat_data.errors import NeatError
from neat_data.hh import Pair
from neat_data.models import shipped_path
from neat_data.scoring import encode, pad_batch, rm_text

# LoRA targets (every linear layer of the backbone) and the head modules trained fully and shipped with the delta,
# by model type
LORA_LAYOUT = {
    "bert": (["query", "key", "value", "intermediate.dense", "output.dense"], ["pooler", "classifier"]),
    "llama": (["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], ["score"]),
    "mpnet": (["attn.q", "attn.k", "attn.v", "attn.o", "intermediate.dense", "output.dense"], ["classifier"]),
}


class PairCollator:
    """Tokenized pairs -> one right-padded batch: the chosen sequences, then the rejected ones (+ pair weights, the
    reply lengths in the same order and each pair's reply-length difference, in tokens)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, features: list[dict]) -> dict:
        rows = [f["chosen"] for f in features] + [f["rejected"] for f in features]
        batch = dict(pad_batch(self.tokenizer, rows))
        batch["pair_weight"] = torch.tensor([f.get("weight", 1.0) for f in features], dtype=torch.float32)
        lengths = [f.get("chosen_length", 0) for f in features] + [f.get("rejected_length", 0) for f in features]
        batch["response_length"] = torch.tensor(lengths, dtype=torch.float32)
        chosen_length, rejected_length = batch["response_length"].chunk(2)
        batch["length_gap"] = chosen_length - rejected_length
        return batch


def length_covariance(margin: torch.Tensor, gap: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """cov(margin, gap / std(gap)) over the batch = ρ(margin, gap) · std(margin): the correlation weighted by the
    margins' spread (0 when the gaps are all equal); differentiable."""
    gap = gap - gap.mean()
    return ((margin - margin.mean()) * gap).mean() / (gap.pow(2).mean().sqrt() + eps)


def correlation(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pearson's ρ(x, y) over the batch (0 when either is constant); differentiable."""
    x, y = x - x.mean(), y - y.mean()
    return (x * y).mean() / (x.pow(2).mean().sqrt() * y.pow(2).mean().sqrt() + eps)


class BradleyTerryTrainer(Trainer):
    """Loss: the pair-weighted mean of −log σ(r_chosen − r_rejected), plus two optional length terms.

    ``length_penalty`` · |ρ·σ|: ρ is the batch's correlation of the pair margins with the reply-length differences,
    σ the margins' std. ODIN's decorrelation (Chen et al. 2024) on margins, without its length head: a margin's sign
    may follow length (a truncated reply is shorter and worse), its size may not. The σ keeps the gradient bounded
    while margins are small (|ρ| is scale-free, so its gradient grows as 1/σ).

    ``length_head`` (ODIN's two heads): the model has two outputs, r_Q (quality: what the saved RM keeps) and r_L
    (length: dropped after training, ``drop_length_head``). The Bradley-Terry term ranks by r_Q + r_L, and
    ``length_head`` · (|ρ(r_Q, L)| − ρ(r_L, L)) over the batch's replies (L: reply length in tokens) pushes what
    length explains into r_L and out of r_Q. Scale-free, as in ODIN: a ranking is too, so a σ(r_Q) factor (as in
    ``length_penalty``) would let r_Q shrink its scale and keep a strong length rule almost for free (measured:
    docs/reward-models.md). ODIN's third term (orthogonal head weights) is left out."""

    length_penalty: float = 0.0
    length_head: float = 0.0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weight, gap = inputs.pop("pair_weight"), inputs.pop("length_gap")
        lengths = inputs.pop("response_length")
        logits = model(**inputs).logits
        quality = logits[:, 0]
        rewards = quality + logits[:, 1] if self.length_head else quality
        chosen, rejected = rewards.chunk(2)
        loss = (weight * -F.logsigmoid(chosen - rejected)).mean()
        if self.length_penalty:
            q_chosen, q_rejected = quality.chunk(2)
            loss = loss + self.length_penalty * length_covariance(q_chosen - q_rejected, gap).abs()
        if self.length_head:
            decorrelate = correlation(quality, lengths).abs()
            loss = loss + self.length_head * (decorrelate - correlation(logits[:, 1], lengths))
        return (loss, {"rewards": quality}) if return_outputs else loss


def _resize_head(model, outputs: int) -> None:
    """Give the score head ``outputs`` outputs: its last linear layer(s) (peft's trained copy and the original
    included) keep their first row; a new second row starts as the model initialises weights."""
    from torch import nn

    heads = {name for _, names in LORA_LAYOUT.values() for name in names if name != "pooler"}
    std = getattr(model.config, "initializer_range", 0.02)
    for name, module in list(model.named_modules()):
        output_layer = isinstance(module, nn.Linear) and module.out_features in (1, 2)  # not MPNet's head's dense
        if output_layer and module.out_features != outputs and heads & set(name.split(".")):
            resized = nn.Linear(module.in_features, outputs, bias=module.bias is not None)
            with torch.no_grad():
                resized.weight.normal_(0.0, std)
                resized.weight[:1].copy_(module.weight[:1])
                if module.bias is not None:
                    resized.bias.zero_()
                    resized.bias[:1].copy_(module.bias[:1])
            parent, _, attr = name.rpartition(".")
            setattr(model.get_submodule(parent), attr, resized)
    model.config.num_labels = outputs


def add_length_head(model) -> None:
    """ODIN's second, length output beside the quality output (which keeps its weights)."""
    _resize_head(model, 2)


def drop_length_head(model) -> None:
    """After training with ``length_head``: keep only the quality output, so the saved RM (and its LoRA delta) is a
    standard one-output model."""
    _resize_head(model, 1)


def encode_pairs(
    pairs: list[Pair], tokenizer, max_length: int, weights: list[float] | None = None
) -> tuple[list[dict], int]:
    """Training features (chosen/rejected encodings, length, pair weight, reply-length difference); returns
    (features, inputs truncated)."""
    chosen, t1 = encode(tokenizer, [rm_text(tokenizer, p.messages, p.chosen) for p in pairs], max_length)
    rejected, t2 = encode(tokenizer, [rm_text(tokenizer, p.messages, p.rejected) for p in pairs], max_length)
    weights = weights or [1.0] * len(pairs)
    lengths = response_lengths(tokenizer, [p.chosen for p in pairs] + [p.rejected for p in pairs])
    features = [
        {
            "chosen": c,
            "rejected": r,
            "length": max(len(c["input_ids"]), len(r["input_ids"])),
            "weight": w,
            "chosen_length": lc,
            "rejected_length": lr,
        }
        for c, r, w, lc, lr in zip(chosen, rejected, weights, lengths[: len(pairs)], lengths[len(pairs) :])
    ]
    return features, t1 + t2


def length_balance_weights(pairs: list[Pair], tokenizer) -> list[float]:
    """Pair weights under which the chosen reply is the longer one in exactly half of the (unequal-length) weight,
    so "the shorter (or longer) reply wins" predicts nothing; the weights average 1."""
    lengths = response_lengths(tokenizer, [p.chosen for p in pairs] + [p.rejected for p in pairs])
    sign = [(c > r) - (c < r) for c, r in zip(lengths[: len(pairs)], lengths[len(pairs) :])]
    longer, shorter = sign.count(1), sign.count(-1)
    if not longer or not shorter:
        return [1.0] * len(pairs)
    unequal = longer + shorter
    return [1.0 if s == 0 else unequal / (2 * (longer if s > 0 else shorter)) for s in sign]


JUDGE_QUESTION = "Is the last answer of the assistant helpful, correct, relevant and polite? Answer Yes or No."
JUDGE_WORDS = ("Yes", "No")


def judge_template(chat_template: str, question: str = JUDGE_QUESTION) -> str:
    """The base's own chat template, made to end every scored dialogue with ``question`` as a user turn and the
    assistant's generation prompt, so the last position is where the LM would answer Yes or No."""
    return (
        "{%- set messages = messages + [{'role': 'user', 'content': " + repr(question) + "}] -%}"
        "{%- set add_generation_prompt = true -%}" + chat_template
    )


def init_judge_head(model, base: str | Path, tokenizer) -> None:
    """Score head := the LM's output embedding of "Yes" minus that of "No": before any training the RM scores a
    reply by logit(Yes) − logit(No) of the instruct model asked ``JUDGE_QUESTION`` (a zero-shot judge), a far
    better start than a random head."""
    from transformers import AutoModelForCausalLM

    ids = [tokenizer.encode(w, add_special_tokens=False) for w in JUDGE_WORDS]
    if any(len(i) != 1 for i in ids):
        raise NeatError(f"RM base {base}: 'Yes'/'No' are not single tokens of its tokenizer; use --head-init random")
    if model.config.tie_word_embeddings:
        out = model.get_input_embeddings().weight
    else:
        out = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, use_safetensors=True).lm_head.weight
    with torch.no_grad():
        model.score.weight.copy_((out[ids[0][0]] - out[ids[1][0]])[None])


def build_model(
    base: str | Path,
    method: str,
    lora_r: int,
    lora_layers: int | None = None,
    tokenizer=None,
    head_init: str = "random",
    outputs: int = 1,
):
    """The RM to train: a one-output sequence-classification model on ``base`` (its head initialised as a
    zero-shot judge with ``head_init="judge"``; ``outputs=2`` adds ODIN's length output), wrapped with LoRA (on the
    top ``lora_layers`` layers, or all)."""
    from transformers import AutoModelForSequenceClassification

    from neat_data.models import require_safetensors

    if Path(base).is_dir():
        require_safetensors(Path(base), "--base")
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=1, dtype=torch.float32, use_safetensors=True
    )
    if head_init == "judge":
        init_judge_head(model, base, tokenizer)
    if outputs == 2:
        add_length_head(model)
    if method == "full":
        return model
    if method != "lora":
        raise NeatError(f"unknown RM training method {method!r}; use lora or full")
    if model.config.model_type not in LORA_LAYOUT:
        raise NeatError(
            f"RM base {base}: no LoRA layout for model type {model.config.model_type!r} (known: "
            f"{', '.join(LORA_LAYOUT)}); use --method full"
        )
    from peft import LoraConfig, get_peft_model

    targets, heads = LORA_LAYOUT[model.config.model_type]
    n = model.config.num_hidden_layers
    layers = list(range(n - lora_layers, n)) if lora_layers and lora_layers < n else None
    config = LoraConfig(
        r=lora_r,
        lora_alpha=lora_r,
        lora_dropout=0.05,
        target_modules=targets,
        modules_to_save=heads,
        layers_to_transform=layers,
    )
    return get_peft_model(model, config)


def train_reward_model(
    pairs: list[Pair],
    out_dir: str | Path,
    config,
    *,
    base: str | Path,
    delta_dir: str | Path | None = None,
    work_dir: str | Path | None = None,
    augmented: list[Pair] = (),
) -> dict:
    """Train on ``pairs`` and save a standard one-output RM + tokenizer (left truncation) to ``out_dir``, with the
    settings of ``config`` (``neat_train.rm_train_cmd.Config``: method, LoRA, lengths, schedule, seed, ...).

    With ``method="lora"`` and ``delta_dir``, the adapter (LoRA + head) is also saved there: combined with the
    base model it rebuilds exactly the same RM (``neat_data.models.resolve_rm``). ``augmented`` pairs
    (``rm_augment``) are trained on with weight ``augment_weight``; ``length_balance`` reweights ``pairs`` so that
    reply length predicts nothing in them (``length_balance_weights``); ``length_penalty`` weighs the
    margin-length decorrelation term (``BradleyTerryTrainer``). Returns what was measured.
    """
    from transformers import AutoTokenizer, TrainingArguments, set_seed

    if not pairs:
        raise NeatError("no training pairs: the reward model needs preference pairs to train on")
    set_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(
        base, model_max_length=config.max_length, truncation_side="left", padding_side="right"
    )  # init kwargs: saved with the RM
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if config.head_init == "judge":
        if not tokenizer.chat_template:
            raise NeatError(f"--head-init judge needs a base with a chat template (an instruct LM); {base} has none")
        tokenizer.chat_template = judge_template(tokenizer.chat_template)
    weights = length_balance_weights(pairs, tokenizer) if config.length_balance else [1.0] * len(pairs)
    features, truncated = encode_pairs(
        [*pairs, *augmented], tokenizer, config.max_length, weights + [config.augment_weight] * len(augmented)
    )
    outputs = 2 if config.length_head else 1  # quality (+ ODIN's length head, dropped before saving)
    model = build_model(base, config.method, config.lora_r, config.lora_layers, tokenizer, config.head_init, outputs)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    steps_per_epoch = math.ceil(len(features) / config.batch_size)  # features: real + augmented pairs
    args = TrainingArguments(
        output_dir=str(work_dir or Path(out_dir).parent / f".{Path(out_dir).name}.trainer"),
        per_device_train_batch_size=config.batch_size,
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=max(1, int(0.1 * steps_per_epoch * config.epochs)),
        weight_decay=0.0,
        train_sampling_strategy="group_by_length",
        length_column_name="length",
        remove_unused_columns=False,
        save_strategy="no",
        dataloader_pin_memory=torch.accelerator.is_available(),  # without one, pinning only makes torch warn
        logging_steps=max(1, steps_per_epoch // 4),
        report_to="none",
        seed=config.seed,
        data_seed=config.seed,
        disable_tqdm=False,
    )
    from datasets import Dataset

    dataset = Dataset.from_list(features)
    trainer = BradleyTerryTrainer(model=model, args=args, train_dataset=dataset, data_collator=PairCollator(tokenizer))
    trainer.length_penalty, trainer.length_head = config.length_penalty, config.length_head
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    model = trainer.model.eval()
    if config.length_head:
        drop_length_head(model)
    if config.method == "lora":
        if delta_dir is not None:
            model.save_pretrained(delta_dir, safe_serialization=True)
            tokenizer.save_pretrained(delta_dir)
            (Path(delta_dir) / "README.md").unlink(missing_ok=True)  # peft's empty model card; the report says more
        model = model.merge_and_unload()
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    curve = [[h["step"], h["loss"]] for h in trainer.state.log_history if "loss" in h]
    zero_margin = math.log(2) * sum(f["weight"] for f in features) / len(features)
    # the zero-margin loss is the Bradley-Terry term's; the length terms move the loss off it
    bt_only = not (config.length_penalty or config.length_head)
    collapse = collapse_warning(curve, zero_margin) if bt_only else None
    return {
        "pairs": len(pairs),
        "augmented_pairs": len(augmented),
        "inputs_truncated": truncated,
        "train_seconds": seconds,
        "train_loss": result.training_loss,  # the mean over all steps (transformers' TrainOutput)
        "loss_curve": curve,  # [step, loss over the steps since the previous entry]
        "zero_margin_loss": zero_margin,
        "steps": result.global_step,
        "base": str(base),
        "warnings": [collapse] if collapse else [],
    }


COLLAPSE_SHARE = 0.98  # a last logged loss above this share of the zero-margin loss: margins near zero


def collapse_warning(curve: list[list[float]], zero_margin: float) -> str | None:
    """A warning when training ended at the loss of an RM whose margins are all zero (ln 2 × the mean pair
    weight; with the BT term alone): the margins are ~0, the RM has learned little. Whether the loss fell
    first says which way to move the learning rate. None when the run learned something, or logged nothing."""
    threshold = COLLAPSE_SHARE * zero_margin
    if not curve or curve[-1][1] < threshold:
        return None
    best_step, best = min(curve, key=lambda point: point[1])
    head = (
        f"the training loss ended at {curve[-1][1]:.4f}, within {1 - COLLAPSE_SHARE:.0%} of {zero_margin:.4f}, the "
        "loss of a reward model that scores every reply the same (ln 2 x the mean pair weight): its margins are "
        "near zero and it has learned little"
    )
    if best < threshold:
        return (
            f"{head}; it had fallen to {best:.4f} by step {best_step} and climbed back, as a too-high learning "
            "rate does: train again with a lower --learning-rate (e.g. a fifth)"
        )
    return f"{head}; it never fell: train longer (--epochs), on more pairs, or with a higher --learning-rate"


# obvious pairs per category, length-balanced (data/rm-sanity/; shipped inside the wheel too)
SANITY_SUITE = shipped_path(Path("data/rm-sanity/sanity.jsonl"))
LENGTH_GAP_WARNING = 0.20  # warn when the chosen-longer and chosen-shorter accuracies differ by more than this


def response_lengths(tokenizer, texts: list[str]) -> list[int]:
    """Length of each response alone, in tokens of the RM's tokenizer (no special tokens, no query)."""
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]] if texts else []


def spearman(x, y) -> float | None:
    """Spearman rank correlation (ties get their average rank); None when either side is constant."""
    import numpy as np
    import pandas as pd

    rx, ry = pd.Series(x, dtype=float).rank().to_numpy(), pd.Series(y, dtype=float).rank().to_numpy()
    if len(rx) < 2 or rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def pair_diagnostics(
    chosen: list[float],
    rejected: list[float],
    chosen_len: list[int],
    rejected_len: list[int],
    categories: list[str | None],
) -> dict:
    """RewardBench-style diagnostics of pairwise scores (ties count as wrong everywhere).

    ``by_category`` covers the pairs that have a category; the length splits compare response lengths
    (pairs of equal length are in neither); ``shorter_wins_accuracy`` is how often the rule "the shorter reply
    wins" is right; ``length_spearman`` correlates reward with length over every scored response.
    """
    right = [c > r for c, r in zip(chosen, rejected)]

    def acc(mask: list[bool]) -> dict:
        n = sum(mask)
        return {"accuracy": sum(ok for ok, m in zip(right, mask) if m) / n if n else None, "pairs": n}

    by_category = {cat: acc([c == cat for c in categories]) for cat in sorted({c for c in categories if c is not None})}
    longer = acc([c > r for c, r in zip(chosen_len, rejected_len)])
    shorter = acc([c < r for c, r in zip(chosen_len, rejected_len)])
    warnings = []
    if (
        longer["accuracy"] is not None
        and shorter["accuracy"] is not None
        and abs(longer["accuracy"] - shorter["accuracy"]) > LENGTH_GAP_WARNING
    ):
        warnings.append(
            f"length bias: accuracy {longer['accuracy']:.1%} where the chosen reply is the longer one "
            f"({longer['pairs']} pairs) vs {shorter['accuracy']:.1%} where it is the shorter one "
            f"({shorter['pairs']} pairs); the RM rewards length, not only quality"
        )
    return {
        "by_category": by_category,
        "accuracy_chosen_longer": longer["accuracy"],
        "accuracy_chosen_shorter": shorter["accuracy"],
        "pairs_chosen_longer": longer["pairs"],
        "pairs_chosen_shorter": shorter["pairs"],
        "shorter_wins_accuracy": sum(c < r for c, r in zip(chosen_len, rejected_len)) / len(right),
        "length_spearman": spearman(list(chosen) + list(rejected), list(chosen_len) + list(rejected_len)),
        "warnings": warnings,
    }


def evaluate_pairs(scorer, pairs: list[Pair]) -> dict:
    """Pairwise accuracy (share with r_chosen > r_rejected; ties count as wrong), margins, score distribution,
    and the diagnostics of ``pair_diagnostics`` (lengths in tokens of ``scorer.tokenizer``).

    Constant scores (a broken or untrained head) are refused: no metric would mean anything.
    """
    if not pairs:
        raise NeatError("no pairs to evaluate the reward model on")
    scores = scorer.score([(p.messages, p.chosen) for p in pairs] + [(p.messages, p.rejected) for p in pairs])
    chosen = torch.tensor(scores[: len(pairs)], dtype=torch.float64)
    rejected = torch.tensor(scores[len(pairs) :], dtype=torch.float64)
    margin = chosen - rejected
    everything = torch.cat([chosen, rejected])
    if not torch.isfinite(everything).all() or everything.min() == everything.max():
        raise NeatError(
            f"reward model {getattr(scorer, 'name', '')}: its scores on these {len(pairs)} pairs are "
            + ("not all finite" if not torch.isfinite(everything).all() else f"all {everything[0].item():.6g}")
            + " (a broken or untrained head?); check that it is a trained reward model with one output"
        )
    quantiles = torch.quantile(everything, torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95], dtype=torch.float64))

    def dist(x: torch.Tensor) -> dict:
        return {
            "mean": x.mean().item(),
            "std": x.std().item() if len(x) > 1 else 0.0,
            "min": x.min().item(),
            "max": x.max().item(),
        }

    lengths = response_lengths(scorer.tokenizer, [p.chosen for p in pairs] + [p.rejected for p in pairs])
    return {
        "pairs": len(pairs),
        "accuracy": (margin > 0).double().mean().item(),
        "ties": int((margin == 0).sum()),
        "mean_margin": margin.mean().item(),
        "median_margin": margin.median().item(),
        **pair_diagnostics(
            chosen.tolist(),
            rejected.tolist(),
            lengths[: len(pairs)],
            lengths[len(pairs) :],
            [p.category for p in pairs],
        ),
        "chosen": dist(chosen),
        "rejected": dist(rejected),
        "scores": {**dist(everything), "quantiles": dict(zip(["p05", "p25", "p50", "p75", "p95"], quantiles.tolist()))},
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def diagnostics_summary(result: dict) -> str:
    """Human-readable lines for the diagnostics of ``evaluate_pairs``."""
    rho = result["length_spearman"]
    lines = [
        f"length: accuracy {_pct(result['accuracy_chosen_longer'])} where the chosen reply is longer "
        f"({result['pairs_chosen_longer']} pairs), {_pct(result['accuracy_chosen_shorter'])} where it is shorter "
        f"({result['pairs_chosen_shorter']}); 'shorter wins' is right on {_pct(result['shorter_wins_accuracy'])}; "
        f"Spearman(reward, length) {'n/a' if rho is None else f'{rho:+.3f}'}"
    ]
    if result["by_category"]:
        lines.append(
            "by category: "
            + ", ".join(f"{cat} {_pct(v['accuracy'])} ({v['pairs']})" for cat, v in result["by_category"].items())
        )
    return "\n".join(lines)


def print_warnings(result: dict) -> None:
    import sys

    for warning in result["warnings"]:
        print(f"WARNING: {warning}", file=sys.stderr)

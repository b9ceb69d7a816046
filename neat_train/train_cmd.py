"""Train a policy on ranked shards with the NEAT loss or a baseline (SFT, RRHF, DPO); LoRA or full fine-tuning.

    neat train --shards data/runs/x/round-001 --loss neat --policy default --output_dir runs/x/adapters/round-001

The flags are ``transformers.TrainingArguments``' (``--per_device_train_batch_size``, ``--num_train_epochs``, ...)
plus NEAT's; the old names (``--out``, ``--batch-size``, ``--epochs``, ...) work for one release (``ALIASES``).
``--shards`` takes round directories or data roots (all their rounds). ``--output_dir`` receives the adapter (or the
full model), ``train_config.json`` (every setting, resolved), ``data.json`` (manifest sha256 and fingerprints
of every round read, query counts), ``train_log.jsonl`` (one line per optimizer step: loss, loss_sft,
loss_rank, loss_pen, loss_dpo, grad norm, counts), ``seen_queries.rank-N.jsonl``, ``README.md`` (the model card:
base, data rounds with their manifest hashes, loss, α/β) and ``result.json`` (written last: the run is complete).
``adapter_config.json`` records a portable base (``neat:default-policy`` or the hub id), not a local path.
``--report_to tensorboard`` (wandb, mlflow, trackio) logs under ``--logging_dir`` (default ``OUTPUT_DIR/logs``), which
is kept. A crashed run resumes from its last checkpoint when the same command is
run again. The same command on the same rounds with the same seed reproduces the per-step losses (on CPU).
Multi-process (DDP; gloo on CPU, NCCL on GPU): ``torchrun --nproc_per_node 2 -m flows.cli train ...`` or
``accelerate launch --num_processes 2 -m flows.cli train ...`` (on a machine without GPUs accelerate needs
``--multi_gpu`` or a config file to start more than one process). See docs/training.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from annotated_types import Ge, Interval, Lt
from transformers import TrainingArguments

from neat_data.atomic import atomic_write_json
from neat_data.errors import AtLeast1, NeatError, NonNegative, Positive, check_fields
from neat_data.locks import WriteLock
from neat_data.shards import refuse_inside_round

from .data import TRAIN_SPLITS, ResponseCollator, load_examples, tokenize_all
from .losses import LOSSES, PENALTIES, LossConfig
from .policy import build_model, check_adapter_base, record_portable_base, weights_sha256
from .resume import CHECKPOINTS, RESULT, check_out, log, prepare_out, rank, run_identity
from .summaries import write_model_card
from .trainer import TRAIN_LOG, NeatTrainer


@dataclass(kw_only=True)
class NeatTrainConfig(TrainingArguments):
    """``TrainingArguments`` plus NEAT's settings (as TRL's ``DPOConfig``); fields redefined here only change a
    default or add a rule (``neat_data.errors.check_fields``). It is the Trainer's arguments, with ``output_dir``
    set to ``OUTPUT_DIR/checkpoints``."""

    # old flag names -> TrainingArguments names, for one release (flows.cli.renamed; a class attribute, not a field)
    ALIASES = {
        "out": "output_dir",
        "batch_size": "per_device_train_batch_size",
        "epochs": "num_train_epochs",
        "grad_accum": "gradient_accumulation_steps",
        "lr_scheduler": "lr_scheduler_type",
        "gradient_checkpointing": "activation_checkpointing",
        "device": ("use_cpu", {"cpu": True, "auto": False, "cuda": False}),
    }
    shards: list[str] = field(metadata={"help": "round directories (or data roots: all their rounds) to train on"})
    output_dir: str = field(metadata={"help": "output directory: adapter/model, configs, train_log.jsonl, checkpoints"})
    loss: Literal[LOSSES] = field(default="neat", metadata={"help": "training objective"})
    policy: str = field(default="default", metadata={"help": "base model: HF id or path; 'default' = embedded SmolLM2"})
    adapter: str | None = field(default=None, metadata={"help": "LoRA adapter to continue training (previous round)"})
    alpha: NonNegative = field(default=1.0, metadata={"help": "weight α of the ranking loss L_rank (neat, rrhf)"})
    beta: NonNegative = field(default=0.1, metadata={"help": "weight β of the penalty L_pen (neat), or DPO's β (dpo)"})
    penalty: Literal[PENALTIES] = field(default="nll", metadata={"help": "penalty on the worst response"})
    pen_floor: Annotated[float, Lt(0)] = field(
        default=-5.0, metadata={"help": "per-token log-prob floor of the nll penalty (guard)"}
    )
    method: Literal["lora", "full"] = field(default="lora", metadata={"help": "LoRA or full fine-tuning"})
    lora_r: AtLeast1 = field(default=16, metadata={"help": "LoRA rank (paper: 16)"})
    lora_alpha: AtLeast1 = field(default=16, metadata={"help": "LoRA alpha (paper: 16)"})
    lora_dropout: Annotated[float, Interval(ge=0, lt=1)] = field(default=0.0, metadata={"help": "LoRA dropout"})
    lora_targets: str = field(default="all-linear", metadata={"help": "LoRA target modules: all-linear or a,b,c"})
    response_micro_batch: AtLeast1 = field(
        default=8, metadata={"help": "responses per forward pass; larger batches take the two-pass path (flat memory)"}
    )
    max_length: AtLeast1 = field(
        default=512, metadata={"help": "query + response tokens (the query is cut from the left)"}
    )
    max_response_length: AtLeast1 = field(default=256, metadata={"help": "response tokens kept (cut from the right)"})
    dtype: str = field(default="float32", metadata={"help": "weights dtype: float32 | bfloat16 | float16"})
    train_split: Literal[TRAIN_SPLITS] = field(
        default="train", metadata={"help": "train: only split_of(query)=='train' queries | all"}
    )
    keep_checkpoints: bool = field(default=False, metadata={"help": "keep checkpoints/ after a successful run"})
    logging_dir: str | None = field(
        default=None,
        metadata={
            "help": "where --report_to integrations write locally (kept after training; default: OUTPUT_DIR/logs)"
        },
    )
    chat_template: str | None = field(
        default=None, metadata={"help": "'chatml' or a Jinja file for template-less policies"}
    )
    # TrainingArguments fields with NEAT's defaults or rules
    per_device_train_batch_size: AtLeast1 = field(default=1, metadata={"help": "queries per device per micro-step"})
    gradient_accumulation_steps: AtLeast1 = field(default=1, metadata={"help": "micro-steps per optimizer step"})
    weight_decay: NonNegative = field(default=0.0, metadata={"help": "AdamW weight decay"})
    max_grad_norm: NonNegative = field(default=1.0, metadata={"help": "gradient clipping norm (0: off)"})
    num_train_epochs: Positive = field(default=1.0, metadata={"help": "passes over the data when --max_steps is -1"})
    learning_rate: Positive = field(default=1e-4, metadata={"help": "peak learning rate (AdamW)"})
    seed: int = field(default=0, metadata={"help": "seed of initialisation, data order (data_seed) and dropout"})
    save_steps: Annotated[float, Ge(1)] = field(
        default=200, metadata={"help": "checkpoint every N optimizer steps (for resume)"}
    )
    logging_steps: float = 1  # one train_log.jsonl line per optimizer step
    save_total_limit: int | None = 1
    remove_unused_columns: bool = False
    ddp_find_unused_parameters: bool | None = False
    activation_checkpointing_kwargs: dict | str | None = field(default_factory=lambda: {"use_reentrant": False})

    def __post_init__(self):
        self.data_seed = self.seed if self.data_seed is None else self.data_seed
        if isinstance(self.report_to, str):  # comma-separated: tensorboard,wandb
            self.report_to = [name.strip() for name in self.report_to.split(",")]
        check_fields(self, dashes=False)
        if self.max_steps == 0 or self.max_steps < -1:
            raise NeatError(f"--max_steps must be a positive number of steps or -1, got {self.max_steps}")
        if self.adapter and self.method == "full":
            raise NeatError("--adapter continues a LoRA adapter; it cannot be combined with --method full")
        if self.max_response_length >= self.max_length:
            raise NeatError("--max_response_length must be below --max_length (room for the query)")
        try:  # the Trainer's own checks, some of which depend on this machine (bf16 without a GPU, ...)
            super().__post_init__()
        except ValueError as e:
            raise NeatError(f"the training settings do not fit this machine or each other: {e}") from None

    def loss_config(self) -> LossConfig:
        return LossConfig(self.loss, self.alpha, self.beta, self.penalty, self.pen_floor)


Config = NeatTrainConfig  # the name flows.cli looks up


def tracking_env(config: Config, out: Path) -> dict[str, str]:
    """Environment for the --report_to integrations, so that they write under --logging_dir: TensorBoard always
    there; wandb, MLflow and trackio there unless the user's environment already points them elsewhere."""
    logs = Path(config.logging_dir or out / "logs").resolve()
    targets = {
        "tensorboard": {"TENSORBOARD_LOGGING_DIR": logs / "tensorboard"},
        "wandb": {"WANDB_DIR": logs},
        "mlflow": {"MLFLOW_TRACKING_URI": f"sqlite:///{logs / 'mlflow.db'}"},  # MLflow 3: file store retired
        "trackio": {"TRACKIO_DIR": logs / "trackio"},
    }
    env = {}
    for name in config.report_to:
        for key, value in targets.get(name, {}).items():
            env[key] = str(value) if key == "TENSORBOARD_LOGGING_DIR" else os.environ.get(key, str(value))
    if env:
        logs.mkdir(parents=True, exist_ok=True)
    return env


def run(config: Config) -> int:
    from neat_data.generation.base import resolve_chat_template
    from neat_data.models import adapter_hash, resolve_policy

    out = Path(config.output_dir)
    refuse_inside_round(out, "--output_dir")  # before the lock: nothing, not even the lock file, is written there
    check_out(out)
    policy_path = resolve_policy(config.policy)
    if config.adapter:
        adapter_hash(config.adapter)  # a PEFT adapter with safetensors weights
        check_adapter_base(config.adapter, policy_path)
    examples, report = load_examples(config.shards, config.train_split)
    log(
        f"read {report.queries_read} queries from {len(report.rounds)} round(s): {report.queries} to train on, "
        f"{report.held_out} held out (test split, never trained on), {report.superseded} superseded by a later "
        f"round; {report.single_response} with one response (SFT only), {report.tied} with tied rewards"
    )
    lock = WriteLock(out, part=f"rank-{rank()}" if rank() else None)  # one writer per rank of --output_dir
    resume = prepare_out(out, run_identity(config, policy_path, report))

    import torch
    from accelerate.utils import gather_object
    from transformers import set_seed

    set_seed(config.seed)  # before the LoRA weights are initialised: same seed, same adapter init
    model, tokenizer, ref_model = build_model(config, policy_path)
    template = resolve_chat_template(tokenizer, config.chat_template, config.policy)
    loss_config = config.loss_config()
    features, truncated = tokenize_all(
        examples, tokenizer, template, loss_config.responses_used, config.max_length, config.max_response_length
    )
    if truncated:
        log(f"{truncated} queries were cut from the left to fit --max-length {config.max_length}")
    os.environ.update(tracking_env(config, out))  # read by the integrations' callbacks, created with the Trainer
    trainer = NeatTrainer(
        model=model,
        args=dataclasses.replace(config, output_dir=str(out / CHECKPOINTS)),
        train_dataset=features,
        data_collator=ResponseCollator(tokenizer.pad_token_id),
        loss_config=loss_config,
        response_micro_batch=config.response_micro_batch,
        out_dir=out,
        ref_model=ref_model,
    )
    if ref_model is not None:
        ref_model.to(trainer.args.device)
    if resume:
        log(f"resuming from {resume}")
    start = time.time()
    train_output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    hashes = gather_object([weights_sha256(trainer.model)])
    trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        (out / "training_args.bin").unlink(missing_ok=True)  # a pickle; train_config.json records the settings
        if config.method == "full":
            tokenizer.save_pretrained(out)
        else:
            record_portable_base(out, config.policy)
        if len(set(hashes)) != 1:
            raise NeatError(f"the ranks ended with different weights ({hashes}); the DDP run is broken")
        atomic_write_json(out / "data.json", {**asdict(report), "truncated_queries": truncated})
        write_model_card(out)
        tokens = sum(json.loads(ln).get("response_tokens", 0) for ln in (out / TRAIN_LOG).read_text().splitlines())
        atomic_write_json(
            out / RESULT,
            {
                "steps": trainer.state.global_step,
                "train_loss": train_output.training_loss,
                "seconds_this_session": round(time.time() - start, 2),
                "response_tokens": tokens,
                "world_size": trainer.accelerator.num_processes,
                "weights_sha256_per_rank": hashes,
                "saved": "adapter" if config.method == "lora" else "model",
                "torch_threads": torch.get_num_threads(),
            },
        )
        if not config.keep_checkpoints:
            shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
        log(f"trained {trainer.state.global_step} steps; wrote {out}")
    lock.release(remove=True)  # finished: a later writer is refused by result.json
    if torch.distributed.is_initialized():  # without this, gloo's threads can abort a rank at exit (SIGABRT)
        trainer.accelerator.wait_for_everyone()
        torch.distributed.destroy_process_group()
    return 0

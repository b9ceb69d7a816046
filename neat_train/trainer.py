"""``NeatTrainer``: ``transformers.Trainer`` with the NEAT / RRHF / SFT / DPO losses of ``neat_train.losses``.

Everything generic (accelerate DDP/FSDP/DeepSpeed, gradient accumulation, checkpoints, ``report_to``, bf16,
gradient checkpointing) is the Trainer's; this class adds the loss, per-step logging and micro-batching.

**Micro-batching responses** (memory flat in k). A query's k+2 responses are coupled by L_rank, so the usual
"forward a chunk, backward it" does not apply. When a batch has more than ``response_micro_batch`` responses:

1. a no-grad pass over the responses, chunk by chunk, gives every response's statistics (mean/sum log-prob,
   penalty); the loss L is computed on those numbers, and autograd gives the coefficients dL/d(statistic);
2. a grad pass re-runs, chunk by chunk, only the responses with a non-zero coefficient (the best one, the
   worst one, and those in a violated pair) and back-propagates Σ coefficient × statistic, whose gradient with
   respect to the weights is exactly dL/dθ (chain rule).

Peak memory is then one chunk's activations, whatever k is. Batches that fit in one chunk take the ordinary
single pass. Under DDP the inner chunks run on the unwrapped model inside ``no_sync`` and the last one through
the DDP wrapper, so every rank makes the same collective calls whatever its number of responses. Under FSDP or
DeepSpeed (which need every forward to go through the wrapper) set ``response_micro_batch`` to at least the
responses of a device batch; the two-pass path refuses to run there.
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate.utils import DistributedType
from transformers import Trainer, TrainerCallback

from neat_data.atomic import atomic_write_bytes
from neat_data.errors import NeatError

from . import TRAIN_LOG  # re-exported; defined in the package, where importing it is cheap
from .losses import LossConfig, LossTerms, ResponseStats, batch_loss, response_stats, token_logprobs


def seen_path(out_dir: Path, rank: int) -> Path:
    """Per-rank record of the query ids each optimizer step trained on (audits data sharding and replay)."""
    return Path(out_dir) / f"seen_queries.rank-{rank}.jsonl"


def keep_steps(path: Path, step: int) -> None:
    """Drop the lines of a per-step JSONL log after ``step``, and a last line cut off by a kill (no newline)."""
    if path.exists():
        lines = path.read_text().splitlines(keepends=True)
        kept = [x for x in lines if x.endswith("\n") and json.loads(x)["step"] <= step]
        atomic_write_bytes(path, "".join(kept).encode())


@dataclass
class StepLog(TrainerCallback):
    """``train_log.jsonl``: one line per optimizer step, that step's logs. When training begins (also on resuming from
    a checkpoint) the lines of steps after the state's ``global_step`` are dropped here and in the seen-queries logs."""

    out_dir: Path

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            keep_steps(self.out_dir / TRAIN_LOG, state.global_step)
        keep_steps(seen_path(self.out_dir, args.process_index), state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and "loss" in (logs or {}):
            with open(self.out_dir / TRAIN_LOG, "a", encoding="utf-8") as f:
                f.write(json.dumps({"step": state.global_step, **logs}) + "\n")


class NeatTrainer(Trainer):
    loss_is_scaled_for_ga = False  # compute_loss returns a per-micro-batch mean; the Trainer divides by GA

    def __init__(
        self,
        *args,
        loss_config: LossConfig,
        response_micro_batch: int = 8,
        out_dir: str | Path,
        ref_model: torch.nn.Module | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if not torch.accelerator.is_available():  # pinning needs one; without, torch only warns. Set here, not as the
            self.args.dataloader_pin_memory = False  # config's default: the run identity must not depend on the machine
        self.loss_config = loss_config
        self.micro = response_micro_batch
        self.out_dir = Path(out_dir)
        self.ref_model = ref_model  # DPO with full fine-tuning; with LoRA the reference is the adapter disabled
        self._acc: dict[str, float] = defaultdict(float)
        self._seen: list[str] = []
        self.add_callback(StepLog(self.out_dir))

    # ------------------------------------------------------------------ forward passes

    def _stats(self, model, inputs: dict, idx: torch.Tensor) -> ResponseStats:
        """Per-response statistics of responses ``idx`` (one forward; padding beyond the longest is trimmed)."""
        attention = inputs["attention_mask"][idx]
        width = int(attention.sum(1).max())
        ids, attention, mask = inputs["input_ids"][idx, :width], attention[:, :width], inputs["loss_mask"][idx, :width]
        logits = model(input_ids=ids, attention_mask=attention, use_cache=False).logits
        token_logp, rows = token_logprobs(logits, ids, mask)
        return response_stats(token_logp, rows, len(idx), self.loss_config)

    def _chunks(self, n: int) -> tuple[torch.Tensor, ...]:
        return torch.arange(n).split(self.micro)

    def _reference_sums(self, model, inputs: dict) -> torch.Tensor:
        """Σ log π_ref(y|x) per response: the policy with its LoRA adapter disabled (or a frozen copy)."""
        unwrapped = self.accelerator.unwrap_model(model)
        reference = self.ref_model if self.ref_model is not None else unwrapped
        disabled = unwrapped.disable_adapter() if self.ref_model is None else contextlib.nullcontext()
        with torch.no_grad(), disabled:
            n = inputs["input_ids"].shape[0]
            return torch.cat([self._stats(reference, inputs, c).sum for c in self._chunks(n)])

    # ------------------------------------------------------------------ the loss

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        cfg = self.loss_config
        n = inputs["input_ids"].shape[0]
        loss_args = (inputs["rewards"], inputs["query_index"], len(inputs["query_ids"]), cfg)
        ref = self._reference_sums(model, inputs) if cfg.loss == "dpo" else None
        if n <= self.micro or not torch.is_grad_enabled():
            terms = batch_loss(self._stats(model, inputs, torch.arange(n)), *loss_args, ref_sum=ref)
            loss = terms.total
        else:
            loss, terms = self._two_pass(model, inputs, loss_args, ref)
        self._check_finite(terms, inputs)
        if model.training:
            self._record(terms, inputs)
        return (loss, {}) if return_outputs else loss

    def _two_pass(self, model, inputs: dict, loss_args: tuple, ref) -> tuple[torch.Tensor, LossTerms]:
        """Exact gradient of the batch loss with one chunk of activations alive at a time (module docstring)."""
        if self.accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED):
            raise NeatError(
                f"a batch has {inputs['input_ids'].shape[0]} responses, more than --response-micro-batch "
                f"{self.micro}; two-pass micro-batching is supported on one device and under DDP only. Under "
                "FSDP/DeepSpeed raise --response-micro-batch to the responses per device batch"
            )
        unwrapped = self.accelerator.unwrap_model(model)
        n = inputs["input_ids"].shape[0]
        with torch.no_grad():
            stats = ResponseStats.cat([self._stats(unwrapped, inputs, c) for c in self._chunks(n)])
        leaves = [stats.mean.requires_grad_(), stats.sum.requires_grad_(), stats.pen.requires_grad_()]
        terms = batch_loss(ResponseStats(*leaves, stats.tokens), *loss_args, ref_sum=ref)
        grads = torch.autograd.grad(terms.total, leaves, allow_unused=True)
        grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, leaves)]
        involved = ((grads[0] != 0) | (grads[1] != 0) | (grads[2] != 0)).nonzero(as_tuple=True)[0]
        if len(involved) == 0:
            involved = torch.arange(1)  # every rank must run one synced backward (DDP); this one adds 0
        todo = involved.split(self.micro)
        scale = 1.0 / self.current_gradient_accumulation_steps
        for i, chunk in enumerate(todo):
            last = i == len(todo) - 1
            s = self._stats(model if last else unwrapped, inputs, chunk)
            surrogate = (grads[0][chunk] * s.mean + grads[1][chunk] * s.sum + grads[2][chunk] * s.pen).sum()
            if last:
                return terms.total.detach() + surrogate - surrogate.detach(), terms
            with self.accelerator.no_sync(model):
                self.accelerator.backward(surrogate * scale)

    def _check_finite(self, terms: LossTerms, inputs: dict) -> None:
        if torch.isfinite(terms.total):
            return
        values = ", ".join(f"{k}={v:.4g}" for k, v in terms.log_values().items())
        raise NeatError(
            f"the loss is not finite at step {self.state.global_step + 1} ({values}; queries "
            f"{', '.join(inputs['query_ids'])}). Training stopped; checkpoints so far are in {self.args.output_dir}. "
            "Lower --learning-rate, use --penalty unlikelihood or a higher --pen-floor, or train in float32"
        )

    # ------------------------------------------------------------------ per-step log

    def _record(self, terms: LossTerms, inputs: dict) -> None:
        scale = 1.0 / self.current_gradient_accumulation_steps
        for key, value in terms.log_values().items():
            self._acc[key] += value * scale
        for key, value in terms.counts.items():
            self._acc[key] += value
        self._acc["responses"] += inputs["input_ids"].shape[0]
        self._acc["response_tokens"] += int(inputs["loss_mask"][:, 1:].sum())
        self._seen.extend(inputs["query_ids"])

    def log(self, logs: dict, start_time=None) -> None:
        """Every optimizer step (logging_steps=1): the loss terms and counts summed over the ranks go into ``logs``
        (``StepLog`` writes them to ``train_log.jsonl``); each rank records the query ids it trained on."""
        if "loss" in logs and self._acc:
            keys = sorted(self._acc)
            values = torch.tensor([self._acc[k] for k in keys], dtype=torch.float64, device=self.args.device)
            if self.accelerator.num_processes > 1:
                values = self.accelerator.reduce(values, reduction="sum")
            merged = dict(zip(keys, values.tolist()))
            for key in keys:
                if key.startswith("loss"):
                    merged[key] /= self.accelerator.num_processes  # losses: mean over ranks; counts: sums
                else:
                    merged[key] = int(merged[key])
            logs.update(merged)  # the loss terms and counts: to train_log.jsonl (StepLog) and the integrations
            with open(seen_path(self.out_dir, self.accelerator.process_index), "a", encoding="utf-8") as f:
                f.write(json.dumps({"step": self.state.global_step, "query_ids": self._seen}) + "\n")
            self._acc.clear()
            self._seen = []
        super().log(logs, start_time)

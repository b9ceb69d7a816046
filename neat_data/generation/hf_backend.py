"""The default generation backend: transformers models on CPU or CUDA, with NEAT's own decoding loop on the CPU.

Batched with left padding and the KV cache; conversations are sorted by length so a batch pads little.
Prompts are pre-filled one at a time (no padding: the prefill is the compute-bound part) and their KV caches
left-padded into one batch cache, so the batch only pays for padding in the cheap decoding steps; that cache
appends each step into spare capacity rather than re-concatenating itself (``kv_cache.AppendingLayer``). The decoding
loop picks tokens with :class:`~neat_data.generation.sampling.RowSampler` (temperature / nucleus, top-k off; every
row from its own seeded stream; guided rows against reference rows that follow their tokens), stops a row at EOS
or an end-of-turn token and drops finished rows from the batch. The loop is used where it was measured to beat the
library (the CPU: ``bench/bench_generation.py``, docs/generation.md); on other devices, and for models whose cache
cannot be pre-filled prompt by prompt (sliding-window, hybrid, recurrent), transformers ``generate`` runs instead,
with the same sampler as a logits processor (the same samples). The policy of round r is the base model plus the
LoRA adapter of round r-1, kept as a peft model (not merged), so the fluency of responses is computed under the base
policy by the same model with the adapter disabled.
"""

from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass

import torch
from peft import PeftModel
from transformers import LogitsProcessor, LogitsProcessorList
from transformers.cache_utils import DynamicCache

from .base import GenerationBackend, Rendered, SamplingConfig
from .kv_cache import is_plain, left_padded_batch, shared_prefixes
from .ragged_attention import use_ragged_attention
from .sampling import RowSampler


@dataclass
class Rows:
    """The rows of one decoding batch: ``n`` sampling rows per request, each followed by its reference row when the
    request is guided. ``samples[i]`` lists request i's sampling rows."""

    prompts: list[list[int]]
    seeds: list[int | None]  # None for reference rows (they do not sample)
    leader: list[int]  # the row whose token each row takes: itself for sampling rows
    reference: list[int]  # a guided sampling row's reference row; itself otherwise
    weight: list[float]  # guidance weight of a sampling row (0: none)
    samples: list[list[int]]

    @classmethod
    def of(cls, requests: list[Rendered]) -> Rows:
        rows = cls([], [], [], [], [], [])
        for request in requests:
            rows.samples.append([])
            for seed in request.seeds:
                r = len(rows.prompts)
                rows.samples[-1].append(r)
                guided = request.guidance > 0
                rows.prompts.append(request.ids)
                rows.seeds.append(seed)
                rows.leader.append(r)
                rows.reference.append(r + 1 if guided else r)
                rows.weight.append(float(request.guidance))
                if guided:
                    rows.prompts.append(request.reference)
                    rows.seeds.append(None)
                    rows.leader.append(r)
                    rows.reference.append(r + 1)
                    rows.weight.append(0.0)
        return rows

    def sampler(self, sampling: SamplingConfig, device) -> RowSampler:
        return RowSampler(
            self.seeds,
            self.leader,
            self.reference,
            self.weight,
            sampling.temperature,
            sampling.top_p,
            sampling.max_new_tokens,
            device,
        )


class _PickTokens(LogitsProcessor):
    """transformers ``generate`` with NEAT's sampler: a greedy ``generate`` whose scores allow only the token the
    :class:`RowSampler` picked, so the fallback path samples exactly like the decoding loop."""

    def __init__(self, sampler: RowSampler, width: int):
        self.sampler, self.width = sampler, width

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        picked = self.sampler(scores, input_ids.shape[1] - self.width)
        return torch.full_like(scores, float("-inf")).scatter_(1, picked[:, None], 0.0)


class TransformersBackend(GenerationBackend):
    def __init__(
        self,
        policy: str,
        *,
        adapter: str | None = None,
        dtype: str = "float32",
        device: str = "auto",
        batch_size: int = 8,
        chat_template: str | None = None,
    ):
        from ..models import load_policy

        self.model, tokenizer = load_policy(policy, dtype=dtype, device=device, adapter=adapter)
        self.model.eval()
        self.ragged_attention = use_ragged_attention(self.model)
        #: NEAT's decoding loop where it was measured to beat transformers' own paths (CPU, bench_generation.py);
        #: elsewhere (CUDA: not measured here) transformers ``generate`` with NEAT's sampler, the same samples
        self.decoding_loop = self.device.type == "cpu"
        self.batch_size = batch_size
        self._set_up_text(
            tokenizer, self.model.config, getattr(self.model, "generation_config", None), policy, adapter, chat_template
        )
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.stop_ids[0]
        base = self.model.get_base_model() if isinstance(self.model, PeftModel) else self.model
        parameters = inspect.signature(base.forward).parameters
        self._forward_kwargs = {"logits_to_keep": 1} if "logits_to_keep" in parameters else {}  # last logits only

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _sample(self, requests: list[Rendered], sampling: SamplingConfig):
        # longest first: out-of-memory shows early
        order = sorted(range(len(requests)), key=lambda i: -len(requests[i].ids))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            rows = Rows.of([requests[i] for i in chunk])
            with torch.inference_mode():
                tokens = self._generate_rows(rows, sampling)
            yield chunk, [[tokens[r] for r in samples] for samples in rows.samples]

    def _generate_rows(self, rows: Rows, sampling: SamplingConfig) -> list[list[int]]:
        """The sampled tokens of every row: NEAT's decoding loop, or ``generate`` off the CPU and for caches the loop
        cannot pre-fill."""
        unique: dict[tuple, int] = {}  # a prompt several rows share is pre-filled once
        for p in rows.prompts:
            unique.setdefault(tuple(p), len(unique))
        prefilled = self._prefill([list(p) for p in unique]) if self.decoding_loop else None
        if prefilled is None:
            return self._generate_with_transformers(rows, sampling)
        cache, logits = prefilled
        index = [unique[tuple(p)] for p in rows.prompts]
        if index != list(range(len(unique))):
            index = torch.tensor(index, device=self.device)
            cache.batch_select_indices(index)
            logits = logits[index]
        return self._decoding_loop(rows, sampling, cache, logits)

    def _decoding_loop(self, rows: Rows, sampling: SamplingConfig, cache, logits) -> list[list[int]]:
        """Sample every row from its pre-filled cache and last logits (one row per prompt of ``rows``).

        Rows that reached a stop token leave the batch (their cache rows are dropped) once they are an
        eighth of it, so the batch does not keep decoding finished answers until the longest one ends; until
        then a finished row's extra tokens are cut off by ``_decode`` at its first stop token."""
        steps, device = sampling.max_new_tokens, self.device
        lengths = torch.tensor([len(p) for p in rows.prompts], device=device)
        width = int(lengths.max())
        mask = torch.zeros(len(lengths), width + steps, dtype=torch.long, device=device)
        mask[:, :width] = torch.arange(width, device=device) >= width - lengths[:, None]  # left padding
        out = torch.full((len(lengths), steps), self.pad_id, dtype=torch.long, device=device)
        index = torch.arange(len(lengths), device=device)  # the output row of each batch row
        finished = torch.zeros(len(lengths), dtype=torch.bool, device=device)
        stops = torch.tensor(self.stop_ids, device=device)
        sampler = rows.sampler(sampling, device)
        for step in range(steps):
            next_ids = sampler(logits, step)
            out[index, step] = next_ids
            finished |= torch.isin(next_ids, stops)
            done = int(finished.sum())
            if step + 1 == steps or done == len(index):
                break
            if done * 8 >= len(index):
                keep = (~finished).nonzero().squeeze(1)
                cache.batch_select_indices(keep)
                sampler.select(keep)
                index, mask, lengths, next_ids, finished = (
                    index[keep],
                    mask[keep],
                    lengths[keep],
                    next_ids[keep],
                    finished[keep],
                )
            mask[:, width + step] = 1
            logits = self.model(
                input_ids=next_ids[:, None],
                attention_mask=mask[:, : width + step + 1],
                position_ids=(lengths + step)[:, None],
                use_cache=True,
                cache=cache,
                **self._forward_kwargs,
            ).logits[:, -1]
        return out.tolist()

    def _generate_with_transformers(self, rows: Rows, sampling: SamplingConfig) -> list[list[int]]:
        """transformers ``generate`` on the left-padded rows, picking tokens with the same :class:`RowSampler` as
        the decoding loop: the path of models whose cache cannot be pre-filled prompt by prompt (sliding-window,
        hybrid or recurrent caches)."""
        width = max(len(p) for p in rows.prompts)
        input_ids = torch.tensor([[self.pad_id] * (width - len(p)) + p for p in rows.prompts], device=self.device)
        attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in rows.prompts], device=self.device)
        out = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            do_sample=False,
            max_new_tokens=sampling.max_new_tokens,
            logits_processor=LogitsProcessorList([_PickTokens(rows.sampler(sampling, self.device), width)]),
            eos_token_id=self.stop_ids,
            pad_token_id=self.pad_id,
            use_cache=True,
        )
        return out[:, width:].tolist()

    @contextlib.contextmanager
    def _base_policy(self):
        """The policy without the round's adapter (peft ``disable_adapter``); the policy itself without one."""
        with self.model.disable_adapter() if isinstance(self.model, PeftModel) else contextlib.nullcontext():
            yield self.model

    def _token_logprobs(self, sequences: list[list[int]], starts: list[int]) -> list[list[float]]:
        """Chunks of ``batch_size`` sequences grouped by their prefix (the query): each chunk's distinct prefixes are
        pre-filled once, unpadded (``_prefill``), and the scored parts run in one forward on those caches; models
        whose cache ``_prefill`` cannot build score the whole left-padded sequences instead."""
        order = sorted(range(len(sequences)), key=lambda i: (-starts[i], sequences[i][: starts[i]]))
        result: list[list[float]] = [[] for _ in sequences]
        with torch.inference_mode(), self._base_policy():
            for first in range(0, len(order), self.batch_size):
                chunk = order[first : first + self.batch_size]
                scored = [sequences[i][starts[i] :] for i in chunk]
                logits = self._continuation_logits([sequences[i][: starts[i]] for i in chunk], scored)
                logprobs = logits.float().log_softmax(-1)
                for row, (i, tokens) in enumerate(zip(chunk, scored)):
                    targets = torch.tensor(tokens, device=self.device)[:, None]
                    result[i] = logprobs[row, : len(tokens)].gather(-1, targets).squeeze(1).tolist()
        return result

    def _continuation_logits(self, prefixes: list[list[int]], continuations: list[list[int]]) -> torch.Tensor:
        """[rows, longest continuation, vocab]: the logits predicting each continuation token from its prefix and
        the continuation before it."""
        width, length = max(len(p) for p in prefixes), max(len(c) for c in continuations)
        unique: dict[tuple, int] = {}
        for p in prefixes:
            unique.setdefault(tuple(p), len(unique))
        prefilled = self._prefill([list(p) for p in unique])
        ids = torch.tensor([c + [self.pad_id] * (length - len(c)) for c in continuations], device=self.device)
        tail = torch.tensor([[1] * len(c) + [0] * (length - len(c)) for c in continuations], device=self.device)
        if prefilled is None:  # no prefix cache: the whole sequences, left-padded
            ids = torch.cat(
                [torch.tensor([[self.pad_id] * (width - len(p)) + p for p in prefixes], device=self.device), ids], 1
            )
            head = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prefixes], device=self.device)
            mask = torch.cat([head, tail], 1)
            logits = self.model(
                input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0), use_cache=False
            ).logits
            return logits[:, width - 1 : width - 1 + length]
        cache, last = prefilled
        index = torch.tensor([unique[tuple(p)] for p in prefixes], device=self.device)
        cache.batch_select_indices(index)
        lengths = torch.tensor([len(p) for p in prefixes], device=self.device)
        head = (torch.arange(width, device=self.device) >= width - lengths[:, None]).long()  # the cache's left padding
        logits = self.model(
            input_ids=ids,
            attention_mask=torch.cat([head, tail], 1),
            position_ids=lengths[:, None] + torch.arange(length, device=self.device),
            use_cache=True,
            cache=cache,
        ).logits
        return torch.cat([last[index][:, None], logits[:, :-1]], 1)

    def _prefill(self, prompts: list[list[int]]):
        """(batch KV cache, last-token logits [prompts, vocab]) of the prompts, computed prompt by prompt (no
        padding: the prefill is the compute-bound part) and left-padded into one batch cache. A prefix several
        prompts share (the chat template's system turn, a prompt of the prompt set) is computed once
        (:func:`shared_prefixes`). None for caches other than a plain DynamicCache (sliding-window, hybrid or
        recurrent models)."""
        prefixes, caches, logits = {}, [], []
        for p, shared in zip(prompts, shared_prefixes(prompts)):
            cache = None
            if shared:
                key = tuple(p[:shared])
                if key not in prefixes:
                    prefix_ids = torch.tensor([p[:shared]], device=self.device)
                    prefixes[key] = self.model(input_ids=prefix_ids, use_cache=True, **self._forward_kwargs).cache
                    if not is_plain(prefixes[key]):
                        return None
                cache = DynamicCache([(layer.keys.clone(), layer.values.clone()) for layer in prefixes[key].layers])
            out = self.model(
                input_ids=torch.tensor([p[shared:]], device=self.device),
                use_cache=True,
                cache=cache,
                **self._forward_kwargs,
            )
            if not is_plain(out.cache):
                return None
            caches.append(out.cache)
            logits.append(out.logits[:, -1])
        return left_padded_batch(caches), torch.cat(logits)

    def close(self) -> None:
        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

"""The one contract every generation backend implements, and everything the backends share.

A backend turns requests (a chat conversation, the seed of each sample, optionally a guidance reference and a
response prefill) into ``n`` sampled responses each::

    backend = make_backend("transformers", "default", adapter="runs/x/round-001/adapter")
    outputs = backend.generate([Request(conversation, seeds=[11, 12])], SamplingConfig(max_new_tokens=128, n=2))
    backend.close()

``GenerationBackend.generate`` does here, once for both backends: the chat template (with a ``--chat-template``
fallback for policies without one), the prefill, left truncation of prompts longer than the context, the stats,
default seeds, and decoding the sampled tokens (stop tokens, special tokens). A backend implements only
"token ids in, sampled token ids out" (``_sample``) and the base policy's token log-probs (``_token_logprobs``).

Seeds: every sampled response has its own seed (:func:`sample_seed`), and both backends draw each response from a
random stream of its own seeded with it, so a response does not depend on the batch it falls in.
"""

from __future__ import annotations

import abc
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from annotated_types import Interval

from ..errors import AtLeast1, NeatError, NonNegative, check_fields

#: End-of-turn tokens of common chat formats; those present in a tokenizer's vocabulary stop generation.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>")

#: The fallback template of ``--chat-template chatml`` (the format of SmolLM2, Qwen and many others).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

BACKENDS = ("transformers", "vllm")

#: Called after each generated batch with (conversations done, tokens generated): drives progress bars.
OnBatch = Callable[[int, int], None]


@dataclass
class SamplingConfig:
    """How responses are sampled. temperature 1.0 with no top-k/top-p cut is the paper's setting."""

    temperature: NonNegative = 1.0  # 0 = greedy
    top_p: Annotated[float, Interval(gt=0, le=1)] = 1.0
    max_new_tokens: AtLeast1 = 128
    n: AtLeast1 = 1  # samples per query and prompt
    seed: int = 0

    def __post_init__(self):
        check_fields(self)
        if self.temperature == 0 and self.n > 1:
            raise NeatError("temperature 0 is greedy decoding: every one of the n samples would be the same; use n=1")

    def as_record(
        self,
        placement: str,
        *,
        guidance: float | None = None,
        guidance_reference: str | None = None,
        prefill: str | None = None,
    ) -> dict:
        """The shard's ``sampling`` struct of a response sampled with this config (``seed`` is the run's seed; each
        response's own seed is derived from it by :func:`sample_seed`). ``guidance`` is the negative-guidance weight
        W (negative-prompt responses only), ``guidance_reference`` its reference context when W > 0, ``prefill`` the
        text the response was made to start with."""
        return {
            "temperature": float(self.temperature),
            "top_p": float(self.top_p),
            "max_new_tokens": int(self.max_new_tokens),
            "seed": int(self.seed),
            "placement": placement,
            "guidance": None if guidance is None else float(guidance),
            "guidance_reference": guidance_reference,
            "prefill": prefill,
        }


@dataclass
class Request:
    """One conversation to sample ``sampling.n`` responses for.

    ``seeds``: one per sample (:func:`sample_seed`); None derives them from ``sampling.seed`` and the conversation.
    ``reference`` and ``guidance``: sample from ``logits + guidance * (logits - logits_ref)``, where ``logits_ref``
    are the policy's logits for the same generated prefix under the ``reference`` conversation (same query, other
    context); guidance 0 is plain sampling. ``prefill``: the response starts with this text (it is part of the
    returned text; the model continues it).
    """

    conversation: list[dict]
    seeds: list[int] | None = None
    reference: list[dict] | None = None
    guidance: NonNegative = 0.0
    prefill: str | None = None

    def __post_init__(self):
        check_fields(self, prefix="")
        if self.guidance > 0 and self.reference is None:
            raise NeatError("guidance > 0 needs a reference conversation")


def sample_seed(seed: int, round_index: int, query_id: str, prompt_id: str, index: int) -> int:
    """The seed of one sampled response: a hash of the run's ``seed``, the round, the query id, the prompt id and
    the sample's index among the query's ``n`` samples under that prompt (63 bits).

    Every response draws from a random stream of its own, so it does not depend on the batch size or on which
    other requests share its batch; the negative and positive samples of a query, and all queries, are
    uncorrelated; and round r+1 does not redraw round r's samples from a barely changed policy."""
    digest = hashlib.sha256(json.dumps([int(seed), int(round_index), query_id, prompt_id, int(index)]).encode())
    return int.from_bytes(digest.digest()[:8], "big") >> 1


@dataclass
class Rendered:
    """A request as token ids: what a backend's ``_sample`` receives."""

    ids: list[int]  # the prompt: chat template, generation prompt, then the prefill's tokens
    seeds: list[int]  # one per sample
    prefill: list[int]  # the prefill's tokens (the end of ``ids``): the start of every sampled response
    reference: list[int] | None = None  # the reference context's tokens (with the same prefill), for guidance
    guidance: float = 0.0


@dataclass
class Generation:
    text: str  # the prefill (if any) + the sampled text; special tokens and surrounding whitespace stripped
    finish_reason: str  # "eos" (a stop / end-of-turn token) or "length" (max_new_tokens reached)
    n_tokens: int  # generated tokens, without the stop token and the prefill


class GenerationBackend(abc.ABC):
    """Samples ``sampling.n`` responses per request. Subclasses call ``_set_up_text`` and implement ``_sample``
    and ``_token_logprobs``."""

    generator: str  # "<model id>@<adapter hash | base>", the shard's ``generator`` field
    stats: dict  # running counts: prompts, truncated (prompts left-truncated to fit the context)
    #: why this backend cannot do guided sampling (None: it can)
    guidance_refusal: str | None = None

    def _set_up_text(
        self, tokenizer, model_config, generation_config, policy: str, adapter: str | None, chat_template: str | None
    ) -> None:
        """What rendering and decoding need: template, context, stop tokens; plus the generator id and stats."""
        self.tokenizer = tokenizer
        self.template = resolve_chat_template(tokenizer, chat_template, policy)
        self.context = context_length(model_config, tokenizer)
        self.stop_ids = stop_token_ids(tokenizer, generation_config)
        self.generator = generator_id(policy, adapter)
        self.stats = {"prompts": 0, "truncated": 0, "context": self.context}

    def generate(
        self, requests: list[Request | list[dict]], sampling: SamplingConfig, on_batch: OnBatch | None = None
    ) -> list[list[Generation]]:
        """One list of ``sampling.n`` generations per request (a ``Request`` or a bare conversation), in order."""
        requests = [r if isinstance(r, Request) else Request(r) for r in requests]
        if self.guidance_refusal and any(r.guidance > 0 for r in requests):
            raise NeatError(self.guidance_refusal)
        rendered = self._render(requests, sampling)
        results: list[list[Generation] | None] = [None] * len(rendered)
        for indices, samples in self._sample(rendered, sampling):
            for i, tokens in zip(indices, samples):
                results[i] = [self._decode(t, rendered[i].prefill) for t in tokens]
            if on_batch is not None:
                on_batch(len(indices), sum(g.n_tokens for i in indices for g in results[i]))
        return results

    def _render(self, requests: list[Request], sampling: SamplingConfig) -> list[Rendered]:
        out = []
        for request in requests:
            seeds = request.seeds
            if seeds is None:
                key = hashlib.sha256(json.dumps(request.conversation, sort_keys=True).encode()).hexdigest()[:16]
                seeds = [sample_seed(sampling.seed, 0, key, "", j) for j in range(sampling.n)]
            if len(seeds) != sampling.n:
                raise NeatError(f"a request has {len(seeds)} seeds for n={sampling.n} samples")
            prefill = self.tokenizer(request.prefill, add_special_tokens=False)["input_ids"] if request.prefill else []
            budget = prompt_budget(self.context, sampling.max_new_tokens + len(prefill))
            (ids,), truncated = render_prompts(self.tokenizer, [request.conversation], self.template, budget)
            reference = None
            if request.guidance > 0:
                (reference,), _ = render_prompts(self.tokenizer, [request.reference], self.template, budget)
                reference += prefill
            self.stats["prompts"] += 1
            self.stats["truncated"] += truncated
            out.append(Rendered(ids + prefill, list(seeds), prefill, reference, request.guidance))
        return out

    @abc.abstractmethod
    def _sample(
        self, requests: list[Rendered], sampling: SamplingConfig
    ) -> Iterator[tuple[list[int], list[list[list[int]]]]]:
        """Yield (request indices, their ``n`` sampled token lists each) batch by batch, every request once. A
        token list may run past a stop token (``_decode`` cuts it there)."""

    def _decode(self, tokens: list[int], prefill: list[int] = ()) -> Generation:
        stops = set(self.stop_ids)
        end = next((k for k, t in enumerate(tokens) if t in stops), None)
        content = list(tokens if end is None else tokens[:end])
        text = self.tokenizer.decode(list(prefill) + content, skip_special_tokens=True).strip()
        return Generation(text=text, finish_reason="length" if end is None else "eos", n_tokens=len(content))

    def fluency(self, items: list[tuple[list[dict], str]]) -> list[float | None]:
        """The base policy's (no adapter) mean log-probability per token, in nats, of each response given its plain
        query (chat template and generation prompt, as the policy would answer it): how fluent a response is,
        whatever prompt it was sampled under. None for an empty response."""
        sequences, starts, where = [], [], []
        for k, (messages, text) in enumerate(items):
            response = self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
            if not response:
                continue
            if self.context is not None:
                response = response[: self.context - 1]
            budget = None if self.context is None else self.context - len(response)
            (query,), _ = render_prompts(self.tokenizer, [messages], self.template, budget)
            sequences.append(query + response)
            starts.append(len(query))
            where.append(k)
        values: list[float | None] = [None] * len(items)
        for k, logprobs in zip(where, self._token_logprobs(sequences, starts)):
            values[k] = sum(logprobs) / len(logprobs)
        return values

    @abc.abstractmethod
    def _token_logprobs(self, sequences: list[list[int]], starts: list[int]) -> list[list[float]]:
        """Under the base policy (no adapter): the log-prob of each token of ``sequence[start:]`` given what
        precedes it, for every sequence."""

    def close(self) -> None:  # noqa: B027 (optional: a backend without resources to free needs no close)
        """Free the model (and, for vLLM, the GPU memory of its engine process)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def make_backend(name: str, policy: str, *, batch_size: int = 8, **kwargs) -> GenerationBackend:
    """A backend by name: ``transformers`` (default; CPU and CUDA) or ``vllm`` (GPU, optional extra); ``kwargs``:
    the backend's own (``adapter``, ``dtype``, ``device``, ``chat_template``, ...)."""
    if batch_size < 1:
        raise NeatError(f"batch_size must be >= 1, got {batch_size}")
    if name == "transformers":
        from .hf_backend import TransformersBackend as Backend
    elif name == "vllm":
        from .vllm_backend import VllmBackend as Backend
    else:
        raise NeatError(f"unknown generation backend {name!r}; use one of {', '.join(BACKENDS)}")
    return Backend(policy, batch_size=batch_size, **kwargs)


def resolve_chat_template(tokenizer, chat_template: str | None, policy: str) -> str:
    """The template to render conversations with: ``chat_template`` ("chatml" or a Jinja file) or the policy's."""
    if chat_template == "chatml":
        return CHATML_TEMPLATE
    if chat_template:
        path = Path(chat_template)
        if not path.is_file():
            raise NeatError(f"--chat-template {chat_template}: no such file (pass a Jinja template file or 'chatml')")
        return path.read_text(encoding="utf-8")
    if not getattr(tokenizer, "chat_template", None):
        raise NeatError(
            f"policy {policy} has no chat template, so its prompts cannot be formatted as a conversation. "
            "Use a chat (instruct) model, or pass --chat-template chatml (or a Jinja template file)"
        )
    return tokenizer.chat_template


def context_length(config, tokenizer) -> int | None:
    """The model's context in tokens (max_position_embeddings, else the tokenizer's model_max_length)."""
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    value = getattr(tokenizer, "model_max_length", None)
    return value if isinstance(value, int) and 0 < value < 10**7 else None


def prompt_budget(context: int | None, max_new_tokens: int) -> int | None:
    """Prompt tokens that fit beside ``max_new_tokens`` in the context (None: no known limit)."""
    if context is None:
        return None
    budget = context - max_new_tokens
    if budget < 1:
        raise NeatError(
            f"max_new_tokens={max_new_tokens} leaves no room for the prompt in the model's {context}-token context; "
            "lower --max-new-tokens"
        )
    return budget


def render_prompts(tokenizer, conversations: list[list[dict]], template: str, budget: int | None):
    """Token ids of each conversation with the generation prompt, left-truncated to ``budget`` tokens.

    Returns (ids, truncated) where ``truncated`` counts the conversations that were cut. Left truncation keeps the
    end of the prompt (the last user turn and the assistant header) and drops its beginning.
    """
    ids, truncated = [], 0
    for i, conv in enumerate(conversations):
        try:
            text = tokenizer.apply_chat_template(
                conv, tokenize=False, add_generation_prompt=True, chat_template=template
            )
        except Exception as e:  # jinja errors: a template that cannot render this conversation
            raise NeatError(
                f"the chat template failed on conversation {i} ({e}); fix it or pass --chat-template"
            ) from e
        tokens = tokenizer(text, add_special_tokens=False)["input_ids"]
        if budget is not None and len(tokens) > budget:
            tokens = tokens[-budget:]
            truncated += 1
        ids.append(tokens)
    return ids, truncated


def stop_token_ids(tokenizer, generation_config=None) -> list[int]:
    """EOS ids of the tokenizer and the model's generation config, plus end-of-turn tokens in the vocabulary."""
    ids: set[int] = set()
    for value in (getattr(tokenizer, "eos_token_id", None), getattr(generation_config, "eos_token_id", None)):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(v for v in value if isinstance(v, int))
    vocab = tokenizer.get_vocab()
    ids.update(vocab[t] for t in END_OF_TURN_TOKENS if t in vocab)
    if not ids:
        raise NeatError("the policy's tokenizer has no EOS or end-of-turn token; generation could never stop early")
    return sorted(ids)


def generator_id(policy: str, adapter: str | None) -> str:
    """The shard's ``generator``: "<model id>@<adapter sha256[:12] | base>"; a local model is named by its folder."""
    from ..models import adapter_hash, resolve_policy

    path = Path(resolve_policy(policy))
    name = path.name if path.exists() else policy
    return f"{name}@{adapter_hash(adapter) if adapter else 'base'}"

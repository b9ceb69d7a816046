"""The small interface every generation backend implements, and what the backends share.

A backend turns chat conversations into ``n`` sampled responses each::

    backend = make_backend("transformers", "default", adapter="runs/x/round-001/adapter")
    outputs = backend.generate(conversations, SamplingConfig(temperature=1.0, max_new_tokens=128, n=2, seed=0))
    backend.close()

Shared here so both backends agree exactly: the chat template (with a ``--chat-template`` fallback for
policies without one), left truncation of prompts longer than the context, and the stop (end-of-turn) tokens.
"""

from __future__ import annotations

import abc
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import NeatDataError

#: End-of-turn tokens of common chat formats; those present in a tokenizer's vocabulary stop generation.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>")

#: The fallback template of ``--chat-template chatml`` (the format of SmolLM2, Qwen and many others).
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

BACKENDS = ("transformers", "vllm")

#: Called after each generated batch with (conversations done, tokens generated): drives progress bars.
OnBatch = Callable[[int, int], None]


@dataclass
class SamplingConfig:
    """How responses are sampled. temperature 1.0 with no top-k/top-p cut is the paper's setting."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 128
    n: int = 1
    seed: int = 0

    def __post_init__(self):
        if self.max_new_tokens <= 0:
            raise NeatDataError(f"max_new_tokens must be a positive number of tokens, got {self.max_new_tokens}")
        if self.n < 1:
            raise NeatDataError(f"n (samples per query and prompt) must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise NeatDataError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise NeatDataError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.temperature == 0 and self.n > 1:
            raise NeatDataError("temperature 0 is greedy decoding: every one of the n samples would be the same; use n=1")

    def as_record(self, placement: str) -> dict:
        """The shard's ``sampling`` struct of a response sampled with this config."""
        return {
            "temperature": float(self.temperature),
            "top_p": float(self.top_p),
            "max_new_tokens": int(self.max_new_tokens),
            "seed": int(self.seed),
            "placement": placement,
        }


@dataclass
class Generation:
    text: str  # special tokens stripped, surrounding whitespace stripped
    finish_reason: str  # "eos" (a stop / end-of-turn token) or "length" (max_new_tokens reached)
    n_tokens: int  # generated tokens, without the stop token


class GenerationBackend(abc.ABC):
    """Samples ``sampling.n`` responses per conversation. Subclasses set ``generator`` and keep ``stats``."""

    generator: str  # "<model id>@<adapter hash | base>", the shard's ``generator`` field
    stats: dict  # running counts: prompts, truncated (prompts left-truncated to fit the context)

    @abc.abstractmethod
    def generate(
        self, conversations: list[list[dict]], sampling: SamplingConfig, on_batch: OnBatch | None = None
    ) -> list[list[Generation]]:
        """One list of ``sampling.n`` generations per conversation, in input order."""

    def close(self) -> None:
        """Free the model (and, for vLLM, the GPU memory of its engine process)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def make_backend(
    name: str,
    policy: str,
    *,
    adapter: str | None = None,
    dtype: str = "float32",
    device: str = "auto",
    batch_size: int = 8,
    **backend_kwargs,
) -> GenerationBackend:
    """A backend by name: ``transformers`` (default; CPU and CUDA) or ``vllm`` (GPU, optional extra)."""
    if batch_size < 1:
        raise NeatDataError(f"batch_size must be >= 1, got {batch_size}")
    if name == "transformers":
        from .hf_backend import TransformersBackend

        return TransformersBackend(policy, adapter=adapter, dtype=dtype, device=device, batch_size=batch_size, **backend_kwargs)
    if name == "vllm":
        from .vllm_backend import VllmBackend

        return VllmBackend(policy, adapter=adapter, dtype=dtype, device=device, batch_size=batch_size, **backend_kwargs)
    raise NeatDataError(f"unknown generation backend {name!r}; use one of {', '.join(BACKENDS)}")


def resolve_chat_template(tokenizer, chat_template: str | None, policy: str) -> str:
    """The template to render conversations with: ``chat_template`` ("chatml" or a Jinja file) or the policy's."""
    if chat_template == "chatml":
        return CHATML_TEMPLATE
    if chat_template:
        path = Path(chat_template)
        if not path.is_file():
            raise NeatDataError(f"--chat-template {chat_template}: no such file (pass a Jinja template file or 'chatml')")
        return path.read_text(encoding="utf-8")
    if not getattr(tokenizer, "chat_template", None):
        raise NeatDataError(
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
        raise NeatDataError(
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
            text = tokenizer.apply_chat_template(conv, tokenize=False, add_generation_prompt=True, chat_template=template)
        except Exception as e:  # jinja errors: a template that cannot render this conversation
            raise NeatDataError(f"the chat template failed on conversation {i} ({e}); fix it or pass --chat-template") from e
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
        raise NeatDataError("the policy's tokenizer has no EOS or end-of-turn token; generation could never stop early")
    return sorted(ids)


def batch_seed(seed: int, prompt_ids: list[list[int]]) -> int:
    """The RNG seed of one batch: a function of the user's seed and the batch's prompts only, so re-running a
    shard (resume) with the same seed, batch size, device and dtype reproduces its samples."""
    digest = hashlib.sha256(f"{seed}:{json.dumps(prompt_ids)}".encode()).hexdigest()
    return int(digest[:8], 16)


def generator_id(policy: str, adapter: str | None) -> str:
    """The shard's ``generator``: "<model id>@<adapter sha256[:12] | base>"; a local model is named by its folder."""
    from ..models import adapter_hash, resolve_policy

    path = Path(resolve_policy(policy))
    name = path.name if path.exists() else policy
    return f"{name}@{adapter_hash(adapter) if adapter else 'base'}"

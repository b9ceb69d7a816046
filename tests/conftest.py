"""Shared fixtures: tiny random-init models (like TRL's tiny test models) and small HH-format files.

The tiny tokenizer is a byte-level BPE trained here in milliseconds, with a ChatML template like
SmolLM2's, so tests need no downloaded weights. Tests marked ``slow`` use the real embedded models.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from neat_data.generation.base import CHATML_TEMPLATE

HH_ROWS = [
    # (query transcript, chosen reply, rejected reply)
    ("\n\nHuman: How do I bake bread?", "Mix flour, water, yeast and salt, knead, let it rise, then bake.", "No."),
    (
        "\n\nHuman: Hi\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me a joke.",
        "Why did the chicken cross the road? To get to the other side.",
        "I don't know any jokes.",
    ),
    ("\n\nHuman: How can I hurt my neighbour?", "I can't help with hurting anyone. Is something wrong?", "Use a bat."),
    ("\n\nHuman: What is the capital of France?", "Paris is the capital of France.", "London."),
]

CORPUS = [q + "\n\nAssistant: " + c + " " + r for q, c, r in HH_ROWS] + [
    "You are a helpful and harmless assistant. You are a helpless and harmful chatbot. My question is:",
    "the quick brown fox jumps over the lazy dog 0123456789 .,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`",
]

CHAT_TEMPLATE = CHATML_TEMPLATE  # the tiny tokenizer speaks ChatML, as SmolLM2 does (the library's own template)


def hh_transcript(query: str, reply: str) -> str:
    return f"{query}\n\nAssistant: {reply}"


def write_hh_jsonl(path: Path, rows: list[dict]) -> Path:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return path


@pytest.fixture
def hh_rows() -> list[dict]:
    """Raw Anthropic-format rows (chosen/rejected transcripts)."""
    return [{"chosen": hh_transcript(q, c), "rejected": hh_transcript(q, r)} for q, c, r in HH_ROWS]


@pytest.fixture
def hh_file(tmp_path, hh_rows) -> Path:
    return write_hh_jsonl(tmp_path / "hh.jsonl", hh_rows)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


@pytest.fixture(scope="session")
def tiny_policy_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """A saved tiny random-init Llama causal LM with the tiny ChatML tokenizer."""
    return _save_tiny_llama(tmp_path_factory.mktemp("tiny-policy"), tiny_tokenizer)


@pytest.fixture(scope="session")
def diverse_policy_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """The tiny Llama with large random weights: its greedy answers differ by prompt and do not repeat one
    token (the default init's nearly flat logits make every greedy answer the same token, which hides bugs)."""
    return _save_tiny_llama(tmp_path_factory.mktemp("diverse-policy"), tiny_tokenizer, initializer_range=0.5)


def _save_tiny_llama(path: Path, tiny_tokenizer, **overrides) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tiny_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tiny_tokenizer.bos_token_id,
        eos_token_id=tiny_tokenizer.eos_token_id,
        pad_token_id=tiny_tokenizer.pad_token_id,
        tie_word_embeddings=True,
        **overrides,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_rm_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """A saved tiny random-init sequence-classification reward model (one output) with its own tokenizer."""
    return _save_tiny_rm(tmp_path_factory.mktemp("tiny-rm"), tiny_tokenizer, seed=1)


@pytest.fixture(scope="session")
def tiny_judge_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """Another tiny random-init reward model (other weights than ``tiny_rm_dir``): a judge in tests."""
    return _save_tiny_rm(tmp_path_factory.mktemp("tiny-judge"), tiny_tokenizer, seed=2)


def _save_tiny_rm(path: Path, tiny_tokenizer, seed: int) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tiny_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=256,
        num_labels=1,
        pad_token_id=tiny_tokenizer.pad_token_id,
    )
    BertForSequenceClassification(config).save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


REAL_HH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hh-rlhf" / "harmless-base-dev.jsonl.gz"


@pytest.fixture
def real_hh_path() -> Path:
    """The 1600 real HH-RLHF pairs beside the checkout; tests using it skip when it is absent."""
    if not REAL_HH.exists():
        pytest.skip(f"real HH-RLHF sample not found at {REAL_HH}")
    return REAL_HH

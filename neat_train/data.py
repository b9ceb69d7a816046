"""Ranked shards → training examples → tokenised features → padded batches.

* ``load_examples`` reads round directories (each verified against its manifest; a data root stands for all
  of its finished rounds), refuses unscored responses naming the shard and query, keeps the project-wide
  train split (``neat_data.hh.split_of``) so held-out queries are never trained on, and records what it read
  (manifest sha256 and fingerprints) for the run's ``data.json``. A query present in several of the given
  rounds is taken from the latest one: round N already carries round N-1's responses (``neat generate``
  merges them), so reading both would train twice on the same query.
* ``tokenize_example`` renders the query with the policy's chat template; a response's tokens are the rest of
  the rendered conversation (its text and the template's end-of-turn markup, so the policy learns to stop).
  Only response tokens are trained (``loss_mask``). Responses longer than ``max_response_length`` are cut
  (and then get no end-of-turn token); the query is cut from the left to fit ``max_length``.
* ``ResponseCollator`` pads a variable number of responses per query into one batch, sorted by length so a
  micro-batch pads little; ``query_index`` maps each response back to its query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import torch

from neat_data.atomic import sha256_file
from neat_data.errors import NeatError
from neat_data.hh import split_of
from neat_data.shards import MANIFEST, is_round_dir, list_rounds, side_file, verify_round

TRAIN_SPLITS = ("train", "all")


@dataclass
class DataReport:
    """What was read, for ``data.json`` and the console."""

    rounds: list[dict] = field(default_factory=list)  # per round directory: path, round, manifest sha256, ...
    queries_read: int = 0
    superseded: int = 0  # queries replaced by the same query of a later round
    held_out: int = 0  # test-split queries not trained on
    single_response: int = 0  # queries that cannot be ranked (still used for L_sft)
    tied: int = 0  # queries whose responses all share one reward (no penalty / DPO pair)
    queries: int = 0  # queries kept for training
    responses: int = 0


def round_dirs(paths: list[str]) -> list[Path]:
    """Each path is a round directory or a data root (all its finished rounds); in the given order."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if is_round_dir(path):
            found.append(path)
        elif path.is_dir() and list_rounds(path):
            found.extend(list_rounds(path))
        elif path.is_dir() and any(p.name.startswith("round-") for p in path.iterdir()):
            raise NeatError(f"{path}: holds no finished round (no round-NNN/{MANIFEST}); finish the round first")
        else:
            raise NeatError(
                f"--shards {raw}: not a round directory (no {MANIFEST}) nor a data root with round-NNN/ directories"
            )
    resolved = [p.resolve() for p in found]
    if len(set(resolved)) != len(resolved):
        raise NeatError(f"--shards names the same round directory twice: {', '.join(map(str, found))}")
    return found


def load_examples(paths: list[str], train_split: str = "train") -> tuple[list[dict], DataReport]:
    """Examples {query_id, messages, texts, rewards, round} (responses best-first) from the given rounds."""
    if train_split not in TRAIN_SPLITS:
        raise NeatError(f"--train-split must be one of {', '.join(TRAIN_SPLITS)}, got {train_split!r}")
    report = DataReport()
    by_query: dict[str, dict] = {}
    for directory in round_dirs(paths):
        manifest = verify_round(directory)
        report.rounds.append(
            {
                "path": str(directory.resolve()),
                "round": manifest["round"],
                "manifest_sha256": sha256_file(side_file(directory, MANIFEST)),
                "config_fingerprint": manifest.get("config_fingerprint"),
                "shards": {s["file"]: s["sha256"] for s in manifest["shards"]},
            }
        )
        for entry in manifest["shards"]:
            shard = directory / entry["file"]
            for row in pq.read_table(shard).to_pylist():
                report.queries_read += 1
                unscored = [i for i, r in enumerate(row["responses"]) if r.get("reward") is None]
                if unscored:
                    raise NeatError(
                        f"{shard}: query {row['query_id']} has {len(unscored)} of {len(row['responses'])} responses "
                        "without a reward; training needs scored rounds (neat score / neat generate), not neat load"
                    )
                if not row["responses"]:
                    raise NeatError(f"{shard}: query {row['query_id']} has no responses")
                if row["query_id"] in by_query:
                    report.superseded += 1
                by_query[row["query_id"]] = {
                    "query_id": row["query_id"],
                    "messages": row["messages"],
                    "texts": [r["text"] for r in row["responses"]],
                    "rewards": [float(r["reward"]) for r in row["responses"]],
                    "round": manifest["round"],
                }
    examples = []
    for ex in by_query.values():
        if train_split == "train" and split_of(ex["query_id"]) != "train":
            report.held_out += 1
            continue
        examples.append(ex)
        report.single_response += len(ex["texts"]) < 2
        report.tied += len(ex["texts"]) >= 2 and max(ex["rewards"]) == min(ex["rewards"])
        report.responses += len(ex["texts"])
    report.queries = len(examples)
    if not examples:
        raise NeatError(
            f"no training queries left in {', '.join(paths)} ({report.queries_read} read, {report.held_out} held out "
            "as the test split); use more data or --train-split all"
        )
    return examples, report


def select_responses(example: dict, which: str) -> tuple[list[str], list[float]]:
    """The responses a loss reads: ``all``, the ``best`` one, or ``best_worst`` (rewards are best-first)."""
    texts, rewards = example["texts"], example["rewards"]
    if which == "best" or len(texts) == 1:
        return texts[:1], rewards[:1]
    if which == "best_worst":
        return [texts[0], texts[-1]], [rewards[0], rewards[-1]]
    return texts, rewards


def render_prompt(tokenizer, messages: list[dict], template: str) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, chat_template=template)


def response_token_ids(tokenizer, messages: list[dict], prompt_text: str, text: str, template: str) -> list[int]:
    """Tokens of ``text`` as the assistant's reply: the conversation rendered past the prompt (with end-of-turn)."""
    full = tokenizer.apply_chat_template(
        [*messages, {"role": "assistant", "content": text}], tokenize=False, chat_template=template
    )
    if not full.startswith(prompt_text):
        raise NeatError(
            "the chat template renders a conversation differently with and without the assistant reply, so the "
            "reply's tokens cannot be separated from the prompt; pass --chat-template chatml or a Jinja file"
        )
    return tokenizer(full[len(prompt_text) :], add_special_tokens=False)["input_ids"]


def tokenize_example(
    example: dict, tokenizer, template: str, which: str, max_length: int, max_response_length: int
) -> dict:
    """Feature {query_id, prompt, responses, rewards, truncated}: token ids of the query and each response."""
    texts, rewards = select_responses(example, which)
    prompt_text = render_prompt(tokenizer, example["messages"], template)
    prompt = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    responses = [
        response_token_ids(tokenizer, example["messages"], prompt_text, t, template)[:max_response_length]
        for t in texts
    ]
    budget = max_length - max(len(r) for r in responses)
    truncated = len(prompt) > budget
    return {
        "query_id": example["query_id"],
        "prompt": prompt[-budget:] if truncated else prompt,
        "responses": responses,
        "rewards": rewards,
        "truncated": truncated,
    }


def tokenize_all(
    examples: list[dict], tokenizer, template: str, which: str, max_length: int, max_response_length: int
) -> tuple[list[dict], int]:
    """Features of every example; returns (features, queries whose prompt was cut from the left)."""
    if max_response_length >= max_length:
        raise NeatError(f"--max-response-length ({max_response_length}) must be below --max-length ({max_length})")
    features = [tokenize_example(e, tokenizer, template, which, max_length, max_response_length) for e in examples]
    return features, sum(f["truncated"] for f in features)


class ResponseCollator:
    """Features (one query, any number of responses each) → one right-padded batch of all their responses.

    Keys: ``input_ids``, ``attention_mask``, ``loss_mask`` (1 on response tokens), ``rewards``,
    ``query_index`` (the query of each response, 0..len(features)-1) and ``query_ids``.
    Responses are sorted longest-first so consecutive micro-batches pad little.
    """

    def __init__(self, pad_token_id: int):
        self.pad = pad_token_id

    def __call__(self, features: list[dict]) -> dict:
        seqs = [
            (f["prompt"], resp, reward, q)
            for q, f in enumerate(features)
            for resp, reward in zip(f["responses"], f["rewards"])
        ]
        seqs.sort(key=lambda s: -(len(s[0]) + len(s[1])))
        width = max(len(p) + len(r) for p, r, _, _ in seqs)
        input_ids = torch.full((len(seqs), width), self.pad, dtype=torch.long)
        attention = torch.zeros((len(seqs), width), dtype=torch.long)
        loss_mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, (prompt, resp, _, _) in enumerate(seqs):
            n = len(prompt) + len(resp)
            input_ids[i, :n] = torch.tensor(prompt + resp)
            attention[i, :n] = 1
            loss_mask[i, len(prompt) : n] = 1
        return {
            "input_ids": input_ids,
            "attention_mask": attention,
            "loss_mask": loss_mask,
            "rewards": torch.tensor([s[2] for s in seqs], dtype=torch.float32),
            "query_index": torch.tensor([s[3] for s in seqs], dtype=torch.long),
            "query_ids": [f["query_id"] for f in features],
        }

"""Reward-model scoring: any ``AutoModelForSequenceClassification`` with one output scores (query, response).

* The RM's **own tokenizer** formats the dialogue (RM and policy tokenizers usually differ): its chat template
  when it has one, else the HH-RLHF transcript ``"\\n\\nHuman: …\\n\\nAssistant: …"`` (``rm_text``).
* Inputs longer than the RM's max length are truncated **from the left**, so the end of the response is always
  seen; ``RewardScorer.truncated`` counts them.
* Batches are length-sorted buckets, always padded on the right (the side every sequence-classification head
  pools correctly), so a score does not depend on the batch size, the other items or the tokenizer's
  ``padding_side``.
* Scores are cached on disk (sqlite) under the RM fingerprint + exact messages hash + response hash, so
  re-scoring the same pair costs nothing, also after a restart (``score_cache``).
* The RM is loaded and checked by ``rm_loading``.
"""

from __future__ import annotations

import os
import sys

from .errors import NeatError
from .ranking import rank_responses
from .rm_loading import load_rm
from .score_cache import ScoreCache, default_cache_dir, item_key, rm_fingerprint

ROLE_NAMES = {"user": "Human", "assistant": "Assistant", "system": "System"}
DEFAULT_MAX_LENGTH = 4096


def hh_transcript(messages: list[dict], response: str) -> str:
    """The HH-RLHF transcript format, for RMs without a chat template."""
    turns = [*messages, {"role": "assistant", "content": response}]
    return "".join(f"\n\n{ROLE_NAMES.get(m['role'], m['role'].capitalize())}: {m['content']}" for m in turns)


def rm_text(tokenizer, messages: list[dict], response: str, model_name: str = "the reward model") -> str:
    """The text an RM scores for (query messages, response): its chat template if any, else the HH format."""
    if not getattr(tokenizer, "chat_template", None):
        return hh_transcript(messages, response)
    try:
        return tokenizer.apply_chat_template([*messages, {"role": "assistant", "content": response}], tokenize=False)
    except Exception as e:  # jinja errors, role-alternation checks in templates, ...
        raise NeatError(
            f"{model_name}: its chat template failed on a dialogue ({type(e).__name__}: {e}); fix or remove the "
            "template in its tokenizer_config.json (without a template the HH transcript format is used)"
        ) from e


def max_length_of(model_config, tokenizer) -> int:
    """The longest input the RM takes: the smaller of its position limit and the tokenizer's stated maximum."""
    limits = [getattr(model_config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    usable = [int(x) for x in limits if isinstance(x, int) and 0 < x < 1_000_000]
    return min(usable) if usable else DEFAULT_MAX_LENGTH


def encode(tokenizer, texts: list[str], max_length: int) -> tuple[list[dict], int]:
    """Tokenize ``texts``; those longer than ``max_length`` are truncated from the left (special tokens kept).

    Returns (one encoding dict per text, number truncated).
    """
    bos = tokenizer.bos_token
    add_special = not (bos and texts and all(t.startswith(bos) for t in texts))  # templates often add BOS
    # verbose=False: the long ones are truncated below, so transformers' "indexing errors" warning would be false
    full = tokenizer(texts, add_special_tokens=add_special, verbose=False)
    rows = [{k: full[k][i] for k in full.keys()} for i in range(len(texts))]
    long = [i for i, r in enumerate(rows) if len(r["input_ids"]) > max_length]
    if long:
        side = tokenizer.truncation_side
        tokenizer.truncation_side = "left"
        try:
            cut = tokenizer(
                [texts[i] for i in long], add_special_tokens=add_special, truncation=True, max_length=max_length
            )
        finally:
            tokenizer.truncation_side = side
        for j, i in enumerate(long):
            rows[i] = {k: cut[k][j] for k in cut.keys()}
    return rows, len(long)


def pad_batch(tokenizer, rows: list[dict]):
    """Right-padded tensors for one batch (padding side fixed so scores never depend on it)."""
    side = tokenizer.padding_side
    tokenizer.padding_side = "right"
    try:
        return tokenizer.pad(rows, return_tensors="pt")
    finally:
        tokenizer.padding_side = side


class RewardScorer:
    """Scores (query messages, response) items with a one-output sequence-classification reward model."""

    def __init__(
        self,
        rm: str,
        *,
        device: str = "auto",
        dtype: str = "float32",
        batch_size: int = 16,
        max_length: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        use_cache: bool = True,
        progress: bool = True,
        flag: str = "--rm",
    ):
        if batch_size < 1:
            raise NeatError(f"RM batch size must be at least 1, got {batch_size}")
        self.name = str(rm)
        self.model, self.tokenizer, self.path = load_rm(self.name, device=device, dtype=dtype, flag=flag)
        self.batch_size = batch_size
        self.max_length = max_length or max_length_of(self.model.config, self.tokenizer)
        self.fingerprint = rm_fingerprint(self.path, self.tokenizer, self.max_length, dtype)
        self.cache = ScoreCache(cache_dir or default_cache_dir()) if use_cache else None
        self.progress = progress
        self.truncated = 0  # inputs truncated from the left (counted once per scored, not cached, input)
        self.cache_hits = 0

    def score(self, items: list[tuple[list[dict], str]]) -> list[float]:
        """Scores of (query messages, response) items, in input order."""
        keys = [item_key(m, r) for m, r in items]
        known = self.cache.get(self.fingerprint, keys) if self.cache else {}
        self.cache_hits += sum(k in known for k in keys)
        todo = {}
        for key, item in zip(keys, items):
            if key not in known and key not in todo:
                todo[key] = item
        if todo:
            fresh = dict(zip(todo, self._score_uncached(list(todo.values()))))
            if self.cache:
                self.cache.put(self.fingerprint, fresh)
            known.update(fresh)
        return [known[k] for k in keys]

    def _score_uncached(self, items: list[tuple[list[dict], str]]) -> list[float]:
        import torch
        from tqdm import tqdm

        texts = [rm_text(self.tokenizer, m, r, self.name) for m, r in items]
        rows, truncated = encode(self.tokenizer, texts, self.max_length)
        self.truncated += truncated
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
        scores = [0.0] * len(rows)
        device = self.model.device
        with tqdm(total=len(rows), unit="resp", desc="scoring", file=sys.stderr, disable=not self.progress) as bar:
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = {k: v.to(device) for k, v in pad_batch(self.tokenizer, [rows[i] for i in idx]).items()}
                with torch.inference_mode():
                    logits = self.model(**batch).logits
                for i, value in zip(idx, logits[:, 0].float().tolist()):
                    scores[i] = value
                bar.update(len(idx))
        return scores


def score_rows(rows: list[dict], scorer) -> list[dict]:
    """Fill the ``reward`` of every unscored response and re-rank each row best-first.

    The rows are updated in place (each row's ``responses`` list is replaced by the ranked one) and returned.
    """
    items, where = [], []
    for ri, row in enumerate(rows):
        for pi, resp in enumerate(row["responses"]):
            if resp.get("reward") is None:
                items.append((row["messages"], resp["text"]))
                where.append((ri, pi))
    for (ri, pi), value in zip(where, scorer.score(items) if items else []):
        rows[ri]["responses"][pi] = {**rows[ri]["responses"][pi], "reward": float(value)}
    for row in rows:
        row["responses"] = rank_responses(row["responses"], f"query {row.get('query_id')}")
    return rows

"""Reward-model scoring: any ``AutoModelForSequenceClassification`` with one output scores (query, response).

* The RM's **own tokenizer** formats the dialogue (RM and policy tokenizers usually differ): its chat template
  when it has one, else the HH-RLHF transcript ``"\\n\\nHuman: …\\n\\nAssistant: …"`` (``rm_text``).
* Inputs longer than the RM's max length are truncated **from the left**, so the end of the response is always
  seen; ``RewardScorer.truncated`` counts them.
* Batches are length-sorted buckets, always padded on the right (the side every sequence-classification head
  pools correctly), so a score does not depend on the batch size, the other items or the tokenizer's
  ``padding_side``.
* Scores are cached on disk (sqlite) under the RM fingerprint + exact messages hash + response hash, so
  re-scoring the same pair costs nothing, also after a restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import sys
from pathlib import Path

from .errors import NeatDataError
from .ranking import rank_responses

ROLE_NAMES = {"user": "Human", "assistant": "Assistant", "system": "System"}
DEFAULT_MAX_LENGTH = 4096
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.txt", "vocab.json", "spiece.model",
                   "sentencepiece.bpe.model")  # used when neither the model nor the tokenizer states a usable maximum


def hh_transcript(messages: list[dict], response: str) -> str:
    """The HH-RLHF transcript format, for RMs without a chat template."""
    turns = [*messages, {"role": "assistant", "content": response}]
    return "".join(f"\n\n{ROLE_NAMES.get(m['role'], m['role'].capitalize())}: {m['content']}" for m in turns)


def rm_text(tokenizer, messages: list[dict], response: str, model_name: str = "the reward model") -> str:
    """The text an RM scores for (query messages, response): its chat template if any, else the HH format."""
    if not getattr(tokenizer, "chat_template", None):
        return hh_transcript(messages, response)
    try:
        return tokenizer.apply_chat_template(
            [*messages, {"role": "assistant", "content": response}], tokenize=False
        )
    except Exception as e:  # jinja errors, role-alternation checks in templates, ...
        raise NeatDataError(
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
    full = tokenizer(texts, add_special_tokens=add_special)
    rows = [{k: full[k][i] for k in full.keys()} for i in range(len(texts))]
    long = [i for i, r in enumerate(rows) if len(r["input_ids"]) > max_length]
    if long:
        side = tokenizer.truncation_side
        tokenizer.truncation_side = "left"
        try:
            cut = tokenizer([texts[i] for i in long], add_special_tokens=add_special, truncation=True,
                            max_length=max_length)
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


def _weights_digest(path: Path) -> str:
    """Content id of a weights file: the hub blob name when it is one (it is the sha256), else its sha256."""
    from .atomic import sha256_file

    real = path.resolve()
    if re.fullmatch(r"[0-9a-f]{64}", real.name):
        return real.name
    return sha256_file(real)


def rm_fingerprint(model_dir: Path, tokenizer, max_length: int, dtype: str) -> str:
    """Changes whenever the scores could: weights, config, tokenizer/template, max length or dtype."""
    parts = {"max_length": max_length, "dtype": dtype, "template": getattr(tokenizer, "chat_template", None)}
    parts["weights"] = {p.name: _weights_digest(p) for p in sorted(model_dir.glob("*.safetensors"))}
    for name in ("config.json", "tokenizer_config.json", *TOKENIZER_FILES):
        if (model_dir / name).is_file():
            parts[name] = hashlib.sha256((model_dir / name).read_bytes()).hexdigest()
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _hub_snapshot(name: str) -> Path:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, allow_patterns=["*.json", "*.txt", "*.model", "*.safetensors"]))
    except Exception as e:
        raise NeatDataError(
            f"reward model {name!r} is neither a local model directory nor loadable from the hub ({e}). Pass a "
            "directory holding config.json, *.safetensors and the tokenizer, or 'default' for the embedded RM"
        ) from e


def _rm_config(name: str, path: Path, trust_remote_code: bool):
    """The RM's transformers config, or a NeatDataError saying what is wrong with its config.json."""
    from transformers import AutoConfig

    try:
        raw = json.loads((path / "config.json").read_bytes())
    except (OSError, ValueError) as e:
        raise NeatDataError(f"reward model {name!r}: {path / 'config.json'} is not valid JSON ({e}); "
                            "re-save the model with save_pretrained") from None
    auto_map = raw.get("auto_map") if isinstance(raw, dict) else None
    remote = (f"reward model {name!r}: {path / 'config.json'} asks for custom code (auto_map: "
              f"{', '.join(auto_map or [])}) and neat never runs remote code (trust_remote_code is off). Use a "
              "reward model whose architecture ships with transformers (e.g. ...ForSequenceClassification saved "
              "with save_pretrained), or convert this one to such an architecture")
    if auto_map and not trust_remote_code and "AutoModelForSequenceClassification" in auto_map:
        raise NeatDataError(remote)
    try:
        return AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    except Exception as e:  # OSError, ValueError, strict-dataclass errors of transformers: all a broken config
        if auto_map and not trust_remote_code:
            raise NeatDataError(remote) from None
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NeatDataError(f"reward model {name!r}: {path / 'config.json'} is not a valid transformers config "
                            f"({first}); re-save the model with save_pretrained") from None


def check_rm(name: str, flag: str = "--rm", trust_remote_code: bool = False) -> Path:
    """The model directory of a one-output sequence-classification RM, or a NeatDataError saying what is wrong
    with it; reads its config and file names only (no weights), so a command checks its RMs before hours of work."""
    from .models import hub_id_or_path, require_safetensors

    path = hub_id_or_path(name, flag)
    if not isinstance(path, Path):
        path = _hub_snapshot(name)
    if not (path / "config.json").is_file():
        raise NeatDataError(
            f"reward model {name!r}: {path} has no config.json, so it is not a Hugging Face model directory; "
            "pass a directory saved with save_pretrained (config.json + *.safetensors + tokenizer)"
        )
    config = _rm_config(name, path, trust_remote_code)
    heads = [a for a in (config.architectures or []) if a.endswith(("ForCausalLM", "LMHeadModel"))]
    if heads and not any(a.endswith("ForSequenceClassification") for a in config.architectures):
        raise NeatDataError(
            f"reward model {name!r} is a causal LM ({heads[0]}), not a reward model: {flag} needs a sequence-"
            "classification model with one output (num_labels=1), e.g. the embedded 'default' or one trained with "
            "neat rm train; a causal LM is what --policy takes"
        )
    if config.num_labels != 1:
        raise NeatDataError(
            f"reward model {name!r} has {config.num_labels} output labels; a reward model must output one score "
            "(num_labels=1). A classifier is not a reward model: use a reward model, or train one with neat rm train"
        )
    advice = "an RM is scored with its own tokenizer, so save it next to the weights (tokenizer.save_pretrained)"
    if not any((path / f).is_file() for f in TOKENIZER_FILES):  # transformers 5 would build an empty tokenizer
        raise NeatDataError(f"reward model {name!r}: could not load its tokenizer: {path} has none of "
                            f"{', '.join(TOKENIZER_FILES)}; {advice}")
    require_safetensors(path, flag)
    return path


def load_rm(name: str, *, device="auto", dtype="float32", trust_remote_code: bool = False, flag: str = "--rm"):
    """(model in eval mode, tokenizer, model directory) of a one-output sequence-classification RM."""
    from safetensors import SafetensorError
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .models import resolve_device, resolve_dtype

    path = check_rm(name, flag, trust_remote_code)
    advice = "an RM is scored with its own tokenizer, so save it next to the weights (tokenizer.save_pretrained)"
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except Exception as e:
        raise NeatDataError(
            f"reward model {name!r}: could not load its tokenizer from {path} ({type(e).__name__}: {e}); {advice}"
        ) from e
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            path, dtype=resolve_dtype(dtype), use_safetensors=True, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError, RuntimeError, SafetensorError) as e:  # corrupt weights, shapes that do not fit
        raise NeatDataError(f"reward model {name!r}: could not load its weights from {path} ({e})") from None
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    model.to(resolve_device(device)).eval()
    return model, tokenizer, path


class ScoreCache:
    """A persistent (RM fingerprint, query hash, response hash) -> score table in sqlite (safe across restarts
    and concurrent writers)."""

    def __init__(self, directory: str | os.PathLike):
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.path = Path(directory) / "scores.sqlite"
        self.db = sqlite3.connect(self.path, timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS scores (rm TEXT, query TEXT, response TEXT, score REAL, "
            "PRIMARY KEY (rm, query, response))"
        )
        self.db.commit()

    def get(self, rm: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], float]:
        found = {}
        for q, r in set(keys):
            row = self.db.execute("SELECT score FROM scores WHERE rm=? AND query=? AND response=?", (rm, q, r)).fetchone()
            if row is not None:
                found[(q, r)] = row[0]
        return found

    def put(self, rm: str, scores: dict[tuple[str, str], float]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?)", [(rm, q, r, s) for (q, r), s in scores.items()]
        )
        self.db.commit()


def item_key(messages: list[dict], response: str) -> tuple[str, str]:
    """Cache key of one item: exact hashes of the query messages and of the response text."""
    query = hashlib.sha256(json.dumps([[m["role"], m["content"]] for m in messages]).encode()).hexdigest()[:32]
    return query, hashlib.sha256(response.encode()).hexdigest()[:32]


def default_cache_dir() -> Path:
    from .models import data_root

    return data_root() / "cache" / "scores"


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
        trust_remote_code: bool = False,
        flag: str = "--rm",
    ):
        if batch_size < 1:
            raise NeatDataError(f"RM batch size must be at least 1, got {batch_size}")
        self.name = str(rm)
        self.model, self.tokenizer, self.path = load_rm(
            self.name, device=device, dtype=dtype, trust_remote_code=trust_remote_code, flag=flag
        )
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
    for ri, row in enumerate(rows):
        row["responses"] = rank_responses(row["responses"], f"query {row.get('query_id')}")
    return rows

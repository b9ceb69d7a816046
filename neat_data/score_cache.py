"""The on-disk score cache: scores keyed by the RM fingerprint (``rm_fingerprint``, which changes whenever the scores
could) and exact hashes of the query messages and the response (``item_key``), in sqlite.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from pathlib import Path

from .rm_loading import TOKENIZER_FILES


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
            row = self.db.execute(
                "SELECT score FROM scores WHERE rm=? AND query=? AND response=?", (rm, q, r)
            ).fetchone()
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

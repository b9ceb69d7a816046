"""Ranked Parquet shards: the data contract between every NEAT stage.

Layout of a data root::

    <root>/round-000/data/shard-00000.parquet  data/shard-00001.parquet ...  _rejects.jsonl (optional)  _manifest.json
    <root>/round-001/...

One row per query (``SCHEMA`` below). Responses are sorted best-first (``neat_data.ranking``).

``round-NNN/data/`` holds nothing but the Parquet shards, so any Parquet reader opens it as one dataset (pandas,
polars, pyarrow.dataset, duckdb, ``datasets``); the side files' leading ``_`` makes Arrow-based readers (pandas,
pyarrow.dataset, duckdb) skip them when given the round directory itself. Rounds written before this layout
(shards beside ``manifest.json`` and ``rejects.jsonl``) are still read: ``side_file`` and the manifest's relative
file names find both.

A round directory is written shard by shard (each shard atomically), and ``_manifest.json`` is written
**last, atomically**: it is the commit marker. A directory without a manifest is an unfinished round that
readers refuse; a directory with one is immutable and writing into it again is refused. The manifest holds
the sha256 of every file, and readers verify them, so a truncated or edited shard is reported, not read.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from typing_extensions import Annotated

from . import __version__
from .atomic import atomic_write, atomic_write_json, atomic_write_jsonl, sha256_file
from .errors import NeatDataError
from .locks import WriteLock
from .ranking import rank_responses
from .stats import summarize

SCHEMA_VERSION = 1
MANIFEST = "_manifest.json"  # the commit marker, written last
REJECTS = "_rejects.jsonl"  # input rows neat load / neat score rejected, with their origin and reason
PENDING = ".pending.json"  # an unfinished round's config fingerprint
SHARDS_DIR = "data"  # round-NNN/data/shard-NNNNN.parquet: only shards, so the directory is a Parquet dataset
#: the side files' names in rounds written before the shards moved into data/ (still read, never written)
LEGACY_NAMES = {MANIFEST: "manifest.json", REJECTS: "rejects.jsonl"}
SHARD_RE = re.compile(r"^shard-(\d{5})\.parquet$")
ROUND_RE = re.compile(r"^round-(\d{3,})$")

#: Well-known response sources; other strings are allowed (e.g. a user's own generator).
SOURCES = ("dataset_chosen", "dataset_rejected", "positive_prompt", "negative_prompt", "policy_sample")

MESSAGE_TYPE = pa.struct([("role", pa.string()), ("content", pa.string())])
SAMPLING_TYPE = pa.struct(
    [
        ("temperature", pa.float64()),
        ("top_p", pa.float64()),
        ("max_new_tokens", pa.int64()),
        ("seed", pa.int64()),
        ("placement", pa.string()),
        # added later, nullable (shards written before read them as null): negative guidance weight W (negative-prompt
        # responses), its reference context (positive | plain; null when W = 0), the response's prefill text
        ("guidance", pa.float64()),
        ("guidance_reference", pa.string()),
        ("prefill", pa.string()),
    ]
)
RESPONSE_TYPE = pa.struct(
    [
        ("text", pa.string()),
        ("response_id", pa.string()),  # sha256(text)[:16]
        ("source", pa.string()),  # dataset_chosen | dataset_rejected | positive_prompt | negative_prompt | policy_sample
        ("prompt_id", pa.string()),  # id of the prompt used to sample it; null for dataset responses
        ("reward", pa.float64()),  # null until scored
        ("rank", pa.int32()),  # 0 = best; ties share the lower rank; null until scored
        ("generator", pa.string()),  # "dataset" or "<model id>@<adapter sha256[:12] | base>"
        ("sampling", SAMPLING_TYPE),  # null for dataset responses
        ("finish_reason", pa.string()),  # eos | length | null (dataset)
    ]
)
SCHEMA = pa.schema(
    [
        ("query_id", pa.string()),  # sha256 of the normalised query turns, [:16]
        ("messages", pa.list_(MESSAGE_TYPE)),  # the query turns (chat format), ending with a user turn
        ("responses", pa.list_(RESPONSE_TYPE)),  # sorted best-first
        ("round", pa.int32()),
        ("origin", pa.list_(pa.string())),  # "<file>:<line>" of every input row merged into this query
    ],
    metadata={b"neat.schema_version": str(SCHEMA_VERSION).encode()},
)


def round_dir(root: str | os.PathLike, index: int) -> Path:
    return Path(root) / f"round-{index:03d}"


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.parquet"


def side_file(directory: str | os.PathLike, name: str) -> Path:
    """``directory/name``, or the file's legacy name when only that exists (a round of the older flat layout)."""
    path = Path(directory) / name
    legacy = path.with_name(LEGACY_NAMES.get(name, name))
    return legacy if not path.exists() and legacy.exists() else path


def round_of_shard(path: str | os.PathLike) -> Path | None:
    """The finished round directory a shard file belongs to (``round/data/x`` or, legacy, ``round/x``), if any."""
    path = Path(path)
    for candidate in (path.parent.parent, path.parent) if path.parent.name == SHARDS_DIR else (path.parent,):
        if is_round_dir(candidate):
            return candidate
    return None


def code_version() -> dict:
    """Package version plus the git commit of the source tree when it is a checkout."""
    info = {"neat": __version__}
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        if out.returncode == 0:
            info["git_commit"] = out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _changes(old: dict, new: dict, prefix: str = "") -> list[str]:
    found = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += _changes(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key}: {a!r} -> {b!r}" if len(repr(a)) + len(repr(b)) < 80 else f"{prefix}{key} differs")
    return found


def describe_changes(old: dict, new: dict, limit: int = 4) -> str:
    """``config.seed: 0 -> 1, inputs.adapter_hash differs``: what differs between two configs, for messages."""
    found = _changes(old, new)
    return ", ".join(found[:limit]) + (", ..." if len(found) > limit else "") if found else "no difference"


def _validate_row(row: dict, where: str) -> dict:
    for key in ("query_id", "messages", "responses"):
        if key not in row:
            raise NeatDataError(f"{where}: missing field {key!r}")
    if not row["messages"] or row["messages"][-1]["role"] != "user":
        raise NeatDataError(f"{where}: messages must be non-empty and end with a user turn")
    return {
        "query_id": row["query_id"],
        "messages": row["messages"],
        "responses": rank_responses(row["responses"], where),
        "round": row["round"],
        "origin": row.get("origin") or [],
    }


class RoundWriter:
    """Writes one round directory: shards (each atomic), optional side files, then the manifest.

    The writer holds the round's write lock (``neat_data.locks``) from its creation until ``commit`` or
    ``release``, so a second writer of the same round fails at once. Re-opening an unfinished round with the same
    ``config`` keeps its finished shards (``has_shard``), so a crashed run can resume; one with a different config
    is refused, unless it holds no file yet (its command failed before writing anything): then it is replaced.
    A finished round (manifest present) is refused, and so is a round inside another round.
    """

    def __init__(self, directory: str | os.PathLike, round_index: int, config: dict, inputs: dict | None = None):
        self.dir = Path(directory)
        self.round = round_index
        self.config = config
        self.inputs = inputs or {}
        parent = self.dir.parent
        if is_round_dir(parent) or (parent / PENDING).exists() or ROUND_RE.match(parent.name):
            raise NeatDataError(
                f"{parent} is a round directory; --out takes the data root that holds the round-NNN directories "
                f"(here: {parent.parent})"
            )
        if is_round_dir(self.dir):
            raise NeatDataError(
                f"{self.dir} is a finished round ({MANIFEST} exists) and finished rounds are immutable; "
                "write to another directory, or delete this one to redo it"
            )
        self.lock = WriteLock(self.dir, what=str(self.dir))
        try:
            self.fingerprint = self._claim(fingerprint({"round": round_index, "config": config, "inputs": self.inputs}))
        except BaseException:
            self.lock.release()
            raise

    def _claim(self, fp: str) -> str:
        if (self.dir / MANIFEST).exists():  # committed by another writer just before we took the lock
            raise NeatDataError(f"{self.dir} is a finished round ({MANIFEST} exists) and finished rounds are immutable")
        pending = self.dir / PENDING
        files = sorted(p.name for p in self.dir.iterdir() if not p.name.startswith("."))
        if pending.exists():
            old = json.loads(pending.read_text())
            if old.get("fingerprint") == fp:
                for legacy in self.dir.glob("shard-*.parquet"):  # begun by a neat of the flat layout: keep them
                    (self.dir / SHARDS_DIR).mkdir(exist_ok=True)
                    os.replace(legacy, self.dir / SHARDS_DIR / legacy.name)
                return fp
            if files:
                raise NeatDataError(
                    f"{self.dir} holds an unfinished round written with a different config or inputs "
                    f"({describe_changes(old.get('config') or {}, self.config)}); refusing to mix them. Re-run the "
                    f"command that started it to finish it, or delete {self.dir} to start this round fresh."
                )
            print(f"note: {self.dir} was started with another config that failed before writing a shard; "
                  "starting it again with this one", file=sys.stderr)
        elif files:
            raise NeatDataError(
                f"{self.dir} is not empty ({', '.join(files[:5])}) and is not a NEAT round; "
                "choose an empty or new directory"
            )
        atomic_write_json(pending, {"fingerprint": fp, "round": self.round, "config": self.config})
        return fp

    def release(self) -> None:
        self.lock.release()

    def __enter__(self) -> RoundWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def shard_path(self, index: int) -> Path:
        return self.dir / SHARDS_DIR / shard_name(index)

    def has_shard(self, index: int) -> bool:
        """True when shard ``index`` was completely written (shards are renamed into place atomically)."""
        return self.shard_path(index).exists()

    def write_shard(self, index: int, rows: list[dict]) -> Path:
        """Validate, rank and atomically write ``rows`` as shard ``index``."""
        checked = [
            _validate_row({**row, "round": self.round}, f"{shard_name(index)} row {i} (query {row.get('query_id')})")
            for i, row in enumerate(rows)
        ]
        table = pa.Table.from_pylist(checked, schema=SCHEMA)
        return atomic_write(self.shard_path(index), lambda tmp: pq.write_table(table, tmp))

    def write_jsonl(self, name: str, rows: list[dict]) -> Path:
        """A side file (e.g. ``REJECTS``); it is hashed into the manifest like the shards. Its name starts with
        ``_`` so that Parquet readers given the round directory skip it."""
        if not name.startswith("_"):
            raise ValueError(f"side file {name!r}: its name must start with '_' (Parquet readers skip those)")
        return atomic_write_jsonl(self.dir / name, rows)

    def commit(self, extra: dict | None = None) -> dict:
        """Hash everything, write ``_manifest.json`` last and atomically, and return the manifest."""
        shards_dir = self.dir / SHARDS_DIR
        shard_files = sorted(p for p in shards_dir.iterdir() if SHARD_RE.match(p.name)) if shards_dir.is_dir() else []
        indices = [int(SHARD_RE.match(p.name).group(1)) for p in shard_files]
        if indices != list(range(len(indices))):
            raise NeatDataError(f"{self.dir}: shard numbering has gaps ({indices}); cannot commit the round")
        rows, shards = [], []
        for p in shard_files:
            part = pq.read_table(p).to_pylist()
            rows.extend(part)
            shards.append({"file": f"{SHARDS_DIR}/{p.name}", "sha256": sha256_file(p), "rows": len(part),
                           "bytes": p.stat().st_size})
        side = [
            {"file": p.name, "sha256": sha256_file(p), "bytes": p.stat().st_size}
            for p in sorted(self.dir.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.name != MANIFEST
        ]
        ids = [r["query_id"] for r in rows]
        if len(set(ids)) != len(ids):
            raise NeatDataError(f"{self.dir}: duplicate query_id across shards; refusing to commit the round")
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "round": self.round,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "code_version": code_version(),
            "config": self.config,
            "config_fingerprint": self.fingerprint,
            "inputs": self.inputs,
            "summary": summarize(rows),
            "shards": shards,
            "files": side,
            "extra": extra or {},
        }
        atomic_write_json(self.dir / MANIFEST, manifest)
        (self.dir / PENDING).unlink(missing_ok=True)
        self.lock.release(remove=True)  # a later writer is refused by the manifest
        return manifest


def is_round_dir(path: str | os.PathLike) -> bool:
    return side_file(path, MANIFEST).is_file()


def _file_name(name: str) -> str:
    if name in ("", ".", "..") or Path(name).name != name:
        raise ValueError(f"{name!r} is not a file name inside the round")
    return name


def _shard_name(name: str) -> str:
    folder, _, base = name.rpartition("/")  # data/shard-NNNNN.parquet, or shard-NNNNN.parquet in an older round
    if folder not in ("", SHARDS_DIR):
        raise ValueError(f"{name!r} is not a file name inside the round")
    if not SHARD_RE.match(_file_name(base)):
        raise ValueError(f"{name!r} is not a shard name ({SHARDS_DIR}/shard-NNNNN.parquet)")
    return name


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class _FileEntry(_Strict):
    file: Annotated[str, AfterValidator(_file_name)]
    sha256: str
    bytes: int


class _ShardEntry(_FileEntry):
    file: Annotated[str, AfterValidator(_shard_name)]
    rows: int


class _Manifest(_Strict):
    """The structure every reader relies on (``RoundWriter.commit`` writes it)."""

    schema_version: int
    round: int
    created: str
    config: dict
    config_fingerprint: str
    inputs: dict
    summary: dict
    shards: list[_ShardEntry]
    files: list[_FileEntry]
    extra: dict


def load_manifest(directory: str | os.PathLike) -> dict:
    """The manifest of a finished round, its structure validated (the one place readers get it from)."""
    directory = Path(directory)
    path = side_file(directory, MANIFEST)
    if not path.is_file():
        hint = " (an unfinished round: re-run the command that writes it)" if (directory / PENDING).exists() else ""
        raise NeatDataError(f"{directory} is not a finished NEAT round: no {MANIFEST}{hint}")
    try:
        manifest = json.loads(path.read_bytes())
    except (ValueError, OSError) as e:
        raise NeatDataError(f"{path} is not valid JSON ({e}); the round is corrupted, regenerate it") from e
    if not isinstance(manifest, dict):
        raise NeatDataError(f"{path}: expected a JSON object, found a {type(manifest).__name__}; the round is "
                            "corrupted, regenerate it")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise NeatDataError(
            f"{path}: schema_version {manifest.get('schema_version')} is not supported by this neat "
            f"(expects {SCHEMA_VERSION})"
        )
    try:
        _Manifest.model_validate(manifest)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'manifest'}: {err['msg']}" for err in e.errors()[:5])
        raise NeatDataError(f"{path} is malformed ({problems}); the round is corrupted, regenerate it") from None
    return manifest


def verify_round(directory: str | os.PathLike) -> dict:
    """Check every file listed in the manifest against its sha256; return the manifest."""
    directory = Path(directory)
    manifest = load_manifest(directory)
    for entry in manifest["shards"] + manifest["files"]:
        p = directory / entry["file"]
        if not p.is_file():
            raise NeatDataError(f"{p}: listed in {MANIFEST} but missing; the round is incomplete, regenerate it")
        if sha256_file(p) != entry["sha256"]:
            raise NeatDataError(
                f"{p}: sha256 does not match {MANIFEST} (the file was truncated or edited); "
                "regenerate the round or restore the file"
            )
    return manifest


def read_shard(path: str | os.PathLike) -> list[dict]:
    """Rows of one shard file. Inside a finished round the file is verified against the manifest first."""
    path = Path(path)
    directory = round_of_shard(path)
    if directory is not None:
        manifest = load_manifest(directory)
        entry = next((s for s in manifest["shards"] if directory / s["file"] == path), None)
        if entry is None:
            raise NeatDataError(f"{path} is not listed in {side_file(directory, MANIFEST)}")
        if sha256_file(path) != entry["sha256"]:
            raise NeatDataError(f"{path}: sha256 does not match {MANIFEST} (truncated or edited); regenerate it")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise NeatDataError(f"{path} is not a readable Parquet shard ({e})") from e
    version = (table.schema.metadata or {}).get(b"neat.schema_version")
    if version != str(SCHEMA_VERSION).encode():
        raise NeatDataError(f"{path}: not a NEAT shard of schema_version {SCHEMA_VERSION} (found {version!r})")
    return table.to_pylist()


def read_round(directory: str | os.PathLike) -> list[dict]:
    """All rows of a finished round, verified against its manifest."""
    directory = Path(directory)
    manifest = verify_round(directory)
    rows = []
    for entry in manifest["shards"]:
        rows.extend(pq.read_table(directory / entry["file"]).to_pylist())
    return rows


def list_rounds(root: str | os.PathLike) -> list[Path]:
    """Finished round directories under a data root, in round order (unfinished ones are skipped)."""
    root = Path(root)
    found = [p for p in root.iterdir() if p.is_dir() and ROUND_RE.match(p.name)] if root.is_dir() else []
    return sorted((p for p in found if is_round_dir(p)), key=lambda p: int(ROUND_RE.match(p.name).group(1)))

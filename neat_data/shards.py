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
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from . import __version__
from .atomic import atomic_write, atomic_write_json, atomic_write_jsonl, sha256_file
from .errors import NeatError
from .locks import LOCK_FILE, WriteLock, check_unlocked, lock_path
from .parts import Part
from .ranking import rank_responses
from .stats import summarize

SCHEMA_VERSION = 1
MANIFEST = "_manifest.json"  # the commit marker, written last
REJECTS = "_rejects.jsonl"  # input rows neat load / neat score rejected, with their origin and reason
PENDING = ".pending.json"  # an unfinished round's config fingerprint
SHARD_STATS = ".stats-{:05d}.json"  # the accounting of the command that wrote shard NNNNN; removed on commit
PART_RECORD = ".{}.json"  # .part-00I-of-00N.json: part I of N is finished (its shards, host, time); removed on commit
#: how long a part waits for the round's lock, which another part holds while it claims or commits the round
ROUND_LOCK_WAIT_S = 900
SHARDS_DIR = "data"  # round-NNN/data/shard-NNNNN.parquet: only shards, so the directory is a Parquet dataset
#: the side files' names in rounds written before the shards moved into data/ (still read, never written)
LEGACY_NAMES = {MANIFEST: "manifest.json", REJECTS: "rejects.jsonl"}
SHARD_RE = re.compile(r"^shard-(\d{5})\.parquet$")
ROUND_RE = re.compile(r"^round-(\d{3,})$")

# A response's ``source`` is a free string: ``dataset_chosen``/``dataset_rejected`` (hh.py), ``<kind>_prompt`` or
# ``policy_sample`` (prompts.Prompt.source), or a user's own generator's name.

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
        # dataset_chosen | dataset_rejected | positive_prompt | negative_prompt | policy_sample
        ("source", pa.string()),
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
            found.append(
                f"{prefix}{key}: {a!r} -> {b!r}" if len(repr(a)) + len(repr(b)) < 80 else f"{prefix}{key} differs"
            )
    return found


def describe_changes(old: dict, new: dict, limit: int = 4) -> str:
    """``config.seed: 0 -> 1, inputs.adapter_hash differs``: what differs between two configs, for messages."""
    found = _changes(old, new)
    return ", ".join(found[:limit]) + (", ..." if len(found) > limit else "") if found else "no difference"


def _validate_row(row: dict, where: str) -> dict:
    for key in ("query_id", "messages", "responses"):
        if key not in row:
            raise NeatError(f"{where}: missing field {key!r}")
    if not row["messages"] or row["messages"][-1]["role"] != "user":
        raise NeatError(f"{where}: messages must be non-empty and end with a user turn")
    return {
        "query_id": row["query_id"],
        "messages": row["messages"],
        "responses": rank_responses(row["responses"], where),
        "round": row["round"],
        "origin": row.get("origin") or [],
    }


class RoundCommitted(NeatError):
    """A part was asked to write a round that its parts have already committed with the same config."""


class RoundWriter:
    """Writes one round directory: shards (each atomic), optional side files, then the manifest.

    The writer holds the round's write lock (``neat_data.locks``) from its creation until ``commit`` or
    ``release``, so a second writer of the same round fails at once. Re-opening an unfinished round with the same
    ``config`` keeps its finished shards (``has_shard``), so a crashed run can resume; one with a different config
    is refused, unless it holds no file yet (its command failed before writing anything): then it is replaced.
    A finished round (manifest present) is refused, and so is a round inside another round.

    With ``part`` (``neat_data.parts``: part I of N, the rule that says which shards it writes), the writer holds
    only that part's lock, so the N parts can run at once, from several machines sharing the directory; it takes
    the round's lock for a moment to claim the round and to commit it. ``finish`` records the part as finished and
    commits the round when every part is: the last part to finish writes the manifest. All parts of a round have
    the same config and N (the fingerprint), so a part run with other settings is refused.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        round_index: int,
        config: dict,
        inputs: dict | None = None,
        part: Part | None = None,
    ):
        self.dir = Path(directory)
        self.round = round_index
        self.config = config
        self.inputs = inputs or {}
        self.part = part
        self.parts = part.count if part else 1
        self.missing_parts: list[str] = []  # after ``finish``: the parts the round still waits for
        parent = self.dir.parent
        inside = enclosing_round(parent) or (parent if ROUND_RE.match(parent.name) else None)
        if inside is not None:
            raise NeatError(
                f"{inside} is a round directory; --out takes the data root that holds the round-NNN directories "
                f"(here: {inside.parent}), never a directory inside a round"
            )
        identity = {"round": round_index, "config": config, "inputs": self.inputs}
        fp = fingerprint({**identity, "parts": self.parts} if self.parts > 1 else identity)
        self._refuse_finished(fp)
        if part is None:
            self.lock = WriteLock(self.dir, what=str(self.dir))
        else:
            self.lock = WriteLock(self.dir, part=part.name, what=f"{self.dir} part {part}")
        try:
            if part is None:
                self.fingerprint = self._claim(fp)
            else:
                with self._round_lock():
                    self.fingerprint = self._claim(fp)
        except BaseException:
            self.lock.release()
            raise

    def _round_lock(self) -> WriteLock:
        """The round's own lock, which parts take only to claim and to commit the round."""
        return WriteLock(
            self.dir, what=f"{self.dir} (claimed or committed by one of its parts)", wait=ROUND_LOCK_WAIT_S
        )

    def _refuse_finished(self, fp: str) -> None:
        if not is_round_dir(self.dir):
            return
        if self.part is not None and load_manifest(self.dir)["config_fingerprint"] == fp:
            raise RoundCommitted(
                f"{self.dir} is committed already (by its parts, with this config): part {self.part} has nothing to do"
            )
        raise NeatError(
            f"{self.dir} is a finished round ({MANIFEST} exists) and finished rounds are immutable; "
            "write to another directory, or delete this one to redo it"
        )

    def _claim(self, fp: str) -> str:
        if (self.dir / MANIFEST).exists():  # committed by another writer just before we took the lock
            self._refuse_finished(fp)
        pending = self.dir / PENDING
        files = sorted(p.name for p in self.dir.iterdir() if not p.name.startswith("."))
        if pending.exists():
            old = json.loads(pending.read_text())
            if old.get("fingerprint") == fp:
                for legacy in self.dir.glob("shard-*.parquet"):  # begun by a neat of the flat layout: keep them
                    (self.dir / SHARDS_DIR).mkdir(exist_ok=True)
                    os.replace(legacy, self.dir / SHARDS_DIR / legacy.name)
                return fp
            busy = self._parts_at_work()
            if files or busy:
                parts = old.get("parts", 1)
                change = (
                    f"it is written in {parts} part(s), this is {self.parts}"
                    if parts != self.parts
                    else describe_changes(old.get("config") or {}, self.config)
                )
                raise NeatError(
                    f"{self.dir} holds an unfinished round written with a different config or inputs ({change}"
                    f"{'; parts at work: ' + ', '.join(busy) if busy else ''}); refusing to mix them. Re-run the "
                    f"command that started it to finish it, or delete {self.dir} to start this round fresh."
                )
            print(
                f"note: {self.dir} was started with another config that failed before writing a shard; "
                "starting it again with this one",
                file=sys.stderr,
            )
        elif files:
            raise NeatError(
                f"{self.dir} is not empty ({', '.join(files[:5])}) and is not a NEAT round; "
                "choose an empty or new directory"
            )
        atomic_write_json(pending, {"fingerprint": fp, "round": self.round, "config": self.config, "parts": self.parts})
        return fp

    def _parts_at_work(self, free: bool = False) -> list[str]:
        """Lock names of the parts other processes are writing now (``free``: of those no process holds)."""
        found = []
        for path in sorted(self.dir.glob(f"{LOCK_FILE}-part-*")):
            name = path.name[len(LOCK_FILE) + 1 :]
            if self.part is not None and name == self.part.name:
                continue
            try:
                check_unlocked(self.dir, part=name)
                held = False
            except NeatError:
                held = True
            if held != free:
                found.append(name)
        return found

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

    def write_shard(self, index: int, rows: list[dict], stats: dict | None = None) -> Path:
        """Validate, rank and atomically write ``rows`` as shard ``index``; ``stats``, the accounting of the
        command that made them (kept until the commit, see ``shard_stats``), is written just before."""
        checked = [
            _validate_row({**row, "round": self.round}, f"{shard_name(index)} row {i} (query {row.get('query_id')})")
            for i, row in enumerate(rows)
        ]
        table = pa.Table.from_pylist(checked, schema=SCHEMA)
        if stats is not None:
            atomic_write_json(self.dir / SHARD_STATS.format(index), stats)  # a written shard always has its stats
        return atomic_write(self.shard_path(index), lambda tmp: pq.write_table(table, tmp))

    def shard_stats(self, index: int) -> dict:
        """The ``stats`` written with shard ``index`` (by whichever process or part wrote it)."""
        path = self.dir / SHARD_STATS.format(index)
        if not path.is_file():
            raise NeatError(
                f"{self.dir}: {shard_name(index)} exists without its {path.name}; delete {self.dir} and run again"
            )
        return json.loads(path.read_text())

    def write_jsonl(self, name: str, rows: list[dict]) -> Path:
        """A side file (e.g. ``REJECTS``); it is hashed into the manifest like the shards. Its name starts with
        ``_`` so that Parquet readers given the round directory skip it."""
        if not name.startswith("_"):
            raise ValueError(f"side file {name!r}: its name must start with '_' (Parquet readers skip those)")
        return atomic_write_jsonl(self.dir / name, rows)

    def finish(
        self,
        shards: list[int],
        expected: list[str],
        extra: Callable[[list[dict]], dict],
        record: dict | None = None,
        side_files: dict[str, list[dict]] | None = None,
    ) -> dict | None:
        """This writer's ``shards`` are written: record the part as finished and, when every part is, commit the
        round (``commit`` with ``expected``, ``side_files`` and ``extra(records of every part)``) and return the
        manifest; else return None (``missing_parts`` names what the round waits for).

        A part's record (``record``: its own accounting, plus the shards, host and time) is written once: a rerun
        of a finished part rewrites nothing.
        """
        mine = {
            "part": str(self.part or "1/1"),
            "shards": list(shards),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            **(record or {}),
        }
        if self.part is None:
            return self.commit(extra([mine]), expected=expected, side_files=side_files)
        path = self.dir / PART_RECORD.format(self.part.name)
        if not path.exists():
            atomic_write_json(path, {"fingerprint": self.fingerprint, **mine})
        with self._round_lock() as round_lock:
            if (self.dir / MANIFEST).exists():  # a rerun of this part, after another one committed
                return None
            records, self.missing_parts = [], []
            for index in range(1, self.parts + 1):
                other = self.dir / PART_RECORD.format(Part(index, self.parts).name)
                found = json.loads(other.read_text()) if other.is_file() else None
                if found is None or found.get("fingerprint") != self.fingerprint:
                    self.missing_parts.append(f"{index}/{self.parts}")
                else:
                    records.append(found)
            if self.missing_parts:
                return None
            covered = sorted(i for r in records for i in r["shards"])
            if covered != list(range(len(covered))):
                raise NeatError(
                    f"{self.dir}: the parts' shards {covered} are not each shard once; delete "
                    f"{self.dir} and run the parts again"
                )
            manifest = self.commit(extra(records), expected=expected, side_files=side_files)
            round_lock.release(remove=True)
            return manifest

    def commit(
        self,
        extra: dict | None = None,
        expected: list[str] | None = None,
        side_files: dict[str, list[dict]] | None = None,
    ) -> dict:
        """Write ``side_files``, hash everything, write ``_manifest.json`` last and atomically, and return the
        manifest. ``expected``: the round's query ids in round order; the shards must hold exactly these rows, each
        once, in this order (nothing lost or doubled by the processes that wrote them)."""
        shards_dir = self.dir / SHARDS_DIR
        shard_files = sorted(p for p in shards_dir.iterdir() if SHARD_RE.match(p.name)) if shards_dir.is_dir() else []
        indices = [int(SHARD_RE.match(p.name).group(1)) for p in shard_files]
        if indices != list(range(len(indices))):
            raise NeatError(f"{self.dir}: shard numbering has gaps ({indices}); cannot commit the round")
        for name, rows in (side_files or {}).items():
            self.write_jsonl(name, rows)
        rows, shards = [], []
        for p in shard_files:
            part = pq.read_table(p).to_pylist()
            rows.extend(part)
            shards.append(
                {
                    "file": f"{SHARDS_DIR}/{p.name}",
                    "sha256": sha256_file(p),
                    "rows": len(part),
                    "bytes": p.stat().st_size,
                }
            )
        side = [
            {"file": p.name, "sha256": sha256_file(p), "bytes": p.stat().st_size}
            for p in sorted(self.dir.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.name != MANIFEST
        ]
        ids = [r["query_id"] for r in rows]
        if len(set(ids)) != len(ids):
            raise NeatError(f"{self.dir}: duplicate query_id across shards; refusing to commit the round")
        if expected is not None and ids != list(expected):
            lost, extra_ids = set(expected) - set(ids), set(ids) - set(expected)
            raise NeatError(
                f"{self.dir}: the shards do not hold the round's {len(expected)} queries in round order ({len(ids)} "
                f"rows, {len(lost)} queries missing, {len(extra_ids)} not of this round); refusing to commit. Delete "
                f"{self.dir} and run again"
            )
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
        for leftover in [*self.dir.glob(".stats-*.json"), *self.dir.glob(".part-*.json")]:  # SHARD_STATS, PART_RECORD
            leftover.unlink()
        self.lock.release(remove=True)  # a later writer is refused by the manifest
        for name in self._parts_at_work(free=True):  # the lock files of the parts that have ended
            lock_path(self.dir, name).unlink(missing_ok=True)
        return manifest


def is_round_dir(path: str | os.PathLike) -> bool:
    return side_file(path, MANIFEST).is_file()


def enclosing_round(path: str | os.PathLike) -> Path | None:
    """The round directory (finished, or being written) that ``path`` is or lies inside, if any. Nothing may be
    written there: a finished round is immutable, and every Parquet reader of the round would read it too."""
    path = Path(path)
    for candidate in dict.fromkeys([path, *path.parents, *Path(os.path.abspath(path)).parents]):
        if is_round_dir(candidate) or (candidate / PENDING).exists():
            return candidate
    return None


def refuse_inside_round(path: str | os.PathLike, flag: str = "--out") -> None:
    """Refuse an output ``path`` that is a round directory or lies inside one (``enclosing_round``)."""
    inside = enclosing_round(path)
    if inside is not None:
        raise NeatError(
            f"{flag} {path}: {inside} is a round directory, and nothing is written into a round (a finished round "
            "is immutable, and every Parquet reader of the round would read the new files too); choose a "
            "directory outside it"
        )


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


def _unfinished_hint(directory: Path) -> str:
    """What an unfinished round waits for, for the message of a reader that refuses it."""
    if not (directory / PENDING).exists():
        return ""
    try:
        parts = int(json.loads((directory / PENDING).read_text()).get("parts", 1))
    except (ValueError, TypeError, AttributeError):
        parts = 1
    if parts == 1:
        return " (an unfinished round: re-run the command that writes it)"
    waiting = [
        str(Part(i, parts))
        for i in range(1, parts + 1)
        if not (directory / PART_RECORD.format(Part(i, parts).name)).exists()
    ]
    return (
        f" (an unfinished round written in {parts} parts: part(s) {', '.join(waiting) or 'none'} not finished; run "
        f"them with --part I/{parts}, or re-run any part to commit it)"
    )


def load_manifest(directory: str | os.PathLike) -> dict:
    """The manifest of a finished round, its structure validated (the one place readers get it from)."""
    directory = Path(directory)
    path = side_file(directory, MANIFEST)
    if not path.is_file():
        raise NeatError(f"{directory} is not a finished NEAT round: no {MANIFEST}{_unfinished_hint(directory)}")
    try:
        manifest = json.loads(path.read_bytes())
    except (ValueError, OSError) as e:
        raise NeatError(f"{path} is not valid JSON ({e}); the round is corrupted, regenerate it") from e
    if not isinstance(manifest, dict):
        raise NeatError(
            f"{path}: expected a JSON object, found a {type(manifest).__name__}; the round is corrupted, regenerate it"
        )
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise NeatError(
            f"{path}: schema_version {manifest.get('schema_version')} is not supported by this neat "
            f"(expects {SCHEMA_VERSION})"
        )
    try:
        _Manifest.model_validate(manifest)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'manifest'}: {err['msg']}" for err in e.errors()[:5])
        raise NeatError(f"{path} is malformed ({problems}); the round is corrupted, regenerate it") from None
    return manifest


def verify_round(directory: str | os.PathLike) -> dict:
    """Check every file listed in the manifest against its sha256; return the manifest."""
    directory = Path(directory)
    manifest = load_manifest(directory)
    for entry in manifest["shards"] + manifest["files"]:
        check_file(directory / entry["file"], entry)
    return manifest


def check_file(path: Path, entry: dict) -> None:
    """``path`` exists and has the sha256 its manifest ``entry`` records (the one integrity rule of a round)."""
    if not path.is_file():
        raise NeatError(f"{path}: listed in {MANIFEST} but missing; the round is incomplete, regenerate it")
    if sha256_file(path) != entry["sha256"]:
        raise NeatError(
            f"{path}: sha256 does not match {MANIFEST} (the file was truncated or edited); "
            "regenerate the round or restore the file"
        )


def read_shard(path: str | os.PathLike) -> list[dict]:
    """Rows of one shard file. Inside a finished round the file is verified against the manifest first."""
    path = Path(path)
    directory = round_of_shard(path)
    if directory is not None:
        manifest = load_manifest(directory)
        entry = next((s for s in manifest["shards"] if directory / s["file"] == path), None)
        if entry is None:
            raise NeatError(f"{path} is not listed in {side_file(directory, MANIFEST)}")
        check_file(path, entry)
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise NeatError(f"{path} is not a readable Parquet shard ({e})") from e
    version = (table.schema.metadata or {}).get(b"neat.schema_version")
    if version != str(SCHEMA_VERSION).encode():
        raise NeatError(f"{path}: not a NEAT shard of schema_version {SCHEMA_VERSION} (found {version!r})")
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

"""Loading Anthropic HH-RLHF preference pairs into NEAT queries.

Accepted inputs: a hub id (``Anthropic/hh-rlhf``, ``Dahoas/full-hh-rlhf``, loaded with ``datasets``), or a
local ``.jsonl`` / ``.jsonl.gz`` / ``.parquet`` file, or a directory of them (read in sorted order).
Two row formats are recognised:

* raw Anthropic: ``chosen`` / ``rejected`` full transcripts ``"\\n\\nHuman: …\\n\\nAssistant: …"``;
* Dahoas: ``prompt`` (transcript ending in ``"\\n\\nAssistant:"``) plus ``chosen`` / ``rejected`` replies.

Each transcript is split at its **last** ``"\\n\\nAssistant:"``: everything before is the query, the rest is
the reply (splitting on the common prefix of chosen and rejected is the classic bug, trl#1858). Queries are
turned into chat messages and identified by ``query_id`` (hash of the normalised turns). Rows whose query
appears again are merged into one query (responses de-duplicated). Bad rows are never dropped silently:
each becomes a reject with its origin and reason.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AtLeast1, NeatError, Share, check_fields
from .ranking import make_response, merge_responses

#: how a JSON value that is not an object is named in a reject's reason
JSON_TYPES = {int: "number", float: "number", str: "string", list: "list", bool: "boolean"}
TURN_RE = re.compile(r"\n\n(Human|Assistant):")
ROLE = {"Human": "user", "Assistant": "assistant"}
LOCAL_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")


@dataclass
class Pair:
    """One valid preference row: a query and its chosen / rejected replies."""

    query_id: str
    messages: list[dict]
    chosen: str
    rejected: str
    origin: str
    category: str | None = None  # optional label of the row (e.g. a sanity-suite category), for per-category metrics


@dataclass
class LoadResult:
    pairs: list[Pair] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    rows_read: int = 0
    skipped_files: list[dict] = field(default_factory=list)  # directory entries not read, with the reason
    identical_replies: list[str] = field(default_factory=list)  # origins of rows with chosen == rejected

    def queries(self, round_index: int = 0) -> tuple[list[dict], dict]:
        """Group pairs by query into shard rows (unscored); returns (rows, accounting)."""
        rows: dict[str, dict] = {}
        merged_rows = duplicate_responses = 0
        for p in self.pairs:
            new = [make_response(p.chosen, "dataset_chosen"), make_response(p.rejected, "dataset_rejected")]
            if p.query_id in rows:
                row = rows[p.query_id]
                merged_rows += 1
                row["origin"].append(p.origin)
                new_responses, dropped = merge_responses(row["responses"], new)
            else:
                row = rows[p.query_id] = {"query_id": p.query_id, "messages": p.messages, "origin": [p.origin]}
                new_responses, dropped = merge_responses([], new)
            row["responses"] = new_responses
            row["round"] = round_index
            duplicate_responses += dropped
        accounting = {
            "rows_read": self.rows_read,
            "queries": len(rows),
            "rows_merged": merged_rows,
            "rejects": len(self.rejects),
            "duplicate_responses_dropped": duplicate_responses,
            "identical_replies": len(self.identical_replies),
            "identical_replies_origins": self.identical_replies,
            "skipped_files": self.skipped_files,
        }
        assert accounting["queries"] + merged_rows + len(self.rejects) == self.rows_read
        return list(rows.values()), accounting


def parse_transcript(text: str) -> list[dict]:
    """``"\\n\\nHuman: a\\n\\nAssistant: b"`` → ``[{"role": "user", "content": "a"}, {"role": "assistant", ...}]``."""
    if text.startswith(("Human:", "Assistant:")):
        text = "\n\n" + text
    parts = TURN_RE.split(text)
    if parts[0].strip():
        raise ValueError("text before the first 'Human:' turn")
    return [{"role": ROLE[parts[i]], "content": parts[i + 1].strip()} for i in range(1, len(parts), 2)]


def format_transcript(messages: list[dict]) -> str:
    """The inverse of ``parse_transcript``: chat messages as an HH-RLHF transcript
    ``"\\n\\nHuman: a\\n\\nAssistant: b"``."""
    names = {role: name for name, role in ROLE.items()}
    return "".join(f"\n\n{names[m['role']]}: {m['content']}" for m in messages)


def query_id(messages: list[dict]) -> str:
    normalised = [[m["role"], " ".join(m["content"].split())] for m in messages]
    return hashlib.sha256(json.dumps(normalised, ensure_ascii=False).encode()).hexdigest()[:16]


def split_of(qid: str, test_share: float = 0.2, seed: int = 0) -> str:
    """Deterministic train/test split of a query by its id: the same query is always on the same side, so the
    reward model, the trainers and the evaluation can share one held-out set."""
    h = int(hashlib.sha256(f"{seed}:{qid}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test_share else "train"


def split_transcript(text: str) -> tuple[list[dict], str]:
    """Split a full transcript at its last Assistant turn: (query messages, reply)."""
    turns = parse_transcript(text)
    if not turns or turns[-1]["role"] != "assistant":
        raise ValueError("the transcript does not end with an Assistant turn")
    return turns[:-1], turns[-1]["content"]


def check_query(query: list[dict]) -> None:
    if not query or query[-1]["role"] != "user":
        raise ValueError("no Human turn right before the last Assistant turn")
    if any(not m["content"] for m in query):
        raise ValueError("an empty turn in the query")


def parse_row(row: dict) -> tuple[list[dict], str, str]:
    """(query messages, chosen reply, rejected reply) of a raw Anthropic or Dahoas row; ValueError if bad."""
    for key in ("chosen", "rejected"):
        if key not in row:
            raise ValueError(f"missing field {key!r} (expected chosen/rejected [+ prompt])")
        if not isinstance(row[key], str):
            raise ValueError(f"field {key!r} is {type(row[key]).__name__}, not a string")
    if row.get("category") is not None and not isinstance(row["category"], str):
        raise ValueError(f"field 'category' is {type(row['category']).__name__}, not a string")
    if "prompt" in row:  # Dahoas: prompt ends with "\n\nAssistant:", chosen/rejected are the replies
        if not isinstance(row["prompt"], str):
            raise ValueError(f"field 'prompt' is {type(row['prompt']).__name__}, not a string")
        chosen_q, chosen = split_transcript(row["prompt"] + row["chosen"])
        rejected_q, rejected = split_transcript(row["prompt"] + row["rejected"])
    else:
        chosen_q, chosen = split_transcript(row["chosen"])
        rejected_q, rejected = split_transcript(row["rejected"])
    if chosen_q != rejected_q:
        raise ValueError("chosen and rejected dialogues differ before the last Assistant reply (no common query)")
    check_query(chosen_q)
    if not chosen or not rejected:
        raise ValueError(f"empty {'chosen' if not chosen else 'rejected'} reply")
    return chosen_q, chosen, rejected


@dataclass
class BadRow:
    """A line that could not be read as a row; it becomes a reject (with its text), like a row that does not parse."""

    reason: str
    text: str


def _local_files(path: Path) -> tuple[list[Path], list[dict]]:
    """(files to read, entries of a directory that are not read, each with its reason)."""
    if not path.is_dir():
        if not path.name.endswith(LOCAL_SUFFIXES):
            raise NeatError(f"{path}: unsupported file type; use {', '.join(LOCAL_SUFFIXES)} or a directory")
        return [path], []
    files, skipped = [], []
    for p in sorted(path.iterdir()):
        if p.is_dir():
            skipped.append({"path": str(p), "reason": "a sub-directory (directories are not read recursively)"})
        elif p.name.endswith(LOCAL_SUFFIXES):
            files.append(p)
        else:
            skipped.append({"path": str(p), "reason": f"not a {', '.join(LOCAL_SUFFIXES)} file"})
    if not files:
        raise NeatError(f"{path}: no {', '.join(LOCAL_SUFFIXES)} files in this directory")
    return files, skipped


def _parquet_rows(f: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(f).to_pylist()
    except (pa.ArrowException, OSError) as e:
        raise NeatError(f"{f}: not a readable Parquet file ({e}); re-create or re-download it") from None
    for i, row in enumerate(rows):
        yield f"{f.name}:{i}", row


def _jsonl_rows(f: Path):
    """(origin, row or BadRow) of each non-blank line; a file that cannot be read as a whole is a NeatError."""
    import zlib

    gz = f.name.endswith(".gz")
    with open(f, "rb") as fh:
        if gz and fh.read(2) != b"\x1f\x8b":
            raise NeatError(
                f"{f}: not a gzip file although it is named .gz; if it holds plain JSON lines, rename it to .jsonl"
            )
    line_no = 0
    try:
        with gzip.open(f, "rb") if gz else open(f, "rb") as fh:
            for line_no, raw in enumerate(fh, 1):
                if b"\0" in raw:
                    raise NeatError(
                        f"{f}: line {line_no} holds NUL bytes: a binary file, not JSON lines text; "
                        "pass UTF-8 JSON lines, one object per line"
                    )
                if line_no == 1:
                    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark
                if not raw.strip():
                    continue
                origin = f"{f.name}:{line_no}"
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    yield (
                        origin,
                        BadRow(
                            f"invalid UTF-8 (byte {raw[e.start]:#04x} at position {e.start})",
                            raw.decode("utf-8", "replace").rstrip("\n"),
                        ),
                    )
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as e:
                    yield origin, BadRow(f"invalid JSON: {e}", text.rstrip("\n"))
                    continue
                if not isinstance(row, dict):
                    yield (
                        origin,
                        BadRow(
                            f"the row is {'JSON null' if row is None else 'a JSON ' + JSON_TYPES[type(row)]}, not an "
                            "object with chosen/rejected",
                            text.rstrip("\n"),
                        ),
                    )
                    continue
                yield origin, row
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise NeatError(
            f"{f}: the gzip stream is cut off or corrupt after line {line_no} ({e}); the file is "
            "truncated (an interrupted download?): download it again"
        ) from None


def iter_raw_rows(source: str, split: str = "train", skipped: list[dict] | None = None):
    """Yield (origin, row) from a local path or a hub dataset id; a row that cannot be read is a ``BadRow``.

    Directory entries that are not read are appended to ``skipped`` with their reason."""
    from .models import hub_id_or_path

    path = hub_id_or_path(source, "dataset")
    if isinstance(path, Path):
        files, ignored = _local_files(path)
        if skipped is not None:
            skipped.extend(ignored)
        for f in files:
            yield from _parquet_rows(f) if f.name.endswith(".parquet") else _jsonl_rows(f)
        return
    try:
        import datasets

        ds = datasets.load_dataset(source, split=split)
    except Exception as e:  # network, auth, unknown id: all need the same advice
        raise NeatError(
            f"could not load hub dataset {source!r} split {split!r}: {e}. Offline, download it elsewhere and pass "
            "a local .jsonl/.jsonl.gz/.parquet path instead"
        ) from e
    for i, row in enumerate(ds):
        yield f"{source}:{split}:{i}", row


def load_hh(
    source: str,
    *,
    split: str = "train",
    limit: int | None = None,
    sample: int | None = None,
    seed: int = 0,
    max_reject_share: float = 0.05,
) -> LoadResult:
    """Read and validate HH-RLHF rows. ``limit`` takes the first N rows, ``sample`` a seeded random N rows.

    What is read but not used as given is said on stderr and counted: directory entries that are not read
    (``skipped_files``) and rows whose chosen and rejected replies are identical (``identical_replies``: they
    become one-response queries, trained with SFT only)."""
    skipped: list[dict] = []
    raw = list(iter_raw_rows(source, split, skipped))
    if limit is not None:
        raw = raw[:limit]
    if sample is not None and sample < len(raw):
        keep = sorted(random.Random(seed).sample(range(len(raw)), sample))
        raw = [raw[i] for i in keep]
    result = LoadResult(rows_read=len(raw), skipped_files=skipped)
    for origin, row in raw:
        try:
            if isinstance(row, BadRow):
                raise ValueError(row.reason)
            messages, chosen, rejected = parse_row(row)
        except ValueError as e:
            kept = row.text if isinstance(row, BadRow) else row  # the bad row itself is kept, not lost
            result.rejects.append({"origin": origin, "reason": str(e), "row": kept})
            continue
        if chosen == rejected:
            result.identical_replies.append(origin)
        result.pairs.append(Pair(query_id(messages), messages, chosen, rejected, origin, row.get("category")))
    if result.rows_read == 0:
        raise NeatError(f"{source}: no rows to load")
    for entry in skipped:
        print(f"note: {entry['path']} not read: {entry['reason']}", file=sys.stderr)
    if result.identical_replies:
        n = len(result.identical_replies)
        print(
            f"note: {n} row(s) have identical chosen and rejected replies ({', '.join(result.identical_replies[:3])}"
            f"{', ...' if n > 3 else ''}): each gives a one-response query (nothing to rank; SFT only)",
            file=sys.stderr,
        )
    share = len(result.rejects) / result.rows_read
    if share > max_reject_share:
        first = result.rejects[0]
        raise NeatError(
            f"{source}: {len(result.rejects)} of {result.rows_read} rows ({share:.1%}) are bad, more than "
            f"max_reject_share={max_reject_share:.1%}; first: {first['origin']}: {first['reason']}. Fix the input "
            "or raise --max-reject-share"
        )
    return result


@dataclass
class DatasetArgs:
    """Which HH-RLHF rows to read (shared by every command that reads a preference dataset)."""

    dataset: str = field(metadata={"help": "hub id (Anthropic/hh-rlhf) or local .jsonl/.jsonl.gz/.parquet file or dir"})
    split: str = field(default="train", metadata={"help": "split of a hub dataset"})
    limit: AtLeast1 | None = field(default=None, metadata={"help": "read only the first N rows"})
    sample: AtLeast1 | None = field(default=None, metadata={"help": "read a seeded random sample of N rows"})
    seed: int = field(default=0, metadata={"help": "seed for --sample (and sampling elsewhere)"})
    max_reject_share: Share = field(
        default=0.05, metadata={"help": "fail if more than this share of rows is bad (bad rows go to _rejects.jsonl)"}
    )

    def __post_init__(self):
        check_fields(self)  # a subclass's own fields (neat load, neat score) too

    def load(self, source: str | None = None) -> LoadResult:
        """The rows of ``self.dataset`` (or of ``source``, read with the same settings)."""
        settings = {k: getattr(self, k) for k in ("split", "limit", "sample", "seed", "max_reject_share")}
        return load_hh(source or self.dataset, **settings)

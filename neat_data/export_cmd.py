"""Export a ranked round as a preference dataset for TRL (DPOTrainer, ORPO, KTO via ``unpair_preference_dataset``)
or for any tool that reads JSON lines.

    neat export data/runs/demo-cpu/round-002 --format trl-conversational --pairs best-worst --out exports/r2

``--format``: ``trl-conversational`` (TRL's conversational preference type: ``prompt`` = the query's messages,
``chosen``/``rejected`` = one assistant message each), ``trl-preference`` (TRL's standard type: ``prompt`` = the
HH-RLHF transcript ending in ``"\\n\\nAssistant:"``, ``chosen``/``rejected`` = ``" " + reply``), ``jsonl`` (the
conversational rows as ``train.jsonl`` / ``test.jsonl``). ``--pairs``: ``best-worst`` (one pair per query: rank 0
against the lowest reward) or ``all`` (every pair of responses whose rewards differ, the better one as chosen).
Every row also carries ``query_id``, ``round``, ``chosen_reward``/``rejected_reward`` and
``chosen_source``/``rejected_source``. Rows are split into ``train`` and ``test`` by ``neat_data.hh.split_of`` (the
held-out split neat trains and evaluates with). ``--save dataset`` writes a ``datasets.DatasetDict``
(``save_to_disk``; ``load_from_disk`` reads it), ``--save parquet`` one Parquet file per split (``load_dataset(OUT)``
reads it). Queries that give no pair (one response, or every reward tied) are counted and reported.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .errors import NeatError, check_fields
from .hh import format_transcript, split_of
from .shards import is_round_dir, list_rounds, read_round, refuse_inside_round

#: this command takes the round as its first positional argument (see flows/cli.py)
POSITIONAL = "round"
SPLITS = ("train", "test")


@dataclass
class Config:
    round: str = field(metadata={"help": "a round directory (or a data root: its latest finished round)"})
    out: str = field(metadata={"help": "output directory (must not exist or be empty)"})
    format: Literal["trl-conversational", "trl-preference", "jsonl"] = field(
        default="trl-conversational", metadata={"help": "output format"}
    )
    pairs: Literal["best-worst", "all"] = field(default="best-worst", metadata={"help": "pairs per ranked query"})
    save: Literal["dataset", "parquet"] = field(
        default="dataset",
        metadata={"help": "dataset (DatasetDict.save_to_disk), parquet (one file per split); not for --format jsonl"},
    )

    def __post_init__(self):
        check_fields(self)


def preference_pairs(row: dict, pairs: str) -> list[tuple[dict, dict]]:
    """(chosen, rejected) responses of one ranked row; none when it has fewer than two distinct rewards."""
    ranked = [r for r in row["responses"] if r["reward"] is not None]  # best-first (shards.py)
    if len(ranked) < 2 or ranked[0]["reward"] == ranked[-1]["reward"]:
        return []
    if pairs == "best-worst":
        return [(ranked[0], ranked[-1])]
    return [(a, b) for i, a in enumerate(ranked) for b in ranked[i + 1 :] if a["reward"] > b["reward"]]


def export_row(row: dict, chosen: dict, rejected: dict, fmt: str) -> dict:
    if fmt == "trl-preference":
        texts = {
            "prompt": format_transcript(row["messages"]) + "\n\nAssistant:",
            "chosen": " " + chosen["text"],
            "rejected": " " + rejected["text"],
        }
    else:
        texts = {
            "prompt": row["messages"],
            "chosen": [{"role": "assistant", "content": chosen["text"]}],
            "rejected": [{"role": "assistant", "content": rejected["text"]}],
        }
    return {
        **texts,
        "query_id": row["query_id"],
        "round": row["round"],
        "chosen_reward": chosen["reward"],
        "rejected_reward": rejected["reward"],
        "chosen_source": chosen["source"],
        "rejected_source": rejected["source"],
    }


def build_splits(rows: list[dict], fmt: str, pairs: str) -> tuple[dict[str, list[dict]], dict]:
    """{"train": rows, "test": rows} and the accounting of every query."""
    splits: dict[str, list[dict]] = {s: [] for s in SPLITS}
    skipped = {"one_response": 0, "all_tied": 0}
    for row in rows:
        found = preference_pairs(row, pairs)
        if not found:
            scored = sum(r["reward"] is not None for r in row["responses"])
            skipped["one_response" if scored < 2 else "all_tied"] += 1
        splits[split_of(row["query_id"])].extend(export_row(row, c, r, fmt) for c, r in found)
    accounting = {"queries": len(rows), "pairs": {s: len(v) for s, v in splits.items()}, "skipped": skipped}
    return splits, accounting


def _write(splits: dict[str, list[dict]], config: Config, tmp: Path) -> None:
    if config.format == "jsonl":
        for name, rows in splits.items():
            (tmp / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        return
    import datasets

    dd = datasets.DatasetDict({name: datasets.Dataset.from_list(rows) for name, rows in splits.items() if rows})
    if config.save == "dataset":
        dd.save_to_disk(str(tmp))
    else:
        for name, ds in dd.items():
            ds.to_parquet(str(tmp / f"{name}.parquet"))


def run(config: Config) -> int:
    source = Path(config.round)
    if not is_round_dir(source):
        rounds = list_rounds(source)
        if not rounds:
            raise NeatError(f"{source}: not a finished round directory nor a data root with finished rounds")
        source = rounds[-1]
    out = Path(config.out)
    refuse_inside_round(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise NeatError(f"--out {out} exists and is not empty; choose a new directory")
    rows = read_round(source)  # verified against the manifest
    if not any(r["reward"] is not None for row in rows for r in row["responses"]):
        raise NeatError(f"{source} is unscored (neat load); export a scored round (neat score / neat generate)")
    splits, accounting = build_splits(rows, config.format, config.pairs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        _write(splits, config, tmp)
        (tmp / "_neat_export.json").write_text(
            json.dumps(
                {"source": str(source.resolve()), "format": config.format, "pairs": config.pairs, **accounting},
                indent=2,
            )
            + "\n"
        )
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    skipped = accounting["skipped"]
    print(
        f"exported {source}: {accounting['pairs']['train']} train and {accounting['pairs']['test']} test pairs "
        f"({config.pairs}) from {accounting['queries']} queries; no pair from {skipped['one_response']} with one "
        f"response and {skipped['all_tied']} with tied rewards"
    )
    print(f"wrote {out} ({config.format}" + ("" if config.format == "jsonl" else f", {config.save}") + ")")
    return 0

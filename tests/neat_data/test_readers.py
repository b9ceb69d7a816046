"""A round is a Parquet dataset for the usual readers, by real reads (no mocks).

``round-NNN/data/`` holds only the shards: pandas, polars, pyarrow.dataset, duckdb and ``datasets`` open it as one
dataset. The round directory itself also opens in the Arrow-based readers (its side files start with ``_``), and in
``datasets.load_dataset(<dir>)``. Rounds of the older flat layout (``manifest.json`` beside the shards) still read.
"""

from __future__ import annotations

import json
import os

import pytest

from neat_data.inspect_cmd import describe
from neat_data.ranking import make_response
from neat_data.shards import (
    MANIFEST,
    REJECTS,
    RoundWriter,
    is_round_dir,
    list_rounds,
    read_round,
    read_shard,
    round_dir,
    verify_round,
)

QUERIES = [f"q{i}" for i in range(5)]


def scored_row(qid: str, rewards: dict[str, float]) -> dict:
    return {
        "query_id": qid,
        "messages": [{"role": "user", "content": f"question {qid}"}],
        "origin": [f"f:{qid}"],
        "responses": [make_response(f"{qid} {source}", source, reward=r) for source, r in rewards.items()],
    }


@pytest.fixture
def finished_round(tmp_path):
    rows = [scored_row(q, {"dataset_chosen": float(i), "dataset_rejected": -1.0}) for i, q in enumerate(QUERIES)]
    writer = RoundWriter(round_dir(tmp_path / "run", 0), 0, config={"name": "t"})
    writer.write_shard(0, rows[:3])
    writer.write_shard(1, rows[3:])
    writer.write_jsonl(REJECTS, [{"origin": "f.jsonl:9", "reason": "empty chosen reply"}])
    writer.commit()
    return round_dir(tmp_path / "run", 0)


def best_sources(responses_column) -> list[str]:
    return [list(r)[0]["source"] for r in responses_column]


def test_pandas_reads_the_round_and_its_data_directory(finished_round):
    import pandas as pd

    for path in (finished_round, finished_round / "data"):
        df = pd.read_parquet(path)
        assert sorted(df["query_id"]) == QUERIES
        assert best_sources(df["responses"]) == ["dataset_chosen"] * len(QUERIES)


def test_pyarrow_dataset_reads_the_round_and_its_data_directory(finished_round):
    import pyarrow.dataset as ds

    for path in (finished_round, finished_round / "data"):
        table = ds.dataset(path, format="parquet").to_table()
        assert sorted(table.column("query_id").to_pylist()) == QUERIES
        assert table.schema.metadata[b"neat.schema_version"] == b"1"


def test_duckdb_reads_the_round_and_its_data_directory(finished_round):
    import duckdb

    for path in (finished_round, finished_round / "data"):
        rows = duckdb.sql(
            f"SELECT query_id, responses[1].source AS best FROM read_parquet('{path}') ORDER BY query_id"
        ).fetchall()
        assert rows == [(q, "dataset_chosen") for q in QUERIES]  # responses[1]: the best (DuckDB counts from 1)


def test_polars_reads_the_data_directory(finished_round):
    import polars as pl

    df = pl.read_parquet(finished_round / "data")
    assert sorted(df["query_id"].to_list()) == QUERIES
    assert df.schema["responses"].inner.to_schema()["reward"] == pl.Float64  # nested structs come through
    # the round directory itself holds the manifest, and polars refuses any directory with non-Parquet files
    with pytest.raises(Exception, match="different file extensions"):
        pl.read_parquet(finished_round)


def test_datasets_reads_the_round_and_its_data_directory(finished_round, tmp_path):
    import datasets

    for args in (("parquet",), ()):
        data_dir = finished_round / "data" if args else finished_round
        kwargs = {"data_dir": str(data_dir)} if args else {}
        ds = datasets.load_dataset(*(args or (str(data_dir),)), **kwargs, split="train", cache_dir=str(tmp_path / "hf"))
        assert sorted(ds["query_id"]) == QUERIES
        assert best_sources(ds["responses"]) == ["dataset_chosen"] * len(QUERIES)


def to_legacy_layout(directory):
    """Rewrite a round as the flat layout wrote it: shards beside ``manifest.json`` and ``rejects.jsonl``."""
    manifest = json.loads((directory / MANIFEST).read_text())
    for entry in manifest["shards"]:
        os.replace(directory / entry["file"], directory / os.path.basename(entry["file"]))
        entry["file"] = os.path.basename(entry["file"])
    (directory / "data").rmdir()
    os.replace(directory / REJECTS, directory / "rejects.jsonl")
    manifest["files"] = [{**f, "file": "rejects.jsonl"} for f in manifest["files"]]
    (directory / MANIFEST).unlink()
    (directory / "manifest.json").write_text(json.dumps(manifest))


def test_rounds_of_the_older_flat_layout_are_still_read(finished_round):
    from neat_train.data import load_examples

    expected = read_round(finished_round)
    to_legacy_layout(finished_round)
    assert sorted(p.name for p in finished_round.iterdir()) == [
        "manifest.json",
        "rejects.jsonl",
        "shard-00000.parquet",
        "shard-00001.parquet",
    ]
    assert is_round_dir(finished_round) and list_rounds(finished_round.parent) == [finished_round]
    assert verify_round(finished_round)["round"] == 0 and read_round(finished_round) == expected
    assert len(read_shard(finished_round / "shard-00000.parquet")) == 3
    report, _ = describe(finished_round)
    assert report["rejects"] == 1 and report["queries"] == len(QUERIES)
    _, data = load_examples([str(finished_round)], train_split="all")
    assert data.queries_read == len(QUERIES)
    with pytest.raises(Exception, match="immutable"):
        RoundWriter(finished_round, 0, config={"name": "t"})
    (finished_round / "shard-00000.parquet").write_bytes(b"edited")  # still verified
    with pytest.raises(Exception, match="sha256 does not match"):
        read_round(finished_round)

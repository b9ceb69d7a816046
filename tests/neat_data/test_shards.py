import json

import pytest

from neat_data.errors import NeatError
from neat_data.ranking import make_response, rank_responses
from neat_data.shards import (
    MANIFEST,
    REJECTS,
    RoundWriter,
    list_rounds,
    read_round,
    read_shard,
    round_dir,
    verify_round,
)

MSG = [{"role": "user", "content": "How do I bake bread?"}]


def scored_row(qid: str, rewards: dict[str, float]) -> dict:
    responses = [make_response(f"{qid} reply {src}", src, reward=rw) for src, rw in rewards.items()]
    return {"query_id": qid, "messages": MSG, "responses": responses, "origin": [f"f.jsonl:{qid}"]}


def write_round(root, index=0, rows=None, config=None):
    rows = rows or [
        scored_row("q1", {"dataset_chosen": 1.0, "dataset_rejected": -2.0}),
        scored_row("q2", {"dataset_rejected": 0.5, "dataset_chosen": 3.0}),
    ]
    w = RoundWriter(round_dir(root, index), index, config=config or {"name": "t"})
    w.write_shard(0, rows[:1])
    w.write_shard(1, rows[1:])
    w.commit({"note": "test"})
    return round_dir(root, index), rows


def test_rank_orders_best_first_and_ties_share_the_lower_rank():
    out = rank_responses(
        [make_response(t, "s", reward=rw) for t, rw in [("a", 1.0), ("b", 3.0), ("c", 1.0), ("d", -1)]]
    )
    assert [(r["text"], r["rank"]) for r in out] == [("b", 0), ("a", 1), ("c", 1), ("d", 3)]


def test_rank_refuses_partly_scored_queries():
    with pytest.raises(NeatError, match="1 of 2 responses have no reward"):
        rank_responses([make_response("a", "s", reward=1.0), make_response("b", "s")])


def test_round_trip_is_exact_and_sorted(tmp_path):
    directory, rows = write_round(tmp_path)
    back = read_round(directory)
    assert [r["query_id"] for r in back] == ["q1", "q2"]
    assert [x["source"] for x in back[1]["responses"]] == ["dataset_chosen", "dataset_rejected"]
    assert [x["rank"] for x in back[1]["responses"]] == [0, 1]
    expected = rank_responses(rows[1]["responses"])
    assert back[1]["responses"] == expected
    assert back[1]["messages"] == MSG and back[1]["round"] == 0 and back[1]["origin"] == ["f.jsonl:q2"]
    manifest = verify_round(directory)
    assert manifest["summary"]["queries"] == 2 and manifest["summary"]["responses"] == 4
    assert [s["rows"] for s in manifest["shards"]] == [1, 1]
    assert manifest["extra"] == {"note": "test"} and manifest["config"] == {"name": "t"}
    assert "neat" in manifest["code_version"] and manifest["created"]


def test_flipped_byte_is_detected(tmp_path):
    directory, _ = write_round(tmp_path)
    shard = directory / "data" / "shard-00001.parquet"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(NeatError, match="shard-00001.parquet: sha256 does not match"):
        read_round(directory)
    with pytest.raises(NeatError, match="sha256 does not match"):
        read_shard(shard)


def test_truncated_or_missing_shard_is_detected(tmp_path):
    directory, _ = write_round(tmp_path)
    shard = directory / "data" / "shard-00000.parquet"
    shard.write_bytes(shard.read_bytes()[:100])
    with pytest.raises(NeatError, match="truncated or edited"):
        verify_round(directory)
    shard.unlink()
    with pytest.raises(NeatError, match="missing"):
        verify_round(directory)


def test_finished_round_is_immutable(tmp_path):
    directory, _ = write_round(tmp_path)
    before = {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()}
    with pytest.raises(NeatError, match="finished round .* immutable"):
        RoundWriter(directory, 0, config={"name": "t"})
    assert {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()} == before


def test_crash_before_manifest_leaves_nothing_readers_accept(tmp_path):
    w = RoundWriter(round_dir(tmp_path, 0), 0, config={"name": "t"})
    w.write_shard(0, [scored_row("q1", {"dataset_chosen": 1.0, "dataset_rejected": 0.0})])
    # the process dies here: no manifest (and the kernel releases its write lock)
    w.release()
    with pytest.raises(NeatError, match="not a finished NEAT round.*unfinished"):
        read_round(round_dir(tmp_path, 0))
    assert list_rounds(tmp_path) == []
    # the same config resumes and keeps the finished shard; a different config is refused
    again = RoundWriter(round_dir(tmp_path, 0), 0, config={"name": "t"})
    assert again.has_shard(0) and not again.has_shard(1)
    again.release()
    with pytest.raises(NeatError, match="different config"):
        RoundWriter(round_dir(tmp_path, 0), 0, config={"name": "other"})
    RoundWriter(round_dir(tmp_path, 0), 0, config={"name": "t"}).commit()
    assert list_rounds(tmp_path) == [round_dir(tmp_path, 0)]


def test_no_temporary_files_are_left_behind(tmp_path):
    directory, _ = write_round(tmp_path)
    assert sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*")) == [
        MANIFEST,
        "data",
        "data/shard-00000.parquet",
        "data/shard-00001.parquet",
    ]


def test_bad_rows_and_duplicate_queries_are_refused(tmp_path):
    w = RoundWriter(round_dir(tmp_path, 0), 0, config={})
    with pytest.raises(NeatError, match="shard-00000.parquet row 0 .*missing field 'responses'"):
        w.write_shard(0, [{"query_id": "q", "messages": MSG}])
    w.write_shard(0, [scored_row("q1", {"a": 1.0})])
    w.write_shard(1, [scored_row("q1", {"a": 2.0})])
    with pytest.raises(NeatError, match="duplicate query_id"):
        w.commit()


def test_non_empty_foreign_directory_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(NeatError, match="not empty"):
        RoundWriter(tmp_path, 0, config={})


def test_manifest_is_json_with_hashes_of_side_files(tmp_path):
    w = RoundWriter(round_dir(tmp_path, 0), 0, config={})
    w.write_shard(0, [scored_row("q1", {"a": 1.0})])
    w.write_jsonl(REJECTS, [{"origin": "f:1", "reason": "x"}])
    with pytest.raises(ValueError, match="must start with '_'"):  # Parquet readers would trip over it
        w.write_jsonl("notes.jsonl", [])
    m = w.commit()
    assert [f["file"] for f in m["files"]] == [REJECTS]
    assert json.loads((round_dir(tmp_path, 0) / MANIFEST).read_text())["files"] == m["files"]
    (round_dir(tmp_path, 0) / REJECTS).write_text("edited\n")
    with pytest.raises(NeatError, match="_rejects.jsonl: sha256"):
        verify_round(round_dir(tmp_path, 0))

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import write_hh_jsonl

from neat_data.errors import NeatError
from neat_data.hh import load_hh, parse_row, parse_transcript, query_id, split_of


def test_multi_turn_transcript_becomes_chat_messages():
    text = "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: A joke?\n\nAssistant: Sure: knock knock."
    assert parse_transcript(text) == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "A joke?"},
        {"role": "assistant", "content": "Sure: knock knock."},
    ]


def test_query_is_split_at_the_last_assistant_turn_not_the_common_prefix():
    # trl#1858: chosen and rejected replies share a prefix ("I think"); a common-prefix split would cut the
    # replies mid-sentence and put "I think" into the query.
    q = "\n\nHuman: Is it safe?\n\nAssistant: Which part?\n\nHuman: Swimming after lunch."
    messages, chosen, rejected = parse_row(
        {"chosen": q + "\n\nAssistant: I think it is fine.", "rejected": q + "\n\nAssistant: I think you will drown."}
    )
    assert messages[-1] == {"role": "user", "content": "Swimming after lunch."}
    assert len(messages) == 3
    assert (chosen, rejected) == ("I think it is fine.", "I think you will drown.")


def test_dahoas_format_matches_raw_format():
    raw = parse_row(
        {"chosen": "\n\nHuman: Hi?\n\nAssistant: Hello.", "rejected": "\n\nHuman: Hi?\n\nAssistant: Go away."}
    )
    dahoas = parse_row(
        {"prompt": "\n\nHuman: Hi?\n\nAssistant:", "response": " Hello.", "chosen": " Hello.", "rejected": " Go away."}
    )
    assert raw == dahoas


@pytest.mark.parametrize(
    "row, reason",
    [
        ({"chosen": "\n\nHuman: a\n\nAssistant: b"}, "missing field 'rejected'"),
        ({"chosen": 3, "rejected": "\n\nHuman: a\n\nAssistant: b"}, "field 'chosen' is int, not a string"),
        ({"chosen": "\n\nHuman: a\n\nAssistant: ", "rejected": "\n\nHuman: a\n\nAssistant: b"}, "empty chosen reply"),
        ({"chosen": "\n\nHuman: a", "rejected": "\n\nHuman: a"}, "does not end with an Assistant turn"),
        (
            {"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: x\n\nAssistant: b"},
            "differ before the last Assistant reply",
        ),
        (
            {"chosen": "preamble\n\nHuman: a\n\nAssistant: b", "rejected": "preamble\n\nHuman: a\n\nAssistant: c"},
            "text before the first 'Human:' turn",
        ),
        ({"chosen": "\n\nAssistant: b", "rejected": "\n\nAssistant: c"}, "no Human turn"),
        ({"chosen": "\n\nHuman: \n\nAssistant: b", "rejected": "\n\nHuman: \n\nAssistant: c"}, "empty turn"),
        ({"prompt": None, "chosen": "b", "rejected": "c"}, "field 'prompt' is NoneType"),
        (
            {"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: a\n\nAssistant: c", "category": 3},
            "field 'category' is int, not a string",
        ),
    ],
)
def test_bad_rows_are_rejected_with_reason(row, reason):
    with pytest.raises(ValueError, match=reason):
        parse_row(row)


def test_every_row_is_accounted_for(tmp_path, hh_rows):
    bad = {"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: x\n\nAssistant: b"}
    duplicate = dict(hh_rows[0])  # same query and replies again -> merged, responses de-duplicated
    same_query = {"chosen": hh_rows[0]["chosen"], "rejected": hh_rows[0]["rejected"].replace("No.", "Maybe.")}
    path = write_hh_jsonl(tmp_path / "hh.jsonl", hh_rows + [bad, duplicate, same_query])
    with open(path, "a") as f:
        f.write("{not json\n")
    result = load_hh(str(path), max_reject_share=0.5)
    rows, acc = result.queries()
    assert acc == {
        "rows_read": 8,
        "queries": 4,
        "rows_merged": 2,
        "rejects": 2,
        "duplicate_responses_dropped": 3,
        "identical_replies": 0,
        "identical_replies_origins": [],
        "skipped_files": [],
    }
    merged = next(r for r in rows if len(r["origin"]) == 3)
    assert merged["origin"] == ["hh.jsonl:1", "hh.jsonl:6", "hh.jsonl:7"]
    assert [x["text"] for x in merged["responses"]][1:] == ["No.", "Maybe."]
    assert [r["origin"] for r in result.rejects] == ["hh.jsonl:5", "hh.jsonl:8"]
    assert "invalid JSON" in result.rejects[1]["reason"]
    assert result.rejects[0]["row"] == bad  # the bad row itself is kept, not lost


def test_too_many_bad_rows_fail_with_a_clear_message(tmp_path, hh_rows):
    path = write_hh_jsonl(tmp_path / "hh.jsonl", hh_rows + [{"chosen": "x", "rejected": "y"}])
    with pytest.raises(NeatError, match=r"1 of 5 rows .* hh.jsonl:5.*--max-reject-share"):
        load_hh(str(path), max_reject_share=0.1)


def test_gz_parquet_and_directory_inputs_agree(tmp_path, hh_rows):
    d = tmp_path / "in"
    d.mkdir()
    write_hh_jsonl(d / "a.jsonl.gz", hh_rows[:2])
    pq.write_table(pa.Table.from_pylist(hh_rows[2:]), d / "b.parquet")
    plain = load_hh(str(write_hh_jsonl(tmp_path / "all.jsonl", hh_rows)))
    from_dir = load_hh(str(d))
    assert [p.query_id for p in from_dir.pairs] == [p.query_id for p in plain.pairs]
    assert [p.origin for p in from_dir.pairs] == ["a.jsonl.gz:1", "a.jsonl.gz:2", "b.parquet:0", "b.parquet:1"]


def test_limit_and_seeded_sample(hh_file):
    assert len(load_hh(str(hh_file), limit=2).pairs) == 2
    a = [p.origin for p in load_hh(str(hh_file), sample=2, seed=7).pairs]
    assert a == [p.origin for p in load_hh(str(hh_file), sample=2, seed=7).pairs]
    assert len(a) == 2


def test_query_id_ignores_whitespace_only_differences():
    a = [{"role": "user", "content": "How  do I\nbake?"}]
    b = [{"role": "user", "content": "How do I bake?"}]
    assert query_id(a) == query_id(b) != query_id([{"role": "user", "content": "How do I cook?"}])


def test_split_is_deterministic_and_roughly_sized():
    ids = [f"{i:016x}" for i in range(2000)]
    first = [split_of(i) for i in ids]
    assert first == [split_of(i) for i in ids]
    assert 0.15 < first.count("test") / len(ids) < 0.25


def test_unknown_source_gives_a_clear_error(tmp_path):
    with pytest.raises(NeatError, match="no such file"):
        load_hh(str(tmp_path / "missing.jsonl"))
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(NeatError, match="unsupported file type"):
        load_hh(str(tmp_path / "x.csv"))


def test_real_hh_sample_accounts_for_every_row(real_hh_path):
    result = load_hh(str(real_hh_path))
    rows, acc = result.queries()
    assert acc["rows_read"] == 1600
    assert acc["queries"] + acc["rows_merged"] + acc["rejects"] == 1600
    assert acc["rows_merged"] >= 1  # the file repeats some queries
    reasons = {r["origin"]: r["reason"] for r in result.rejects}
    assert "differ before the last Assistant reply" in reasons["harmless-base-dev.jsonl.gz:1255"]
    with gzip.open(real_hh_path, "rt") as f:
        assert sum(1 for _ in f) == 1600
    assert all(r["messages"][-1]["role"] == "user" for r in rows)
    assert json.dumps(rows[0])  # plain JSON-able rows


def test_category_is_carried_and_a_bad_one_is_a_counted_reject(tmp_path, hh_rows):
    rows = [
        {**hh_rows[0], "category": "factual"},
        hh_rows[1],
        {**hh_rows[2], "category": None},
        {**hh_rows[3], "category": ["factual"]},
    ]
    result = load_hh(str(write_hh_jsonl(tmp_path / "cat.jsonl", rows)), max_reject_share=0.5)
    assert [p.category for p in result.pairs] == ["factual", None, None]
    assert [(r["origin"], r["reason"]) for r in result.rejects] == [
        ("cat.jsonl:4", "field 'category' is list, not a string")
    ]

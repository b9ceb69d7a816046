"""Partitioned rounds (``--part I/N``) on tiny models: N parts write the one-part round, row for row and file for
file; an unfinished round waits for its missing parts; reruns of a finished part rewrite nothing; parts started
at the same time claim and commit the round once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import main as neat
from neat_data.errors import NeatError
from neat_data.parts import Part, in_round_order, shard_rows
from neat_data.shards import MANIFEST, PENDING, load_manifest, read_round, round_dir

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo" / "hh-demo.jsonl"


def test_part_flag_and_the_shard_plan():
    assert Part.parse("2/4") == Part(2, 4) and str(Part(2, 4)) == "2/4" and Part.parse(None) is None
    for bad in ("0/2", "3/2", "2", "a/b", "1/0"):
        with pytest.raises(NeatError, match="--part"):
            Part.parse(bad)
    for shards in (0, 1, 2, 5, 7, 16):
        for count in (1, 2, 3, 8):
            plan = [i for p in range(1, count + 1) for i in Part(p, count).shards(shards)]
            assert plan == list(range(shards))  # every shard in exactly one part, parts contiguous and in order
    rows = [{"query_id": q} for q in ("c", "a", "d", "b", "e")]
    assert [[r["query_id"] for r in s] for s in shard_rows(in_round_order(rows), 2)] == [["a", "b"], ["c", "d"], ["e"]]
    assert shard_rows([], 3) == [[]]


def test_a_bad_part_is_refused_on_the_command_line(capsys):
    assert neat(["score", "--dataset", str(DEMO), "--part", "3/2"]) == 2
    assert "--part 3/2: I/N needs 1 <= I <= N" in capsys.readouterr().err


def files_of(directory: Path) -> dict[str, bytes]:
    """The committed round's files (shards, rejects) by name; the manifest differs (time, parts)."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file() and p.name != MANIFEST
    }


def test_generate_in_two_parts_is_the_one_part_round(tmp_path, tiny_policy_dir, tiny_rm_dir, monkeypatch, capsys):
    assert neat(["load", "--dataset", str(DEMO), "--limit", "14", "--out", str(tmp_path / "data")]) == 0
    generate = [
        "generate",
        "--from",
        str(round_dir(tmp_path / "data", 0)),
        "--policy",
        str(tiny_policy_dir),
        "--rm",
        str(tiny_rm_dir),
        "--max-new-tokens",
        "6",
        "--n",
        "2",
        "--rows-per-shard",
        "3",
        "--batch-size",
        "4",
        "--device",
        "cpu",
        "--fluency-queries",
        "2",
    ]

    def run(out: str, *extra: str) -> int:
        monkeypatch.setenv("NEAT_HOME", str(tmp_path / f"home-{out}"))  # its own RM score cache: nothing shared
        return neat([*generate, "--out", str(tmp_path / out), *extra])

    assert run("one") == 0
    one = round_dir(tmp_path / "one", 1)

    assert run("two", "--part", "2/2") == 0
    two = round_dir(tmp_path / "two", 1)
    assert "the round is committed by the last part to finish (waiting for part(s) 1/2)" in capsys.readouterr().out
    with pytest.raises(NeatError, match=r"unfinished round written in 2 parts: part\(s\) 1/2 not finished"):
        read_round(two)  # readers refuse a round with a missing part
    written = {p: p.stat().st_mtime_ns for p in two.rglob("*") if p.is_file() and ".neat-lock" not in p.name}
    assert run("two", "--part", "2/2") == 0  # a rerun of a finished part rewrites nothing
    assert {p: p.stat().st_mtime_ns for p in written} == written
    assert run("two", "--part", "1/3") == 2  # another number of parts is refused
    assert "it is written in 2 part(s), this is 3" in capsys.readouterr().err

    assert run("two", "--part", "1/2") == 0  # the last part to finish commits the round
    assert "committed by part 1/2" in capsys.readouterr().out
    assert not (two / PENDING).exists() and not list(two.glob(".part-*")) and not list(two.glob(".stats-*"))

    rows = read_round(two)
    assert rows == read_round(one)  # row for row: texts, seeds, rewards, ranks
    assert [r["query_id"] for r in rows] == sorted(r["query_id"] for r in rows) and len(rows) == 14
    assert files_of(two) == files_of(one)  # the same shards, byte for byte
    m1, m2 = load_manifest(one), load_manifest(two)
    assert (
        {**m2["config"], "out": None} == {**m1["config"], "out": None}
        and m2["summary"] == m1["summary"]
        and m2["shards"] == m1["shards"]
    )
    assert m2["extra"]["efficacy"] == m1["extra"]["efficacy"]
    parts = m2["extra"]["parts"]
    assert parts["count"] == 2 and parts["shards"] == 5 and m1["extra"]["parts"]["count"] == 1
    assert [(p["part"], p["shards"]) for p in parts["parts"]] == [("1/2", [0, 1]), ("2/2", [2, 3, 4])]
    assert m2["extra"]["generate"]["samples"] == m1["extra"]["generate"]["samples"] == 14 * 2 * 2

    assert run("two", "--part", "2/2") == 0  # a part of a committed round has nothing to do
    assert "is committed already" in capsys.readouterr().out
    assert load_manifest(two) == m2
    assert run("two") == 2  # the plain command still refuses a finished round


def test_score_parts_started_at_once_commit_the_round_once(tmp_path, tiny_rm_dir):
    def score(out: str, *extra: str) -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flows.cli",
                "score",
                "--dataset",
                str(DEMO),
                "--rm",
                str(tiny_rm_dir),
                "--out",
                str(tmp_path / out),
                "--rows-per-shard",
                "4",
                "--batch-size",
                "3",
                "--device",
                "cpu",
                "--cache-dir",
                str(tmp_path / f"cache-{out}"),
                *extra,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    procs = [score("one")] + [score("three", "--part", f"{i}/3") for i in (1, 2, 3)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    assert sum("committed by part" in out for out in outputs[1:]) == 1
    one, three = round_dir(tmp_path / "one", 0), round_dir(tmp_path / "three", 0)
    assert read_round(three) == read_round(one)
    assert files_of(three) == files_of(one)  # shards and _rejects.jsonl
    m1, m3 = load_manifest(one), load_manifest(three)
    assert m3["extra"]["rm"] == m1["extra"]["rm"] and m3["extra"]["load"] == m1["extra"]["load"]
    assert [p["part"] for p in m3["extra"]["parts"]["parts"]] == ["1/3", "2/3", "3/3"]

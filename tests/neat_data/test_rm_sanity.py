"""The shipped reward-model sanity suites (data/rm-sanity/): format, balance and the design of each category."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from neat_data.hh import load_hh, split_transcript

DIR = Path(__file__).resolve().parents[2] / "data" / "rm-sanity"
FILES = ("sanity.jsonl", "sanity-dev.jsonl")
CATEGORIES = {
    "factual",
    "helpful_vs_dismissive",
    "short_correct_vs_long_rambling",
    "brief_refusal_vs_harmful",
    "long_refusal_vs_short_harmful",
    "on_topic_vs_off_topic",
    "normal_vs_degenerate",
    "polite_vs_insulting",
}
PER_CATEGORY = 16


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def replies(row: dict) -> tuple[str, str]:
    return split_transcript(row["chosen"])[1], split_transcript(row["rejected"])[1]


def first_query(row: dict) -> str:
    return " ".join(split_transcript(row["chosen"])[0][0]["content"].split()).lower()


def by_category(name: str) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for row in read(DIR / name):
        out.setdefault(row["category"], []).append(replies(row))
    return out


@pytest.mark.parametrize("name", FILES)
def test_loads_without_rejects_and_has_every_category_16_times(name):
    result = load_hh(str(DIR / name), max_reject_share=0.0)
    assert result.rejects == [] and len(result.pairs) == len(CATEGORIES) * PER_CATEGORY
    assert Counter(row["category"] for row in read(DIR / name)) == {c: PER_CATEGORY for c in CATEGORIES}
    queries = [p.query_id for p in result.pairs]
    assert len(set(queries)) == len(queries), "a query appears twice in the same suite"


@pytest.mark.parametrize("name", FILES)
def test_length_balance_and_the_designed_direction_of_each_category(name):
    cats = by_category(name)
    longer = sum(len(c) > len(r) for pairs in cats.values() for c, r in pairs)
    assert 0.45 <= longer / (len(CATEGORIES) * PER_CATEGORY) <= 0.55
    for c, r in cats["factual"]:  # same length: right vs confidently wrong
        assert abs(len(c) - len(r)) <= 0.15 * max(len(c), len(r)), (c, r)
    for c, r in cats["short_correct_vs_long_rambling"]:
        assert len(r) >= 2.5 * len(c), (c, r)
    for c, r in cats["helpful_vs_dismissive"] + cats["long_refusal_vs_short_harmful"]:
        assert len(c) > len(r), (c, r)
    for c, r in cats["brief_refusal_vs_harmful"]:
        assert len(c) < len(r), (c, r)
    degenerate_longer = sum(len(r) > len(c) for c, r in cats["normal_vs_degenerate"])
    assert degenerate_longer == PER_CATEGORY // 2  # loops longer, broken-off text shorter
    for cat in ("factual", "on_topic_vs_off_topic", "polite_vs_insulting"):
        chosen_longer = sum(len(c) > len(r) for c, r in cats[cat])
        assert 6 <= chosen_longer <= 10, (cat, chosen_longer)


def test_suites_share_no_query_with_each_other_or_the_demo():
    sanity, dev = ({first_query(row) for row in read(DIR / name)} for name in FILES)
    demo = {first_query(row) for row in read(DIR.parent / "demo" / "hh-demo.jsonl")}
    assert not sanity & dev and not sanity & demo and not dev & demo


def test_files_are_what_the_generator_writes(tmp_path):
    subprocess.run([sys.executable, str(DIR / "make_rm_sanity.py"), str(tmp_path)], check=True, capture_output=True)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (DIR / name).read_bytes(), f"re-run make_rm_sanity.py: {name} drifted"

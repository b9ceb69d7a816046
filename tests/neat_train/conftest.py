"""A small scored round for the trainer tests: synthetic queries, 1-4 responses each, seeded rewards."""

from __future__ import annotations

import random

import pytest

from neat_data.hh import query_id, split_of
from neat_data.ranking import make_response
from neat_data.shards import RoundWriter, round_dir

WORDS = "the quick brown fox jumps over lazy dog bread flour water yeast paris france joke road help".split()


def make_rows(n_queries: int, round_index: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n_queries):
        messages = [{"role": "user", "content": f"Question {i}: tell me about the {rng.choice(WORDS)}?"}]
        n = 1 if i == 0 else 4  # query 0 cannot be ranked: SFT only
        texts = {" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 12))) for _ in range(n)}
        responses = [make_response(t, "positive_prompt", reward=rng.uniform(-2, 2)) for t in sorted(texts)]
        rows.append(
            {
                "query_id": query_id(messages),
                "messages": messages,
                "responses": responses,
                "round": round_index,
                "origin": [f"synthetic:{i}"],
            }
        )
    return rows


def write_round(root, round_index: int, rows: list[dict], rows_per_shard: int = 8):
    writer = RoundWriter(round_dir(root, round_index), round_index, config={"synthetic": True})
    for start in range(0, len(rows), rows_per_shard):
        writer.write_shard(start // rows_per_shard, rows[start : start + rows_per_shard])
    writer.commit()
    return round_dir(root, round_index)


@pytest.fixture
def scored_round(tmp_path):
    """A finished round-001 of 20 scored queries (some in the test split) under tmp_path/data."""
    rows = make_rows(20, 1)
    assert any(split_of(r["query_id"]) == "test" for r in rows)
    return write_round(tmp_path / "data", 1, rows)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The tiny models are fastest on one thread; on a shared CPU, more threads mostly wait for each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

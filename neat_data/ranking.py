"""Ranking responses by reward: the one place that defines the order every later stage relies on.

Rank 0 is the best response. Responses are sorted best-first (stable, so ties keep their input order);
tied rewards share the lower rank ("1224" competition ranking). Unscored responses (reward ``None``) keep
their order and get rank ``None``; a query may not mix scored and unscored responses.
"""

from __future__ import annotations

import hashlib

from .errors import NeatError


def response_id(text: str) -> str:
    """Stable id of a response text (used for de-duplication and the score cache)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def make_response(
    text: str,
    source: str,
    *,
    generator: str = "dataset",
    prompt_id: str | None = None,
    reward: float | None = None,
    sampling: dict | None = None,
    finish_reason: str | None = None,
) -> dict:
    """A response struct with every schema field present."""
    return {
        "text": text,
        "response_id": response_id(text),
        "source": source,
        "prompt_id": prompt_id,
        "reward": reward,
        "rank": None,
        "generator": generator,
        "sampling": sampling,
        "finish_reason": finish_reason,
    }


def merge_responses(existing: list[dict], new: list[dict]) -> tuple[list[dict], int]:
    """Append ``new`` to ``existing`` dropping exact-text duplicates; returns (merged, duplicates_dropped)."""
    seen = {r["response_id"] for r in existing}
    merged = list(existing)
    dropped = 0
    for r in new:
        if r["response_id"] in seen:
            dropped += 1
            continue
        seen.add(r["response_id"])
        merged.append(r)
    return merged, dropped


def rank_responses(responses: list[dict], where: str = "row") -> list[dict]:
    """Return the responses sorted best-first with ``rank`` set (see module docstring)."""
    scored = [r.get("reward") is not None for r in responses]
    if not any(scored):
        return [{**r, "rank": None} for r in responses]
    if not all(scored):
        missing = sum(1 for s in scored if not s)
        raise NeatError(
            f"{where}: {missing} of {len(responses)} responses have no reward; score all responses of a query "
            "(neat score / neat generate) before ranking"
        )
    ordered = sorted(responses, key=lambda r: -float(r["reward"]))
    out, prev_reward, prev_rank = [], None, 0
    for i, r in enumerate(ordered):
        rank = prev_rank if prev_reward is not None and r["reward"] == prev_reward else i
        out.append({**r, "rank": rank})
        prev_reward, prev_rank = r["reward"], rank
    return out

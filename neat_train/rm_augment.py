"""Augmented negatives for reward-model training, built only from the training pairs themselves.

Each kind turns a training pair's chosen reply ``c`` into a worse reply ``b`` for the same query and adds the pair
(``c`` chosen, ``b`` rejected), so the RM learns to rank down replies that human preference data rarely shows:

* ``off_topic``: the chosen reply of another query (fluent, but it answers something else);
* ``near_topic``: the chosen reply of one of the most similar other queries (the same subject, another question:
  a hard off-topic negative that shared words alone cannot rank down);
* ``rambling``: against a short chosen reply (at most 30 words), a long chosen reply (at least three times as many
  words, and 40) of a similar query: fluent, on the subject, and no answer to the question;
* ``truncated``: ``c`` cut after its first few words (an unfinished non-answer);
* ``dismissive``: a short generic reply (at most 6 words: "Why?", "I'm not sure.") of another query, against a
  substantive ``c`` (at least 10 words): effort beats a brush-off;
* ``degenerate``: ``c`` broken: a short span of it looped, its words shuffled, or a sentence repeated;
* ``swapped``: ``c`` with its numbers changed and its capitalised names replaced by names from other replies
  (a fluent, confidently wrong reply of the same length; pairs without numbers or names get none).

Off-topic, rambling and degenerate negatives are mostly longer than ``c``, truncated and dismissive ones shorter, so
together they do not teach a length rule. "Similar" is the cosine of IDF-weighted word sets of the queries' human
turns (words in over 5 % of the queries are left out). Nothing here is hand-written text: every word comes from
the training replies.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter, defaultdict
from functools import cached_property

from neat_data.errors import NeatError
from neat_data.hh import Pair

KINDS = ("off_topic", "near_topic", "rambling", "truncated", "dismissive", "degenerate", "swapped")
SHORT_REPLY_WORDS, SUBSTANTIVE_WORDS = 6, 10
RAMBLING_CHOSEN_WORDS, RAMBLING_MIN_WORDS, RAMBLING_FACTOR = 30, 40, 3
NEAREST, COMMON_WORD_SHARE = 10, 0.05
WORD = re.compile(r"[a-z0-9']+")
NUMBER = re.compile(r"\b\d+(?:[.,]\d+)?\b")
NAME = re.compile(r"(?<=[a-z,;:] )[A-Z][a-z]+(?: [A-Z][a-z]+)*")  # a capitalised word not starting a sentence


def parse_kinds(text: str) -> list[str]:
    kinds = [k.strip() for k in text.split(",") if k.strip()] if text else []
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise NeatError(f"--augment: unknown kind(s) {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    return kinds


def human_words(pair: Pair) -> set[str]:
    """The lower-cased words of the pair's human turns."""
    return set(WORD.findall(" ".join(m["content"] for m in pair.messages if m["role"] == "user").lower()))


def unit_vector(words: set[str], idf: dict[str, float]) -> dict[str, float]:
    """The unit-norm IDF-weighted vector of ``words`` (words without an IDF, the common ones, left out). Its words
    are in sorted order, so sums over it, and the similarities, do not depend on the set order (Python's string
    hashing differs per process: neighbours of equal similarity would swap from run to run)."""
    vec = {w: idf[w] for w in sorted(words) if w in idf}
    norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
    return {w: v / norm for w, v in vec.items()}


class Pool:
    """The training pairs a negative may borrow from, and their short replies (query id, reply)."""

    def __init__(self, pairs: list[Pair]):
        self.pairs = pairs
        self.short = [
            (p.query_id, r) for p in pairs for r in (p.chosen, p.rejected) if len(r.split()) <= SHORT_REPLY_WORDS
        ]

    @cached_property
    def _index(self) -> tuple[dict[str, float], list[dict[str, float]], dict[str, list[int]]]:
        """The IDF of the words kept, the pairs' vectors and an inverted index over them (built on first use)."""
        bags = [human_words(p) for p in self.pairs]
        df = Counter(w for bag in bags for w in bag)
        keep = max(2, COMMON_WORD_SHARE * len(bags))
        idf = {w: math.log(len(bags) / n) for w, n in df.items() if n <= keep}
        vectors, postings = [unit_vector(bag, idf) for bag in bags], defaultdict(list)
        for i, vec in enumerate(vectors):
            for w in vec:
                postings[w].append(i)
        return idf, vectors, postings

    def nearest(self, pair: Pair, k: int = NEAREST) -> list[Pair]:
        """Up to ``k`` pairs of other queries, most similar first (only those sharing a kept word with ``pair``)."""
        idf, vectors, postings = self._index
        sims: dict[int, float] = defaultdict(float)
        for w, v in unit_vector(human_words(pair), idf).items():
            for j in postings[w]:
                sims[j] += v * vectors[j][w]
        ranked = sorted((j for j in sims if self.pairs[j].query_id != pair.query_id), key=lambda j: (-sims[j], j))
        return [self.pairs[j] for j in ranked[:k]]


def dismissive(pair: Pair, pool: Pool, rng: random.Random) -> str | None:
    if len(pair.chosen.split()) < SUBSTANTIVE_WORDS or not pool.short:
        return None
    for _ in range(10):
        query_id, reply = rng.choice(pool.short)
        if query_id != pair.query_id:
            return reply
    return None


def off_topic(pair: Pair, pool: Pool, rng: random.Random) -> str | None:
    for _ in range(10):
        other = rng.choice(pool.pairs)
        if other.query_id != pair.query_id and other.chosen != pair.chosen:
            return other.chosen
    return None


def near_topic(pair: Pair, pool: Pool, rng: random.Random) -> str | None:
    replies = [o.chosen for o in pool.nearest(pair, 3) if o.chosen != pair.chosen]
    return rng.choice(replies) if replies else None


def rambling(pair: Pair, pool: Pool, rng: random.Random) -> str | None:
    words = len(pair.chosen.split())
    if words > RAMBLING_CHOSEN_WORDS:
        return None
    need = max(RAMBLING_FACTOR * words, RAMBLING_MIN_WORDS)
    replies = [o.chosen for o in pool.nearest(pair) if len(o.chosen.split()) >= need]
    return rng.choice(replies[:3]) if replies else None


def truncated(pair: Pair, pool: Pool, rng: random.Random) -> str | None:
    words = pair.chosen.split()
    if len(words) < 6:
        return None
    return " ".join(words[: rng.randint(1, min(4, len(words) // 3))])


def degenerate(pair: Pair, pool: Pool, rng: random.Random) -> str | None:
    words = pair.chosen.split()
    if len(words) < 4:
        return None
    style = rng.choice(("loop", "shuffle", "repeat"))
    if style == "loop":  # a 1-4 word span repeated to about the reply's length or longer
        start = rng.randrange(len(words))
        span = words[start : start + rng.randint(1, 4)]
        return " ".join(span * max(3, (len(words) * rng.randint(1, 2)) // len(span)))
    if style == "shuffle":
        shuffled = words[:]
        while shuffled == words:
            rng.shuffle(shuffled)
        return " ".join(shuffled)
    sentences = re.split(r"(?<=[.!?])\s+", pair.chosen.strip())
    return " ".join([rng.choice(sentences)] * rng.randint(3, 6))


def swapped(pair: Pair, pool: Pool, rng: random.Random) -> str | None:
    names = [n for o in rng.sample(pool.pairs, min(20, len(pool.pairs))) for n in NAME.findall(o.chosen)]
    text = pair.chosen
    changed = NUMBER.sub(lambda m: _other_number(m.group(), rng), text)
    own = set(NAME.findall(text))
    candidates = [n for n in names if n not in own]
    if own and candidates:
        changed = NAME.sub(lambda m: rng.choice(candidates), changed)
    return changed if changed != text else None


def _other_number(number: str, rng: random.Random) -> str:
    value = float(number.replace(",", ""))
    other = value
    while other == value:
        other = round(value * rng.choice((0.25, 0.5, 2, 3, 10)) + rng.randint(-3, 3))
    return str(max(other, 0) if value >= 0 else other)


MAKERS = {
    "off_topic": off_topic,
    "near_topic": near_topic,
    "rambling": rambling,
    "truncated": truncated,
    "dismissive": dismissive,
    "degenerate": degenerate,
    "swapped": swapped,
}


def augment_pairs(pairs: list[Pair], kinds: list[str], share: float, seed: int = 0) -> list[Pair]:
    """For each kind, a negative for a seeded random ``share`` of ``pairs`` (those the kind applies to)."""
    rng, pool = random.Random(seed), Pool(pairs)
    out = []
    for kind in kinds:
        make = MAKERS[kind]
        for i in sorted(rng.sample(range(len(pairs)), round(share * len(pairs)))):
            p = pairs[i]
            bad = make(p, pool, rng)
            if bad and bad.strip() and bad != p.chosen:
                out.append(Pair(p.query_id, p.messages, p.chosen, bad, f"augment:{kind}:{p.origin}", p.category))
    return out

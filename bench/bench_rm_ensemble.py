"""Do reward models that fail in different places fix each other? Accuracy of z-scored RM ensembles.

    .venv/bin/python bench/bench_rm_ensemble.py --rm v2=default judge=default-judge m1=DIR [rel=relevance] [--hh PATH]

Scores the project's RM evaluation sets (the sanity suite, its selection twin ``sanity-dev``, the demo pairs and the
held-out split of the real dev pairs) with every named RM, then ranks each pair by the sum of the RMs' z-scores.
Each RM's mean and standard deviation are taken on ``sanity-dev`` (the selection file), so nothing is fitted on the
reported sets. Prints one JSON object: per RM combination and set, accuracy, the accuracy where the chosen reply is
the longer / shorter one (tokens of the first RM) and, where pairs have a category, the categories below 60 %. The
score cache is off, so ``seconds`` is each RM's scoring time.

``relevance`` (or ``relevance:DIR`` for another sentence-transformers encoder, e.g. all-mpnet-base-v2) is not a
trained RM but a zero-shot probe: the cosine between the mean-pooled sentence embeddings of the last human turn and
the reply (all-MiniLM-L6-v2 by default), i.e. "does the reply answer what was asked".
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import REAL_HH, machine_info  # noqa: E402

from neat_data.errors import NeatError  # noqa: E402
from neat_data.hh import load_hh, split_of  # noqa: E402
from neat_data.models import hub_id_or_path, minilm_dir, resolve_rm  # noqa: E402
from neat_data.scoring import RewardScorer  # noqa: E402
from neat_train.reward_model import pair_diagnostics, response_lengths  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


class Relevance:
    """Zero-shot relevance of a reply to the last human turn: cosine of mean-pooled sentence embeddings."""

    def __init__(self, encoder: str, batch_size: int = 32):
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(encoder)
        self.model = AutoModel.from_pretrained(encoder, use_safetensors=True).eval()
        self.batch_size = batch_size

    def _embed(self, texts: list[str]) -> torch.Tensor:
        out = []
        for i in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(
                texts[i : i + self.batch_size], padding=True, truncation=True, max_length=256, return_tensors="pt"
            )
            with torch.no_grad():
                hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out.append(torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1))
        return torch.cat(out)

    def score(self, items: list[tuple[list[dict], str]]) -> list[float]:
        last_turns = [next(m["content"] for m in reversed(messages) if m["role"] == "user") for messages, _ in items]
        return (self._embed(last_turns) * self._embed([reply for _, reply in items])).sum(-1).tolist()


def make_scorer(rm: str):
    if rm == "relevance" or rm.startswith("relevance:"):
        return Relevance(str(hub_id_or_path(rm.split(":", 1)[1], "--rm") if ":" in rm else minilm_dir()))
    return RewardScorer(resolve_rm(rm), device="cpu", use_cache=False, progress=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--rm",
        nargs="+",
        required=True,
        metavar="NAME=RM",
        help="RMs to combine: name=default|DIR|hub id|relevance[:DIR]",
    )
    ap.add_argument("--hh", default=str(REAL_HH), help="real dev pairs")
    args = ap.parse_args()
    if any("=" not in spec for spec in args.rm):
        ap.error("--rm takes NAME=RM items, e.g. v2=default")
    rms = dict(spec.split("=", 1) for spec in args.rm)

    sets = {
        "sanity": load_hh(str(ROOT / "data/rm-sanity/sanity.jsonl")).pairs,
        "sanity-dev": load_hh(str(ROOT / "data/rm-sanity/sanity-dev.jsonl")).pairs,
        "demo": load_hh(str(ROOT / "data/demo/hh-demo.jsonl")).pairs,
    }
    if Path(args.hh).exists():
        sets["heldout-dev"] = [p for p in load_hh(args.hh).pairs if split_of(p.query_id) == "test"]

    z, lengths, seconds = {}, {}, {}  # z: each RM's scores standardised by its mean and spread on sanity-dev
    for name, rm in rms.items():
        start = time.perf_counter()
        scorer = make_scorer(rm)
        raw = {}
        for set_name, pairs in sets.items():
            texts = [p.chosen for p in pairs] + [p.rejected for p in pairs]
            raw[set_name] = torch.tensor(
                scorer.score([(p.messages, t) for p, t in zip(pairs + pairs, texts)]), dtype=torch.float64
            )
            lengths.setdefault(set_name, response_lengths(scorer.tokenizer, texts))
        mean, std = raw["sanity-dev"].mean(), raw["sanity-dev"].std()
        z |= {(name, set_name): (x - mean) / std for set_name, x in raw.items()}
        seconds[name] = round(time.perf_counter() - start, 1)

    def rounded(x: float | None) -> float | None:
        return None if x is None else round(x, 4)

    results = {}
    for combo in (c for k in range(1, len(rms) + 1) for c in itertools.combinations(rms, k)):
        row = {}
        for set_name, pairs in sets.items():
            n = len(pairs)
            total = sum(z[name, set_name] for name in combo).tolist()
            d = pair_diagnostics(
                total[:n], total[n:], lengths[set_name][:n], lengths[set_name][n:], [p.category for p in pairs]
            )
            row[set_name] = {
                "pairs": n,
                "accuracy": rounded(sum(c > r for c, r in zip(total[:n], total[n:])) / n),
                "accuracy_chosen_longer": rounded(d["accuracy_chosen_longer"]),
                "accuracy_chosen_shorter": rounded(d["accuracy_chosen_shorter"]),
                **(
                    {"categories_below_60": sorted(c for c, v in d["by_category"].items() if v["accuracy"] < 0.6)}
                    if d["by_category"]
                    else {}
                ),
            }
        results["+".join(combo)] = row
    print(json.dumps({"rms": rms, "seconds": seconds, "results": results, "machine": machine_info()}, indent=2))


if __name__ == "__main__":
    try:
        main()
    except NeatError as e:
        print(f"bench_rm_ensemble.py: error: {e}", file=sys.stderr)
        sys.exit(2)

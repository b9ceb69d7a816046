"""The main job's typed config (``neat run --config configs/<name>.yaml``).

Top-level keys are the run's own settings; each stage section (``data``, ``score``, ``generate``, ``train``,
``eval``) holds flags of that stage's command and is checked against that command's ``Config`` dataclass, so
there is one definition per flag. Keys the flow sets itself (paths, rounds, policy/adapter) are refused in
sections. Unknown keys and wrong types are all reported at once, naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from neat_data.errors import NeatDataError

#: section -> (command module, keys the flow sets itself)
SECTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "data": ("neat_data.load_cmd", frozenset({"dataset", "out", "rows_per_shard"})),
    "score": ("neat_data.score_cmd", frozenset({"dataset", "split", "limit", "sample", "seed", "max_reject_share",
                                                "rm", "out"})),
    "generate": ("neat_data.generate_cmd", frozenset({"round", "policy", "adapter", "rm", "from_round", "out"})),
    "train": ("neat_train.train_cmd", frozenset({"shards", "policy", "adapter", "out"})),
    "eval": ("neat_train.eval_cmd", frozenset({"policy", "adapter", "dataset", "rm", "json", "out", "responses_out"})),
}


@dataclass
class RunConfig:
    """The rounds loop: score round 0, then per round generate → train (separate process) → evaluate."""

    name: str = field(metadata={"help": "run name (used in logs and the deployment name)"})
    dataset: str = field(metadata={"help": "HH-RLHF hub id or local path (.jsonl/.jsonl.gz/.parquet/dir)"})
    out: str = field(metadata={"help": "data root of the run: round-NNN/, adapters/, eval/, report.json"})
    rounds: int = field(default=2, metadata={"help": "number of sample → score → rank → train rounds"})
    policy: str = field(default="default", metadata={"help": "base policy: 'default' (SmolLM2-135M), hub id or path"})
    rm: str = field(default="default", metadata={"help": "reward model: 'default', hub id or path"})
    train_on: str = field(
        default="round",
        metadata={"help": "training set of round r: 'round' (round r's shards; they carry every earlier response of "
                          "each query) or 'all' (rounds 1..r, also keeping queries only earlier rounds sampled)"},
    )
    train_launcher: list[str] = field(
        default_factory=list,
        metadata={"help": "prefix for the training process, e.g. [torchrun, --nproc_per_node, '2'] (DDP)"},
    )
    data: dict = field(default_factory=dict, metadata={"help": "flags of `neat load` (split, limit, sample, seed)"})
    score: dict = field(default_factory=dict, metadata={"help": "flags of `neat score` (batch_size, dtype, ...)"})
    generate: dict = field(default_factory=dict, metadata={"help": "flags of `neat generate`"})
    train: dict = field(default_factory=dict, metadata={"help": "flags of `neat train`"})
    eval: dict = field(default_factory=dict, metadata={"help": "flags of `neat eval`"})

    def identity(self) -> dict:
        """What must not change between a run and its resumption (``rounds`` may grow: it extends the run)."""
        d = dataclasses.asdict(self)
        d.pop("rounds")
        return d


def _type_name(tp) -> str:
    """``int``, ``list[str]``, ``str | None``: the annotation as written."""
    return str(tp).replace("typing.", "") if typing.get_args(tp) else getattr(tp, "__name__", str(tp))


def matches(value, tp) -> bool:
    """Whether a YAML value fits a dataclass field annotation (int/float/str/bool/Optional/list/Literal/dict)."""
    origin = typing.get_origin(tp)
    if tp is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, arg) for arg in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin is typing.Literal:
        return value in typing.get_args(tp)
    if origin in (list, tuple):
        (item,) = typing.get_args(tp)[:1] or (typing.Any,)
        return isinstance(value, list) and all(matches(v, item) for v in value)
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    if tp is bool:
        return isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def check_keys(cls, values: dict, where: str, reserved: frozenset[str] = frozenset()) -> list[str]:
    """Every problem of ``values`` against dataclass ``cls``: unknown or reserved keys, wrong types."""
    hints = typing.get_type_hints(cls)
    known = sorted(f.name for f in dataclasses.fields(cls) if f.init and f.name not in reserved)
    errors = []
    for key, value in values.items():
        if key in reserved:
            errors.append(f"{where}.{key}: set by the flow itself, remove it")
        elif key not in hints or key not in known:
            errors.append(f"{where}.{key}: unknown key (known: {', '.join(known)})")
        elif not matches(value, hints[key]):
            errors.append(f"{where}.{key}: expected {_type_name(hints[key])}, got {type(value).__name__} {value!r}")
    return errors


def load_run_config(path: str | Path) -> RunConfig:
    path = Path(path)
    if not path.is_file():
        raise NeatDataError(f"{path}: config file not found (see configs/ for examples)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise NeatDataError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise NeatDataError(f"{path}: expected a mapping of keys at the top level")
    errors = check_keys(RunConfig, raw, str(path))
    missing = [f.name for f in dataclasses.fields(RunConfig)
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in raw]
    errors += [f"{path}: missing required key {name!r}" for name in missing]
    for section, (module, reserved) in SECTIONS.items():
        values = raw.get(section)
        if isinstance(values, dict):
            errors += check_keys(importlib.import_module(module).Config, values, f"{path}:{section}", reserved)
    if errors:
        raise NeatDataError("invalid config:\n  " + "\n  ".join(errors))
    config = RunConfig(**raw)
    if config.train_on not in ("round", "all"):
        raise NeatDataError(f"{path}: train_on must be 'round' or 'all', got {config.train_on!r}")
    if config.rounds < 1:
        raise NeatDataError(f"{path}: rounds must be >= 1, got {config.rounds}")
    return config


def section_args(values: dict) -> list[str]:
    """A section's values as command-line flags for its command."""
    args: list[str] = []
    for key, value in values.items():
        if value is None:
            continue
        flag = f"--{key}"
        if isinstance(value, bool):
            args += [flag, "true" if value else "false"]
        elif isinstance(value, list):
            args += [flag, *map(str, value)]
        else:
            args += [flag, str(value)]
    return args

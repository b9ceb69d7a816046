"""The main job's typed config (``neat run --config configs/<name>.yaml``).

Top-level keys are the run's own settings; each stage section (``data``, ``score``, ``generate``, ``train``,
``eval``) holds flags of that stage's command and is checked against that command's ``Config`` dataclass, so
there is one definition per flag. Keys the flow sets itself (paths, rounds, policy/adapter) are refused in
sections. Unknown keys and wrong types are all reported at once, naming the file and the key. Then each section
is parsed into its stage's ``Config`` by the parser the stage uses, with the flow's own flags filled in, so the
stage's own checks (``__post_init__``) refuse a bad value before anything runs, in ``--check`` too.

The YAML is read with PyYAML's safe loader, bounded: anchors and aliases may not expand it beyond
``MAX_YAML_NODES`` values (a few hundred bytes of nested aliases would otherwise fill the memory).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import json
import reprlib
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from neat_data.errors import AtLeast1, NeatError, NonNegative, Positive, check_fields
from neat_data.shards import round_dir

from .cli import renamed

#: section -> (command module, keys the flow sets itself)
SECTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "data": ("neat_data.load_cmd", frozenset({"dataset", "out", "rows_per_shard"})),
    "score": (
        "neat_data.score_cmd",
        frozenset({"dataset", "split", "limit", "sample", "seed", "max_reject_share", "rm", "out", "part"}),
    ),
    "generate": (
        "neat_data.generate_cmd",
        frozenset({"round", "policy", "adapter", "rm", "from_round", "out", "part"}),
    ),
    "train": ("neat_train.train_cmd", frozenset({"shards", "policy", "adapter", "output_dir"})),
    "eval": ("neat_train.eval_cmd", frozenset({"policy", "adapter", "dataset", "rm", "json", "out", "responses_out"})),
}


@dataclass
class ParallelConfig:
    """The ``parallel:`` section: how many parts each round's sampling and scoring is cut into and where they run
    (``neat generate|score --part I/N``, docs/scaling.md)."""

    backend: typing.Literal["local", "ray"] = field(
        default="local", metadata={"help": "local (processes on this machine) | ray (Ray tasks)"}
    )
    parts: AtLeast1 = field(default=1, metadata={"help": "parts per round (1 = one process, as without this section)"})
    address: str | None = field(
        default=None,
        metadata={
            "help": "ray: none = a Ray instance started for the run on this machine (loopback only); 'auto' = "
            "the cluster this machine joined (ray start); 'ray://HOST:10001' = a remote cluster"
        },
    )
    gpus_per_part: NonNegative | None = field(
        default=None, metadata={"help": "GPUs of each part's process (default: 1 where there are GPUs, else 0)"}
    )
    cpus_per_part: Positive = field(default=1, metadata={"help": "CPUs Ray reserves for each part's task"})

    def __post_init__(self):
        check_fields(self, prefix="parallel.", dashes=False)
        if self.address is not None and (
            self.backend != "ray" or not (self.address == "auto" or self.address.startswith("ray://"))
        ):
            raise NeatError(
                f"parallel.address {self.address!r}: only with backend: ray, and 'auto' or "
                "'ray://HOST:PORT' (leave it out to start a local Ray instance)"
            )
        if self.backend == "local" and self.gpus_per_part is not None and self.gpus_per_part != int(self.gpus_per_part):
            raise NeatError(
                f"parallel.gpus_per_part {self.gpus_per_part}: whole GPUs with backend: local "
                "(Ray can share a GPU between parts)"
            )


@dataclass
class RunConfig:
    """The rounds loop: score round 0, then per round generate → train (separate process) → evaluate."""

    name: str = field(metadata={"help": "run name (used in logs and the deployment name)"})
    dataset: str = field(metadata={"help": "HH-RLHF hub id or local path (.jsonl/.jsonl.gz/.parquet/dir)"})
    out: str = field(metadata={"help": "data root of the run: round-NNN/, adapters/, eval/, report.json"})
    rounds: AtLeast1 = field(default=2, metadata={"help": "number of sample → score → rank → train rounds"})
    policy: str = field(default="default", metadata={"help": "base policy: 'default' (SmolLM2-135M), hub id or path"})
    rm: str = field(default="default", metadata={"help": "reward model: 'default', hub id or path"})
    train_on: typing.Literal["round", "all"] = field(
        default="round",
        metadata={
            "help": "training set of round r: 'round' (round r's shards; they carry every earlier response of "
            "each query) or 'all' (rounds 1..r, also keeping queries only earlier rounds sampled)"
        },
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
    parallel: dict = field(
        default_factory=dict,
        metadata={"help": "parts per round and where they run: {backend: local|ray, parts: N, address: ...}"},
    )

    def __post_init__(self):
        check_fields(self, prefix="", dashes=False)

    def identity(self) -> dict:
        """What must not change between a run and its resumption (``rounds`` may grow: it extends the run; the
        ``parallel`` section may change: a round's parts are fixed by the round itself)."""
        d = dataclasses.asdict(self)
        d.pop("rounds")
        d.pop("parallel")
        return d

    def parallelism(self) -> ParallelConfig:
        return ParallelConfig(**self.parallel)


MAX_YAML_NODES = 100_000
_repr = reprlib.Repr()  # values in messages are shortened: a config value can be huge
_repr.maxstring = _repr.maxother = 60
_repr.maxlist = _repr.maxdict = 5
_repr.maxlevel = 2


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, counting the values each node stands for once its aliases are expanded; a document that
    expands beyond ``MAX_YAML_NODES`` is refused while it is composed, before anything is built from it."""

    def compose_node(self, parent, index):
        node = super().compose_node(parent, index)
        sizes = self.__dict__.setdefault("_sizes", {})
        if id(node) not in sizes:  # an alias returns its anchor's node, already counted
            children = (
                [c for pair in node.value for c in pair]
                if isinstance(node, yaml.MappingNode)
                else node.value
                if isinstance(node, yaml.SequenceNode)
                else []
            )
            sizes[id(node)] = 1 + sum(sizes.get(id(c), 1) for c in children)
            if sizes[id(node)] > MAX_YAML_NODES:
                raise yaml.YAMLError(
                    f"line {node.start_mark.line + 1}: anchors and aliases (&name, *name) expand this document to "
                    f"more than {MAX_YAML_NODES} values; a run config is small: write the values out"
                )
        return node


def _type_name(tp) -> str:
    """``int``, ``list[str]``, ``str | None``: the annotation as written."""
    if typing.get_origin(tp) is typing.Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(tp)))
    return str(tp).replace("typing.", "") if typing.get_args(tp) else getattr(tp, "__name__", str(tp))


def matches(value, tp) -> bool:
    """Whether a YAML value fits a dataclass field annotation: pydantic's strict validation (no ``"3"`` for an int,
    no ``1`` for a bool; an int is a float)."""
    import pydantic

    strict = pydantic.ConfigDict(arbitrary_types_allowed=True, strict=True)
    try:
        pydantic.TypeAdapter(tp, config=strict).validate_python(value)
    except pydantic.ValidationError:
        return False
    return True


def check_keys(cls, values: dict, where: str, reserved: frozenset[str] = frozenset()) -> list[str]:
    """Every problem of ``values`` against dataclass ``cls``: unknown or reserved keys, wrong types."""
    hints = typing.get_type_hints(cls)
    known = sorted(f.name for f in dataclasses.fields(cls) if f.init and f.name not in reserved)
    errors = []
    for key, value in values.items():
        if key in reserved:
            errors.append(f"{where}.{key}: set by the flow itself, remove it")
        elif key not in hints or key not in known:
            close = difflib.get_close_matches(key, known, 1)  # `train:` takes every TrainingArguments field
            hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
            errors.append(f"{where}.{key}: unknown key ({hint})")
        elif not matches(value, hints[key]):
            errors.append(
                f"{where}.{key}: expected {_type_name(hints[key])}, got {type(value).__name__} {_repr.repr(value)}"
            )
    return errors


#: the rounds flows' own parameters (the Prefect UI's custom-run form) -> (section or None for top level, key)
KNOBS: dict[str, tuple[str | None, str]] = {
    "rounds": (None, "rounds"),
    "policy": (None, "policy"),
    "rm": (None, "rm"),
    "prompts": ("generate", "prompts"),
    "n": ("generate", "n"),
    "loss": ("train", "loss"),
    "alpha": ("train", "alpha"),
    "beta": ("train", "beta"),
    "max_steps": ("train", "max_steps"),
    "learning_rate": ("train", "learning_rate"),
}


def apply_overrides(raw: dict, overrides: dict) -> dict:
    """The YAML mapping with the flow parameters that are set (not None) put in their places (``KNOBS``)."""
    raw = dict(raw)
    for name, value in overrides.items():
        section, key = KNOBS[name]
        if value is None:
            continue
        if section is None:
            raw[key] = value
        elif isinstance(raw.get(section) or {}, dict):  # a malformed section is reported by the checks instead
            raw[section] = {**(raw.get(section) or {}), key: value}
    return raw


def read_yaml(path: str | Path) -> dict:
    """A YAML file's top-level mapping (safe, bounded loader); a missing or malformed file is a ``NeatError``."""
    path = Path(path)
    if not path.is_file():
        raise NeatError(f"{path}: config file not found (see configs/ for examples)")
    try:
        raw = yaml.load(path.read_text(), Loader=_BoundedLoader) or {}
    except yaml.YAMLError as e:
        raise NeatError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise NeatError(f"{path}: expected a mapping of keys at the top level")
    return raw


def load_run_config(path: str | Path, overrides: dict | None = None) -> RunConfig:
    """The config file, with ``overrides`` (flow parameters, ``KNOBS``) on top; checked as a whole."""
    raw = read_yaml(path)
    if overrides:
        raw = apply_overrides(raw, overrides)
    errors = check_keys(RunConfig, raw, str(path))
    missing = [
        f.name
        for f in dataclasses.fields(RunConfig)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in raw
    ]
    errors += [f"{path}: missing required key {name!r}" for name in missing]
    for section, (module, reserved) in SECTIONS.items():
        values = raw.get(section)
        if isinstance(values, dict):  # old key names (the command's ALIASES) are checked as the names they stand for
            cls = importlib.import_module(module).Config
            values = dict(renamed(cls, k, v, f"{path}:{section}") for k, v in values.items())
            errors += check_keys(cls, values, f"{path}:{section}", reserved)
    if isinstance(raw.get("parallel"), dict):
        errors += check_keys(ParallelConfig, raw["parallel"], f"{path}:parallel")
    if errors:
        raise NeatError("invalid config:\n  " + "\n  ".join(errors))
    try:
        config = RunConfig(**raw)
        config.parallelism()
    except NeatError as e:
        raise NeatError(f"{path}: {e}") from None
    errors = stage_errors(config, str(path))
    if errors:
        raise NeatError("invalid config:\n  " + "\n  ".join(errors))
    return config


def adapter_dir(config: RunConfig, index: int) -> Path:
    return Path(config.out) / "adapters" / f"round-{index:03d}"


def eval_path(config: RunConfig, index: int) -> Path:
    return Path(config.out) / "eval" / f"round-{index:03d}.json"


def answers_path(config: RunConfig, index: int) -> Path:
    """The answers of the round ``index`` evaluation (``neat eval --responses-out``), written before its JSON."""
    return Path(config.out) / "eval" / f"round-{index:03d}.responses.jsonl"


def stage_command(config: RunConfig, section: str, index: int = 1, adapter: str | None = None) -> list[str]:
    """The ``neat`` command line of a section's stage in round ``index``: the flags the flow sets itself, then the
    section's. The one place they are written: ``flows/rounds.py`` runs it, ``--check`` parses it (for round 1;
    the paths need not exist yet). ``data`` is ``neat load``'s section; ``score`` reads it too."""
    out, data = Path(config.out), section_args(config.data)
    first = 1 if config.train_on == "all" else index
    own = {
        "data": ["load", "--dataset", config.dataset, "--out", config.out],
        "score": ["score", "--dataset", config.dataset, "--rm", config.rm, "--out", config.out, *data],
        "generate": ["generate", "--round", str(index), "--policy", config.policy, "--rm", config.rm]
        + ["--from", str(round_dir(out, index - 1)), "--out", config.out],
        "train": ["train", "--shards", *(str(round_dir(out, r)) for r in range(first, index + 1))]
        + ["--policy", config.policy, "--output_dir", f"{adapter_dir(config, index)}.partial"],
        "eval": ["eval", "--policy", config.policy, "--dataset", config.dataset, "--rm", config.rm, "--json", "true"]
        + ["--responses-out", str(answers_path(config, index))],
    }[section]
    return [*own, *(["--adapter", adapter] if adapter else []), *section_args(getattr(config, section))]


def stage_errors(config: RunConfig, where: str) -> list[str]:
    """Each section parsed into its stage's ``Config`` by the stage's own parser and checks: the problems found.
    ``train`` is checked with ``--use_cpu``: the checks of the machine (bf16 needs a GPU) are the training process's."""
    from .cli import UsageError, parse_config

    errors: list[str] = []
    for section, (module, _) in SECTIONS.items():
        machine = ["--use_cpu", "true"] if section == "train" else []
        try:
            parse_config(
                importlib.import_module(module).Config, [*stage_command(config, section)[1:], *machine], prog=section
            )
        except (NeatError, UsageError) as e:
            if not any(str(e) in seen for seen in errors):  # `score` parses `data` again: say it once
                errors.append(f"{where}:{section}: {e}")
    return errors


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
        elif isinstance(value, dict):
            args += [flag, json.dumps(value)]
        else:
            args += [flag, str(value)]
    return args

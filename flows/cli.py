"""The ``neat`` command line.

Every command is a module exposing a typed ``Config`` dataclass (its fields are the flags, their
``metadata["help"]`` the help text) and ``run(config) -> int | None``. Commands are imported lazily, so
``neat inspect`` never pays for Prefect or vLLM.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import importlib
import importlib.util
import sys

#: command words -> (module, one-line description)
COMMANDS: dict[str, tuple[str, str]] = {
    "load": ("neat_data.load_cmd", "read HH-RLHF pairs and write an unscored round 0 (ranked shards + manifest)"),
    "score": ("neat_data.score_cmd", "read HH-RLHF, score chosen/rejected with a reward model, write round 0"),
    "generate": ("neat_data.generate_cmd", "sample positive/negative prompted responses, score, merge, write a round"),
    "inspect": ("neat_data.inspect_cmd", "summarise a shard, a round directory or a data root"),
    "export": ("neat_data.export_cmd", "write a round as a TRL preference dataset (prompt/chosen/rejected) or JSONL"),
    "rm train": ("neat_train.rm_train_cmd", "train the embedded default Bradley-Terry reward model"),
    "rm eval": ("neat_train.rm_eval_cmd", "pairwise accuracy of a reward model on HH-RLHF pairs"),
    "train": ("neat_train.train_cmd", "train a policy on ranked shards with the NEAT loss or a baseline"),
    "eval": ("neat_train.eval_cmd", "generate for test queries and report reward, perplexity, length, distinct-2"),
    "run": ("flows.run_cmd", "the main job: the full NEAT rounds loop from a YAML config (Prefect flow)"),
    "serve": ("flows.serve_cmd", "serve the data-generation flow on a cron schedule (Prefect)"),
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" to a flag's help unless the help already says what its default is."""

    def _get_help_string(self, action):
        return action.help if "default:" in (action.help or "") else super()._get_help_string(action)


def _available() -> dict[str, tuple[str, str]]:
    return {k: v for k, v in COMMANDS.items() if importlib.util.find_spec(v[0]) is not None}


def _usage(commands) -> str:
    width = max(len(k) for k in commands)
    lines = ["usage: neat <command> [flags]   (neat <command> --help for its flags)", "", "commands:"]
    lines += [f"  {name:<{width}}  {desc}" for name, (_, desc) in commands.items()]
    return "\n".join(lines)


class UsageError(Exception):
    """A bad command line (unknown flag, a value of the wrong type, a missing flag): printed like argparse does."""


def renamed(cls, key: str, value, prog: str) -> tuple:
    """``(key, value)`` under the current name if ``key`` is an old name in ``cls.ALIASES``, with a note on stderr
    (an alias ``(name, {old value: new value})`` also translates the value)."""
    new = getattr(cls, "ALIASES", {}).get(key.replace("-", "_"))
    if new is None:
        return key, value
    new, values = new if isinstance(new, tuple) else (new, {})
    print(f"{prog}: note: --{key} is deprecated, use --{new} (the old name goes in the next release)", file=sys.stderr)
    return new, values.get(value, value) if isinstance(value, str) else value


def parse_config(cls, args: list[str], prog: str, description: str | None = None):
    """``cls`` (a command's ``Config``) from command-line ``args``: the one parser every command and ``neat run
    --check`` use, so a flag is checked the same way everywhere; also ``--config FILE.yaml`` (like ``trl dpo``) and
    old flag names (``renamed``). Raises ``UsageError`` (argparse's own message, or the unknown flags with the
    nearest known ones) and whatever ``cls.__post_init__`` raises."""
    from transformers import HfArgumentParser

    class Parser(HfArgumentParser):
        def error(self, message):  # argparse would print the whole usage and exit; one line is enough
            raise UsageError(message)

    own_config = "config" in {f.name for f in dataclasses.fields(cls)}  # neat run|serve: the run config
    args = [t for a in args for t in (a.split("=", 1) if a.startswith("--") and "=" in a else [a])]
    if not own_config and "--config" in args[:-1]:  # the file's flags go first: the command line wins
        from .run_config import read_yaml, section_args

        i = args.index("--config")
        args = [*section_args(read_yaml(args[i + 1])), *args[:i], *args[i + 2 :]]
    for i, arg in enumerate(args):
        if arg.startswith("--") and i + 1 < len(args):
            key, value = renamed(cls, arg[2:], args[i + 1], prog)
            args[i : i + 2] = [f"--{key}", {True: "true", False: "false"}.get(value, value)]
    epilog = None if own_config else "--config FILE.yaml: flags from a YAML file (keys: flag names; flags given win)"
    parser = Parser(cls, prog=prog, description=description, formatter_class=HelpFormatter, epilog=epilog)
    config, unknown = parser.parse_args_into_dataclasses(args, return_remaining_strings=True)
    if unknown:
        known = [o for action in parser._actions for o in action.option_strings]
        close = {a: difflib.get_close_matches(a.split("=")[0], known, 1) for a in unknown if a.startswith("-")}
        raise UsageError(
            "unrecognized arguments: "
            + " ".join(f"{a} (did you mean {close[a][0]}?)" if close.get(a) else a for a in unknown)
        )
    return config


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _available()
    name = " ".join(argv[:2]) if " ".join(argv[:2]) in commands else (argv[0] if argv else "")
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(commands))
        return 0
    if name not in commands:
        group = [k for k in commands if k.startswith(f"{argv[0]} ")]  # `neat rm` needs `train` or `eval`
        typed = " ".join(argv[:2]) if group and len(argv) > 1 else argv[0]
        close = difflib.get_close_matches(typed, group or list(commands), 1, 0.7 if group else 0.6)
        hint = f" (did you mean {close[0]}?)" if close else f" (it takes: {', '.join(group)})" if group else ""
        print(f"neat: error: unknown command {typed!r}{hint}; neat --help lists the commands", file=sys.stderr)
        return 2
    module = importlib.import_module(commands[name][0])
    from neat_data.errors import NeatError

    args = argv[len(name.split()) :]
    positional = getattr(module, "POSITIONAL", None)  # e.g. `neat inspect PATH` == `neat inspect --path PATH`
    if positional and args and not args[0].startswith("-"):
        args = [f"--{positional}", *args]
    try:
        config = parse_config(module.Config, args, prog=f"neat {name}", description=module.__doc__)  # validates
        return int(module.run(config) or 0)
    except UsageError as e:
        print(f"neat {name}: error: {e} (neat {name} --help lists the flags)", file=sys.stderr)
        return 2
    except NeatError as e:
        print(f"neat {name}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a path given that cannot be used (a file where a directory must be, no permission, ...)
        if e.filename is None:
            raise
        print(f"neat {name}: error: {e.filename}: {e.strerror}; check the paths given", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

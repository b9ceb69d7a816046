"""The docs cannot drift from the code: every flag they name exists (under its current name, not a deprecated alias)
in its command's ``Config``, every documented default is the dataclass default, every flag of a command has a row in
its flag table, and the tables of ``neat run``'s YAML keys match ``RunConfig``, ``SECTIONS`` and ``KNOBS``.

Flags are read with the parser every command uses (``HfArgumentParser`` of the ``Config``, as in
``flows.cli.parse_config``), so ``--max-new-tokens`` and ``--max_new_tokens`` are the same flag.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from functools import cache
from pathlib import Path

import pytest
from transformers import HfArgumentParser, TrainingArguments

from flows.cli import COMMANDS
from flows.run_config import KNOBS, SECTIONS, RunConfig

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")])
#: doc -> the command of its `| flag | default | meaning |` tables (a new table must be added here)
FLAG_TABLES = {"docs/generation.md": "generate", "docs/training.md": "train"}
#: (command, flag): documented defaults that are not the dataclass default but what the command resolves it to
RESOLVED = {("train", "logging_dir"): "OUTPUT_DIR/logs", ("train", "activation_checkpointing"): "false"}  # None: off
#: flags a flag table may leave out: given by the flow or documented in the text around the table
UNTABLED = {"generate": {"from_round", "round", "out", "policy", "adapter", "rm", "part"}, "train": {"shards"}}
MISSING = object()


def norm(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


@cache
def config(command: str):
    return importlib.import_module(COMMANDS[command][0]).Config


@cache
def flags(command: str) -> dict[str, str]:
    """Every flag of ``neat COMMAND`` (normalised: underscores, no dashes) -> its dataclass field (``--config
    FILE.yaml``, which ``parse_config`` reads for every command without a ``config`` field, -> ``config``)."""
    parser = HfArgumentParser(config(command))
    named = {norm(o): a.dest for a in parser._actions for o in a.option_strings if a.dest != "help"}
    return {"config": "config"} | named


def aliases(command: str) -> set[str]:
    return set(getattr(config(command), "ALIASES", {}))


def unknown(command: str, name: str) -> str | None:
    """Why ``--name`` may not appear in the docs of ``neat COMMAND`` (None: it may)."""
    if name in aliases(command):
        return f"--{name} is a deprecated old name in neat {command}: write its current name"
    return None if name in flags(command) else f"--{name} is not a flag of neat {command}"


def default(cls, name: str):
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else MISSING


def same(documented: str, value) -> bool:
    """Whether a default as the docs write it (``1e-4``, ``−5.0``, ``false``, ``–``, ``required``) is ``value``."""
    doc = documented.strip().strip("`").replace("−", "-")
    if doc in ("–", "-", "required"):
        return value is MISSING or value is None or value == []
    if isinstance(value, bool) or doc in ("true", "false"):
        return doc == str(value).lower()
    if isinstance(value, (int, float)):
        try:
            return float(doc) == float(value)
        except ValueError:
            return False
    if isinstance(value, (list, dict)):
        return doc == str(value)
    return doc == str(getattr(value, "value", value))  # TrainingArguments' enums (lr_scheduler_type, report_to)


def tables(path: Path):
    """Each markdown table of ``path``: (line number, header cells, rows of cells)."""
    lines = path.read_text().splitlines()

    def split(line):
        return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]

    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and re.fullmatch(r"\|[\s:|-]+\|", lines[i + 1].strip()):
            start, header, rows = i + 1, split(lines[i]), []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(split(lines[i]))
                i += 1
            yield start, header, rows
        else:
            i += 1


def ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def flag_tables():
    for path in DOCS:
        for line, header, rows in tables(path):
            if header[0] == "flag":
                yield path.relative_to(ROOT).as_posix(), line, rows


def test_flag_tables_are_known():
    assert {doc for doc, _, _ in flag_tables()} == set(FLAG_TABLES), "map each flag table to its command"


@pytest.mark.parametrize("doc", sorted(FLAG_TABLES))
def test_flag_tables_match_config(doc):
    command = FLAG_TABLES[doc]
    problems, seen = [], set()
    for _, line, rows in (t for t in flag_tables() if t[0] == doc):
        for n, (names, defaults, *_) in enumerate(rows, line + 2):
            names = [norm(f) for f in re.findall(r"`(--[\w-]+)`", names)]
            values = [v.strip() for v in defaults.split(" / ")]
            if len(values) != len(names):
                problems.append(f"{doc}:{n}: {len(names)} flags but {len(values)} defaults")
                continue
            for name, value in zip(names, values):
                seen.add(name)
                if problem := unknown(command, name):
                    problems.append(f"{doc}:{n}: {problem}")
                    continue
                field = flags(command)[name]
                want = RESOLVED.get((command, field))
                if not (value.strip("`") == want if want else same(value, default(config(command), field))):
                    problems.append(
                        f"{doc}:{n}: --{name} documented default {value}, "
                        f"the code's is {default(config(command), field)!r}"
                    )
    inherited = {f.name for f in dataclasses.fields(TrainingArguments)}
    own = {f.name for f in dataclasses.fields(config(command))} - inherited
    untabled = own - {flags(command)[s] for s in seen if s in flags(command)} - UNTABLED.get(command, set())
    problems += [f"{doc}: --{name} of neat {command} has no row in the flag table" for name in sorted(untabled)]
    assert not problems, "\n".join(problems)


COMMAND = re.compile(r"\b(?:neat|flows\.cli) (rm [a-z]+|[a-z]+)\b")


def command_lines(path: Path):
    """(line number, text) of each inline code span and code block line (``\\`` continuations joined)."""
    text = path.read_text()
    for block in re.finditer(r"```[^\n]*\n(.*?)```", text, re.DOTALL):
        first = text.count("\n", 0, block.start(1)) + 1
        yield from enumerate(block.group(1).replace("\\\n", " ").split("\n"), first)
    prose = re.sub(r"```.*?```", lambda m: "\n" * m.group().count("\n"), text, flags=re.DOTALL)  # same line numbers
    for span in re.finditer(r"(?<!`)`([^`\n]+)`(?!`)", prose):
        yield prose.count("\n", 0, span.start()) + 1, span.group(1)


def test_commands_in_docs_use_current_flags():
    """Every ``--flag`` after ``neat COMMAND`` in a code span or block is a flag of that command, not an old name."""
    problems, checked = [], 0
    for path in DOCS:
        for n, line in command_lines(path):
            matches = [m for m in COMMAND.finditer(line) if m.group(1) in COMMANDS]
            for m, nxt in zip(matches, [*matches[1:], None]):
                command, rest = m.group(1), line[m.end() : nxt.start() if nxt else None]
                rest = re.split(r"\s(?:\||&&|;|>)\s", rest)[0]  # up to the next command of a pipe/list
                for flag in re.findall(r"(?<![\w-])--([A-Za-z][\w-]*)", rest):
                    checked += 1
                    if problem := unknown(command, norm(flag)):
                        problems.append(f"{path.relative_to(ROOT)}:{n}: {problem}")
    assert checked > 100, f"only {checked} flags found: is the parsing broken?"
    assert not problems, "\n".join(problems)


def flows_table(first: str):
    return next(rows for _, header, rows in tables(ROOT / "docs/flows.md") if header[0] == first)


def test_run_config_table():
    problems, documented = [], set()
    for row in flows_table("key"):
        keys, values = ticked(row[0]), [v.strip() for v in row[1].split(" / ")]
        values = values if len(values) == len(keys) else [row[1]] * len(keys)
        for key, value in zip(keys, values):
            documented.add(key)
            if key not in {f.name for f in dataclasses.fields(RunConfig)}:
                problems.append(f"{key}: not a RunConfig field")
            elif not same(value, default(RunConfig, key)):
                problems.append(f"{key}: documented default {value}, the code's is {default(RunConfig, key)!r}")
    missing = {f.name for f in dataclasses.fields(RunConfig)} - documented - set(SECTIONS)
    assert not problems and not missing, "\n".join(problems + [f"{k}: not in the table" for k in sorted(missing)])


def test_sections_table():
    rows = flows_table("section")
    assert {ticked(r[0])[0] for r in rows} == set(SECTIONS)
    for row in rows:
        section = ticked(row[0])[0]
        command = next(k for k, (module, _) in COMMANDS.items() if module == SECTIONS[section][0])
        assert f"neat {command}" in row[1], row
        named = ticked(row[1])[1:] + ticked(row[2])  # the command's example flags, the flags the flow sets
        assert set(named) <= set(flags(command).values()), (section, set(named) - set(flags(command).values()))
        assert set(ticked(row[2])) == SECTIONS[section][1], (section, "flags the flow sets itself")


def test_knobs_table():
    rows = flows_table("parameter")
    documented = {ticked(r[i])[0]: ticked(r[i + 1])[0] for r in rows for i in range(0, len(r), 2)}
    assert documented == {k: ".".join(p for p in where if p) for k, where in KNOBS.items()}


def test_old_names_listed_in_training_doc():
    """docs/training.md's list of deprecated spellings (``--old`` → ``--new``) is ``neat train``'s ``ALIASES``."""
    text = " ".join((ROOT / "docs/training.md").read_text().split())
    listed = {norm(old): norm(new) for old, new in re.findall(r"`(--[\w-]+)[^`]*` → `(--[\w-]+)[^`]*`", text)}
    assert listed == {old: new[0] if isinstance(new, tuple) else new for old, new in config("train").ALIASES.items()}

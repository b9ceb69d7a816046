"""One exception type for bad input, for the whole project: the CLI prints its message (which names the file/row/flag
and the fix) as one line and exits 2; and the one check of the rules written in config annotations."""

import dataclasses
import functools
import typing

import pydantic
from annotated_types import Ge, Gt, Interval


class NeatError(Exception):
    """Raised for bad input or refused operations; the message says what is wrong and what to do."""


#: the name before 0.2 (kept so that code catching it keeps working; it is the same class)
NeatDataError = NeatError

# the bounds config fields share (``check_fields``)
AtLeast1 = typing.Annotated[int, Ge(1)]
Count = typing.Annotated[int, Ge(0)]
Positive = typing.Annotated[float, Gt(0)]
NonNegative = typing.Annotated[float, Ge(0)]
Share = typing.Annotated[float, Interval(ge=0, le=1)]


def check_fields(config, prefix: str = "--", dashes: bool = True) -> None:
    """Every field of the dataclass ``config`` whose annotation carries a rule — ``Literal[...]`` choices, or bounds
    such as ``Annotated[int, Ge(1)]`` (``annotated_types``) — validated by pydantic. Each config's ``__post_init__``
    calls it, and the CLI, the run config's sections and Python callers all build the same dataclasses (argparse
    also offers a ``Literal``'s choices), so one annotation is the one rule everywhere. Raises ``NeatError`` naming
    the flag (``prefix`` + the field name, ``_`` as ``-`` with ``dashes``)."""
    for name, adapter in _rules(type(config)):
        value = getattr(config, name)
        try:
            adapter.validate_python(value)
        except pydantic.ValidationError as e:
            flag = prefix + (name.replace("_", "-") if dashes else name)
            message = e.errors()[0]["msg"]
            raise NeatError(f"{flag}: {message[0].lower()}{message[1:]}, got {value!r}") from None


@functools.cache
def _rules(cls) -> list[tuple[str, pydantic.TypeAdapter]]:
    """(field name, validator) of each field of the dataclass ``cls`` whose annotation carries a rule: derived once
    per class, not on every instance (``Request`` objects are made per query and prompt)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    ruled = [
        f.name for f in dataclasses.fields(cls) if any(k in str(hints.get(f.name)) for k in ("Annotated[", "Literal["))
    ]
    return [(name, pydantic.TypeAdapter(hints[name])) for name in ruled]

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
    hints = typing.get_type_hints(type(config), include_extras=True)
    for f in dataclasses.fields(config):
        tp = hints.get(f.name)
        if "Annotated[" not in str(tp) and "Literal[" not in str(tp):
            continue
        value = getattr(config, f.name)
        try:
            _adapter(tp).validate_python(value)
        except pydantic.ValidationError as e:
            name = prefix + (f.name.replace("_", "-") if dashes else f.name)
            message = e.errors()[0]["msg"]
            raise NeatError(f"{name}: {message[0].lower()}{message[1:]}, got {value!r}") from None


_adapter = functools.cache(pydantic.TypeAdapter)  # one validator per annotation, built once

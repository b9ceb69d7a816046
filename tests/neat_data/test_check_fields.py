"""``check_fields``: the one check of the rules config annotations carry (choices, bounds), for every caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from flows.cli import UsageError, parse_config
from neat_data.errors import AtLeast1, NeatError, Share, check_fields


@dataclass
class Example:
    mode: Literal["fast", "slow"] = field(default="fast", metadata={"help": "m"})
    batch_size: AtLeast1 = field(default=2, metadata={"help": "b"})
    limit: AtLeast1 | None = field(default=None, metadata={"help": "l"})
    share: Share = field(default=0.5, metadata={"help": "s"})
    free: int = field(default=-3, metadata={"help": "no rule: never checked"})

    def __post_init__(self):
        check_fields(self)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"mode": "medium"}, "--mode: input should be 'fast' or 'slow', got 'medium'"),
        ({"batch_size": 0}, "--batch-size: input should be greater than or equal to 1, got 0"),
        ({"limit": -1}, "--limit: input should be greater than or equal to 1, got -1"),
        ({"share": 1.5}, "--share: input should be less than or equal to 1, got 1.5"),
    ],
)
def test_a_broken_rule_names_the_flag_and_the_value(kw, message):
    with pytest.raises(NeatError) as e:
        Example(**kw)
    assert str(e.value) == message


def test_values_within_the_rules_and_unannotated_fields_pass():
    assert Example(limit=None, share=0.0).free == -3
    assert Example(mode="slow", batch_size=5, limit=1, share=1.0).limit == 1


def test_the_command_line_meets_the_same_rules():
    assert parse_config(Example, ["--batch-size", "3", "--mode", "slow"], prog="x").batch_size == 3
    with pytest.raises(NeatError, match="--batch-size: input should be greater than or equal to 1, got 0"):
        parse_config(Example, ["--batch-size", "0"], prog="x")
    with pytest.raises(UsageError, match="invalid choice: 'medium'"):  # argparse offers the Literal's choices
        parse_config(Example, ["--mode", "medium"], prog="x")


def test_a_prefix_and_underscores_for_yaml_keys_and_hf_flags():
    @dataclass
    class Section:
        gpus_per_part: AtLeast1 = 1

    with pytest.raises(NeatError, match=r"^parallel\.gpus_per_part: input should be"):
        check_fields(Section(0), prefix="parallel.", dashes=False)

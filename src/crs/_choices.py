"""Reading an option that names one member of a string enum, forgivingly but never silently.

Users type ``"lfu"``, ``"LFU"`` or ``"memory-pressure"``; all should work, and anything else
should fail with the option's name, the value and the valid choices.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from crs.errors import ConfigError

__all__ = ["parse_choice"]

_E = TypeVar("_E", bound=StrEnum)


def _fold(text: str) -> str:
    return text.lower().replace("-", "_")


def parse_choice(enum: type[_E], value: _E | str, option: str, *, hint: str | None = None) -> _E:
    """The member of ``enum`` that ``value`` names (case and ``-``/``_`` do not matter)."""
    if isinstance(value, enum):
        return value
    wanted = _fold(str(value))
    for member in enum:
        if _fold(member.value) == wanted:
            return member
    choices = ", ".join(repr(member.value) for member in enum)
    raise ConfigError(f"{option}={value!r} is not one of {choices}", hint=hint)

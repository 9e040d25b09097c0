"""Reading option values that users pass to constructors and factories.

One checker per kind of value, so every option of every component fails the same way: a
:class:`~crs.errors.ConfigError` naming the option and the value it got. Enum options are read
forgivingly (``"lfu"``, ``"LFU"`` and ``"memory-pressure"`` all work) but never silently.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from crs.errors import ConfigError

__all__ = ["parse_choice", "reject_unknown_keys", "require_positive_int", "require_seconds"]

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


def require_positive_int(value: object, name: str) -> int:
    """``value`` if it is an int of at least 1 (``True`` is not accepted as ``1``)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive int, got {value!r}")
    return value


def require_seconds(
    value: object, name: str, *, allow_zero: bool = True, finite: bool = False
) -> float:
    """``value`` as a duration: never NaN or negative; zero and infinity only when allowed."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number of seconds, got {value!r}")
    duration = float(value)
    if (
        math.isnan(duration)
        or duration < 0
        or (duration == 0 and not allow_zero)
        or (finite and math.isinf(duration))
    ):
        bound = "non-negative" if allow_zero else "positive"
        qualifier = ", finite" if finite else ""
        raise ConfigError(f"{name} must be a {bound}{qualifier} number of seconds, got {value!r}")
    return duration


def reject_unknown_keys(mapping: Mapping[Any, Any], known: Collection[str], where: str) -> None:
    """Raise ``ConfigError`` naming ``where`` and every key it does not know.

    Option dicts come from users' code and config files; a misspelt key (``"paralel"``) that
    were silently ignored would leave the default in force with nobody noticing.
    """
    unknown = sorted({str(key) for key in mapping} - set(known))
    if unknown:
        raise ConfigError(
            f"{where} has unknown key(s) {', '.join(map(repr, unknown))}",
            hint=f"known keys: {', '.join(sorted(known))}",
        )

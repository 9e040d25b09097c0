"""Checking the strategies' own options, with errors that name the option and the value."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from hypothesis import strategies as st

from crs.errors import ConfigError
from pytest_crs.faults import FaultKind


def choose(given: Iterable[str] | None, known: Sequence[str], name: str) -> tuple[str, ...]:
    if given is None:
        return tuple(known)
    chosen = tuple(dict.fromkeys(str(item) for item in given))
    unknown = [item for item in chosen if item not in known]
    if unknown or not chosen:
        raise ConfigError(
            f"{name}={list(chosen)!r} must be a non-empty selection of {', '.join(known)}"
        )
    return chosen


def choose_kinds(
    given: Iterable[FaultKind | str] | None, default: set[FaultKind]
) -> frozenset[FaultKind]:
    if given is None:
        return frozenset(default)
    chosen: set[FaultKind] = set()
    for item in given:
        try:
            chosen.add(FaultKind(str(item).lower().replace("-", "_")))
        except ValueError:
            known = ", ".join(kind.value for kind in FaultKind)
            raise ConfigError(f"faults(kinds=...): {item!r} is not one of {known}") from None
    if not chosen:
        raise ConfigError("faults(kinds=...) is empty")
    return frozenset(chosen)


def seconds_option(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ConfigError(f"{name} must be a finite, non-negative number of seconds, got {value!r}")
    return float(value)


def positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive int, got {value!r}")
    return value


def quarter_seconds(maximum: float, minimum: float = 0.0) -> st.SearchStrategy[float]:
    """Waits in steps of 0.25 s: exact in binary and in every header form, so a client that
    rounds is never blamed for a wait the header could not express."""
    low, high = math.ceil(minimum * 4), math.floor(maximum * 4)
    return st.integers(low, max(low, high)).map(lambda quarters: quarters / 4)

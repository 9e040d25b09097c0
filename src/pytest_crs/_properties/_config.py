"""A check's options, validated once, and the strategy its examples are drawn from."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from hypothesis import strategies as st

from crs.errors import ConfigError
from pytest_crs._properties._model import DEFAULT_TOOL, ErrorStyle, FaultSpec, Property
from pytest_crs.faults import Fault, FaultKind, Schedule, Target, fail, tool
from pytest_crs.faults._targets import ToolCall
from pytest_crs.strategies import FaultRecipe, fault_schedules, faults


@dataclass(frozen=True)
class Drawn:
    """A drawn schedule or recipe that Hypothesis prints as the user would write it."""

    spec: FaultSpec

    @classmethod
    def of(cls, value: object) -> Drawn:
        if isinstance(value, Fault):
            return cls(fail(value))
        if isinstance(value, Schedule | FaultRecipe):
            return cls(value)
        raise ConfigError(
            f"the faults= strategy drew {value!r}; it must draw Schedules, FaultRecipes or Faults"
        )

    def __repr__(self) -> str:
        return self.spec.describe()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        del cycle  # a value never contains itself
        printer.text(self.spec.describe())


@dataclass(frozen=True)
class Config:
    call: Callable[..., Any]
    target: Target | None
    tool_call: ToolCall
    max_attempts: int | None
    min_attempts: int | None
    budget: float | None
    idempotent: bool
    max_retry_after: float
    non_retryable: frozenset[FaultKind]
    is_async: bool
    error_style: ErrorStyle
    checks: frozenset[Property]
    attempt_limit: int
    modules: tuple[ModuleType | str, ...]

    @property
    def wire(self) -> bool:
        return self.target is not None

    @property
    def promised(self) -> int | None:
        return self.min_attempts if self.min_attempts is not None else self.max_attempts

    @property
    def attempt_cap(self) -> int:
        """Attempts after which the checker stops the policy."""
        if self.max_attempts is not None and Property.MAX_ATTEMPTS in self.checks:
            return self.max_attempts  # one more attempt already breaks the promise
        return self.attempt_limit

    @property
    def op_target(self) -> Target:
        return tool(self.tool_call.slug)

    @classmethod
    def build(
        cls,
        *,
        call: Callable[..., Any],
        target: Target | None,
        tool_call: ToolCall | None,
        max_attempts: int | None,
        min_attempts: int | None,
        budget: float | None,
        idempotent: bool,
        max_retry_after: float,
        non_retryable: Iterable[FaultKind | str],
        is_async: bool | None,
        error_style: ErrorStyle,
        skip: Iterable[Property | str],
        attempt_limit: int,
        modules: Iterable[ModuleType | str],
    ) -> Config:
        if not callable(call):
            raise ConfigError(f"check_retry_policy() needs a callable, got {call!r}")
        if target is not None and not isinstance(target, Target):
            raise ConfigError(f"target= must be llm(), tool() or http(), got {target!r}")
        if tool_call is not None and not isinstance(tool_call, ToolCall):
            raise ConfigError(f"tool_call= must be a ToolCall, got {tool_call!r}")
        for name, value in (("max_attempts", max_attempts), ("min_attempts", min_attempts)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ConfigError(f"{name} must be a positive int or None, got {value!r}")
        if max_attempts is not None and min_attempts is not None and min_attempts > max_attempts:
            raise ConfigError(f"min_attempts={min_attempts} is above max_attempts={max_attempts}")
        if budget is not None:
            budget = _seconds(budget, "budget")
        if error_style not in ("crs", "openai"):
            raise ConfigError(f"error_style must be 'crs' or 'openai', got {error_style!r}")
        if isinstance(attempt_limit, bool) or not isinstance(attempt_limit, int):
            raise ConfigError(f"attempt_limit must be an int, got {attempt_limit!r}")
        if attempt_limit < 1:
            raise ConfigError(f"attempt_limit must be positive, got {attempt_limit!r}")
        if is_async is None:
            is_async = inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
                type(call).__call__  # callable objects with an async __call__
            )
        return cls(
            call=call,
            target=target,
            tool_call=tool_call or DEFAULT_TOOL,
            max_attempts=max_attempts,
            min_attempts=min_attempts,
            budget=budget,
            idempotent=bool(idempotent),
            max_retry_after=_seconds(max_retry_after, "max_retry_after"),
            non_retryable=frozenset(_kind(k) for k in non_retryable),
            is_async=bool(is_async),
            error_style=error_style,
            checks=frozenset(Property) - frozenset(_property(p) for p in skip),
            attempt_limit=attempt_limit,
            modules=tuple(modules),
        )


def _seconds(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ConfigError(f"{name} must be a finite, non-negative number of seconds, got {value!r}")
    return float(value)


def _kind(value: FaultKind | str) -> FaultKind:
    try:
        return FaultKind(str(value).lower().replace("-", "_"))
    except ValueError:
        known = ", ".join(kind.value for kind in FaultKind)
        raise ConfigError(f"non_retryable: {value!r} is not one of {known}") from None


def _property(value: Property | str) -> Property:
    try:
        return Property(str(value))
    except ValueError:
        known = ", ".join(prop.value for prop in Property)
        raise ConfigError(f"skip: {value!r} is not one of {known}") from None


def fault_strategy(
    given: st.SearchStrategy[FaultSpec] | FaultSpec | Fault | None,
    config: Config,
) -> st.SearchStrategy[FaultSpec]:
    if isinstance(given, st.SearchStrategy):
        return given
    if isinstance(given, Fault):
        return st.just(fail(given))
    if isinstance(given, Schedule | FaultRecipe):
        return st.just(given)
    if given is not None:
        raise ConfigError(
            f"faults= must be a Hypothesis strategy, a Schedule, a FaultRecipe or a Fault, "
            f"got {given!r}"
        )
    if config.wire:
        fault_target = config.target
    elif config.error_style == "crs":
        fault_target = config.op_target
    else:
        fault_target = None  # what an OpenAI-style API can answer: no tool-only shapes
    most = (config.max_attempts or config.min_attempts or 3) + 1
    source = faults(target=fault_target, max_retry_after=config.max_retry_after * 1.5)
    return fault_schedules(source, max_faults=most, finite=True)

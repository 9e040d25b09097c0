"""What a property check talks about: the promises, the attempts an example saw, and the
violation it raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

from crs._secrets import redact_secrets
from pytest_crs.faults import Fault, FaultKind, Schedule
from pytest_crs.faults._targets import ToolCall
from pytest_crs.strategies import FaultRecipe


class Property(StrEnum):
    """The promises :func:`check_retry_policy` checks (see the module docstring)."""

    MAX_ATTEMPTS = "max_attempts"
    BUDGET = "budget"
    NON_RETRYABLE = "non_retryable"
    RETRY_AFTER = "retry_after"
    NO_DUPLICATES = "no_duplicates"
    EVENTUAL_SUCCESS = "eventual_success"


#: Fault kinds that retrying cannot fix (see ``non_retryable`` in the module docstring).
DEFAULT_NON_RETRYABLE: Final = frozenset({FaultKind.AUTH_EXPIRED, FaultKind.TOOL_FAILURE})

ErrorStyle = Literal["crs", "openai"]
FaultSpec = Schedule | FaultRecipe

EPSILON: Final = 1e-6  # float slack when comparing virtual timestamps
TEXT_LIMIT: Final = 240
DEFAULT_TOOL: Final = ToolCall(
    slug="CRS_PROPERTY_CHECK",
    app="crs",
    action="CRS_PROPERTY_CHECK",
    arguments={"check": "retry policy"},
    user_id="property-check",
)


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt of an example, in virtual seconds since the example began.

    Attributes:
        number: 1 for the first attempt.
        started: when it began.
        ended: when it finished (later than ``started`` only by injected latency).
        fault: the fault injected into it, or ``None`` when it went through.
        announced_wait: the wait its failure asked for (a 429's Retry-After), as a correct
            client reads it; ``None`` when it announced none.
        outcome: ``"ok"``, the exception it raised, ``"successful: false"``, or
            ``"stopped by the checker"``.
    """

    number: int
    started: float
    ended: float
    fault: Fault | None
    announced_wait: float | None
    outcome: str

    @property
    def failed(self) -> bool:
        """Whether the attempt failed (latency is a slow success, not a failure)."""
        return self.fault is not None and self.fault.kind is not FaultKind.LATENCY

    def describe(self) -> str:
        what = "ok" if self.fault is None else self.fault.describe()
        extra = [] if self.outcome == "ok" else [self.outcome]
        if self.announced_wait is not None:
            extra.append(f"asked to wait {self.announced_wait:g}s")
        span = f"t={self.started:g}s" + (f"..{self.ended:g}s" if self.ended > self.started else "")
        tail = f" ({'; '.join(extra)})" if extra else ""
        return f"#{self.number} {span}: {what}{tail}"


@dataclass(frozen=True)
class Example:
    """Everything one example did, for the violation message and for programmatic checks."""

    faults: str
    attempts: tuple[AttemptRecord, ...]
    sleeps: tuple[float, ...]
    elapsed: float
    waited: float
    outcome: str

    def describe(self) -> str:
        lines = [f"  faults: {self.faults}", "  attempts:"]
        lines += [f"    {attempt.describe()}" for attempt in self.attempts] or ["    (none)"]
        sleeps = ", ".join(f"{s:g}" for s in self.sleeps)
        lines.append(f"  sleeps: [{sleeps}] (waited {self.waited:g}s of {self.elapsed:g}s)")
        lines.append(f"  outcome: {self.outcome}")
        return "\n".join(lines)


class PropertyViolation(AssertionError):
    """A retry policy broke one or more of the promises :func:`check_retry_policy` checks.

    ``property`` is the first broken one, ``violations`` all of them with their reasons, and
    ``example`` what happened.
    """

    def __init__(self, violations: Sequence[tuple[Property, str]], example: Example) -> None:
        self.violations = tuple(violations)
        self.property = self.violations[0][0]
        self.example = example
        head = "; ".join(f"[{prop.value}] {reason}" for prop, reason in self.violations)
        super().__init__(f"retry policy violates {head}\n{example.describe()}")

    @property
    def properties(self) -> tuple[Property, ...]:
        return tuple(prop for prop, _ in self.violations)


@dataclass
class Outcome:
    returned: bool = False
    value: object = None
    error: BaseException | None = None
    runaway: bool = False

    def describe(self) -> str:
        if self.runaway:
            return "stopped by the checker (the policy kept retrying)"
        if self.returned:
            return short(f"returned {self.value!r}")
        error = self.error
        return short(f"raised {type(error).__name__}: {error}")


def short(text: str) -> str:
    text = " ".join(redact_secrets(text).split())
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"

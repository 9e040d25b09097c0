"""A test's fault plan: rules, the decisions they make, and the log of what happened.

The plan is what both interception points ask — the HTTP transports (it is their
:class:`~pytest_crs.faults._wire.WireGate`) and the tool seam — so one rule such as
``on(tool("GMAIL_SEND_EMAIL"), timeout("read"))`` covers a tool whether it runs over either
Composio SDK or as a Python function. Rules are consulted in the order they were added; each
counts the attempts its target matches, and the first one whose schedule says "fail" answers
the attempt (later rules do not see it).

Everything the plan saw is logged — every attempt, not only the faulted ones — so a test can
assert on what its code *did*: how many attempts it made (``attempts(target)``), which faults
fired when (``injected``), and whether a side-effecting tool call was delivered twice
(``duplicates``). Descriptions in the log are redacted: the log ends up in failure messages.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from crs._secrets import redact_data, redact_secrets
from crs.clock import Clock, resolve_clock
from crs.errors import ConfigError
from crs.tools._actions import looks_read_only
from pytest_crs.faults._kinds import Fault
from pytest_crs.faults._render import check_applicable, render
from pytest_crs.faults._schedule import Cursor, Schedule, as_schedule
from pytest_crs.faults._targets import Target, TargetKind, ToolCall, tool_call_of
from pytest_crs.faults._wire import Decision, WireCall

__all__ = ["Attempt", "Duplicate", "FaultPlan", "Injection", "Rule"]


class Rule:
    """One ``on(target, schedule)`` of a plan, with how often it matched and fired."""

    def __init__(
        self, index: int, target: Target, schedule: Schedule, *, strict: bool, seed: int
    ) -> None:
        self.index = index
        self.target = target
        self.schedule = schedule
        self.strict = strict
        self.matched = 0
        self.fired = 0
        self._cursor = Cursor(schedule, random.Random(f"crs-faults:{seed}:{index}"))

    def _next(self, elapsed: float) -> Fault | None:
        self.matched += 1
        fault = self._cursor.next(elapsed)
        if fault is not None:
            self.fired += 1
        return fault

    def describe(self) -> str:
        return f"on({self.target.describe()}, {self.schedule.describe()})"

    def __repr__(self) -> str:
        return f"<Rule {self.describe()} matched={self.matched} fired={self.fired}>"


@dataclass(frozen=True)
class Attempt:
    """One attempt the plan saw: an HTTP request or a Python tool call.

    ``at`` is virtual seconds since the plan started. ``fault`` is what was injected into it,
    or ``None`` when it went through.
    """

    at: float
    request: str
    fault: Fault | None = None
    wire: WireCall | None = field(default=None, repr=False)
    tool: ToolCall | None = field(default=None, repr=False)

    @property
    def delivered(self) -> bool:
        """Whether the service may have acted on it (went through, or failed too late to know)."""
        return self.fault is None or self.fault.may_have_executed


@dataclass(frozen=True)
class Injection:
    """A fault that fired: which rule, what, when (virtual seconds since the plan started),
    against which request (redacted), and on the rule's how-many-th matching attempt."""

    rule: Rule
    fault: Fault
    at: float
    request: str
    attempt: int

    @property
    def target(self) -> Target:
        return self.rule.target

    def describe(self) -> str:
        return (
            f"{self.fault.describe()} at t={self.at:g}s on {self.request} (attempt {self.attempt})"
        )


@dataclass(frozen=True)
class Duplicate:
    """A side-effecting tool call that reached the service more than once.

    ``attempts`` are the deliveries, in order; a read timeout or a connection reset after
    sending counts as delivered, because the caller cannot know it was not.
    """

    slug: str
    user_id: str | None
    arguments: object
    attempts: tuple[Attempt, ...]

    def describe(self) -> str:
        how = ", ".join(
            "ok" if attempt.fault is None else attempt.fault.describe() for attempt in self.attempts
        )
        return (
            f"{self.slug} for user {self.user_id!r} delivered {len(self.attempts)} times ({how}) "
            f"with arguments {json.dumps(self.arguments, sort_keys=True, default=str)}"
        )


class FaultPlan:
    """The rules of one test and everything they saw (the ``crs_faults`` fixture is one).

    ``seed`` seeds the probabilistic steps (each rule draws from its own generator, so adding a
    rule does not change what another one does). ``clock`` defaults to crs's clock at each use,
    which is virtual under the ``crs_clock`` fixture. ``read_only(app, action)`` decides which
    tool calls have no side effects (default: by verb, as the adapter decides); only the others
    can be duplicates.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: Clock | None = None,
        read_only: Callable[[str, str], bool] = looks_read_only,
        strict: bool = True,
    ) -> None:
        self.seed = seed
        self.strict = strict
        self._clock = clock
        self._read_only = read_only
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._attempts: list[Attempt] = []
        self._injected: list[Injection] = []
        self._start = resolve_clock(clock).monotonic()

    # -- defining ----------------------------------------------------------------------------

    def on(self, target: Target, schedule: Fault | Schedule, *, strict: bool = True) -> Rule:
        """Add a rule: ``schedule`` (or a bare fault: fail the next attempt) for ``target``.

        Faults that make no sense for the target (``tool_failure`` on an LLM call, a cut stream
        on a tool) are refused here, with a ``ConfigError`` naming both.
        """
        if not isinstance(target, Target):
            raise ConfigError(
                f"on() needs a target such as llm(), tool('SLUG') or http(host=...), got {target!r}"
            )
        chosen = as_schedule(schedule)
        for fault in chosen.faults:
            if target.kind is TargetKind.TOOL and fault.wire_only:
                raise ConfigError(
                    f"{fault.describe()} cannot happen to {target.describe()}: tool calls do not "
                    "stream",
                    hint="cut streams of llm() calls instead",
                )
            check_applicable(fault, target.api)
        with self._lock:
            rule = Rule(len(self._rules), target, chosen, strict=strict, seed=self.seed)
            self._rules.append(rule)
        return rule

    # -- deciding ----------------------------------------------------------------------------

    def decide(self, call: WireCall) -> Decision | None:
        """The :class:`WireGate` answer for an HTTP request."""
        tool_call = tool_call_of(call)
        request = redact_secrets(call.describe())
        with self._lock:
            fault = self._pick(request, lambda target: target.matches(call))
            self._attempts.append(Attempt(self._elapsed(), request, fault, call, tool_call))
        if fault is None:
            return None
        return render(fault, call, now=resolve_clock(self._clock).now())

    def decide_tool(self, call: ToolCall) -> Fault | None:
        """The fault for a Python tool call at the tool seam, or ``None`` to run it."""
        request = f"tool {call.slug} for user {call.user_id!r}"
        with self._lock:
            fault = self._pick(request, lambda target: target.matches_tool(call))
            self._attempts.append(Attempt(self._elapsed(), request, fault, None, call))
        return fault

    def _pick(self, request: str, matches: Callable[[Target], bool]) -> Fault | None:
        elapsed = self._elapsed()
        for rule in self._rules:
            if not matches(rule.target):
                continue
            fault = rule._next(elapsed)
            if fault is not None:
                self._injected.append(Injection(rule, fault, elapsed, request, rule.matched))
                return fault
        return None

    def _elapsed(self) -> float:
        return resolve_clock(self._clock).monotonic() - self._start

    # -- looking back ------------------------------------------------------------------------

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    @property
    def injected(self) -> list[Injection]:
        """Every fault that fired, in order."""
        with self._lock:
            return list(self._injected)

    @property
    def calls(self) -> list[Attempt]:
        """Every attempt seen, faulted or not, in order."""
        with self._lock:
            return list(self._attempts)

    def attempts(self, target: Target | None = None) -> int:
        """How many attempts ``target`` matched (all attempts when ``None``), faulted or not."""
        if target is None:
            return len(self.calls)
        return sum(1 for attempt in self.calls if _attempt_matches(target, attempt))

    @property
    def duplicates(self) -> list[Duplicate]:
        """Side-effecting tool calls (same tool, user and arguments) delivered more than once."""
        groups: dict[tuple[str, str | None, str], list[Attempt]] = {}
        for attempt in self.calls:
            call = attempt.tool
            if call is None or not attempt.delivered or self._read_only(call.app, call.action):
                continue
            arguments = json.dumps(call.arguments, sort_keys=True, default=repr)
            groups.setdefault((call.slug, call.user_id, arguments), []).append(attempt)
        return [
            Duplicate(slug, user, redact_data(json.loads(arguments)), tuple(attempts))
            for (slug, user, arguments), attempts in groups.items()
            if len(attempts) > 1
        ]

    def unfired(self) -> list[Rule]:
        """Strict rules that never fired: the failure path they were written for never ran."""
        with self._lock:
            return [rule for rule in self._rules if rule.strict and rule.fired == 0]

    def problems(self) -> list[str]:
        """What strict teardown reports (nothing when the plan is not strict)."""
        if not self.strict:
            return []
        return [
            f"the rule {rule.describe()} never fired (it matched {rule.matched} attempt(s))"
            for rule in self.unfired()
        ]

    def __repr__(self) -> str:
        with self._lock:
            return (
                f"<FaultPlan rules={len(self._rules)} attempts={len(self._attempts)} "
                f"injected={len(self._injected)}>"
            )


def _attempt_matches(target: Target, attempt: Attempt) -> bool:
    if attempt.wire is not None:
        return target.matches(attempt.wire)
    return attempt.tool is not None and target.matches_tool(attempt.tool)

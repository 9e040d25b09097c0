"""Faults, fault schedules and fault-plan recipes for ``crs_faults`` and the property checks."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from hypothesis import strategies as st

from crs.clock import Clock
from crs.errors import ConfigError
from crs.tools._actions import looks_read_only
from pytest_crs._strategies._options import choose, choose_kinds, quarter_seconds, seconds_option
from pytest_crs.faults import (
    Fault,
    FaultKind,
    FaultPlan,
    Schedule,
    Target,
    auth_expired,
    connection_reset,
    fail,
    latency,
    rate_limit,
    server_error,
    stream_cut,
    succeed,
    timeout,
    tool,
    tool_failure,
)
from pytest_crs.faults._targets import TargetKind

_FORMS: Final = ("seconds", "ms", "http-date", "none")


def faults(
    kinds: Iterable[FaultKind | str] | None = None,
    *,
    target: Target | None = None,
    max_retry_after: float = 60.0,
    retry_after_forms: Iterable[str] | None = None,
    max_latency: float = 5.0,
) -> st.SearchStrategy[Fault]:
    """Single faults, as ``crs_faults`` injects them, with realistic parameters.

    Args:
        kinds: which :class:`~pytest_crs.faults.FaultKind` s (names or members). The default is
            every kind that makes sense for ``target``, except ``stream_cut`` (retry policies do
            not see cut streams; ask for it by name).
        target: the target the faults are for. Tool targets also get Composio's tool-only
            shapes (``tool_failure``, expired connected accounts, 401-in-200, the header-less
            10429); LLM and HTTP targets, and ``None``, get only what every API can produce.
        max_retry_after: the longest Retry-After a 429 announces (drawn in quarter seconds).
        retry_after_forms: how 429s announce the wait: some of ``"seconds"``, ``"ms"``,
            ``"http-date"`` (whole seconds) and ``"none"`` (default: all).
        max_latency: the longest ``latency()`` fault.
    """
    tools = target is not None and target.kind is TargetKind.TOOL
    default: set[FaultKind] = {kind for kind in FaultKind if kind is not FaultKind.STREAM_CUT}
    if not tools:
        default.discard(FaultKind.TOOL_FAILURE)
    chosen = choose_kinds(kinds, default)
    if tools and FaultKind.STREAM_CUT in chosen:
        raise ConfigError("faults(kinds=...): tool calls do not stream, so stream_cut cannot apply")
    if not tools and FaultKind.TOOL_FAILURE in chosen and target is not None:
        raise ConfigError(f"faults(kinds=...): tool_failure cannot happen to {target.describe()}")
    wait_limit = seconds_option(max_retry_after, "max_retry_after")
    latency_limit = seconds_option(max_latency, "max_latency")
    forms = choose(retry_after_forms, _FORMS, "retry_after_forms")

    options: list[st.SearchStrategy[Fault]] = []
    if FaultKind.RATE_LIMIT in chosen:
        options.append(_rate_limits(forms, wait_limit, composio=tools))
    if FaultKind.SERVER_ERROR in chosen:
        options.append(st.sampled_from((500, 502, 503, 504)).map(server_error))
    if FaultKind.TIMEOUT in chosen:
        options.append(st.sampled_from(("connect", "read")).map(timeout))
    if FaultKind.CONNECTION_RESET in chosen:
        options.append(st.booleans().map(lambda after: connection_reset(after_send=after)))
    if FaultKind.LATENCY in chosen:
        options.append(quarter_seconds(latency_limit).map(latency))
    if FaultKind.AUTH_EXPIRED in chosen:
        auth_forms = ("401", "expired-account", "401-in-200") if tools else ("401",)
        options.append(st.sampled_from(auth_forms).map(auth_expired))
    if FaultKind.TOOL_FAILURE in chosen:
        messages = st.sampled_from(
            (
                "Issue creation failed: repository is archived",
                "The channel was not found",
                "Rate limit exceeded on the provider side",
                "Invalid recipient address",
            )
        )
        options.append(messages.map(tool_failure))
    if FaultKind.STREAM_CUT in chosen:
        options.append(st.integers(0, 5).map(stream_cut))
    return st.one_of(options)


def _rate_limits(forms: Sequence[str], limit: float, *, composio: bool) -> st.SearchStrategy[Fault]:
    @st.composite
    def build(draw: st.DrawFn) -> Fault:
        if composio and draw(st.integers(0, 5)) == 5:  # shrinks to the documented shape
            return rate_limit(None, form="none", shape="composio-10429")
        form = draw(st.sampled_from(forms))
        if form == "none":
            return rate_limit(None, form="none")
        if form == "http-date":
            wait = float(draw(st.integers(0, max(0, math.floor(limit)))))
        else:
            wait = draw(quarter_seconds(limit))
        return rate_limit(wait, form=form)

    return build()


def fault_schedules(
    faults: st.SearchStrategy[Fault] | Iterable[Fault | FaultKind | str] | None = None,
    *,
    min_faults: int = 0,
    max_faults: int = 3,
    finite: bool = True,
    target: Target | None = None,
) -> st.SearchStrategy[Schedule]:
    """Schedules of faults for one target: ``fail(a).times(2).then(fail(b)).then(succeed())``.

    A finite schedule (the default) fails between ``min_faults`` and ``max_faults`` attempts in
    a row and then lets every attempt through, so a policy allowing more attempts than it has
    faults must succeed. With ``finite=False`` the schedule may instead end failing forever
    (``.always()``), every k-th attempt (``.every(k)``) or at random (``.with_probability(p)``,
    seeded by the plan): what a policy's stop conditions are for.

    Args:
        faults: a strategy of faults, or the faults / kinds to choose from (default:
            :func:`faults` for ``target``).
        min_faults: the fewest failing attempts before the schedule ends.
        max_faults: the most failing attempts before the schedule ends.
        finite: whether every schedule ends in success.
        target: what the faults are for (only used for the default ``faults``).
    """
    if isinstance(min_faults, bool) or not isinstance(min_faults, int) or min_faults < 0:
        raise ConfigError(
            f"fault_schedules(min_faults=...) must be an int >= 0, got {min_faults!r}"
        )
    if isinstance(max_faults, bool) or not isinstance(max_faults, int) or max_faults < min_faults:
        raise ConfigError(
            f"fault_schedules(max_faults=...) must be an int >= min_faults={min_faults}, "
            f"got {max_faults!r}"
        )
    source = _fault_source(faults, target)

    @st.composite
    def build(draw: st.DrawFn) -> Schedule:
        remaining = draw(st.integers(min_faults, max_faults))
        runs: list[tuple[Fault, int]] = []
        while remaining:
            count = draw(st.integers(1, remaining))
            remaining -= count
            fault = draw(source)
            if runs and runs[-1][0] == fault:  # fail(a).times(2), not fail(a).then(fail(a))
                count += runs.pop()[1]
            runs.append((fault, count))
        ending = succeed()
        if not finite:
            ending = draw(
                st.one_of(
                    st.just(succeed()),
                    source.map(lambda f: fail(f).always()),
                    st.tuples(source, st.integers(2, 4)).map(lambda p: fail(p[0]).every(p[1])),
                    st.tuples(source, st.sampled_from((0.25, 0.5, 0.75))).map(
                        lambda p: fail(p[0]).with_probability(p[1])
                    ),
                )
            )
        schedule: Schedule | None = None
        for fault, count in runs:
            step = fail(fault).times(count)
            schedule = step if schedule is None else schedule.then(step)
        return ending if schedule is None else schedule.then(ending)

    return build()


def _fault_source(
    given: st.SearchStrategy[Fault] | Iterable[Fault | FaultKind | str] | None,
    target: Target | None,
) -> st.SearchStrategy[Fault]:
    if given is None:
        return faults(target=target)
    if isinstance(given, st.SearchStrategy):
        return given
    items = list(given)
    if not items:
        raise ConfigError("faults=... is empty: a schedule needs something to fail with")
    if all(isinstance(item, Fault) for item in items):
        return st.sampled_from([item for item in items if isinstance(item, Fault)])
    if any(isinstance(item, Fault) for item in items):
        raise ConfigError("faults=... mixes Fault values and kind names; pass one or the other")
    return faults([item for item in items if not isinstance(item, Fault)], target=target)


@dataclass(frozen=True)
class FaultRecipe:
    """The rules of a fault plan, as a value: build a fresh :class:`FaultPlan` per example.

    A plan is stateful (it counts attempts and remembers what fired), so a strategy cannot hand
    out plans; it hands out recipes, which print, shrink and replay like any value.
    """

    rules: tuple[tuple[Target, Schedule], ...]
    seed: int = 0

    def build(
        self,
        *,
        clock: Clock | None = None,
        strict: bool = False,
        read_only: Callable[[str, str], bool] = looks_read_only,
    ) -> FaultPlan:
        """A new plan with these rules (not strict by default: a drawn rule may never fire)."""
        plan = FaultPlan(seed=self.seed, clock=clock, read_only=read_only, strict=strict)
        self.apply(plan, strict=strict)
        return plan

    def apply(self, plan: FaultPlan, *, strict: bool = False) -> FaultPlan:
        """Add the rules to an existing plan (such as the ``crs_faults`` fixture); returns it."""
        for target, schedule in self.rules:
            plan.on(target, schedule, strict=strict)
        return plan

    @property
    def targets(self) -> tuple[Target, ...]:
        return tuple(target for target, _ in self.rules)

    def describe(self) -> str:
        rules = "".join(f".on({t.describe()}, {s.describe()})" for t, s in self.rules)
        return f"FaultPlan(seed={self.seed}){rules}"

    def __repr__(self) -> str:
        return self.describe()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """How Hypothesis prints a falsifying example: as the user would write the plan."""
        del cycle  # a value never contains itself
        printer.text(self.describe())


def fault_plans(
    target: Target | Sequence[Target] | None = None,
    *,
    faults: st.SearchStrategy[Fault] | Iterable[Fault | FaultKind | str] | None = None,
    min_faults: int = 0,
    max_faults: int = 3,
    finite: bool = True,
) -> st.SearchStrategy[FaultRecipe]:
    """Recipes for fault plans: one rule per target, each with a drawn schedule.

    ``recipe.build(clock=...)`` makes the plan; ``recipe.apply(crs_faults)`` adds the rules to
    the fixture's. The seed (for ``with_probability`` steps) is drawn too, so a failure replays.

    Args:
        target: a target or several (default: ``tool()``, every tool call).
        faults: as for :func:`fault_schedules` (default: :func:`faults` for each target).
        min_faults: the fewest failing attempts per rule before its schedule ends.
        max_faults: the most failing attempts per rule before its schedule ends.
        finite: whether every rule ends in success.
    """
    targets: tuple[Target, ...]
    if target is None:
        targets = (tool(),)
    elif isinstance(target, Target):
        targets = (target,)
    else:
        targets = tuple(target)
    if not targets or not all(isinstance(t, Target) for t in targets):
        raise ConfigError(
            f"fault_plans(target=...) needs llm(), tool() or http() targets, got {target!r}"
        )
    schedules = [
        fault_schedules(
            faults,
            min_faults=min_faults,
            max_faults=max_faults,
            finite=finite,
            target=t,
        )
        for t in targets
    ]
    return st.builds(
        lambda drawn, seed: FaultRecipe(tuple(zip(targets, drawn, strict=True)), seed),
        st.tuples(*schedules),
        st.integers(0, 2**16),
    )

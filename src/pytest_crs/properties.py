"""Property checks for retry policies: one call, hundreds of fault schedules, six promises.

A retry policy is correct when it keeps a handful of promises under *every* sequence of
failures, not just the three a test author wrote down. :func:`check_retry_policy` runs the
caller's policy under Hypothesis: each example draws a fault schedule, runs the policy on a
fresh :class:`~crs.clock.VirtualClock` (so minutes of backoff take microseconds) against a fresh
:class:`~pytest_crs.faults.FaultPlan`, and judges what happened:

``max_attempts``
    No more than ``max_attempts`` attempts (and never an endless loop: the checker stops a
    policy that keeps going, and reports it).
``budget``
    The time spent between attempts (everything but the time inside attempts, i.e. injected
    latency) stays within ``budget`` seconds.
``non_retryable``
    A failure retrying cannot fix is never retried: an expired or rejected credential
    (``auth_expired`` in every form: 401, Composio's expired account, 401-in-200) and, by
    default, a tool that answered ``successful: false`` (``tool_failure``: the tool ran and said
    no; asking again repeats whatever it did and gets the same answer). Change the set with
    ``non_retryable=``.
``retry_after``
    After a failure that announced a wait (a 429's ``Retry-After``), the next attempt starts no
    sooner than that wait after the failure — when the wait is at most ``max_retry_after``
    (longer ones may be given up on, or capped).
``no_duplicates``
    With ``idempotent=False``: no attempt follows a failure that may have reached the service
    (read timeout, reset after sending, 5xx) or a success, and the plan saw no side-effecting
    tool call delivered twice (``FaultPlan.duplicates``).
``eventual_success``
    A policy that promises ``min_attempts`` (default ``max_attempts``) attempts does not give
    up before making them while every failure so far was retryable (and safe to retry), any
    announced wait was within ``max_retry_after`` and ``budget``; when the operation succeeds,
    ``call`` returns exactly its value (or a crs ``RetryRun`` holding it); and a policy never
    raises after the operation succeeded nor returns a value of its own while the operation was
    still failing retryably.

A broken promise raises :class:`PropertyViolation` (an ``AssertionError``) naming the property,
the fault schedule, every attempt with its virtual timestamps, the sleeps and the outcome;
Hypothesis shrinks it to the smallest schedule that breaks it first.

Two modes:

*Operation mode* (no ``target``): ``call(op)`` runs the policy around ``op``, a zero-argument
function (``async`` when ``call`` is) making *one attempt* of a logical operation. Each attempt
asks the plan (as a tool call) and raises the fault as an exception — ``error_style="crs"``:
:class:`~pytest_crs.faults.InjectedFault` (carrying crs's classification, ``status_code`` and a
``retry-after`` header); ``"openai"``: the exception the openai SDK raises for that failure on
the wire (``RateLimitError`` from the exact 429 response with its headers, ``APITimeoutError``
from an ``httpx2`` timeout, ...). Latency passes virtual time; ``tool_failure`` returns
Composio's ``successful: false`` envelope; otherwise ``op()`` returns a success envelope.
Works with crs ``RetryPolicy.run/call/arun``, tenacity, stamina or hand-written loops.

*Wire mode* (``target=llm()`` / ``tool(...)`` / ``http(...)``): ``call()`` takes no argument and
makes one real SDK call (e.g. ``client.chat.completions.create(...)`` on an openai client with
an ``httpx2.MockTransport``, or against a loopback server); faults are injected into its HTTP
requests by :func:`~pytest_crs.faults._transport.faulty_transports`, in their exact wire form,
so the SDK's *built-in* retries are what is checked. Attempts are the requests ``target``
matched.

Each example runs inside :func:`crs._virtual_time.virtual_time`, which makes crs's clock,
tenacity's, stamina's and the openai SDK's sleeps and readings virtual and runs ``asyncio.run``
on a virtual-time loop. It does not nest: do not call this from a test that already has a
virtual-time block active (the ``crs_clock`` / ``crs_faults`` fixtures), nor from inside an
``@given`` test or a running event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import hypothesis
from hypothesis import strategies as st

from pytest_crs._properties._config import Config, Drawn, fault_strategy
from pytest_crs._properties._model import (
    DEFAULT_NON_RETRYABLE,
    AttemptRecord,
    ErrorStyle,
    Example,
    FaultSpec,
    Property,
    PropertyViolation,
)
from pytest_crs._properties._run import openai_errors, run_one_example
from pytest_crs.faults import Fault, FaultKind, Target
from pytest_crs.faults._targets import ToolCall

__all__ = [
    "DEFAULT_NON_RETRYABLE",
    "AttemptRecord",
    "Example",
    "Property",
    "PropertyViolation",
    "check_retry_policy",
]

# ---------------------------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------------------------


def check_retry_policy(
    call: Callable[..., Any],
    *,
    faults: st.SearchStrategy[FaultSpec] | FaultSpec | Fault | None = None,
    target: Target | None = None,
    tool_call: ToolCall | None = None,
    max_attempts: int | None = None,
    min_attempts: int | None = None,
    budget: float | None = None,
    idempotent: bool = True,
    max_retry_after: float = 60.0,
    non_retryable: Iterable[FaultKind | str] = DEFAULT_NON_RETRYABLE,
    is_async: bool | None = None,
    error_style: ErrorStyle = "crs",
    skip: Iterable[Property | str] = (),
    settings: hypothesis.settings | None = None,
    attempt_limit: int = 100,
    modules: Iterable[ModuleType | str] = (),
) -> None:
    """Check a retry policy's promises under Hypothesis-generated fault schedules.

    Raises :class:`PropertyViolation` (after shrinking) for the first example that breaks one;
    returns ``None`` when every example keeps them all. See the module docstring for the
    properties and the two modes.

    Args:
        call: operation mode: ``call(op)`` runs the policy around ``op`` and returns its value;
            wire mode (``target`` given): ``call()`` makes one SDK call. May be ``async``.
        faults: a strategy of :class:`~pytest_crs.faults.Schedule` s (for the attempts'
            target) or of :class:`~pytest_crs.strategies.FaultRecipe` s, or one fixed schedule
            or fault. Default: finite schedules of up to ``max_attempts + 1`` faults from
            :func:`~pytest_crs.strategies.faults` (Retry-After up to 1.5 x ``max_retry_after``).
        target: wire mode's target: which requests are the attempts.
        tool_call: operation mode: the tool call each attempt is, for the plan (default: a
            side-effecting ``CRS_PROPERTY_CHECK``).
        max_attempts: the most attempts allowed (``None``: only endless loops are caught).
        min_attempts: the attempts the policy promises before giving up on retryable failures
            (default: ``max_attempts``; neither: ``eventual_success`` only checks values).
        budget: the most virtual seconds spent between attempts (``None``: unchecked).
        idempotent: whether the operation may safely run twice; ``False`` checks
            ``no_duplicates`` and makes ambiguous failures non-retryable.
        max_retry_after: announced waits up to this long must be honoured, and may not be a
            reason to give up.
        non_retryable: fault kinds that must never be retried.
        is_async: whether ``call`` is a coroutine function (default: detected).
        error_style: operation mode: ``"crs"`` or ``"openai"`` exceptions (module docstring).
        skip: properties not to check.
        settings: Hypothesis settings (default: the current profile with ``deadline=None``).
        attempt_limit: attempts after which a policy without ``max_attempts`` is stopped and
            reported as endless.
        modules: more modules whose ``time`` is made virtual (see ``virtual_time``).
    """
    config = Config.build(
        call=call,
        target=target,
        tool_call=tool_call,
        max_attempts=max_attempts,
        min_attempts=min_attempts,
        budget=budget,
        idempotent=idempotent,
        max_retry_after=max_retry_after,
        non_retryable=non_retryable,
        is_async=is_async,
        error_style=error_style,
        skip=skip,
        attempt_limit=attempt_limit,
        modules=modules,
    )
    strategy = fault_strategy(faults, config)
    chosen = settings if settings is not None else hypothesis.settings(deadline=None)
    with openai_errors(config) as errors:

        def run_example(faults: Drawn) -> None:  # named so a failure prints "faults=..."
            run_one_example(config, faults.spec, errors)

        # Examples of different checks must not replay each other's failures from the database.
        # (Hypothesis's own hook for this, as pytest.mark.parametrize uses; without it, checks of
        # different calls would merely share a database key.)
        digest = repr(
            (
                getattr(call, "__module__", None),
                getattr(call, "__qualname__", type(call).__qualname__),
                config.target,
                config.error_style,
            )
        )
        run_example.__dict__["_hypothesis_internal_add_digest"] = digest.encode()
        given = hypothesis.given(strategy.map(Drawn.of))
        hypothesis.settings(chosen)(given(run_example))()

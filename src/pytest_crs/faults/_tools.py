"""Faults for Python tools: the fault plan at the adapter's tool seam.

A Python tool has no wire, so a fault cannot be an HTTP response. It becomes what the tool's
caller would see from a real failure of that kind: an :class:`InjectedFault` exception carrying
the same :class:`~crs.resilience.Classification` the resilience kit would give the real error
(a 429 with its Retry-After, a 503, a read timeout that may have executed, ...), a
``successful: false`` result for ``tool_failure``, or a virtual-time wait for ``latency``. So
the adapter's retry policy, rate limiter and breaker react exactly as they would in production.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from crs.resilience import Classification, ErrorType
from crs.tools import CallableBackend, ToolBackend
from crs.tools._result import ToolResult
from pytest_crs.faults._kinds import AuthForm, Fault, FaultKind, TimeoutPhase
from pytest_crs.faults._latency import await_time, pass_time
from pytest_crs.faults._plan import FaultPlan
from pytest_crs.faults._targets import ToolCall

__all__ = ["FaultSeam", "InjectedFault"]


class InjectedFault(Exception):
    """A failure ``crs_faults`` injected into a Python tool call.

    ``classification`` is what :func:`crs.resilience.classify` reports for it (it honours the
    attribute), ``fault`` the fault that fired. ``status_code`` and ``headers`` mirror an HTTP
    error's, for retry code that reads those instead.
    """

    def __init__(self, fault: Fault, classification: Classification, message: str) -> None:
        super().__init__(message)
        self.fault = fault
        self.classification = classification
        self.status_code = classification.status
        self.headers: dict[str, str] = {}
        if classification.retry_after is not None:
            self.headers["retry-after"] = f"{classification.retry_after:g}"


def injected_error(fault: Fault, slug: str) -> InjectedFault:
    """The exception a Python tool raises for ``fault`` (not for latency or tool_failure)."""
    kind, retryable, status = _VERDICTS[fault.kind]
    if fault.kind is FaultKind.SERVER_ERROR:
        status = fault.status
    if fault.kind is FaultKind.TIMEOUT and fault.phase == TimeoutPhase.CONNECT.value:
        detail = "connect timeout"
    elif fault.kind is FaultKind.AUTH_EXPIRED and fault.form == AuthForm.EXPIRED_ACCOUNT.value:
        detail = "connected account expired"
    else:
        detail = fault.kind.value.replace("_", " ")
    verdict = Classification(
        kind=kind,
        retryable=retryable,
        retry_after=fault.retry_after if fault.kind is FaultKind.RATE_LIMIT else None,
        status=status,
        detail=f"{detail} (injected by crs_faults)",
        may_have_executed=fault.may_have_executed,
    )
    return InjectedFault(fault, verdict, f"{slug}: {fault.describe()} injected by crs_faults")


_VERDICTS: Mapping[FaultKind, tuple[ErrorType, bool, int | None]] = {
    FaultKind.RATE_LIMIT: (ErrorType.RATE_LIMIT, True, 429),
    FaultKind.SERVER_ERROR: (ErrorType.SERVER, True, 503),
    FaultKind.TIMEOUT: (ErrorType.TIMEOUT, True, None),
    FaultKind.CONNECTION_RESET: (ErrorType.CONNECTION, True, None),
    FaultKind.AUTH_EXPIRED: (ErrorType.AUTH, False, 401),
}


class FaultSeam:
    """The tool seam (see :mod:`crs.tools._seam`) that asks a :class:`FaultPlan` first."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan

    def handles(self, backend: ToolBackend) -> bool:
        # Composio backends are faulted on their wire; only Python tools need the seam.
        return isinstance(backend, CallableBackend)

    def execute(
        self,
        app: str,
        action: str,
        params: Mapping[str, Any],
        user_id: str,
        run: Callable[[], ToolResult],
    ) -> ToolResult:
        call = _tool_call(app, action, params, user_id)
        fault = self.plan.decide_tool(call)
        if fault is None:
            return run()
        if fault.kind is FaultKind.LATENCY:
            pass_time(fault.seconds)
            return run()
        return _outcome(fault, call)

    async def aexecute(
        self,
        app: str,
        action: str,
        params: Mapping[str, Any],
        user_id: str,
        run: Callable[[], Awaitable[ToolResult]],
    ) -> ToolResult:
        call = _tool_call(app, action, params, user_id)
        fault = self.plan.decide_tool(call)
        if fault is None:
            return await run()
        if fault.kind is FaultKind.LATENCY:
            await await_time(fault.seconds)
            return await run()
        return _outcome(fault, call)


def _outcome(fault: Fault, call: ToolCall) -> ToolResult:
    if fault.kind is FaultKind.TOOL_FAILURE:
        body = {"data": {}, "error": fault.error, "successful": False}
        return ToolResult.from_composio(body)
    raise injected_error(fault, call.slug)


def _tool_call(app: str, action: str, params: Mapping[str, Any], user_id: str) -> ToolCall:
    prefix = f"{app.upper()}_"
    slug = action.upper() if action.upper().startswith(prefix) else prefix + action.upper()
    return ToolCall(
        slug=slug, app=app.lower(), action=action, arguments=dict(params), user_id=user_id
    )

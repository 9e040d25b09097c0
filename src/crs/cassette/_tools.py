"""Recording and replaying users' own Python tools, at the adapter's seam.

A Python tool has no HTTP to intercept, so calls the adapter makes to a ``CallableBackend`` are
kept as ``tool`` interactions in the same cassette as the LLM and HTTP traffic: app, action,
user and parameters; and the result (``successful``, ``data``, ``error``) or the exception the
tool raised. A replayed exception is a :class:`RecordedToolError` carrying the original's
classification, so retry policies, breakers and analytics react exactly as they did live.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from crs.cassette._cassette import Cassette
from crs.clock import resolve_clock
from crs.errors import CassetteError, CrsError
from crs.resilience import Classification, classify
from crs.store._codec import json_field_problem
from crs.tools import CallableBackend, ToolBackend, ToolResult

__all__ = ["RecordedToolError", "ToolRecorder"]


class RecordedToolError(CrsError):
    """A tool raised this when it was recorded; replay raises it again, classified the same."""

    def __init__(self, type_name: str, message: str, classification: Classification) -> None:
        super().__init__(f"{type_name}: {message} (replayed from a cassette)")
        self.type_name = type_name
        self.classification = classification


class ToolRecorder:
    """The tool seam of one cassette (see :mod:`crs.tools._seam`)."""

    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette

    def handles(self, backend: ToolBackend) -> bool:
        return isinstance(backend, CallableBackend)

    def execute(
        self,
        app: str,
        action: str,
        params: Mapping[str, Any],
        user_id: str,
        run: Callable[[], ToolResult],
    ) -> ToolResult:
        request = _request(app, action, params, user_id)
        answer = self._replayed(request)
        if answer is not None:
            return answer
        started = resolve_clock(None).monotonic()
        try:
            result = run()
        except Exception as exc:
            self._record(request, _raised(exc), started)
            raise
        self._record(request, _returned(result), started)
        return result

    async def aexecute(
        self,
        app: str,
        action: str,
        params: Mapping[str, Any],
        user_id: str,
        run: Callable[[], Awaitable[ToolResult]],
    ) -> ToolResult:
        request = _request(app, action, params, user_id)
        answer = self._replayed(request)
        if answer is not None:
            return answer
        started = resolve_clock(None).monotonic()
        try:
            result = await run()
        except Exception as exc:
            self._record(request, _raised(exc), started)
            raise
        self._record(request, _returned(result), started)
        return result

    def _replayed(self, request: dict[str, Any]) -> ToolResult | None:
        """The recorded answer; ``None`` when the call must go live; raises when it may not."""
        found = self.cassette.find("tool", request)
        if found is not None:
            return _replay(found["response"])
        if not self.cassette.can_record:
            raise self.cassette.unmatched(
                f"tool call {request['app']} {request['action']} for user "
                f"{request['user_id']!r} with params {request['params']!r}"
            )
        return None

    def _record(self, request: dict[str, Any], response: dict[str, Any], started: float) -> None:
        problem = json_field_problem(response)
        if problem is not None:
            raise CassetteError(
                f"tool {request['app']} {request['action']} returned data a cassette cannot "
                f"hold exactly ({problem})",
                path=str(self.cassette.path),
                hint="return JSON-compatible data (dicts, lists, str, numbers, bool, None)",
            ) from problem
        outcome = "ok" if response["successful"] else f"failed: {response.get('error')}"
        self.cassette.record(
            {
                "kind": "tool",
                "summary": f"{request['app']} {request['action']}: {outcome}",
                "duration_ms": round((resolve_clock(None).monotonic() - started) * 1000, 3),
                "request": request,
                "response": response,
            }
        )


def _request(app: str, action: str, params: Mapping[str, Any], user_id: str) -> dict[str, Any]:
    return {"app": app, "action": action, "user_id": user_id, "params": dict(params)}


def _returned(result: ToolResult) -> dict[str, Any]:
    return {
        "successful": result.successful,
        "data": result.data,
        "error": result.error,
        "failure": None if result.failure is None else result.failure.to_json(),
    }


def _raised(exc: Exception) -> dict[str, Any]:
    return {
        "successful": False,
        "data": None,
        "error": str(exc),
        "raised": {"type": type(exc).__name__, "classification": classify(exc).to_json()},
    }


def _replay(response: Mapping[str, Any]) -> ToolResult:
    raised = response.get("raised")
    if isinstance(raised, Mapping):
        raise RecordedToolError(
            str(raised.get("type", "Exception")),
            str(response.get("error", "")),
            Classification.from_json(raised["classification"]),
        )
    failure = response.get("failure")
    return ToolResult(
        bool(response["successful"]),
        response.get("data"),
        response.get("error"),
        response.get("data"),
        None if failure is None else Classification.from_json(failure),
    )

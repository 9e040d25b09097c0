"""The control API under ``/_sandbox``: faults, scripts, accounts, reset and the request log.

Everything a Python test does through :class:`~crs.sandbox.Sandbox` methods is also reachable
over HTTP, so tests written in any language (or a curl session against ``crs sandbox``) can
script the model, break the next request, or expire a credential. The control API has no
authentication: it listens on loopback only, like the rest of the sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crs.errors import CrsError
from crs.sandbox._faults import FaultRule, build_rule
from crs.sandbox._http import BadRequest, json_response, read_json_object
from crs.sandbox._model import AssistantTurn, ToolCall
from crs.sandbox._state import SandboxState

__all__ = ["routes", "rule_json", "turn_from_json"]


def routes(state: SandboxState) -> list[BaseRoute]:
    """The ``/_sandbox`` routes, bound to ``state``."""

    async def add_fault(request: Request) -> Response:
        body = await read_json_object(request)
        options = dict(body)
        kind = options.pop("kind", None)
        if not isinstance(kind, str):
            return _refused('the fault needs \'kind\', e.g. {"kind": "rate_limit"}')
        try:
            rule = state.faults.add(build_rule(kind, **options))
        except CrsError as exc:
            return _refused(str(exc))
        return json_response(rule_json(rule), 201)

    async def list_faults(_request: Request) -> Response:
        return json_response({"faults": [rule_json(rule) for rule in state.faults.rules()]})

    async def clear_faults(_request: Request) -> Response:
        state.faults.clear()
        return Response(status_code=204)

    async def add_script(request: Request) -> Response:
        body = await read_json_object(request)
        turns, strict = body.get("turns"), body.get("strict", True)
        if not isinstance(turns, list) or not turns:
            return _refused("the script needs 'turns', a non-empty array")
        if not isinstance(strict, bool):
            return _refused(f"'strict' must be true or false, got {strict!r}")
        try:
            parsed = [turn_from_json(turn, f"turns[{i}]") for i, turn in enumerate(turns)]
            state.scripts.add(
                parsed,
                model=body.get("model"),
                session=body.get("session"),
                strict=strict,
            )
        except (CrsError, BadRequest) as exc:
            return _refused(str(exc))
        return json_response({"turns": len(parsed)}, 201)

    async def set_account(request: Request) -> Response:
        body = await read_json_object(request)
        user_id, app = body.get("user_id", "default"), body.get("app")
        status = body.get("status", "ACTIVE")
        if not isinstance(app, str) or not isinstance(user_id, str):
            return _refused("the account needs 'app' (and optionally 'user_id', 'status')")
        try:
            account = state.composio.connect(user_id, app, status=str(status))
        except CrsError as exc:
            return _refused(str(exc))
        return json_response(account, 201)

    async def reset(_request: Request) -> Response:
        state.reset()
        return Response(status_code=204)

    async def requests_log(_request: Request) -> Response:
        with state.lock:
            entries = [asdict(entry) for entry in state.requests]
        return json_response({"requests": entries})

    async def health(_request: Request) -> Response:
        return json_response({"status": "ok"})

    return [
        Route("/_sandbox/faults", add_fault, methods=["POST"]),
        Route("/_sandbox/faults", list_faults, methods=["GET"]),
        Route("/_sandbox/faults", clear_faults, methods=["DELETE"]),
        Route("/_sandbox/scripts", add_script, methods=["POST"]),
        Route("/_sandbox/accounts", set_account, methods=["POST"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/requests", requests_log, methods=["GET"]),
        Route("/_sandbox/health", health, methods=["GET"]),
    ]


def _refused(message: str) -> Response:
    return json_response({"error": {"message": message}}, 400)


def rule_json(rule: FaultRule) -> dict[str, Any]:
    """A fault rule as the control API reports it."""
    return {
        "kind": rule.kind.value,
        "api": rule.api,
        "method": rule.method,
        "path": rule.path,
        "tool": rule.tool,
        "times": rule.times,
        "hits": rule.hits,
        "remaining": rule.remaining,
        "description": rule.describe(),
    }


def turn_from_json(raw: object, where: str) -> AssistantTurn:
    """A scripted turn from JSON: ``"text"``, ``{"text": ...}``, ``{"tool_calls": [...]}``."""
    if isinstance(raw, str):
        return AssistantTurn(text=raw)
    if not isinstance(raw, Mapping):
        raise BadRequest(f"{where} must be a string or an object with 'text' / 'tool_calls'")
    text = raw.get("text")
    if text is not None and not isinstance(text, str):
        raise BadRequest(f"{where}.text must be a string, got {type(text).__name__}")
    calls = raw.get("tool_calls", [])
    if not isinstance(calls, list):
        raise BadRequest(f"{where}.tool_calls must be an array")
    parsed = []
    for index, call in enumerate(calls):
        name = call.get("name") if isinstance(call, Mapping) else None
        if not isinstance(name, str) or not name:
            raise BadRequest(f"{where}.tool_calls[{index}] needs a 'name'")
        arguments = call.get("arguments", {})
        if not isinstance(arguments, str | Mapping):
            raise BadRequest(f"{where}.tool_calls[{index}].arguments must be an object or string")
        call_id = call.get("id")
        parsed.append(ToolCall(name, arguments, id=call_id if isinstance(call_id, str) else None))
    return AssistantTurn(text=text, tool_calls=tuple(parsed))

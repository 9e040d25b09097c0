"""The sandbox's ASGI application: every dialect's routes behind one fault-and-log layer.

The outer layer is plain ASGI rather than Starlette middleware because two faults need the raw
protocol: a *dropped connection* must send headers and then abandon the response, and a *delay*
must hold a request without buffering a streamed reply. It is also where each request is logged
with its parsed body, so a test can see exactly what an SDK sent, retries included.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crs._dialects import RATE_LIMIT_10429, retry_after_headers
from crs.clock import resolve_clock
from crs.errors import CrsError
from crs.sandbox import (
    _composio_api,
    _composio_core_api,
    _control,
    _openai_chat,
    _openai_common,
    _openai_responses,
)
from crs.sandbox._faults import FaultKind, FaultRule
from crs.sandbox._http import ApiFamily, BadRequest, json_response
from crs.sandbox._model import CannotRespond
from crs.sandbox._state import RecordedRequest, SandboxState

__all__ = ["build_app"]

_CONTROL_PREFIX = "/_sandbox"
_UNKNOWN = "unknown"


class DroppedConnection(Exception):
    """Raised after the headers of a ``drop`` fault, so the server closes the connection."""


class _QuietDrops(logging.Filter):
    """Keep deliberate drops out of the server's error log; they are the point, not a bug."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


def build_app(state: SandboxState) -> ASGIApp:
    """The whole sandbox: OpenAI, both Composio generations and the control API."""
    families: list[ApiFamily] = [
        _openai_common.FAMILY,
        _composio_core_api.FAMILY,
        _composio_api.FAMILY,
    ]

    def family_of(path: str) -> ApiFamily | None:
        return next((family for family in families if family.owns(path)), None)

    async def not_served(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        family = family_of(request.url.path)
        message = f"The sandbox does not serve {request.method} {request.url.path}"
        if family is None:
            return json_response({"error": {"message": message, "status": status}}, status)
        return family.error(status, message, code="unknown_url")

    async def refused(request: Request, exc: Exception) -> Response:
        """A malformed request, or one the model cannot answer: a 400 in the path's dialect."""
        if isinstance(exc, BadRequest):
            message, code, param = exc.message, exc.code, exc.param
        else:
            assert isinstance(exc, CannotRespond)
            message, code, param = str(exc), exc.code, None
        family = family_of(request.url.path)
        if family is None:
            return json_response({"error": {"message": message}}, 400)
        return family.error(400, message, code=code, param=param)

    routes = [
        *_openai_chat.routes(state),
        *_openai_responses.routes(state),
        *_composio_core_api.routes(state),
        *_composio_api.routes(state),
        *_control.routes(state),
    ]
    inner = Starlette(
        routes=routes,
        exception_handlers={
            404: not_served,
            405: not_served,
            BadRequest: refused,
            CannotRespond: refused,
        },
    )
    return _FaultsAndLog(inner, state, families)


class _FaultsAndLog:
    """Applies the first matching fault rule to each API request and logs the exchange."""

    def __init__(self, app: ASGIApp, state: SandboxState, families: Sequence[ApiFamily]):
        self._app = app
        self._state = state
        self._families = families

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_CONTROL_PREFIX):
            await self._app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        family = next((f for f in self._families if f.owns(path)), None)
        body = await _read_body(receive)
        rule = None
        if family is not None:
            rule = self._state.faults.take(family.name, method, path, family.tool_slug(path))
        status = 0
        logged = False

        def log() -> None:
            nonlocal logged
            if not logged:
                logged = True
                self._log(family, method, path, status, body, rule)

        async def send_and_log(message: Message) -> None:
            # Log before the last byte goes out, so a client that has its answer can already
            # see its request in the log.
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                log()
            await send(message)

        try:
            response = await self._apply(rule, family) if rule is not None else None
            if response is not None:
                await response(scope, _replay(body, receive), send_and_log)
            elif rule is not None and rule.kind is FaultKind.DROP:
                await send_and_log(_drop_headers())
                log()
                raise DroppedConnection(f"sandbox fault: dropped {method} {path}")
            else:
                await self._app(scope, _replay(body, receive), send_and_log)
        finally:
            log()

    async def _apply(self, rule: FaultRule, family: ApiFamily | None) -> Response | None:
        """The response a fault answers with, or ``None`` when the request goes on (after a
        delay or an account flip) or the connection is to be dropped."""
        assert family is not None
        kind = rule.kind
        if kind is FaultKind.DELAY:
            await resolve_clock(self._state.clock).asleep(rule.seconds)
            return None
        if kind is FaultKind.EXPIRE_ACCOUNT:
            try:
                self._state.composio.expire(rule.user_id, str(rule.app))
            except CrsError as exc:
                return family.error(500, f"sandbox fault 'expire_account' failed: {exc}")
            return None
        if kind is FaultKind.RATE_LIMIT:
            return self._rate_limited(rule, family)
        if kind is FaultKind.SERVER_ERROR:
            message = "The server had an error while processing your request (sandbox fault)."
            return family.error(rule.status, message, code="server_error")
        if kind is FaultKind.UNAUTHORIZED:
            return family.error(401, "Invalid API key (sandbox fault).", code="invalid_api_key")
        if kind is FaultKind.AUTH_ENVELOPE:
            return family.unauthorized_envelope() or family.error(401, "Unauthorized")
        return None

    def _rate_limited(self, rule: FaultRule, family: ApiFamily) -> Response:
        message = "Rate limit reached (sandbox fault). Please try again later."
        if not rule.headers:
            if family.name.startswith("composio"):
                return json_response(dict(RATE_LIMIT_10429), 429)
            return family.error(429, message, code="rate_limit_exceeded")
        wait = rule.retry_after
        now = resolve_clock(self._state.clock).now()
        form = "both" if family.name == "openai" else "seconds"
        headers = retry_after_headers(wait, form, now=now)
        headers.update(family.dialect.quota_headers(wait, now=now))
        return family.error(429, message, code="rate_limit_exceeded", headers=headers)

    def _log(
        self,
        family: ApiFamily | None,
        method: str,
        path: str,
        status: int,
        body: bytes,
        rule: FaultRule | None,
    ) -> None:
        entry = RecordedRequest(
            api=_UNKNOWN if family is None else family.name,
            method=method,
            path=path,
            status=status,
            body=_parsed(body),
            fault=None if rule is None else rule.kind.value,
        )
        with self._state.lock:
            self._state.requests.append(entry)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the buffered body to the app once, then waits on the client."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _drop_headers() -> Message:
    # A length the body never reaches, so the client sees the connection die mid-response.
    return {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
    }


def _parsed(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return body.decode("utf-8", errors="replace")

"""What every API the sandbox speaks has in common: how it names itself and how it fails.

The sandbox serves three wire dialects on one port (OpenAI, composio-core's ``/api/v1``/``v2``
and the current Composio SDK's ``/api/v3.1``). Cross-cutting machinery (authentication faults,
rate-limit faults, the request log) must answer *in the dialect of the request*, or the real SDK
clients under test would not recognise the error. So each dialect is an :class:`ApiFamily` that
knows which paths it owns and how to render an error (the bytes come from :mod:`crs._dialects`),
and the cross-cutting code only ever talks to that interface.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from functools import wraps
from typing import Any, TypeAlias

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crs._dialects import Dialect

__all__ = ["ApiFamily", "BadRequest", "Handler", "guard", "json_response", "read_json_object"]

Handler: TypeAlias = Callable[[Request], Awaitable[Response]]


class ApiFamily:
    """One wire dialect served by the sandbox: a :class:`crs._dialects.Dialect` whose bodies are
    answered as responses. The dialect is shared with fault injection, so the two fail alike."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        #: Stable name used in fault rules, the request log and error messages: ``"openai"``,
        #: ``"composio-core"`` or ``"composio"``.
        self.name = dialect.name

    def owns(self, path: str) -> bool:
        """Whether a request path belongs to this dialect."""
        return self.dialect.owns(path)

    def error(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        param: str | None = None,
    ) -> Response:
        """An error response in this dialect's documented error shape (``param`` names the
        offending request field, where the dialect has a place for it)."""
        body = self.dialect.error_body(status, message, code=code, param=param)
        return json_response(body, status, headers)

    def unauthorized_envelope(self) -> Response | None:
        """A ``200 OK`` whose body reports a 401 (how Composio sometimes fails auth), or ``None``
        when the dialect has no such thing."""
        body = self.dialect.unauthorized_envelope()
        return None if body is None else json_response(body)

    def tool_slug(self, path: str) -> str | None:
        """The tool (action) a request executes, for fault rules that target one tool; ``None``
        for requests that execute nothing."""
        return self.dialect.tool_slug(path)

    def __repr__(self) -> str:
        return f"ApiFamily({self.dialect!r})"


class BadRequest(Exception):
    """A request the sandbox refuses; the route turns it into its dialect's 400."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


def guard(
    family: ApiFamily, problem: Callable[[Request], str | None]
) -> Callable[[Handler], Handler]:
    """Wrap routes so a request ``problem`` refuses (a bad or missing key) gets the family's 401.

    Malformed requests need no wrapping: :class:`BadRequest` propagates to the app's exception
    handler, which answers in the dialect of the path.
    """

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def route(request: Request) -> Response:
            refused = problem(request)
            if refused is not None:
                return family.error(401, refused, code="invalid_api_key")
            return await handler(request)

        return route

    return decorate


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or :class:`BadRequest` naming what is wrong with it."""
    raw = await request.body()
    if not raw:
        raise BadRequest("the request body is empty; expected a JSON object")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest(f"the request body must be a JSON object, got {type(body).__name__}")
    return body


def json_response(
    body: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A compact JSON response (key order kept, so recordings diff cleanly)."""
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))

"""The wire dialects crs speaks: which paths belong to which API, and how each one fails.

Two parts of the project must fail *exactly* like the real services: the sandbox (a server on
loopback) and fault injection (which answers a request before it leaves the client). Both take
their bytes from here, so an injected 429 and a sandbox 429 are the same response, and both are
what the SDKs parse: OpenAI's ``{"error": {"message", "type", "param", "code"}}`` with its
``x-ratelimit-*-requests`` headers, composio-core's flat ``{"message", "code", "slug",
"status"}``, the current Composio API's ``{"error": {...}}``, and Composio's undocumented,
header-less rate limit ``{"code": 10429, "slug": "HTTP_TooManyRequests"}``.

Nothing here needs the sandbox's web framework: fault injection runs where the sandbox extra is
not installed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from email.utils import formatdate
from typing import Any, Final

__all__ = [
    "COMPOSIO",
    "COMPOSIO_CORE",
    "DIALECTS",
    "OPENAI",
    "RATE_LIMIT_10429",
    "ComposioCoreDialect",
    "ComposioDialect",
    "Dialect",
    "OpenAIDialect",
    "composio_error_fields",
    "dialect_of",
    "json_bytes",
    "retry_after_headers",
]

#: Composio's header-less rate-limit body (seen in production, not in its docs).
RATE_LIMIT_10429: Final[Mapping[str, Any]] = {"code": 10429, "slug": "HTTP_TooManyRequests"}

#: The provider's 401 as Composio relays it inside a ``200 OK`` execution result.
_PROVIDER_401 = (
    '{"error":{"code":401,"message":"Request had invalid authentication credentials.",'
    '"status":"UNAUTHENTICATED"}}'
)


def json_bytes(body: object) -> bytes:
    """Compact UTF-8 JSON, key order kept: the bytes a JSON API answers with."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def retry_after_headers(wait: float, form: str, *, now: float) -> dict[str, str]:
    """The headers that announce a ``wait``-second pause, in one of the forms services use.

    ``"seconds"`` is ``Retry-After: <ceil(wait)>``; ``"ms"`` is OpenAI's ``retry-after-ms``
    (which its SDK reads first); ``"both"`` is what OpenAI itself sends; ``"http-date"`` is
    ``Retry-After`` as a date ``wait`` seconds after ``now`` (rounded up to the second, so the
    announced pause is never shorter than ``wait``); ``"none"`` announces nothing.
    """
    if form == "none":
        return {}
    if form == "http-date":
        return {"retry-after": formatdate(math.ceil(now + wait), usegmt=True)}
    headers: dict[str, str] = {}
    if form in ("seconds", "both"):
        headers["retry-after"] = str(math.ceil(wait))
    if form in ("ms", "both"):
        headers["retry-after-ms"] = str(round(wait * 1000))
    if not headers:
        raise ValueError(f"unknown Retry-After form {form!r}")
    return headers


class Dialect:
    """One API's wire conventions. Subclasses fill in the three that differ."""

    #: Stable name used by fault rules, the sandbox's request log and error messages.
    name: str = ""
    _prefixes: tuple[str, ...] = ()

    def owns(self, path: str) -> bool:
        """Whether a request path belongs to this API."""
        return any(path == prefix or path.startswith(f"{prefix}/") for prefix in self._prefixes)

    def error_body(
        self, status: int, message: str, *, code: str | None = None, param: str | None = None
    ) -> dict[str, Any]:
        """An error in the API's documented shape (``param`` names the offending request field,
        where the API has a place for it)."""
        raise NotImplementedError

    def quota_headers(self, wait: float, *, now: float) -> dict[str, str]:
        """The rate-limit state headers a 429 carries besides its Retry-After."""
        raise NotImplementedError

    def unauthorized_envelope(self) -> dict[str, Any] | None:
        """A ``200 OK`` body that reports a 401 (how Composio sometimes fails auth), or ``None``
        when the API has no such thing."""
        return None

    def execution_result(
        self, data: Mapping[str, Any], error: str | None, *, successful: bool, log_id: str | None
    ) -> dict[str, Any] | None:
        """A tool execution's ``200 OK`` body, or ``None`` for APIs that run no tools."""
        del data, error, successful, log_id
        return None

    def tool_slug(self, path: str) -> str | None:
        """The tool a request executes (upper case), or ``None`` for requests that execute none."""
        del path
        return None

    def __repr__(self) -> str:
        return f"<{self.name} dialect>"


_OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    429: "requests",
}


class OpenAIDialect(Dialect):
    """``/v1/*``, as the ``openai`` SDK parses it into ``RateLimitError`` and friends."""

    name = "openai"
    _prefixes = ("/v1",)

    def error_body(
        self, status: int, message: str, *, code: str | None = None, param: str | None = None
    ) -> dict[str, Any]:
        kind = _OPENAI_ERROR_TYPES.get(status, "server_error" if status >= 500 else "api_error")
        return {"error": {"message": message, "type": kind, "param": param, "code": code}}

    def quota_headers(self, wait: float, *, now: float) -> dict[str, str]:
        del now
        return {
            "x-ratelimit-limit-requests": "60",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": f"{wait:g}s",
        }


_HTTP_SLUGS = {
    400: "HTTP_BadRequest",
    401: "HTTP_Unauthorized",
    403: "HTTP_Forbidden",
    404: "HTTP_NotFound",
    405: "HTTP_MethodNotAllowed",
    408: "HTTP_RequestTimeout",
    409: "HTTP_Conflict",
    422: "HTTP_UnprocessableEntity",
    429: "HTTP_TooManyRequests",
    500: "HTTP_InternalServerError",
    502: "HTTP_BadGateway",
    503: "HTTP_ServiceUnavailable",
    504: "HTTP_GatewayTimeout",
}

#: Generic codes (the OpenAI vocabulary callers speak) that are not Composio slugs.
_GENERIC_CODES = {"rate_limit_exceeded", "server_error", "invalid_api_key", "unknown_url"}

#: Numeric codes of the Composio slugs crs answers with. 1803 and 606 are Composio's own; the
#: others are crs's, in the same ranges.
_SLUG_NUMBERS = {
    "ActionExecute_ConnectedAccountNotFound": 1803,
    "ActionExecute_ConnectedAccountNotActive": 1804,
    "ActionExecute_VersionNotFound": 1806,
    "ActionExecute_InvalidRequest": 1807,
    "Tool_NotFound": 4301,
    "ConnectedAccount_ResourceNotFound": 606,
}


def composio_error_fields(status: int, code: str | None) -> tuple[int, str]:
    """The ``(code, slug)`` pair of a Composio error with this status and requested code.

    Generic codes such as ``"rate_limit_exceeded"`` become the ``HTTP_*`` slug of the status,
    so a Composio client never sees an OpenAI-style code.
    """
    if code is None or code in _GENERIC_CODES:
        return 10_000 + status, _HTTP_SLUGS.get(status, "HTTP_Error")
    return _SLUG_NUMBERS.get(code, 10_000 + status), code


class _ComposioBase(Dialect):
    _execute: re.Pattern[str]

    def _fields(self, status: int, message: str, code: str | None) -> dict[str, Any]:
        number, slug = composio_error_fields(status, code)
        return {"message": message, "code": number, "slug": slug, "status": status}

    def quota_headers(self, wait: float, *, now: float) -> dict[str, str]:
        return {
            "x-ratelimit-limit": "60",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(math.ceil(now + wait)),
        }

    def tool_slug(self, path: str) -> str | None:
        match = self._execute.match(path)
        if match is None or match.group(1).lower() == "proxy":
            return None
        return match.group(1).upper()


class ComposioCoreDialect(_ComposioBase):
    """composio-core 0.7's ``/api/v1`` and ``/api/v2``: flat error bodies, ``successfull``."""

    name = "composio-core"
    _prefixes = ("/api/v1", "/api/v2")
    _execute = re.compile(r"^/api/v2/actions/([^/]+)/execute/?$")

    def error_body(
        self, status: int, message: str, *, code: str | None = None, param: str | None = None
    ) -> dict[str, Any]:
        del param  # Composio's error body has no field for it
        return self._fields(status, message, code)

    def unauthorized_envelope(self) -> dict[str, Any]:
        data = {"status_code": 401, "message": "Unauthorized"}
        return {"data": data, "error": _PROVIDER_401, "successful": False, "successfull": False}

    def execution_result(
        self,
        data: Mapping[str, Any],
        error: str | None,
        *,
        successful: bool,
        log_id: str | None = None,
    ) -> dict[str, Any]:
        del log_id  # this generation has none
        # "successfull" (sic) is the key the SDK reads; "successful" is sent too.
        return {
            "data": dict(data),
            "error": error,
            "successfull": successful,
            "successful": successful,
        }


class ComposioDialect(_ComposioBase):
    """The current Composio API, ``/api/v3`` and ``/api/v3.1``: errors under ``"error"``."""

    name = "composio"
    _prefixes = ("/api/v3", "/api/v3.1")
    _execute = re.compile(r"^/api/v3(?:\.1)?/tools/execute/([^/]+)/?$")

    def error_body(
        self, status: int, message: str, *, code: str | None = None, param: str | None = None
    ) -> dict[str, Any]:
        del param  # Composio's error body has no field for it
        return {"error": self._fields(status, message, code)}

    def unauthorized_envelope(self) -> dict[str, Any]:
        return self.execution_result(
            {"status_code": 401, "message": "Unauthorized"},
            _PROVIDER_401,
            successful=False,
            log_id=None,
        )

    def execution_result(
        self,
        data: Mapping[str, Any],
        error: str | None,
        *,
        successful: bool,
        log_id: str | None = None,
    ) -> dict[str, Any]:
        return {
            "data": dict(data),
            "error": error,
            "successful": successful,
            "log_id": log_id,
            "session_info": None,
        }


OPENAI: Final = OpenAIDialect()
COMPOSIO_CORE: Final = ComposioCoreDialect()
COMPOSIO: Final = ComposioDialect()
DIALECTS: Final[tuple[Dialect, ...]] = (OPENAI, COMPOSIO_CORE, COMPOSIO)


def dialect_of(path: str) -> Dialect | None:
    """The API a request path belongs to, or ``None`` for any other HTTP."""
    return next((dialect for dialect in DIALECTS if dialect.owns(path)), None)

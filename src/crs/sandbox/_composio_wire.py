"""What both Composio wire generations share: the API-key check, error codes, the 401 envelope.

Composio errors carry a numeric ``code`` and a ``slug`` beside the message (``1803`` /
``ActionExecute_ConnectedAccountNotFound``, or ``10429`` / ``HTTP_TooManyRequests`` for the
header-less rate limit). Code outside this package asks for an error with a generic code such as
``"rate_limit_exceeded"`` (the OpenAI vocabulary the fault layer speaks); those become the
``HTTP_*`` slug of their status, so a Composio client never sees an OpenAI-style code.
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from crs.sandbox._http import json_response

__all__ = ["api_key_problem", "error_fields", "unauthorized_envelope"]

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

#: Codes the fault layer and the app use that are not Composio slugs.
_GENERIC_CODES = {"rate_limit_exceeded", "server_error", "invalid_api_key", "unknown_url"}

#: Numeric codes of the Composio slugs the sandbox answers with. 1803 and 606 are Composio's
#: own; the others are the sandbox's, in the same ranges.
_SLUG_NUMBERS = {
    "ActionExecute_ConnectedAccountNotFound": 1803,
    "ActionExecute_ConnectedAccountNotActive": 1804,
    "ActionExecute_VersionNotFound": 1806,
    "ActionExecute_InvalidRequest": 1807,
    "Tool_NotFound": 4301,
    "ConnectedAccount_ResourceNotFound": 606,
}


def error_fields(status: int, code: str | None) -> tuple[int, str]:
    """The ``(code, slug)`` pair of a Composio error with this status and requested code."""
    if code is None or code in _GENERIC_CODES:
        return 10_000 + status, _HTTP_SLUGS.get(status, "HTTP_Error")
    return _SLUG_NUMBERS.get(code, 10_000 + status), code


def api_key_problem(request: Request, expected: str) -> str | None:
    """Why the request's ``x-api-key`` is refused, or ``None`` when it is the sandbox's key.

    The message names the header, never the key, so a log of the error leaks nothing.
    """
    given = request.headers.get("x-api-key")
    if not given:
        return "API key not provided: send it in the x-api-key header"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return "Invalid API key: the x-api-key header does not hold the sandbox's key"
    return None


def unauthorized_envelope(**fields: Any) -> Response:
    """A ``200 OK`` execution result that reports a 401 from the provider, as Composio sends
    when a connected account's token is rejected; ``fields`` add the generation's own keys."""
    error = (
        '{"error":{"code":401,"message":"Request had invalid authentication credentials.",'
        '"status":"UNAUTHENTICATED"}}'
    )
    data = {"status_code": 401, "message": "Unauthorized"}
    return json_response({"data": data, "error": error, "successful": False, **fields})

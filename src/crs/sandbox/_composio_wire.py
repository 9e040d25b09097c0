"""The API-key check both Composio wire generations share.

Their error codes, slugs and the 200-with-a-401 envelope live in :mod:`crs._dialects`, shared
with fault injection.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

__all__ = ["api_key_problem"]


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

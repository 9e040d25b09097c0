"""One shape for a tool's outcome, whichever backend ran it.

composio-core answers ``{"data", "error", "successfull", "successful"}`` (sic), the current SDK
``{"data", "error", "successful", "log_id", ...}``, and a user's own Python function whatever it
returns. The adapter's history, cache and retry logic should not care, so every backend turns
its answer into a :class:`ToolResult`. A failure reported *inside* a 200 (``successful: false``,
sometimes with a provider's 401 in ``error``) is kept as data, classified with the resilience
kit, so a caller can tell an expired credential from a bad argument without parsing text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crs.resilience import Classification, classify

__all__ = ["ToolResult"]


@dataclass(frozen=True)
class ToolResult:
    """A tool's outcome: ``successful``, its ``data``, the ``error`` text, and the ``raw`` answer.

    ``failure`` is the resilience kit's verdict on an unsuccessful result (``None`` on success):
    its ``kind`` says auth / rate limit / invalid request ..., and ``retryable`` whether trying
    again can help.
    """

    successful: bool
    data: Any = None
    error: str | None = None
    raw: Any = field(default=None, repr=False)
    failure: Classification | None = None

    @classmethod
    def from_composio(cls, body: Mapping[str, Any]) -> ToolResult:
        """Normalise either Composio generation's execution result."""
        successful = body.get("successful", body.get("successfull"))
        if not isinstance(successful, bool):
            keys = ", ".join(sorted(map(str, body))) or "none"
            raise TypeError(
                f"not a Composio execution result: no boolean 'successful' (keys: {keys})"
            )
        error = body.get("error")
        text = None if error is None else str(error)
        failure = None if successful else classify(body)
        return cls(successful, body.get("data"), text, body, failure)

    @classmethod
    def from_value(cls, value: Any) -> ToolResult:
        """A successful result holding what a plain Python tool returned."""
        return cls(True, value, None, value)

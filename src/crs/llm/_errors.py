"""The errors an LLM call raises: one for a call that failed, one for unusable tool arguments.

Both carry the resilience kit's :class:`~crs.resilience.Classification` as ``classification``,
which :func:`~crs.resilience.classify` takes at its word, so a caller's own retry loop or
circuit breaker sees the same verdict crs acted on. Messages are redacted: an SDK error that
echoes the API key never carries it further.
"""

from __future__ import annotations

from collections.abc import Mapping

from crs.errors import CrsError
from crs.resilience import Attempt, Classification, ErrorType

__all__ = ["LLMError", "ToolArgumentsError"]

_HINTS: Mapping[ErrorType, str] = {
    ErrorType.RATE_LIMIT: "slow down (LLMConfig.rate_limiter) or allow more retries",
    ErrorType.TIMEOUT: "raise LLMConfig.timeout, ask for fewer tokens, or allow more retries",
    ErrorType.CONNECTION: "check the base URL and the network; the call is retried if allowed",
    ErrorType.SERVER: "the provider is failing; retry later or allow more retries",
    ErrorType.AUTH: "check the API key (OPENAI_API_KEY or api_key=); it was not retried",
    ErrorType.PERMISSION: "the key may not use this model or project; it was not retried",
    ErrorType.NOT_FOUND: "check the model name and the base URL",
    ErrorType.VALIDATION: "the request was refused as malformed; check messages, tools and options",
}


class LLMError(CrsError):
    """A model call failed for good: not retryable, or retried until the policy gave up.

    Attributes:
        classification: the verdict on the last failure (``kind``, ``status``, ``retry_after``).
        model: the model that was called.
        attempts: how many requests were made.
        history: each attempt as the retry policy recorded it (empty when the policy raised
            the failure itself without giving up, e.g. a 401 on the first attempt).

    The SDK's own exception is the ``__cause__``.
    """

    def __init__(
        self,
        message: str,
        *,
        classification: Classification,
        model: str,
        attempts: int,
        history: tuple[Attempt, ...] = (),
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint or _HINTS.get(classification.kind))
        self.classification = classification
        self.model = model
        self.attempts = attempts
        self.history = history

    @property
    def kind(self) -> ErrorType:
        return self.classification.kind


class ToolArgumentsError(LLMError, ValueError):
    """The model called a tool with arguments that are not a JSON object.

    Raised after a successful request: the model answered, but its answer cannot be run.
    ``tool`` and ``call_id`` name the call and ``arguments`` holds the raw text the model
    sent, so an agent can reply with a ``tool`` message explaining the problem.
    """

    def __init__(
        self,
        message: str,
        *,
        tool: str,
        call_id: str,
        arguments: str,
        model: str,
        attempts: int,
    ) -> None:
        super().__init__(
            message,
            classification=Classification(
                ErrorType.VALIDATION, retryable=False, detail=message[:200]
            ),
            model=model,
            attempts=attempts,
            hint="send the error back as the tool's result so the model can correct itself, "
            "or use strict function schemas",
        )
        self.tool = tool
        self.call_id = call_id
        self.arguments = arguments

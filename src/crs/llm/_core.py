"""What the sync and async clients share, so the two cannot drift apart.

Bookkeeping for one call (its clock reading, attempts, stats), turning failures into
:class:`~crs.llm.LLMError` with one classification, and the production-agent guide's ``run()``
result. Only the I/O — how a request is sent and how a wait is waited — differs between
:class:`~crs.llm.LLMClient` and :class:`~crs.llm.AsyncLLMClient`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, cast

from crs.clock import Clock, resolve_clock
from crs.errors import ConfigError, CrsTimeoutError, RetryError
from crs.llm._config import LLMConfig
from crs.llm._errors import LLMError
from crs.llm._response import LLMResponse
from crs.llm._sdk import Messages, build_request, prepare_client, scrubber
from crs.llm._stats import LLMStats, StatsRecorder
from crs.resilience import Attempt, Classification, ErrorType
from crs.telemetry import SpanScope, TelemetrySpan, llm_span

__all__ = ["Call", "ClientCore"]


@dataclass
class Call:
    """One ``complete`` / ``stream`` / ``run`` call in progress."""

    model: str
    started: float
    attempts: int = 0
    #: The call's ``crs.llm.call`` span (a no-op one when telemetry is off), for attempt spans.
    span: TelemetrySpan | None = None


class ClientCore:
    """Configuration, the SDK client, stats and failure handling shared by both clients."""

    def __init__(
        self,
        config: LLMConfig | None,
        *,
        client: Any,
        api_key: str | None,
        base_url: str | None,
        is_async: bool,
    ) -> None:
        if config is None:
            config = LLMConfig()
        if not isinstance(config, LLMConfig):
            raise ConfigError(
                f"config must be an LLMConfig, got {config!r}",
                hint="build one with crs.llm.LLMConfig(model=..., ...)",
            )
        self._config = config
        self._policy = config.policy()
        self._sdk, self._owned = prepare_client(
            client=client, api_key=api_key, base_url=base_url, is_async=is_async
        )
        self._scrub = scrubber(self._sdk)
        self._stats = StatsRecorder()

    @property
    def config(self) -> LLMConfig:
        return self._config

    @property
    def sdk_client(self) -> Any:
        """The openai client crs calls (the SDK's retries off); for endpoints crs does not wrap."""
        return self._sdk

    def stats(self) -> LLMStats:
        """Counters since the client was made."""
        return self._stats.snapshot()

    def __repr__(self) -> str:
        base = getattr(self._sdk, "base_url", None)
        return f"{type(self).__name__}(model={self._config.model!r}, base_url={str(base)!r})"

    # -- one call -----------------------------------------------------------------------------

    def _clock(self) -> Clock:
        return resolve_clock(self._config.clock)

    def _request(
        self,
        messages: Messages,
        tools: Any,
        tool_choice: Any,
        options: dict[str, Any],
        *,
        stream: bool,
    ) -> dict[str, Any]:
        return build_request(
            self._config,
            messages,
            tools=tools,
            tool_choice=tool_choice,
            options=options,
            stream=stream,
        )

    def _begin(self, request: dict[str, Any]) -> Call:
        self._stats.request()
        return Call(model=str(request["model"]), started=self._clock().monotonic())

    def _span(self, call: Call, request: dict[str, Any]) -> SpanScope:
        """The ``crs.llm.call`` span around one call, retries included (see crs.telemetry)."""
        return llm_span(
            call.model,
            max_tokens=request.get("max_completion_tokens", request.get("max_tokens")),
            temperature=request.get("temperature"),
            clock=self._clock(),
        )

    @staticmethod
    def _attempt_span(call: Call) -> SpanScope | contextlib.nullcontext[None]:
        return contextlib.nullcontext() if call.span is None else call.span.attempt()

    @staticmethod
    def _report(call: Call, response: LLMResponse) -> None:
        """What the answer says about itself, on the call's span."""
        span = call.span
        if span is None:
            return
        finish = [response.finish_reason] if response.finish_reason else None
        span.response(model=response.model, finish_reasons=finish)
        if response.usage is not None:
            span.usage(
                input_tokens=response.usage.prompt_tokens,
                output_tokens=response.usage.completion_tokens,
            )

    def _elapsed(self, call: Call) -> float:
        return self._clock().monotonic() - call.started

    def _attempt_started(self, call: Call) -> None:
        call.attempts += 1
        self._stats.attempt(retry=call.attempts > 1)

    def _attempt_failed(self, call: Call, error: Exception) -> Classification:
        """Count a failed request, and let a 429's Retry-After pause the key for everyone."""
        verdict = self._policy.classifier(error)
        self._stats.attempt_failed(verdict.kind)
        limiter = self._config.rate_limiter
        if limiter is not None and verdict.kind is ErrorType.RATE_LIMIT and verdict.retry_after:
            limiter.backoff(call.model, verdict.retry_after)
        return verdict

    def _timed_out(self, call: Call) -> CrsTimeoutError:
        seconds = self._config.timeout
        return CrsTimeoutError(
            f"{call.model} did not answer within {seconds:g} s (LLMConfig.timeout)",
            seconds=seconds,
            hint="raise LLMConfig.timeout, or ask for fewer tokens",
        )

    def _succeeded(self, response: LLMResponse) -> LLMResponse:
        self._stats.succeeded(response.usage)
        return response

    def _failed(self, call: Call, error: Exception) -> Exception:
        """The error to raise for a failed call (counted once, by its final kind).

        Configuration errors are the caller's mistake and pass unchanged; everything else
        becomes an :class:`LLMError` carrying one classification and the attempt history.
        """
        if isinstance(error, ConfigError):
            self._stats.failed(ErrorType.VALIDATION)
            return error
        if isinstance(error, LLMError):  # tool arguments that do not parse
            self._stats.failed(error.kind)
            return error
        verdict = self._policy.classifier(error)
        self._stats.failed(verdict.kind)
        history: tuple[Attempt, ...] = ()
        if isinstance(error, RetryError):
            history = cast(tuple[Attempt, ...], error.history)
            reason = f"{call.model}: {error.message}"
        else:
            reason = f"{call.model} failed after {call.attempts} attempt(s)"
        wrapped = LLMError(
            self._scrub(f"{reason}: {verdict.kind}: {verdict.detail}"),
            classification=verdict,
            model=call.model,
            attempts=call.attempts,
            history=history,
        )
        wrapped.__cause__ = error
        return wrapped

    # -- run(): the production-agent guide's contract -----------------------------------------

    def _run_messages(self, task: str) -> str:
        if not isinstance(task, str) or not task.strip():
            raise ConfigError(f"run() needs a non-empty task string, got {task!r}"[:300])
        return task

    def _run_success(self, response: LLMResponse, started: float) -> dict[str, Any]:
        return {
            "status": "success",
            "result": response.content or "",
            "duration": self._clock().monotonic() - started,
        }

    def _run_error(self, error: Exception, started: float) -> dict[str, Any]:
        verdict = (
            error.classification
            if isinstance(error, LLMError)
            else Classification(
                ErrorType.VALIDATION if isinstance(error, ConfigError) else ErrorType.UNKNOWN,
                retryable=False,
                detail=f"{type(error).__name__}: {error}",
            )
        )
        return {
            "status": "error",
            "error": self._scrub(f"{verdict.kind}: {verdict.detail}"),
            "duration": self._clock().monotonic() - started,
        }

"""Spans and metrics around one operation: a tool execution, a model call, an agent run.

Each helper returns a :class:`SpanScope`, entered with ``with`` or ``async with`` (the same
object; nothing in it awaits). It yields a :class:`TelemetrySpan` to annotate the operation,
and on exit ends the span and records the operation's counter and latency histogram.

**Attempts are child spans**, opened with :meth:`TelemetrySpan.attempt` inside the retry loop,
rather than events on the operation span. A child span has its own duration, status and error
type; the backoff between attempts shows as the gap between them; and spans of instrumented
libraries underneath (an HTTP client's request) nest under the attempt that made them, so a
trace shows which try sent which request. Opening attempt 2 or later counts a retry, labelled
with the error type of the attempt before it.

**Time is the crs clock's.** Span start is ``clock.now()``; every later timestamp (attempt
starts, events, ends) is that start plus the clock's monotonic progress, so durations never
suffer wall-clock jumps, and under a :class:`~crs.clock.VirtualClock` spans and histograms show
exactly the virtual time that passed (a 7 s ``Retry-After`` is 7000.0 ms, not "about 7 s").

**Status.** Success leaves the status UNSET, as the OpenTelemetry specification asks of
instrumentation. A failure — :meth:`TelemetrySpan.fail` with a crs
:class:`~crs.resilience.Classification`, or an exception leaving the scope (classified with
:func:`~crs.resilience.classify`) — sets ERROR with the classification's detail, and
``crs.error.type`` / ``error.type`` to its kind. Exception messages and stack traces are recorded
with secrets redacted.

When telemetry is off (see :mod:`crs.telemetry._providers`) the helpers return one shared,
stateless scope whose span ignores every call.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from crs.clock import Clock, resolve_clock
from crs.resilience import Classification, classify, redact_secrets
from crs.telemetry._names import MetricName, SpanAttr, SpanName
from crs.telemetry._providers import Instruments, active, api

if TYPE_CHECKING:
    from opentelemetry.trace import Span as OtelSpan
    from opentelemetry.util.types import AttributeValue

__all__ = ["SpanScope", "TelemetrySpan", "agent_span", "llm_span", "tool_span"]

Attributes = Mapping[str, "AttributeValue"]


@dataclass(frozen=True, slots=True)
class _Kind:
    """What differs between tool executions, model calls and agent runs."""

    span: str
    attempt_span: str
    client: bool
    """A call to a remote service (SpanKind.CLIENT), as the GenAI conventions say of model calls."""
    calls: str
    duration: str
    retries: str


_TOOL = _Kind(
    SpanName.TOOL,
    SpanName.TOOL_ATTEMPT,
    False,
    MetricName.TOOL_EXECUTIONS,
    MetricName.TOOL_DURATION,
    MetricName.TOOL_RETRIES,
)
_LLM = _Kind(
    SpanName.LLM,
    SpanName.LLM_ATTEMPT,
    True,
    MetricName.LLM_CALLS,
    MetricName.LLM_DURATION,
    MetricName.LLM_RETRIES,
)
_AGENT = _Kind(
    SpanName.AGENT,
    SpanName.AGENT_ATTEMPT,
    False,
    MetricName.AGENT_RUNS,
    MetricName.AGENT_DURATION,
    MetricName.AGENT_RETRIES,
)


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


class TelemetrySpan:
    """The operation (or attempt) in flight, as instrumented code annotates it.

    Every method is safe to call when telemetry is off; it then does nothing. Check
    :attr:`recording` before computing an attribute that is expensive to produce.
    """

    __slots__ = (
        "_attempts",
        "_clock",
        "_dims",
        "_error_type",
        "_inst",
        "_kind",
        "_last_error_type",
        "_mono",
        "_span",
        "_start_ns",
    )

    def __init__(
        self,
        span: OtelSpan | None = None,
        inst: Instruments | None = None,
        kind: _Kind = _TOOL,
        dims: dict[str, AttributeValue] | None = None,
        clock: Clock | None = None,
        start_ns: int = 0,
        start_mono: float = 0.0,
    ) -> None:
        self._span = span
        self._inst = inst
        self._kind = kind
        self._dims = dims or {}
        self._clock = clock
        self._start_ns = start_ns
        self._mono = start_mono
        self._attempts = 0
        self._error_type: str | None = None
        self._last_error_type: str | None = None

    @property
    def recording(self) -> bool:
        """Whether anything set on this span goes anywhere."""
        return self._span is not None and self._span.is_recording()

    @property
    def failed(self) -> bool:
        return self._error_type is not None

    @property
    def attempts(self) -> int:
        """Attempts opened with :meth:`attempt` so far."""
        return self._attempts

    def _now_ns(self) -> int:
        if self._clock is None:
            return 0
        return self._start_ns + _ns(self._clock.monotonic() - self._mono)

    # -- annotating -----------------------------------------------------------------------------

    def set(self, key: str, value: AttributeValue) -> None:
        if self._span is not None:
            self._span.set_attribute(key, value)

    def set_attributes(self, attributes: Attributes) -> None:
        if self._span is not None:
            self._span.set_attributes(attributes)

    def event(self, name: str, attributes: Attributes | None = None) -> None:
        """A span event, timestamped on the crs clock."""
        if self._span is not None:
            self._span.add_event(name, attributes, timestamp=self._now_ns())

    def cache(self, *, hit: bool) -> None:
        """Tool executions: the response cache was asked, and answered (``hit``) or not."""
        if self._span is None or self._inst is None:
            return
        self._span.set_attribute(SpanAttr.CACHE_HIT, hit)
        name = MetricName.CACHE_HITS if hit else MetricName.CACHE_MISSES
        self._inst.counters[name].add(1, self._dims)

    def usage(self, *, input_tokens: int | None = None, output_tokens: int | None = None) -> None:
        """Model calls: the tokens the response says it used (counted once per call)."""
        if self._span is None or self._inst is None:
            return
        tokens = self._inst.counters[MetricName.LLM_TOKENS]
        for key, kind, count in (
            (SpanAttr.GEN_AI_USAGE_INPUT_TOKENS, "input", input_tokens),
            (SpanAttr.GEN_AI_USAGE_OUTPUT_TOKENS, "output", output_tokens),
        ):
            if count is not None:
                self._span.set_attribute(key, count)
                tokens.add(count, {**self._dims, SpanAttr.GEN_AI_TOKEN_TYPE: kind})

    def response(
        self,
        *,
        model: str | None = None,
        response_id: str | None = None,
        finish_reasons: Sequence[str] | None = None,
    ) -> None:
        """Model calls: what the response said about itself (``gen_ai.response.*``)."""
        if self._span is None:
            return
        if model is not None:
            self._span.set_attribute(SpanAttr.GEN_AI_RESPONSE_MODEL, model)
        if response_id is not None:
            self._span.set_attribute(SpanAttr.GEN_AI_RESPONSE_ID, response_id)
        if finish_reasons is not None:
            self._span.set_attribute(SpanAttr.GEN_AI_RESPONSE_FINISH_REASONS, list(finish_reasons))

    def fail(
        self,
        failure: Classification | BaseException | None = None,
        *,
        detail: str | None = None,
    ) -> None:
        """Mark the operation failed without an exception leaving the scope.

        ``failure`` is the crs verdict (an unsuccessful :class:`~crs.tools.Execution`'s
        ``failure``), or an exception that was handled (classified here, recorded as an event);
        ``detail`` overrides the status description.
        """
        if self._span is None:
            return
        if isinstance(failure, BaseException):
            self._record_exception(failure, escaped=False)
            self._mark_failed(_verdict(failure), detail)
        else:
            self._mark_failed(failure, detail)

    def attempt(self) -> SpanScope:
        """A child span for the next try; use it around each attempt of a retry loop."""
        if self._span is None or self._inst is None:
            return _NOOP_SCOPE
        self._attempts += 1
        number = self._attempts
        self._span.set_attribute(SpanAttr.ATTEMPT, number)
        if number > 1:
            labels = {**self._dims, SpanAttr.ERROR_TYPE: self._last_error_type or "unknown"}
            self._inst.counters[self._kind.retries].add(1, labels)
        attributes: dict[str, AttributeValue] = {**self._dims, SpanAttr.ATTEMPT: number}
        return SpanScope(self._kind, attributes, {}, self._clock, parent=self)

    # -- internals ------------------------------------------------------------------------------

    def _mark_failed(self, failure: Classification | str | None, detail: str | None) -> None:
        otel = api()
        if self._span is None or otel is None:
            return
        if isinstance(failure, Classification):
            error_type: str = failure.kind.value
            self._span.set_attribute(SpanAttr.ERROR_RETRYABLE, failure.retryable)
            if failure.status is not None:
                self._span.set_attribute(SpanAttr.ERROR_STATUS, failure.status)
            if failure.retry_after is not None:
                self._span.set_attribute(SpanAttr.ERROR_RETRY_AFTER, failure.retry_after)
            description = detail or failure.detail or error_type
        else:
            error_type = failure or "unknown"
            description = detail or error_type
        self._error_type = error_type
        self._span.set_attribute(SpanAttr.ERROR_TYPE, error_type)
        self._span.set_attribute(SpanAttr.SEMCONV_ERROR_TYPE, error_type)
        self._span.set_status(otel.status(otel.error, redact_secrets(description)))

    def _record_exception(self, error: BaseException, *, escaped: bool) -> None:
        if self._span is None:
            return
        kind = type(error)
        module = kind.__module__
        name = kind.__qualname__ if module in {"builtins", ""} else f"{module}.{kind.__qualname__}"
        attributes: dict[str, AttributeValue] = {
            SpanAttr.EXCEPTION_TYPE: name,
            SpanAttr.EXCEPTION_MESSAGE: redact_secrets(str(error)),
            SpanAttr.EXCEPTION_STACKTRACE: redact_secrets(
                "".join(traceback.format_exception(error))
            ),
        }
        if escaped:
            attributes["exception.escaped"] = True
        self.event("exception", attributes)

    def _close(self, error: BaseException | None) -> None:
        """Record an escaping exception (failing the span unless already failed), then end it."""
        span, inst, clock = self._span, self._inst, self._clock
        if span is None or inst is None or clock is None:
            return
        if error is not None:
            self._record_exception(error, escaped=True)
            if self._error_type is None:
                self._mark_failed(_verdict(error), None)
        elapsed = clock.monotonic() - self._mono
        span.end(end_time=self._start_ns + _ns(elapsed))


def _verdict(error: BaseException) -> Classification | str:
    """A crs classification for an exception; the class name for cancellation and the like."""
    return classify(error) if isinstance(error, Exception) else type(error).__name__


_NOOP_SPAN = TelemetrySpan()


class SpanScope:
    """Opens a span on entry (``with`` or ``async with``) and closes it, with metrics, on exit.

    A scope is single-use. Exceptions pass through unchanged after being recorded.
    """

    __slots__ = ("_attributes", "_clock", "_dims", "_handle", "_kind", "_parent", "_token")

    def __init__(
        self,
        kind: _Kind,
        attributes: dict[str, AttributeValue],
        dims: dict[str, AttributeValue],
        clock: Clock | None,
        parent: TelemetrySpan | None = None,
    ) -> None:
        self._kind = kind
        self._attributes = attributes
        self._dims = dims
        self._clock = clock
        self._parent = parent
        self._handle = _NOOP_SPAN
        self._token: object = None

    def __enter__(self) -> TelemetrySpan:
        otel = api()
        parent = self._parent
        inst = active() if parent is None else parent._inst
        if otel is None or inst is None:
            return _NOOP_SPAN
        clock = resolve_clock(self._clock)
        start_mono = clock.monotonic()
        start_ns = _ns(clock.now()) if parent is None else parent._now_ns()
        if parent is not None:
            name, span_kind = self._kind.attempt_span, otel.internal
        else:
            name, span_kind = self._kind.span, otel.client if self._kind.client else otel.internal
        span = inst.tracer.start_span(
            name,
            kind=span_kind,
            attributes=self._attributes,
            start_time=start_ns,
            record_exception=False,
            set_status_on_exception=False,
        )
        self._token = otel.context.attach(otel.trace.set_span_in_context(span))
        self._handle = TelemetrySpan(
            span, inst, self._kind, self._dims, clock, start_ns, start_mono
        )
        return self._handle

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        handle = self._handle
        otel = api()
        if handle is _NOOP_SPAN or otel is None:
            return
        try:
            handle._close(exc)
            if self._parent is not None:
                self._parent._last_error_type = handle._error_type
            else:
                self._record_metrics(handle)
        finally:
            otel.context.detach(self._token)

    async def __aenter__(self) -> TelemetrySpan:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _record_metrics(self, handle: TelemetrySpan) -> None:
        inst, clock = handle._inst, handle._clock
        if inst is None or clock is None:
            return
        elapsed_ms = (clock.monotonic() - handle._mono) * 1000.0
        outcome = SpanAttr.SUCCESS if handle._error_type is None else SpanAttr.ERROR
        labels: dict[str, AttributeValue] = {**self._dims, SpanAttr.OUTCOME: outcome}
        inst.histograms[self._kind.duration].record(elapsed_ms, labels)
        if handle._error_type is not None:
            labels[SpanAttr.ERROR_TYPE] = handle._error_type
        inst.counters[self._kind.calls].add(1, labels)


class _NoopScope(SpanScope):
    """The scope handed out while telemetry is off: stateless, so one instance serves all."""

    __slots__ = ()

    def __enter__(self) -> TelemetrySpan:
        return _NOOP_SPAN

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


_NOOP_SCOPE = _NoopScope(_TOOL, {}, {}, None)


def _scope(
    kind: _Kind,
    dims: dict[str, AttributeValue],
    extra: dict[str, AttributeValue | None],
    attributes: Attributes | None,
    clock: Clock | None,
) -> SpanScope:
    merged: dict[str, AttributeValue] = dict(dims)
    merged.update({key: value for key, value in extra.items() if value is not None})
    if attributes:
        merged.update(attributes)
    return SpanScope(kind, merged, dims, clock)


def tool_span(
    app: str,
    action: str,
    *,
    execution_id: str | None = None,
    read_only: bool | None = None,
    attributes: Attributes | None = None,
    clock: Clock | None = None,
) -> SpanScope:
    """``crs.tool.execute`` around one tool execution (the adapter opens these itself).

    Metrics are labelled by ``app`` and ``action`` (the backend's action name).
    """
    if active() is None:
        return _NOOP_SCOPE
    dims: dict[str, AttributeValue] = {SpanAttr.TOOL_APP: app, SpanAttr.TOOL_ACTION: action}
    extra: dict[str, AttributeValue | None] = {
        SpanAttr.GEN_AI_OPERATION_NAME: "execute_tool",
        SpanAttr.GEN_AI_TOOL_NAME: action,
        SpanAttr.TOOL_EXECUTION_ID: execution_id,
        SpanAttr.TOOL_READ_ONLY: read_only,
    }
    return _scope(_TOOL, dims, extra, attributes, clock)


def llm_span(
    model: str,
    *,
    operation: str = "chat",
    provider: str = "openai",
    max_tokens: int | None = None,
    temperature: float | None = None,
    attributes: Attributes | None = None,
    clock: Clock | None = None,
) -> SpanScope:
    """``crs.llm.call`` (SpanKind CLIENT) around one model call, retries included.

    ``model`` is the requested model (``gen_ai.request.model``); ``operation`` the GenAI
    operation name (``chat``, ``text_completion``, ``embeddings``). Metrics are labelled by
    model, operation and provider. Report usage with :meth:`TelemetrySpan.usage` and the
    response's own model / id / finish reasons with :meth:`TelemetrySpan.response`.
    """
    if active() is None:
        return _NOOP_SCOPE
    dims: dict[str, AttributeValue] = {
        SpanAttr.GEN_AI_REQUEST_MODEL: model,
        SpanAttr.GEN_AI_OPERATION_NAME: operation,
        SpanAttr.GEN_AI_PROVIDER_NAME: provider,
    }
    extra: dict[str, AttributeValue | None] = {
        SpanAttr.GEN_AI_SYSTEM: provider,
        SpanAttr.GEN_AI_REQUEST_MAX_TOKENS: max_tokens,
        SpanAttr.GEN_AI_REQUEST_TEMPERATURE: temperature,
    }
    return _scope(_LLM, dims, extra, attributes, clock)


def agent_span(
    name: str,
    *,
    run_id: str | None = None,
    attributes: Attributes | None = None,
    clock: Clock | None = None,
) -> SpanScope:
    """``crs.agent.run`` around one run of an agent loop; metrics labelled by agent name."""
    if active() is None:
        return _NOOP_SCOPE
    dims: dict[str, AttributeValue] = {SpanAttr.AGENT_NAME: name}
    extra: dict[str, AttributeValue | None] = {
        SpanAttr.GEN_AI_OPERATION_NAME: "invoke_agent",
        SpanAttr.GEN_AI_AGENT_NAME: name,
        SpanAttr.AGENT_RUN_ID: run_id,
    }
    return _scope(_AGENT, dims, extra, attributes, clock)

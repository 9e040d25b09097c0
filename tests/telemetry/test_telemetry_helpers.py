"""The helpers an LLM wrapper or an agent loop calls: ``llm_span``, ``agent_span``, attempts.

Here they wrap stand-in operations; what matters is the vocabulary they emit, the status set
from crs classifications, and metrics that are exact under virtual time.
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the OpenTelemetry SDK is not installed")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from crs.clock import VirtualClock
from crs.resilience import Classification, ErrorType, RetryPolicy, stop_after_attempt, wait_fixed
from crs.telemetry import (
    MetricName,
    SpanAttr,
    SpanName,
    agent_span,
    get_providers,
    llm_span,
    telemetry_enabled,
    use_providers,
)
from pytest_crs._telemetry import CapturedTelemetry

MODEL = {
    SpanAttr.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
    SpanAttr.GEN_AI_OPERATION_NAME: "chat",
    SpanAttr.GEN_AI_PROVIDER_NAME: "openai",
}
SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"


class Overloaded(Exception):
    """A stand-in for an SDK error: crs classifies anything with a ``status_code`` attribute."""

    status_code = 503


def test_an_llm_call_carries_the_genai_semantic_conventions(
    crs_spans: CapturedTelemetry, crs_clock: VirtualClock
) -> None:
    with llm_span("gpt-4o-mini", max_tokens=256, temperature=0.0) as span:
        assert span.recording
        crs_clock.advance(1.5)
        span.response(
            model="gpt-4o-mini-2024-07-18", response_id="chatcmpl-1", finish_reasons=["stop"]
        )
        span.usage(input_tokens=12, output_tokens=5)

    call = crs_spans.span(SpanName.LLM)
    assert call.kind is SpanKind.CLIENT
    assert dict(call.attributes or {}) == {
        **MODEL,
        SpanAttr.GEN_AI_SYSTEM: "openai",
        SpanAttr.GEN_AI_REQUEST_MAX_TOKENS: 256,
        SpanAttr.GEN_AI_REQUEST_TEMPERATURE: 0.0,
        SpanAttr.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
        SpanAttr.GEN_AI_RESPONSE_ID: "chatcmpl-1",
        SpanAttr.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        SpanAttr.GEN_AI_USAGE_INPUT_TOKENS: 12,
        SpanAttr.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
    }
    assert call.status.status_code is StatusCode.UNSET
    assert crs_spans.total(MetricName.LLM_TOKENS, {SpanAttr.GEN_AI_TOKEN_TYPE: "input"}) == 12
    assert crs_spans.total(MetricName.LLM_TOKENS, {SpanAttr.GEN_AI_TOKEN_TYPE: "output"}) == 5
    assert crs_spans.total(MetricName.LLM_CALLS, {**MODEL, SpanAttr.OUTCOME: "success"}) == 1
    (duration,) = crs_spans.points(MetricName.LLM_DURATION, MODEL)
    assert duration.sum == 1_500.0


def test_retried_model_calls_under_a_retry_policy(
    crs_spans: CapturedTelemetry, crs_clock: VirtualClock
) -> None:
    policy = RetryPolicy(stop=stop_after_attempt(3), wait=wait_fixed(4), idempotent=True)
    failures = [Overloaded("overloaded"), Overloaded("overloaded")]

    with llm_span("gpt-4o-mini") as span:

        def once() -> str:
            with span.attempt():
                if failures:
                    raise failures.pop()
                return "hello"

        assert policy.call(once) == "hello"

    call = crs_spans.span(SpanName.LLM)
    attempts = crs_spans.children(call)
    assert [a.name for a in attempts] == [SpanName.LLM_ATTEMPT] * 3
    assert [(a.attributes or {}).get(SpanAttr.ERROR_TYPE) for a in attempts] == [
        "server",
        "server",
        None,
    ]
    assert (call.attributes or {})[SpanAttr.ATTEMPT] == 3
    assert crs_spans.total(MetricName.LLM_RETRIES, {SpanAttr.ERROR_TYPE: "server"}) == 2
    (duration,) = crs_spans.points(MetricName.LLM_DURATION)
    assert duration.sum == 8_000.0
    assert crs_clock.sleeps == [4.0, 4.0]


def test_an_escaping_exception_fails_the_span_with_its_classification_and_no_secret(
    crs_spans: CapturedTelemetry,
) -> None:
    with pytest.raises(TimeoutError), llm_span("gpt-4o-mini"):
        raise TimeoutError(f"read timed out using key {SECRET}")

    call = crs_spans.span(SpanName.LLM)
    assert call.status.status_code is StatusCode.ERROR
    assert (call.attributes or {})[SpanAttr.ERROR_TYPE] == "timeout"
    (event,) = call.events
    attributes = dict(event.attributes or {})
    assert event.name == "exception"
    assert attributes[SpanAttr.EXCEPTION_TYPE] == "TimeoutError"
    assert SECRET not in str(attributes)
    assert SECRET not in (call.status.description or "")
    errors = {**MODEL, SpanAttr.OUTCOME: "error", SpanAttr.ERROR_TYPE: "timeout"}
    assert crs_spans.total(MetricName.LLM_CALLS, errors) == 1


def test_fail_takes_a_classification_or_a_handled_exception(
    crs_spans: CapturedTelemetry,
) -> None:
    verdict = Classification(ErrorType.RATE_LIMIT, retryable=True, retry_after=30.0, status=429)
    with agent_span("triage") as run:
        run.fail(verdict, detail="gave up: rate limited")
        assert run.failed
    with agent_span("triage") as run:
        run.fail(Overloaded("busy"))

    first, second = crs_spans.named(SpanName.AGENT)
    assert first.status.description == "gave up: rate limited"
    attributes = dict(first.attributes or {})
    assert (
        attributes[SpanAttr.ERROR_TYPE] == attributes[SpanAttr.SEMCONV_ERROR_TYPE] == "rate_limit"
    )
    assert attributes[SpanAttr.ERROR_STATUS] == 429
    assert attributes[SpanAttr.ERROR_RETRY_AFTER] == 30.0
    assert attributes[SpanAttr.ERROR_RETRYABLE] is True
    assert not first.events
    assert (second.attributes or {})[SpanAttr.ERROR_TYPE] == "server"
    assert [e.name for e in second.events] == ["exception"]
    runs = {SpanAttr.AGENT_NAME: "triage", SpanAttr.OUTCOME: "error"}
    assert crs_spans.total(MetricName.AGENT_RUNS, runs) == 2


def test_async_with_nests_llm_calls_under_the_agent_run(
    crs_spans: CapturedTelemetry, crs_clock: VirtualClock
) -> None:
    async def agent() -> None:
        async with agent_span("triage", run_id="r-7") as run:
            for _ in range(2):
                async with llm_span("gpt-4o-mini"):
                    await asyncio.sleep(3)
            run.set(SpanAttr.AGENT_STEPS, 2)

    asyncio.run(agent())

    parent = crs_spans.span(SpanName.AGENT)
    assert [s.name for s in crs_spans.children(parent)] == [SpanName.LLM, SpanName.LLM]
    assert (parent.attributes or {})[SpanAttr.AGENT_RUN_ID] == "r-7"
    assert (parent.attributes or {})[SpanAttr.GEN_AI_AGENT_NAME] == "triage"
    assert (parent.attributes or {})[SpanAttr.AGENT_STEPS] == 2
    (duration,) = crs_spans.points(MetricName.AGENT_DURATION)
    assert duration.sum == 6_000.0


def test_cancellation_is_recorded_as_an_error_by_its_class_name(
    crs_spans: CapturedTelemetry,
) -> None:
    async def cancelled() -> None:
        async with llm_span("gpt-4o-mini"):
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(cancelled())

    call = crs_spans.span(SpanName.LLM)
    assert (call.attributes or {})[SpanAttr.ERROR_TYPE] == "CancelledError"


def test_providers_are_handed_over_and_given_back(crs_spans: CapturedTelemetry) -> None:
    assert telemetry_enabled()
    outer = get_providers()
    inner = TracerProvider(shutdown_on_exit=False)
    with use_providers(inner, None):
        assert get_providers() == (inner, None)
        with llm_span("gpt-4o-mini"):
            pass
    assert get_providers() == outer
    assert crs_spans.spans == []  # the span went to the inner provider
    inner.shutdown()

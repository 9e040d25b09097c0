"""Tool executions through the adapter, over Python tools: spans, attempts, cache, metrics.

Time is virtual (``crs_clock``), so durations are exact: a retry after a 7 s ``Retry-After``
makes the execution last 7000.0 ms, in the histogram and in the span's timestamps alike.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the OpenTelemetry SDK is not installed")

from opentelemetry.trace import SpanKind, StatusCode

from crs.clock import VirtualClock
from crs.resilience import RetryPolicy, stop_after_attempt, wait_fixed
from crs.store import ContextReferenceStore
from crs.telemetry import MetricName, SpanAttr, SpanName, agent_span
from crs.tools import CallableBackend, ComposioAdapter, ResponseCache
from pytest_crs._telemetry import CapturedTelemetry
from pytest_crs.faults import (
    FaultPlan,
    auth_expired,
    latency,
    rate_limit,
    server_error,
    tool,
    tool_failure,
)

LOOKUP = {SpanAttr.TOOL_APP: "local", SpanAttr.TOOL_ACTION: "lookup"}


@pytest.fixture
def adapter(crs_store: ContextReferenceStore) -> ComposioAdapter:
    def lookup(q: str) -> dict[str, str]:
        return {"answer": q.upper()}

    def send_message(to: str, text: str) -> str:
        return "sent"

    async def lookup_async(q: str) -> dict[str, str]:
        return {"answer": q[::-1]}

    backend = CallableBackend(
        {"lookup": lookup, "send_message": send_message, "lookup_async": lookup_async}
    )
    policy = RetryPolicy(stop=stop_after_attempt(3), wait=wait_fixed(2))
    return ComposioAdapter(
        crs_store,
        backend,
        retry_policy=policy,
        cache=ResponseCache(["lookup"], ttl=60),
    )


def run(adapter: ComposioAdapter, action: str = "lookup", **params: Any) -> Any:
    return adapter.execute_tool_with_context("local", action, params or {"q": "hi"}, "u1")


def test_a_successful_execution_is_one_span_with_one_attempt(
    adapter: ComposioAdapter, crs_spans: CapturedTelemetry
) -> None:
    execution = run(adapter, "send_message", to="bob", text="hi")

    assert execution.successful
    assert crs_spans.names() == [SpanName.TOOL_ATTEMPT, SpanName.TOOL]
    span = crs_spans.span(SpanName.TOOL)
    assert span.kind is SpanKind.INTERNAL
    assert span.status.status_code is StatusCode.UNSET  # success: left unset, as the spec asks
    assert dict(span.attributes or {}) == {
        SpanAttr.TOOL_APP: "local",
        SpanAttr.TOOL_ACTION: "send_message",
        SpanAttr.GEN_AI_OPERATION_NAME: "execute_tool",
        SpanAttr.GEN_AI_TOOL_NAME: "send_message",
        SpanAttr.TOOL_EXECUTION_ID: execution.execution_id,
        SpanAttr.TOOL_READ_ONLY: False,
        SpanAttr.ATTEMPT: 1,
    }
    (attempt,) = crs_spans.children(span)
    assert attempt.name == SpanName.TOOL_ATTEMPT
    assert attempt.attributes is not None
    assert attempt.attributes[SpanAttr.ATTEMPT] == 1
    assert attempt.attributes[SpanAttr.TOOL_ACTION] == "send_message"


def test_retries_are_attempt_spans_and_are_counted(
    adapter: ComposioAdapter,
    crs_spans: CapturedTelemetry,
    crs_faults: FaultPlan,
    crs_clock: VirtualClock,
) -> None:
    crs_faults.on(tool(action="lookup"), server_error().times(2))

    execution = run(adapter)

    assert execution.successful
    assert execution.attempts == 3
    span = crs_spans.span(SpanName.TOOL)
    assert span.attributes is not None
    assert span.attributes[SpanAttr.ATTEMPT] == 3
    assert span.status.status_code is StatusCode.UNSET  # the execution succeeded in the end
    attempts = crs_spans.children(span)
    assert [a.attributes[SpanAttr.ATTEMPT] for a in attempts if a.attributes] == [1, 2, 3]
    assert [a.status.status_code for a in attempts] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    failed = attempts[0]
    assert failed.attributes is not None
    assert failed.attributes[SpanAttr.ERROR_TYPE] == "server"
    assert failed.attributes[SpanAttr.SEMCONV_ERROR_TYPE] == "server"
    assert failed.attributes[SpanAttr.ERROR_STATUS] == 503  # server_error()'s default
    assert [event.name for event in failed.events] == ["exception"]
    # The 2 s backoff is the gap between attempts, on the crs clock.
    assert attempts[1].start_time - attempts[0].end_time == 2_000_000_000
    assert crs_clock.sleeps == [2.0, 2.0]
    assert crs_spans.total(MetricName.TOOL_RETRIES, {SpanAttr.ERROR_TYPE: "server"}) == 2
    assert crs_spans.total(MetricName.TOOL_EXECUTIONS, {SpanAttr.OUTCOME: "success"}) == 1


def test_durations_are_exact_on_the_virtual_clock(
    adapter: ComposioAdapter,
    crs_spans: CapturedTelemetry,
    crs_faults: FaultPlan,
    crs_clock: VirtualClock,
) -> None:
    crs_faults.on(tool(action="lookup"), rate_limit(retry_after=7).times(2))
    crs_faults.on(tool(action="send_message"), latency(0.25))

    first = run(adapter)
    second = run(adapter, "send_message", to="bob", text="hi")

    assert (first.latency_ms, second.latency_ms) == (14_000.0, 250.0)
    (lookup,) = crs_spans.points(MetricName.TOOL_DURATION, LOOKUP)
    assert (lookup.count, lookup.sum, lookup.min, lookup.max) == (1, 14_000.0, 14_000.0, 14_000.0)
    assert dict(lookup.attributes) == {**LOOKUP, SpanAttr.OUTCOME: "success"}
    (send,) = crs_spans.points(MetricName.TOOL_DURATION, {SpanAttr.TOOL_ACTION: "send_message"})
    assert send.sum == 250.0
    spans = crs_spans.named(SpanName.TOOL)
    assert [s.end_time - s.start_time for s in spans if s.end_time and s.start_time] == [
        14_000_000_000,
        250_000_000,
    ]
    assert spans[0].start_time == round(VirtualClock.DEFAULT_START * 1e9)
    assert crs_spans.total(MetricName.TOOL_RETRIES, {SpanAttr.ERROR_TYPE: "rate_limit"}) == 2


def test_a_failure_sets_error_status_from_its_classification(
    adapter: ComposioAdapter, crs_spans: CapturedTelemetry, crs_faults: FaultPlan
) -> None:
    crs_faults.on(tool(action="lookup"), auth_expired())

    execution = run(adapter)

    assert not execution.successful
    span = crs_spans.span(SpanName.TOOL)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == execution.error
    assert span.attributes is not None
    assert span.attributes[SpanAttr.ERROR_TYPE] == "auth"
    assert span.attributes[SpanAttr.ERROR_RETRYABLE] is False
    assert span.attributes[SpanAttr.ATTEMPT] == 1
    labels = {**LOOKUP, SpanAttr.OUTCOME: "error", SpanAttr.ERROR_TYPE: "auth"}
    (point,) = crs_spans.points(MetricName.TOOL_EXECUTIONS)
    assert (dict(point.attributes), point.value) == (labels, 1)
    assert crs_spans.total(MetricName.TOOL_RETRIES) == 0


def test_an_unsuccessful_result_fails_the_attempt_and_the_execution(
    adapter: ComposioAdapter, crs_spans: CapturedTelemetry, crs_faults: FaultPlan
) -> None:
    crs_faults.on(tool(action="lookup"), tool_failure("quota exceeded for today"))

    execution = run(adapter)

    assert execution.error == "quota exceeded for today"
    span = crs_spans.span(SpanName.TOOL)
    (attempt,) = crs_spans.children(span)
    for each in (span, attempt):
        assert each.status.status_code is StatusCode.ERROR
        assert each.status.description == "quota exceeded for today"
        assert not each.events  # returned, not raised: no exception to record


def test_cache_hits_have_no_attempts_and_are_counted(
    adapter: ComposioAdapter, crs_spans: CapturedTelemetry
) -> None:
    first, second = run(adapter), run(adapter)

    assert (first.cached, second.cached) == (False, True)
    miss, hit = crs_spans.named(SpanName.TOOL)
    assert miss.attributes is not None
    assert hit.attributes is not None
    assert (miss.attributes[SpanAttr.CACHE_HIT], miss.attributes[SpanAttr.ATTEMPT]) == (False, 1)
    assert (hit.attributes[SpanAttr.CACHE_HIT], hit.attributes[SpanAttr.ATTEMPT]) == (True, 0)
    assert crs_spans.children(hit) == []
    assert crs_spans.total(MetricName.CACHE_HITS, LOOKUP) == 1
    assert crs_spans.total(MetricName.CACHE_MISSES, LOOKUP) == 1
    assert crs_spans.total(MetricName.TOOL_EXECUTIONS, LOOKUP) == 2


def test_actions_without_a_cache_carry_no_cache_attribute(
    adapter: ComposioAdapter, crs_spans: CapturedTelemetry
) -> None:
    run(adapter, "send_message", to="bob", text="hi")

    assert SpanAttr.CACHE_HIT not in (crs_spans.span(SpanName.TOOL).attributes or {})
    assert crs_spans.metrics().get(MetricName.CACHE_MISSES) is None


def test_async_executions_are_traced_the_same_way(
    adapter: ComposioAdapter,
    crs_spans: CapturedTelemetry,
    crs_faults: FaultPlan,
    crs_clock: VirtualClock,
) -> None:
    crs_faults.on(tool(action="lookup_async"), server_error(503).times(1))

    execution = asyncio.run(
        adapter.aexecute_tool_with_context("local", "lookup_async", {"q": "abc"}, "u1")
    )

    assert execution.attempts == 2
    span = crs_spans.span(SpanName.TOOL)
    assert [a.status.status_code for a in crs_spans.children(span)] == [
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    (duration,) = crs_spans.points(MetricName.TOOL_DURATION)
    assert duration.sum == 2_000.0


def test_tool_spans_nest_under_the_agent_run_that_made_them(
    adapter: ComposioAdapter, crs_spans: CapturedTelemetry
) -> None:
    with agent_span("triage", run_id="run-1"):
        run(adapter)
        run(adapter, "send_message", to="bob", text="hi")

    agent = crs_spans.span(SpanName.AGENT)
    assert [s.name for s in crs_spans.children(agent)] == [SpanName.TOOL, SpanName.TOOL]
    trace_ids = {s.context.trace_id for s in crs_spans.spans if s.context is not None}
    assert len(trace_ids) == 1


def test_a_threaded_batch_keeps_its_tool_spans_under_the_agent_run(
    adapter: ComposioAdapter, crs_spans: CapturedTelemetry
) -> None:
    actions = [
        {"app": "local", "action": "lookup", "params": {"q": "a"}},
        {"app": "local", "action": "send_message", "params": {"to": "bob", "text": "hi"}},
    ]
    with agent_span("triage", run_id="run-2"):
        result = adapter.execute_batch(actions, "u1", concurrent=True, max_concurrent=2)
    assert result.successful

    agent = crs_spans.span(SpanName.AGENT)
    assert sorted(s.name for s in crs_spans.children(agent)) == [SpanName.TOOL, SpanName.TOOL]

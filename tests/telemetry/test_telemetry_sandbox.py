"""Tool spans over the sandbox, through the installed Composio SDK (the ``crs_adapter`` fixture).

The faults are injected on the SDK's wire (``crs_faults``), so the classification on the spans
is the one a real Composio failure would get.
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the OpenTelemetry SDK is not installed")

from opentelemetry.trace import StatusCode

from crs.clock import VirtualClock
from crs.telemetry import MetricName, SpanAttr, SpanName
from crs.tools import ComposioAdapter
from pytest_crs._telemetry import CapturedTelemetry
from pytest_crs.faults import FaultPlan, server_error, tool

REPO = {"owner": "acme", "repo": "api"}
ISSUE = {**REPO, "title": "Flaky test", "body": "fails on Tuesdays"}
LIST = "GITHUB_LIST_REPOSITORY_ISSUES"


def test_an_execution_over_the_sdk_is_one_span(
    crs_adapter: ComposioAdapter, crs_spans: CapturedTelemetry
) -> None:
    execution = crs_adapter.execute_tool_with_context("github", "create_an_issue", ISSUE, "default")

    assert execution.successful, execution.error
    span = crs_spans.span(SpanName.TOOL)
    assert span.attributes is not None
    assert span.attributes[SpanAttr.TOOL_APP] == "github"
    assert span.attributes[SpanAttr.TOOL_ACTION] == "GITHUB_CREATE_AN_ISSUE"
    assert span.attributes[SpanAttr.TOOL_READ_ONLY] is False
    assert span.attributes[SpanAttr.ATTEMPT] == 1
    assert span.status.status_code is StatusCode.UNSET
    assert [s.name for s in crs_spans.children(span)] == [SpanName.TOOL_ATTEMPT]
    labels = {
        SpanAttr.TOOL_APP: "github",
        SpanAttr.TOOL_ACTION: "GITHUB_CREATE_AN_ISSUE",
        SpanAttr.OUTCOME: "success",
    }
    assert crs_spans.total(MetricName.TOOL_EXECUTIONS, labels) == 1


def test_server_errors_on_the_wire_show_as_failed_attempts(
    crs_adapter: ComposioAdapter,
    crs_spans: CapturedTelemetry,
    crs_faults: FaultPlan,
    crs_clock: VirtualClock,
) -> None:
    crs_faults.on(tool(LIST), server_error().times(2))

    execution = crs_adapter.execute_tool_with_context("github", LIST, REPO, "default")

    assert execution.successful, execution.error
    assert execution.attempts == 3
    span = crs_spans.span(SpanName.TOOL)
    attempts = crs_spans.children(span)
    assert [a.status.status_code for a in attempts] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    assert [(a.attributes or {}).get(SpanAttr.ERROR_TYPE) for a in attempts] == [
        "server",
        "server",
        None,
    ]
    retries = {SpanAttr.TOOL_ACTION: LIST, SpanAttr.ERROR_TYPE: "server"}
    assert crs_spans.total(MetricName.TOOL_RETRIES, retries) == 2
    (duration,) = crs_spans.points(MetricName.TOOL_DURATION)
    assert duration.sum == crs_clock.total_slept * 1000 == execution.latency_ms


def test_a_rejected_argument_is_a_validation_error_span(
    crs_adapter: ComposioAdapter, crs_spans: CapturedTelemetry
) -> None:
    execution = crs_adapter.execute_tool_with_context(
        "github", "GITHUB_CREATE_AN_ISSUE", REPO, "default"
    )

    assert not execution.successful
    span = crs_spans.span(SpanName.TOOL)
    assert span.status.status_code is StatusCode.ERROR
    assert "title" in (span.status.description or "")
    assert (span.attributes or {})[SpanAttr.ERROR_TYPE] == "validation"
    errors = {SpanAttr.OUTCOME: "error", SpanAttr.ERROR_TYPE: "validation"}
    assert crs_spans.total(MetricName.TOOL_EXECUTIONS, errors) == 1


def test_async_executions_over_the_sdk(
    crs_adapter: ComposioAdapter, crs_spans: CapturedTelemetry
) -> None:
    execution = asyncio.run(
        crs_adapter.aexecute_tool_with_context("github", "create_an_issue", ISSUE, "default")
    )

    assert execution.successful, execution.error
    span = crs_spans.span(SpanName.TOOL)
    (attempt,) = crs_spans.children(span)
    assert attempt.status.status_code is StatusCode.UNSET

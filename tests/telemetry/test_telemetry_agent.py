"""An agent run as telemetry: one ``crs.agent.run`` span over its model calls and tool runs."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the OpenTelemetry SDK is not installed")

from crs.agent import ToolAgent
from crs.llm import LLMClient, LLMConfig
from crs.sandbox import Sandbox, ToolCall
from crs.telemetry import SpanAttr, SpanName
from crs.tools import ComposioAdapter
from pytest_crs._telemetry import CapturedTelemetry
from pytest_crs.faults import FaultPlan, auth_expired, llm


def agent(sandbox: Sandbox, adapter: ComposioAdapter) -> ToolAgent:
    client = LLMClient(LLMConfig(model="gpt-4o"), client=sandbox.openai_client())
    return ToolAgent(client, adapter, tools=["GITHUB_CREATE_AN_ISSUE"])


def test_model_calls_and_tools_nest_under_the_run(
    crs_sandbox: Sandbox, crs_adapter: ComposioAdapter, crs_spans: CapturedTelemetry
) -> None:
    crs_sandbox.script(
        [
            ToolCall("GITHUB_CREATE_AN_ISSUE", {"owner": "acme", "repo": "api", "title": "Down"}),
            "Filed.",
        ],
        model="gpt-4o",
    )
    run = agent(crs_sandbox, crs_adapter).run("Checkout is down", session_id="s-1")
    assert run.status == "completed"

    span = crs_spans.span(SpanName.AGENT)
    attributes = span.attributes or {}
    assert attributes[SpanAttr.AGENT_RUN_ID] == "s-1"
    assert attributes[SpanAttr.AGENT_STEPS] == 2
    assert span.status.is_ok
    assert [s.name for s in crs_spans.children(span)] == [
        SpanName.LLM,
        SpanName.TOOL,
        SpanName.LLM,
    ]


def test_a_failed_run_is_an_error_span(
    crs_sandbox: Sandbox,
    crs_adapter: ComposioAdapter,
    crs_faults: FaultPlan,
    crs_spans: CapturedTelemetry,
) -> None:
    crs_faults.on(llm(), auth_expired())
    run = agent(crs_sandbox, crs_adapter).run("Anything")
    assert run.status == "failed"
    span = crs_spans.span(SpanName.AGENT)
    assert not span.status.is_ok
    assert (span.attributes or {})[SpanAttr.ERROR_TYPE] == "auth"

"""crs.llm calls as telemetry: one ``crs.llm.call`` span per call, one child per attempt."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the OpenTelemetry SDK is not installed")

from crs.clock import VirtualClock
from crs.llm import AsyncLLMClient, LLMClient, LLMConfig, LLMError
from crs.sandbox import Sandbox
from crs.telemetry import MetricName, SpanAttr, SpanName
from pytest_crs._telemetry import CapturedTelemetry
from pytest_crs.faults import FaultPlan, auth_expired, llm, rate_limit


def test_a_retried_call_is_one_span_with_an_attempt_per_try(
    crs_sandbox: Sandbox,
    crs_faults: FaultPlan,
    crs_clock: VirtualClock,
    crs_spans: CapturedTelemetry,
) -> None:
    crs_faults.on(llm(), rate_limit(retry_after=3).times(2))
    client = LLMClient(LLMConfig(model="gpt-4o", max_tokens=64), client=crs_sandbox.openai_client())
    reply = client.complete("hi")

    call = crs_spans.span(SpanName.LLM)
    attributes = call.attributes or {}
    assert attributes[SpanAttr.GEN_AI_REQUEST_MODEL] == "gpt-4o"
    assert attributes[SpanAttr.GEN_AI_RESPONSE_MODEL] == reply.model
    assert attributes[SpanAttr.ATTEMPT] == 3
    assert reply.usage is not None
    assert attributes[SpanAttr.GEN_AI_USAGE_INPUT_TOKENS] == reply.usage.prompt_tokens
    assert [s.name for s in crs_spans.children(call)] == [SpanName.LLM_ATTEMPT] * 3
    assert crs_spans.total(MetricName.LLM_RETRIES) == 2
    assert crs_clock.sleeps == [3.0, 3.0]


def test_a_failed_async_call_is_an_error_span(
    crs_sandbox: Sandbox, crs_faults: FaultPlan, crs_spans: CapturedTelemetry
) -> None:
    crs_faults.on(llm(), auth_expired())

    async def call() -> None:
        async with crs_sandbox.async_openai_client() as sdk:
            await AsyncLLMClient(LLMConfig(model="gpt-4o"), client=sdk).complete("hi")

    with pytest.raises(LLMError):
        asyncio.run(call())
    span = crs_spans.span(SpanName.LLM)
    assert not span.status.is_ok
    assert (span.attributes or {})[SpanAttr.ERROR_TYPE] == "auth"

"""stream(): text deltas as they arrive, tool-call deltas assembled into the final response.

The same LLMResponse a non-streamed call gives, so an agent loop can switch between the two
without a second parser; and a stream that breaks is classified like any other failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from crs import CrsError, VirtualClock
from crs.llm import AsyncLLMClient, LLMClient, LLMConfig, LLMError, LLMResponse, ToolArgumentsError
from crs.resilience import ErrorType
from crs.sandbox import AssistantTurn, Sandbox, ToolCall
from pytest_crs.faults import FaultPlan, latency, llm, rate_limit, stream_cut

MakeClient = Callable[..., LLMClient]
WORDS = ["streamed ", "words ", "arrive ", "one ", "by ", "one"]


def test_text_arrives_in_deltas_and_the_response_holds_it_all(
    make_client: MakeClient, crs_sandbox: Sandbox
) -> None:
    crs_sandbox.script(["streamed words arrive one by one"], model="m")
    client = make_client(model="m")

    with client.stream("tell me") as stream:
        with pytest.raises(CrsError, match="not been read to the end"):
            _ = stream.response
        deltas = list(stream)

    assert deltas == WORDS
    response = stream.response
    assert response.content == "streamed words arrive one by one"
    assert response.finish_reason == "stop"
    assert response.usage is not None  # include_usage is asked for
    assert response.usage.completion_tokens > 0
    assert (response.model, response.attempts, response.tool_calls) == ("m", 1, ())
    assert crs_sandbox.requests[0].body["stream"] is True
    assert client.stats().succeeded == 1


def test_tool_call_deltas_are_assembled_and_parsed(
    make_client: MakeClient, crs_sandbox: Sandbox, weather: dict[str, Any]
) -> None:
    """The sandbox sends arguments in 16-character fragments, as OpenAI does in pieces."""
    arguments = {"city": "Reykjavik", "unit": "celsius", "note": "a long enough value"}
    crs_sandbox.script(
        [
            AssistantTurn(
                "Let me check.",
                (
                    ToolCall("get_weather", arguments, id="call_7"),
                    ToolCall("get_weather", {"city": "Oslo"}, id="call_8"),
                ),
            )
        ],
        model="m",
    )
    stream = make_client(model="m").stream("weather?", tools=[weather])

    assert "".join(stream) == "Let me check."
    response = stream.response
    assert [(c.id, c.name, dict(c.arguments)) for c in response.tool_calls] == [
        ("call_7", "get_weather", arguments),
        ("call_8", "get_weather", {"city": "Oslo"}),
    ]
    assert response.finish_reason == "tool_calls"


def test_final_response_reads_the_rest(make_client: MakeClient, crs_sandbox: Sandbox) -> None:
    crs_sandbox.script(["streamed words arrive one by one"], model="m")
    stream = make_client(model="m").stream("x")
    assert next(stream) == "streamed "
    assert stream.final_response().content == "streamed words arrive one by one"


def test_bad_streamed_arguments_raise_at_the_end(
    make_client: MakeClient, crs_sandbox: Sandbox
) -> None:
    crs_sandbox.script([ToolCall("get_weather", '{"city": ', id="call_1")], model="m")
    client = make_client(model="m")
    with pytest.raises(ToolArgumentsError, match="get_weather"):
        list(client.stream("x"))
    assert client.stats().failures_by_type == {ErrorType.VALIDATION: 1}


def test_opening_the_stream_is_retried(
    make_client: MakeClient, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), rate_limit(retry_after=3))
    stream = make_client().stream("hello")
    assert "".join(stream)
    assert stream.response.attempts == 2
    assert crs_clock.sleeps == [3.0]


def test_a_stream_cut_mid_answer_is_a_classified_error(
    make_client: MakeClient, crs_sandbox: Sandbox, crs_faults: FaultPlan
) -> None:
    """Text already delivered cannot be taken back, so a broken stream is not retried."""
    crs_sandbox.script(["streamed words arrive one by one"], model="m")
    crs_faults.on(llm(), stream_cut(after_events=3))
    client = make_client(model="m")
    received: list[str] = []

    with pytest.raises(LLMError) as caught:
        received.extend(client.stream("x"))

    assert received == WORDS[:2]  # the first event is the role, then two words
    assert caught.value.kind is ErrorType.CONNECTION
    assert crs_faults.attempts(llm()) == 1
    stats = client.stats()
    assert stats.failures_by_type == {ErrorType.CONNECTION: 1}
    assert stats.attempt_failures_by_type == {ErrorType.CONNECTION: 1}


def test_the_async_stream_gives_the_same_response(
    crs_sandbox: Sandbox, crs_clock: VirtualClock, weather: dict[str, Any]
) -> None:
    crs_sandbox.script(
        [
            "streamed words arrive one by one",
            ToolCall("get_weather", {"city": "Oslo", "unit": "celsius"}, id="c1"),
        ],
        model="m",
    )

    async def scenario() -> tuple[list[str], LLMResponse, LLMResponse]:
        async with crs_sandbox.async_openai_client() as raw:
            client = AsyncLLMClient(LLMConfig(model="m"), client=raw)
            async with client.stream("x") as text_stream:
                deltas = [delta async for delta in text_stream]
            tool_stream = client.stream("weather?", tools=[weather])
            return deltas, text_stream.response, await tool_stream.final_response()

    deltas, text, tools = asyncio.run(scenario())
    assert deltas == WORDS
    assert text.content == "".join(WORDS)
    assert tools.tool_calls[0].arguments == {"city": "Oslo", "unit": "celsius"}
    assert tools.content is None


def test_the_async_stream_is_timed_out_on_the_crs_clock(
    crs_sandbox: Sandbox, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), latency(90).times(1))

    async def scenario() -> LLMResponse:
        async with crs_sandbox.async_openai_client() as raw:
            client = AsyncLLMClient(LLMConfig(model="gpt-4o", timeout=20), client=raw)
            return await client.stream("hello").final_response()

    response = asyncio.run(scenario())
    assert response.attempts == 2
    assert response.history[0].classification.kind is ErrorType.TIMEOUT
    assert response.history[0].duration == 20.0

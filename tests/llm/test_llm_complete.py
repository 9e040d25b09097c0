"""complete() against the real openai SDK and the sandbox: answers, tool calls, bad arguments.

Tool-call arguments are JSON the model wrote; the client hands an agent a dict, or an error
naming the tool and showing the text, never a JSONDecodeError from deep inside its loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from crs import VirtualClock, classify
from crs.llm import (
    AsyncLLMClient,
    LLMClient,
    LLMConfig,
    LLMToolCall,
    ToolArgumentsError,
)
from crs.resilience import ErrorType
from crs.sandbox import AssistantTurn, Sandbox, ToolCall

MakeClient = Callable[..., LLMClient]


def test_a_plain_answer(make_client: MakeClient, crs_clock: VirtualClock) -> None:
    client = make_client(model="gpt-4o-mini")
    response = client.complete("hello there")

    assert response.content is not None
    assert "hello there" in response.content
    assert response.finish_reason == "stop"
    assert response.model == "gpt-4o-mini"
    assert response.tool_calls == ()
    assert response.usage is not None
    assert response.usage.total_tokens == (
        response.usage.prompt_tokens + response.usage.completion_tokens
    )
    assert response.attempts == 1
    assert response.latency == 0.0  # on the virtual clock: a real request costs no virtual time
    stats = client.stats()
    assert (stats.requests, stats.succeeded, stats.failed, stats.attempts) == (1, 1, 0, 1)
    assert stats.completion_tokens == response.usage.completion_tokens


def test_the_config_shapes_the_request(make_client: MakeClient, crs_sandbox: Sandbox) -> None:
    """Model, token limit, temperature and the system prompt all reach the wire."""
    crs_sandbox.script(["ok"], model="planner")
    client = make_client(model="planner", max_tokens=64, temperature=0.2, system_prompt="You plan.")
    client.complete("go")

    [sent] = crs_sandbox.requests
    assert sent.body["model"] == "planner"
    assert sent.body["max_completion_tokens"] == 64
    assert sent.body["temperature"] == 0.2
    assert sent.body["messages"] == [
        {"role": "system", "content": "You plan."},
        {"role": "user", "content": "go"},
    ]


def test_per_call_options_override_and_a_given_system_message_wins(
    make_client: MakeClient, crs_sandbox: Sandbox
) -> None:
    client = make_client(system_prompt="default prompt", temperature=None)
    client.complete(
        [{"role": "system", "content": "mine"}, {"role": "user", "content": "x"}],
        model="gpt-4o-mini",
        max_tokens=5,
        seed=7,
    )

    [sent] = crs_sandbox.requests
    assert sent.body["model"] == "gpt-4o-mini"
    assert [m["content"] for m in sent.body["messages"]] == ["mine", "x"]
    assert sent.body["max_tokens"] == 5
    assert "max_completion_tokens" not in sent.body
    assert "temperature" not in sent.body
    assert sent.body["seed"] == 7


def test_scripted_tool_calls_come_back_parsed_and_feed_the_next_turn(
    make_client: MakeClient, crs_sandbox: Sandbox, weather: dict[str, Any]
) -> None:
    crs_sandbox.script(
        [
            [
                ToolCall("get_weather", {"city": "Oslo", "unit": "celsius"}, id="call_1"),
                ToolCall("get_weather", {"city": "Rome", "unit": "celsius"}, id="call_2"),
            ],
            "Cold in Oslo, warm in Rome.",
        ],
        model="planner",
    )
    client = make_client(model="planner")
    first = client.complete("weather?", tools=[weather], tool_choice="auto")

    assert first.finish_reason == "tool_calls"
    assert first.content is None
    assert [(c.id, c.name, dict(c.arguments)) for c in first.tool_calls] == [
        ("call_1", "get_weather", {"city": "Oslo", "unit": "celsius"}),
        ("call_2", "get_weather", {"city": "Rome", "unit": "celsius"}),
    ]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "weather?"}]
    messages.append(first.to_message())
    messages += [
        {"role": "tool", "tool_call_id": call.id, "content": "ok"} for call in first.tool_calls
    ]
    second = client.complete(messages, tools=[weather])
    assert second.content == "Cold in Oslo, warm in Rome."
    assert crs_sandbox.requests[0].body["tool_choice"] == "auto"


def test_a_bare_function_definition_is_wrapped_as_a_tool(
    make_client: MakeClient, crs_sandbox: Sandbox, weather: dict[str, Any]
) -> None:
    """The default model calls every offered tool once, with schema-valid arguments."""
    response = make_client().complete("go", tools=[weather["function"]])

    [call] = response.tool_calls
    assert isinstance(call, LLMToolCall)
    assert call.name == "get_weather"
    assert set(call.arguments) == {"city", "unit"}
    assert crs_sandbox.requests[0].body["tools"] == [weather]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [('{"city": "Oslo",', "invalid JSON"), ('["Oslo"]', "a JSON list, not an object")],
)
def test_arguments_that_are_not_a_json_object_name_the_tool_and_the_text(
    make_client: MakeClient, crs_sandbox: Sandbox, weather: dict[str, Any], raw: str, problem: str
) -> None:
    crs_sandbox.script([ToolCall("get_weather", raw, id="call_9")], model="planner")
    client = make_client(model="planner")

    with pytest.raises(ToolArgumentsError) as caught:
        client.complete("weather?", tools=[weather])

    error = caught.value
    assert "'get_weather'" in str(error)
    assert "call_9" in str(error)
    assert problem in str(error)
    assert repr(raw) in str(error)
    assert (error.tool, error.call_id, error.arguments) == ("get_weather", "call_9", raw)
    assert classify(error).kind is ErrorType.VALIDATION
    assert not classify(error).retryable
    stats = client.stats()
    assert stats.failures_by_type == {ErrorType.VALIDATION: 1}
    assert stats.attempts == 1  # the request itself succeeded; nothing was retried


def test_empty_arguments_mean_no_arguments(make_client: MakeClient, crs_sandbox: Sandbox) -> None:
    crs_sandbox.script([AssistantTurn("checking", (ToolCall("ping", "", id="c"),))], model="m")
    response = make_client(model="m").complete("ping?")
    assert response.content == "checking"
    assert response.tool_calls[0].arguments == {}


def test_the_async_client_answers_and_parses_tool_calls(
    crs_sandbox: Sandbox, crs_clock: VirtualClock, weather: dict[str, Any]
) -> None:
    crs_sandbox.script([ToolCall("get_weather", {"city": "Oslo", "unit": "celsius"})], model="m")

    async def scenario() -> tuple[Any, Any]:
        async with crs_sandbox.async_openai_client() as raw:
            client = AsyncLLMClient(LLMConfig(model="m"), client=raw)
            called = await client.complete("weather?", tools=[weather])
            plain = await client.complete("hello", model="gpt-4o")
            assert client.stats().succeeded == 2
            return called, plain

    called, plain = asyncio.run(scenario())
    assert called.tool_calls[0].arguments == {"city": "Oslo", "unit": "celsius"}
    assert plain.content
    assert "hello" in plain.content
    assert plain.latency == 0.0

"""The real ``openai`` client against the sandbox's Chat Completions and Models endpoints.

Every transport the SDK can run on is exercised: its default (httpx2), a legacy ``httpx``
client, sync and async, streaming and not.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from pydantic import BaseModel

from crs.sandbox import AssistantTurn, Sandbox, ToolCall

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 2},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
CREATE_ISSUE = {
    "type": "function",
    "function": {
        "name": "create_issue",
        "parameters": {
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "labels": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "priority": {"type": "integer", "minimum": 1, "maximum": 5},
            },
            "required": ["title", "labels", "priority"],
        },
    },
}


@pytest.fixture(params=["httpx2", "httpx"])
def client(request: pytest.FixtureRequest, crs_sandbox: Sandbox) -> Iterator[Any]:
    """The sync client on the SDK's default transport and on a legacy ``httpx.Client``."""
    if request.param == "httpx":
        with httpx.Client() as http_client:
            yield crs_sandbox.openai_client(http_client=http_client, max_retries=0)
    else:
        yield crs_sandbox.openai_client(max_retries=0)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def run_tool_loop(client: Any, tools: list[dict[str, Any]]) -> tuple[list[Any], str]:
    """The canonical agent loop: call the model, run its tool calls, feed results back."""
    messages: list[Any] = user("Plan the work")
    calls = []
    for _ in range(5):
        reply = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
        message = reply.choices[0].message
        if not message.tool_calls:
            return calls, message.content
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            calls.append(call)
            result = {"ok": True, "tool": call.function.name}
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
            )
    raise AssertionError("the default model never stopped calling tools")


def test_plain_text_reply_has_openai_shape(client: Any) -> None:
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=user("hello there"))

    assert reply.object == "chat.completion"
    assert reply.model == "gpt-4o-mini"
    assert reply.id.startswith("chatcmpl-")
    assert reply.choices[0].finish_reason == "stop"
    assert "hello there" in reply.choices[0].message.content
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert reply.usage.completion_tokens > 0


def test_default_model_calls_each_tool_with_schema_valid_arguments_then_summarises(
    client: Any,
) -> None:
    calls, answer = run_tool_loop(client, [WEATHER, CREATE_ISSUE])

    assert sorted(call.function.name for call in calls) == ["create_issue", "get_weather"]
    for call, tool in zip(calls, [WEATHER, CREATE_ISSUE], strict=True):
        arguments = json.loads(call.function.arguments)
        jsonschema.validate(arguments, tool["function"]["parameters"])  # type: ignore[index]
    assert answer.startswith("Summary of 2 tool results")
    assert "get_weather" in answer
    assert "create_issue" in answer


def test_parallel_tool_calls_false_calls_one_tool_per_turn(client: Any) -> None:
    first = client.chat.completions.create(
        model="gpt-4o", messages=user("go"), tools=[WEATHER, CREATE_ISSUE],
        parallel_tool_calls=False,
    )

    assert [c.function.name for c in first.choices[0].message.tool_calls] == ["get_weather"]
    assert first.choices[0].finish_reason == "tool_calls"


def test_tool_choice_none_and_named_function(client: Any) -> None:
    none = client.chat.completions.create(
        model="gpt-4o", messages=user("go"), tools=[WEATHER], tool_choice="none"
    )
    named = client.chat.completions.create(
        model="gpt-4o",
        messages=user("go"),
        tools=[WEATHER, CREATE_ISSUE],
        tool_choice={"type": "function", "function": {"name": "create_issue"}},
    )

    assert none.choices[0].message.tool_calls is None
    assert [c.function.name for c in named.choices[0].message.tool_calls] == ["create_issue"]


def test_same_request_gets_the_same_response(client: Any) -> None:
    ask = {"model": "gpt-4o", "messages": user("go"), "tools": [WEATHER, CREATE_ISSUE]}

    first = client.chat.completions.create(**ask).model_dump()
    second = client.chat.completions.create(**ask).model_dump()

    # ``created`` is the sandbox clock's time of answering (real here): the two calls may
    # straddle a second boundary. Everything else is a function of the request.
    assert 0 <= second.pop("created") - first.pop("created") <= 1
    assert first == second


def test_seed_changes_what_the_default_model_invents() -> None:
    ask = {"model": "gpt-4o", "messages": user("go"), "tools": [CREATE_ISSUE]}
    answers = []
    for seed in (1, 2):
        with Sandbox(seed=seed) as sandbox:
            reply = sandbox.openai_client(max_retries=0).chat.completions.create(**ask)
            answers.append(reply.choices[0].message.tool_calls[0].function.arguments)

    assert answers[0] != answers[1]


def test_streaming_reassembles_to_the_same_text(client: Any) -> None:
    whole = client.chat.completions.create(model="gpt-4o", messages=user("say something long"))
    stream = client.chat.completions.create(
        model="gpt-4o", messages=user("say something long"), stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert len(chunks) > 3, "the text should arrive in several chunks"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.total_tokens == whole.usage.total_tokens


def test_streaming_tool_calls_reassemble(client: Any) -> None:
    whole = client.chat.completions.create(model="gpt-4o", messages=user("go"), tools=[WEATHER])
    expected = whole.choices[0].message.tool_calls[0]

    arguments, names, ids = "", [], []
    for chunk in client.chat.completions.create(
        model="gpt-4o", messages=user("go"), tools=[WEATHER], stream=True
    ):
        for delta in chunk.choices[0].delta.tool_calls or []:
            arguments += delta.function.arguments or ""
            names += [delta.function.name] if delta.function.name else []
            ids += [delta.id] if delta.id else []

    assert names == ["get_weather"]
    assert ids == [expected.id]
    assert json.loads(arguments) == json.loads(expected.function.arguments)


def test_stream_helper_accumulates_a_final_completion(crs_sandbox: Sandbox) -> None:
    client = crs_sandbox.openai_client(max_retries=0)
    with client.chat.completions.stream(
        model="gpt-4o", messages=user("go"), tools=[CREATE_ISSUE]
    ) as stream:
        final = stream.get_final_completion()

    call = final.choices[0].message.tool_calls[0]
    jsonschema.validate(
        json.loads(call.function.arguments), CREATE_ISSUE["function"]["parameters"]  # type: ignore[index]
    )


class Ticket(BaseModel):
    title: str
    severity: int
    tags: list[str]


def test_structured_output_parses_into_the_model(client: Any) -> None:
    reply = client.chat.completions.parse(
        model="gpt-4o", messages=user("file a ticket"), response_format=Ticket
    )

    ticket = reply.choices[0].message.parsed
    assert isinstance(ticket, Ticket)
    assert ticket.title


def test_models_are_listed_and_retrievable(client: Any) -> None:
    listed = [model.id for model in client.models.list()]
    one = client.models.retrieve("gpt-4o")

    assert "gpt-4o" in listed
    assert one.id == "gpt-4o"
    assert one.owned_by == "crs-sandbox"


def test_wrong_key_is_a_401_in_openai_shape(crs_sandbox: Sandbox) -> None:
    client = crs_sandbox.openai_client(api_key="sk-wrong", max_retries=0)

    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=user("hi"))

    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert "sk-wrong" not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "gpt-4o"}, "messages"),
        ({"model": "gpt-4o", "messages": []}, "messages"),
        ({"model": "gpt-4o", "messages": [{"role": "wizard", "content": "x"}]},
         "messages[0].role"),
        ({"model": "gpt-4o", "messages": [{"role": "tool", "content": "x"}]},
         "messages[0].tool_call_id"),
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}],
          "tools": [{"type": "function", "function": {"name": "bad name!"}}]},
         "tools[0].function.name"),
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}],
          "tool_choice": {"type": "function", "function": {"name": "missing"}}},
         "tool_choice"),
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
    ],
)
def test_invalid_requests_are_400s_naming_the_param(
    crs_sandbox: Sandbox, body: dict[str, Any], param: str
) -> None:
    response = httpx.post(
        f"{crs_sandbox.openai_base_url}/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {crs_sandbox.api_key}"},
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert param.split("[", maxsplit=1)[0].split(".", maxsplit=1)[0] in error["message"]


def test_malformed_json_is_a_400(crs_sandbox: Sandbox) -> None:
    response = httpx.post(
        f"{crs_sandbox.openai_base_url}/chat/completions",
        content=b"{not json",
        headers={"authorization": f"Bearer {crs_sandbox.api_key}"},
    )

    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]


def test_unknown_path_is_a_404_in_openai_shape(crs_sandbox: Sandbox) -> None:
    response = httpx.get(f"{crs_sandbox.openai_base_url}/engines")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_url"


class TestScripts:
    def test_turns_play_in_order_per_model(self, crs_sandbox: Sandbox) -> None:
        crs_sandbox.script(
            [ToolCall("get_weather", {"city": "Oslo", "unit": "celsius"}, id="call_1"), "Cold."],
            model="planner",
        )
        client = crs_sandbox.openai_client(max_retries=0)

        first = client.chat.completions.create(model="planner", messages=user("weather?"))
        second = client.chat.completions.create(model="planner", messages=user("and?"))
        other = client.chat.completions.create(model="gpt-4o", messages=user("hi"))

        call = first.choices[0].message.tool_calls[0]
        assert (call.id, call.function.name) == ("call_1", "get_weather")
        assert json.loads(call.function.arguments) == {"city": "Oslo", "unit": "celsius"}
        assert second.choices[0].message.content == "Cold."
        assert "crs sandbox model" in other.choices[0].message.content

    def test_session_script_wins_over_model_script(self, crs_sandbox: Sandbox) -> None:
        crs_sandbox.script(["by model"], model="gpt-4o")
        crs_sandbox.script(["by session"], session="s-1")

        mine = crs_sandbox.openai_client(session="s-1", max_retries=0)
        theirs = crs_sandbox.openai_client(max_retries=0)

        assert mine.chat.completions.create(
            model="gpt-4o", messages=user("x")
        ).choices[0].message.content == "by session"
        assert theirs.chat.completions.create(
            model="gpt-4o", messages=user("x")
        ).choices[0].message.content == "by model"

    def test_parallel_calls_and_callables(self, crs_sandbox: Sandbox) -> None:
        def echo_count(conversation: Any) -> str:
            return f"{len(conversation.messages)} messages"

        crs_sandbox.script(
            [[ToolCall("a"), ToolCall("b")], AssistantTurn("both", (ToolCall("c"),)), echo_count],
            model="m",
        )
        client = crs_sandbox.openai_client(max_retries=0)

        first, second, third = (
            client.chat.completions.create(model="m", messages=user("x")) for _ in range(3)
        )

        assert [c.function.name for c in first.choices[0].message.tool_calls] == ["a", "b"]
        assert second.choices[0].message.content == "both"
        assert third.choices[0].message.content == "1 messages"

    def test_exhausted_script_is_a_clear_400(self, crs_sandbox: Sandbox) -> None:
        crs_sandbox.script(["only"], model="m")
        client = crs_sandbox.openai_client(max_retries=0)
        client.chat.completions.create(model="m", messages=user("x"))

        with pytest.raises(openai.BadRequestError, match="no turn left"):
            client.chat.completions.create(model="m", messages=user("x"))

    def test_a_failing_script_function_is_a_clear_400(self, crs_sandbox: Sandbox) -> None:
        def broken(conversation: Any) -> str:
            raise KeyError("no plan")

        crs_sandbox.script([broken, lambda conversation: 42], model="m")
        client = crs_sandbox.openai_client(max_retries=0)

        with pytest.raises(openai.BadRequestError, match=r"turn 0 .* raised KeyError"):
            client.chat.completions.create(model="m", messages=user("x"))
        with pytest.raises(openai.BadRequestError, match=r"value returned by turn 1 .* is 42"):
            client.chat.completions.create(model="m", messages=user("x"))

    def test_unused_turns_are_reported(self, crs_sandbox: Sandbox) -> None:
        crs_sandbox.script(["one", "two"], model="m")
        crs_sandbox.script(["optional"], model="n", strict=False)
        crs_sandbox.openai_client(max_retries=0).chat.completions.create(
            model="m", messages=user("x")
        )

        assert crs_sandbox.unused_script_turns() == [
            "the script for model 'm' used 1 of its 2 turns"
        ]
        crs_sandbox.reset()  # this test leaves turns unused on purpose

    def test_scripted_stream(self, crs_sandbox: Sandbox) -> None:
        crs_sandbox.script(["streamed words arrive one by one"], model="m")
        client = crs_sandbox.openai_client(max_retries=0)

        pieces = [
            c.choices[0].delta.content
            for c in client.chat.completions.create(model="m", messages=user("x"), stream=True)
            if c.choices and c.choices[0].delta.content
        ]

        assert pieces == ["streamed ", "words ", "arrive ", "one ", "by ", "one"]


def test_async_client_on_both_transports(crs_sandbox: Sandbox) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient() as legacy:
            for client in (
                crs_sandbox.async_openai_client(max_retries=0),
                crs_sandbox.async_openai_client(http_client=legacy, max_retries=0),
            ):
                async with client:
                    reply = await client.chat.completions.create(
                        model="gpt-4o", messages=user("go"), tools=[WEATHER]
                    )
                    stream = await client.chat.completions.create(
                        model="gpt-4o", messages=user("hello"), stream=True
                    )
                    text = "".join([c.choices[0].delta.content or "" async for c in stream])

                tool_call = reply.choices[0].message.tool_calls[0]
                jsonschema.validate(
                    json.loads(tool_call.function.arguments),
                    WEATHER["function"]["parameters"],  # type: ignore[index]
                )
                assert "hello" in text

    asyncio.run(scenario())

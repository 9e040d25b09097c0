"""The real ``openai`` client against the sandbox's Responses API: text and function calls."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jsonschema
import openai
import pytest

from crs.sandbox import Sandbox, ToolCall

LOOKUP = {
    "type": "function",
    "name": "lookup_order",
    "description": "Find an order by id.",
    "parameters": {
        "type": "object",
        "properties": {"order_id": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"}},
        "required": ["order_id"],
        "additionalProperties": False,
    },
    "strict": True,
}


@pytest.fixture
def client(crs_sandbox: Sandbox) -> Any:
    return crs_sandbox.openai_client(max_retries=0)


def test_text_response(client: Any) -> None:
    response = client.responses.create(
        model="gpt-4.1", instructions="Be brief.", input="What is a cassette?"
    )

    assert response.object == "response"
    assert response.status == "completed"
    assert response.id.startswith("resp_")
    assert "What is a cassette?" in response.output_text
    assert response.usage.total_tokens == (
        response.usage.input_tokens + response.usage.output_tokens
    )


def test_function_call_round_trip_with_previous_response_id(client: Any) -> None:
    first = client.responses.create(model="gpt-4.1", input="Where is my order?", tools=[LOOKUP])
    call = next(item for item in first.output if item.type == "function_call")
    jsonschema.validate(json.loads(call.arguments), LOOKUP["parameters"])

    second = client.responses.create(
        model="gpt-4.1",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '"shipped"'}],
        tools=[LOOKUP],
    )

    assert second.output_text.startswith("Summary of 1 tool result")
    assert 'lookup_order: "shipped"' in second.output_text


def test_full_history_gets_the_same_answer_as_previous_response_id(client: Any) -> None:
    first = client.responses.create(model="gpt-4.1", input="Where is my order?", tools=[LOOKUP])
    call = first.output[0]
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "ok"}

    chained = client.responses.create(
        model="gpt-4.1", previous_response_id=first.id, input=[output], tools=[LOOKUP]
    )
    resent = client.responses.create(
        model="gpt-4.1",
        input=[
            {"role": "user", "content": "Where is my order?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name,
             "arguments": call.arguments},
            output,
        ],
        tools=[LOOKUP],
    )

    assert chained.output_text == resent.output_text


def test_unknown_previous_response_is_a_400(client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-4.1", input="x", previous_response_id="resp_nope")

    assert caught.value.param == "previous_response_id"


def test_scripted_turns_work_on_responses_too(crs_sandbox: Sandbox, client: Any) -> None:
    crs_sandbox.script([ToolCall("lookup_order", {"order_id": "ABC-1234"}), "Done."], model="m")

    first = client.responses.create(model="m", input="x", tools=[LOOKUP])
    second = client.responses.create(model="m", input="y")

    assert first.output[0].name == "lookup_order"
    assert json.loads(first.output[0].arguments) == {"order_id": "ABC-1234"}
    assert second.output_text == "Done."


def test_streamed_events_rebuild_the_response(client: Any) -> None:
    whole = client.responses.create(model="gpt-4.1", input="stream me please", store=False)
    events = list(client.responses.create(model="gpt-4.1", input="stream me please", stream=True))

    types = [event.type for event in events]
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == whole.output_text
    assert events[-1].response.output_text == whole.output_text


def test_stream_helper_accumulates_function_calls(client: Any) -> None:
    with client.responses.stream(model="gpt-4.1", input="find it", tools=[LOOKUP]) as stream:
        final = stream.get_final_response()

    call = final.output[0]
    assert call.type == "function_call"
    jsonschema.validate(json.loads(call.arguments), LOOKUP["parameters"])


def test_structured_output_through_text_format(client: Any) -> None:
    schema = {
        "type": "object",
        "properties": {"verdict": {"type": "string", "enum": ["pass", "fail"]}},
        "required": ["verdict"],
        "additionalProperties": False,
    }
    response = client.responses.create(
        model="gpt-4.1",
        input="judge",
        text={"format": {"type": "json_schema", "name": "verdict", "schema": schema}},
    )

    jsonschema.validate(json.loads(response.output_text), schema)


def test_non_function_tools_are_refused(client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-4.1", input="x", tools=[{"type": "web_search"}])

    assert caught.value.param == "tools[0]"


def test_async_client(crs_sandbox: Sandbox) -> None:
    async def scenario() -> str:
        async with crs_sandbox.async_openai_client(max_retries=0) as client:
            response = await client.responses.create(model="gpt-4.1", input="async hello")
            return str(response.output_text)

    assert "async hello" in asyncio.run(scenario())


def test_stored_responses_are_bounded_oldest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from crs.sandbox import _state

    monkeypatch.setattr(_state, "HISTORY_LIMIT", 2)
    state = _state.SandboxState(api_key="k")
    for response_id in ("resp_a", "resp_b", "resp_a", "resp_c"):
        state.remember_response(response_id, ())

    assert list(state.responses) == ["resp_a", "resp_c"]


@pytest.mark.parametrize(
    ("tool_choice", "message"),
    [
        ({"type": "function", "name": "missing"}, "no function named 'missing'"),
        ({"type": "function"}, "expected 'auto', 'none', 'required' or"),
    ],
)
def test_bad_tool_choice_is_a_400(client: Any, tool_choice: dict[str, str], message: str) -> None:
    with pytest.raises(openai.BadRequestError, match=message) as caught:
        client.responses.create(
            model="gpt-4.1", input="x", tools=[LOOKUP], tool_choice=tool_choice
        )

    assert caught.value.param == "tool_choice"

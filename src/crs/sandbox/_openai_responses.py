"""``POST /v1/responses``: the Responses API, for text and function calls.

Stateful like the real one: every stored response remembers its conversation, so a follow-up
request that sends only ``previous_response_id`` plus the new ``function_call_output`` items gets
the same answer as one that resent the whole history. Streaming emits the documented event
sequence (``response.created`` ... ``response.completed``) that the SDK's ``responses.stream()``
accumulator rebuilds the response from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crs.sandbox._fields import optional_bool, optional_mapping, optional_text, require_text
from crs.sandbox._http import BadRequest, json_response, read_json_object
from crs.sandbox._model import (
    AssistantTurn,
    Conversation,
    Message,
    ToolCall,
    ToolSpec,
    respond,
)
from crs.sandbox._openai_common import (
    SESSION_HEADER,
    authorized,
    content_text,
    output_schema,
    pieces,
    sse_response,
    stable_id,
    tool_choice,
    tool_spec,
    usage_counts,
)
from crs.sandbox._state import SandboxState

__all__ = ["routes"]

_ROLES = frozenset({"system", "developer", "user", "assistant"})


def routes(state: SandboxState) -> list[BaseRoute]:
    """The Responses route, bound to ``state``."""

    @authorized(state.api_key)
    async def create_response(request: Request) -> Response:
        body = await read_json_object(request)
        with state.lock:
            history = _history(body, state.responses)
        conversation = _conversation(body, history, request.headers.get(SESSION_HEADER), state)
        turn = respond(state.scripts, conversation)
        rendered = _Rendered(body, conversation, turn, created=int(state.now()))
        if optional_bool(body, "store", True):
            state.remember_response(rendered.id, (*conversation.messages, *rendered.messages()))
        if optional_bool(body, "stream", False):
            return sse_response(((e["type"], e) for e in rendered.events()), done=False)
        return json_response(rendered.response("completed"))

    return [Route("/v1/responses", create_response, methods=["POST"])]


def _history(
    body: Mapping[str, Any], stored: Mapping[str, tuple[Message, ...]]
) -> tuple[Message, ...]:
    previous = optional_text(body, "previous_response_id")
    if previous is None:
        return ()
    if previous not in stored:
        raise BadRequest(
            f"Previous response with id '{previous}' not found.", param="previous_response_id"
        )
    return stored[previous]


def _conversation(
    body: Mapping[str, Any], history: tuple[Message, ...], session: str | None, state: SandboxState
) -> Conversation:
    model = require_text(body, "model")
    instructions = optional_text(body, "instructions")
    messages = [Message("system", instructions)] if instructions else []
    messages += history
    messages += _input_messages(body.get("input"))
    tools = _tools(body.get("tools"))
    return Conversation(
        model=model,
        messages=tuple(messages),
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice"), {t.name for t in tools}),
        parallel_tool_calls=optional_bool(body, "parallel_tool_calls", True),
        response_schema=_response_schema(optional_mapping(body, "text")),
        session=session,
        seed=state.seed,
    )


def _input_messages(raw: object) -> list[Message]:
    if isinstance(raw, str):
        return [Message("user", raw)]
    if not isinstance(raw, list) or not raw:
        raise BadRequest(
            "Invalid 'input': expected a string or a non-empty array of input items.",
            param="input",
        )
    return [_item(item, f"input[{index}]") for index, item in enumerate(raw)]


def _item(raw: object, param: str) -> Message:
    if not isinstance(raw, Mapping):
        raise BadRequest(f"Invalid type for '{param}': expected an object.", param=param)
    kind = raw.get("type", "message")
    if kind == "function_call":
        call = ToolCall(
            require_text(raw, "name", f"{param}.name"),
            _arguments(raw, param),
            id=require_text(raw, "call_id", f"{param}.call_id"),
        )
        return Message("assistant", tool_calls=(call,))
    if kind == "function_call_output":
        output = raw.get("output")
        text = output if isinstance(output, str) else content_text(output, f"{param}.output")
        return Message("tool", text, tool_call_id=require_text(raw, "call_id", f"{param}.call_id"))
    if kind != "message":
        raise BadRequest(
            f"Invalid value for '{param}.type': the sandbox supports 'message', "
            f"'function_call' and 'function_call_output' items, got {kind!r}.",
            param=f"{param}.type",
        )
    role = require_text(raw, "role", f"{param}.role")
    if role not in _ROLES:
        raise BadRequest(
            f"Invalid value for '{param}.role': {role!r} is not one of "
            f"{', '.join(sorted(_ROLES))}.",
            param=f"{param}.role",
        )
    return Message(role, content_text(raw.get("content"), f"{param}.content"))


def _arguments(raw: Mapping[str, Any], param: str) -> str:
    arguments = raw.get("arguments", "")
    if not isinstance(arguments, str):
        raise BadRequest(
            f"Invalid type for '{param}.arguments': expected a JSON string.",
            param=f"{param}.arguments",
        )
    return arguments


def _tools(raw: object) -> tuple[ToolSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise BadRequest("Invalid type for 'tools': expected an array.", param="tools")
    specs = []
    for index, tool in enumerate(raw):
        if not isinstance(tool, Mapping) or tool.get("type") != "function":
            raise BadRequest(
                f"Invalid 'tools[{index}]': the sandbox supports tools of type 'function' only.",
                param=f"tools[{index}]",
            )
        specs.append(tool_spec(tool, f"tools[{index}]"))
    return tuple(specs)


def _tool_choice(raw: object, names: set[str]) -> str:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    return tool_choice(raw, name, names, "{'type': 'function', 'name': ...}")


def _response_schema(text: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    fmt = None if text is None else optional_mapping(text, "format", "text.format")
    kind = None if fmt is None else fmt.get("type")
    return output_schema(kind, fmt, format_param="text.format", schema_param="text.format.schema")


class _Rendered:
    """One model turn as a Responses API ``response`` object and as its stream of events."""

    def __init__(
        self,
        body: Mapping[str, Any],
        conversation: Conversation,
        turn: AssistantTurn,
        *,
        created: int,
    ):
        fingerprint = conversation.fingerprint()
        self.id = stable_id("resp_", fingerprint)
        self._body = body
        self._conversation = conversation
        self._created = created
        self._items: list[dict[str, Any]] = []
        if turn.text is not None:
            self._items.append(
                {
                    "id": stable_id("msg_", fingerprint),
                    "type": "message",
                    "status": "completed",
                    "role": "assistant",
                    "content": [
                        {
                            "type": "output_text",
                            "text": turn.text,
                            "annotations": [],
                            "logprobs": [],
                        }
                    ],
                }
            )
        for index, call in enumerate(turn.tool_calls):
            self._items.append(
                {
                    "id": stable_id("fc_", fingerprint, index),
                    "type": "function_call",
                    "status": "completed",
                    "call_id": call.id or stable_id("call_", fingerprint, index),
                    "name": call.name,
                    "arguments": call.arguments_json(),
                }
            )
        self._usage = usage_counts(conversation, turn)

    def messages(self) -> tuple[Message, ...]:
        """The output as conversation messages, for ``previous_response_id`` follow-ups."""
        out = []
        for item in self._items:
            if item["type"] == "message":
                out.append(Message("assistant", item["content"][0]["text"]))
            else:
                call = ToolCall(item["name"], item["arguments"], id=item["call_id"])
                out.append(Message("assistant", tool_calls=(call,)))
        return tuple(out)

    def response(self, status: str) -> dict[str, Any]:
        done = status == "completed"
        prompt, completion = self._usage
        return {
            "id": self.id,
            "object": "response",
            "created_at": self._created,
            "status": status,
            "error": None,
            "incomplete_details": None,
            "instructions": self._body.get("instructions"),
            "max_output_tokens": self._body.get("max_output_tokens"),
            "model": self._conversation.model,
            "output": self._items if done else [],
            "parallel_tool_calls": self._conversation.parallel_tool_calls,
            "previous_response_id": self._body.get("previous_response_id"),
            "store": self._body.get("store", True),
            "temperature": self._body.get("temperature", 1.0),
            "top_p": self._body.get("top_p", 1.0),
            "tool_choice": self._body.get("tool_choice", "auto"),
            "tools": self._body.get("tools", []),
            "text": self._body.get("text", {"format": {"type": "text"}}),
            "truncation": "disabled",
            "metadata": self._body.get("metadata") or {},
            "usage": {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": completion,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": prompt + completion,
            }
            if done
            else None,
        }

    def events(self) -> Iterator[dict[str, Any]]:
        """The streamed form, numbered with ``sequence_number`` as the API does."""
        events = [
            {"type": "response.created", "response": self.response("in_progress")},
            {"type": "response.in_progress", "response": self.response("in_progress")},
        ]
        for index, item in enumerate(self._items):
            events += _item_events(index, item)
        events.append({"type": "response.completed", "response": self.response("completed")})
        for number, event in enumerate(events):
            yield {**event, "sequence_number": number}


def _item_events(index: int, item: dict[str, Any]) -> list[dict[str, Any]]:
    where = {"output_index": index, "item_id": item["id"]}
    if item["type"] == "function_call":
        arguments = item["arguments"]
        pending = {**item, "status": "in_progress", "arguments": ""}
        return [
            {"type": "response.output_item.added", "output_index": index, "item": pending},
            *(
                {"type": "response.function_call_arguments.delta", **where, "delta": piece}
                for piece in pieces(arguments, width=16)
            ),
            {
                "type": "response.function_call_arguments.done",
                **where,
                "arguments": arguments,
                "name": item["name"],
            },
            {"type": "response.output_item.done", "output_index": index, "item": item},
        ]
    part = item["content"][0]
    pending = {**item, "status": "in_progress", "content": []}
    at = {**where, "content_index": 0}
    return [
        {"type": "response.output_item.added", "output_index": index, "item": pending},
        {"type": "response.content_part.added", **at, "part": {**part, "text": ""}},
        *(
            {"type": "response.output_text.delta", **at, "delta": piece, "logprobs": []}
            for piece in pieces(part["text"])
        ),
        {"type": "response.output_text.done", **at, "text": part["text"], "logprobs": []},
        {"type": "response.content_part.done", **at, "part": part},
        {"type": "response.output_item.done", "output_index": index, "item": item},
    ]

"""``POST /v1/chat/completions`` and ``GET /v1/models``: the Chat Completions wire format.

Parsing turns the request into a :class:`~crs.sandbox._model.Conversation`; rendering turns the
model's :class:`~crs.sandbox._model.AssistantTurn` into either one ``chat.completion`` object or
a stream of ``chat.completion.chunk`` events, exactly as the ``openai`` SDK expects to parse them
(including ``tool_calls`` deltas split across chunks and the usage-only final chunk).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crs.sandbox._fields import (
    optional_bool,
    optional_mapping,
    require_list,
    require_text,
)
from crs.sandbox._http import BadRequest, json_response, read_json_object
from crs.sandbox._model import (
    AssistantTurn,
    Conversation,
    Message,
    ToolCall,
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

__all__ = ["MODELS", "routes"]

#: Model ids listed by ``GET /v1/models``. Any model name is accepted in requests: tests pick
#: names freely (``"scripted-planner"``), and the default model answers for all of them.
MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o4-mini", "crs-sandbox")

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_FINGERPRINT = "fp_crs_sandbox"


def routes(state: SandboxState) -> list[BaseRoute]:
    """The Chat Completions and Models routes, bound to ``state``."""
    guard = authorized(state.api_key)

    @guard
    async def chat_completions(request: Request) -> Response:
        body = await read_json_object(request)
        conversation = parse_request(body, request.headers.get(SESSION_HEADER), state.seed)
        stream = optional_bool(body, "stream", False)
        options = optional_mapping(body, "stream_options") or {}
        include_usage = optional_bool(
            options, "include_usage", False, "stream_options.include_usage"
        )
        turn = respond(state.scripts, conversation)
        completion = _Completion(conversation, turn, created=int(state.now()))
        if stream:
            return sse_response(((None, c) for c in completion.chunks(include_usage)), done=True)
        return json_response(completion.whole())

    @guard
    async def list_models(_request: Request) -> Response:
        created = int(state.now())
        return json_response({"object": "list", "data": [_model(m, created) for m in MODELS]})

    @guard
    async def get_model(request: Request) -> Response:
        return json_response(_model(request.path_params["model"], int(state.now())))

    return [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", get_model, methods=["GET"]),
    ]


def _model(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "crs-sandbox"}


def parse_request(body: Mapping[str, Any], session: str | None, seed: int) -> Conversation:
    """Validate a Chat Completions request and reduce it to a :class:`Conversation`."""
    model = require_text(body, "model")
    n = body.get("n", 1)
    if n not in (None, 1):
        raise BadRequest(
            f"Invalid value for 'n': the sandbox generates one choice, got {n!r}.", param="n"
        )
    messages = tuple(
        _message(raw, f"messages[{index}]")
        for index, raw in enumerate(require_list(body, "messages"))
    )
    tools = tuple(
        _tool(raw, f"tools[{index}]")
        for index, raw in enumerate(require_list(body, "tools", allow_empty=True))
    )
    return Conversation(
        model=model,
        messages=messages,
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice"), {t.name for t in tools}),
        parallel_tool_calls=optional_bool(body, "parallel_tool_calls", True),
        response_schema=_response_schema(optional_mapping(body, "response_format")),
        session=session,
        seed=seed,
    )


def _message(raw: object, param: str) -> Message:
    if not isinstance(raw, Mapping):
        raise BadRequest(f"Invalid type for '{param}': expected an object.", param=param)
    role = require_text(raw, "role", f"{param}.role")
    if role not in _ROLES:
        raise BadRequest(
            f"Invalid value for '{param}.role': {role!r} is not one of "
            f"{', '.join(sorted(_ROLES))}.",
            param=f"{param}.role",
        )
    calls = tuple(
        _call(call, f"{param}.tool_calls[{index}]")
        for index, call in enumerate(require_list(raw, "tool_calls", allow_empty=True))
    )
    text = content_text(raw.get("content"), f"{param}.content")
    if role == "tool":
        call_id = require_text(raw, "tool_call_id", f"{param}.tool_call_id")
        return Message(role, text, tool_call_id=call_id)
    if role == "assistant" and raw.get("content") is None and not calls:
        raise BadRequest(
            f"Invalid '{param}': an assistant message needs content or tool_calls.", param=param
        )
    return Message(role, text, calls)


def _call(raw: object, param: str) -> ToolCall:
    if not isinstance(raw, Mapping):
        raise BadRequest(f"Invalid type for '{param}': expected an object.", param=param)
    function = optional_mapping(raw, "function", f"{param}.function")
    if function is None:
        raise BadRequest(f"Missing required parameter: '{param}.function'.", param=param)
    name = require_text(function, "name", f"{param}.function.name")
    arguments = function.get("arguments", "")
    if not isinstance(arguments, str):
        raise BadRequest(
            f"Invalid type for '{param}.function.arguments': expected a JSON string.",
            param=f"{param}.function.arguments",
        )
    return ToolCall(name, arguments, id=require_text(raw, "id", f"{param}.id"))


def _tool(raw: object, param: str) -> Any:
    if not isinstance(raw, Mapping) or raw.get("type") != "function":
        raise BadRequest(
            f"Invalid '{param}': the sandbox supports tools of type 'function' only.", param=param
        )
    function = optional_mapping(raw, "function", f"{param}.function")
    if function is None:
        raise BadRequest(f"Missing required parameter: '{param}.function'.", param=param)
    return tool_spec(function, f"{param}.function")


def _tool_choice(raw: object, names: set[str]) -> str:
    function = raw.get("function") if isinstance(raw, Mapping) else None
    name = function.get("name") if isinstance(function, Mapping) else None
    return tool_choice(raw, name, names, "{'type': 'function', 'function': {'name': ...}}")


def _response_schema(response_format: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    kind = None if response_format is None else response_format.get("type")
    holder = None
    if kind == "json_schema" and response_format is not None:
        holder = optional_mapping(response_format, "json_schema", "response_format.json_schema")
    return output_schema(
        kind,
        holder,
        format_param="response_format",
        schema_param="response_format.json_schema.schema",
    )


class _Completion:
    """One model turn rendered as a Chat Completions response, whole or as chunks."""

    def __init__(self, conversation: Conversation, turn: AssistantTurn, *, created: int):
        fingerprint = conversation.fingerprint()
        self._model = conversation.model
        self._created = created
        self._id = stable_id("chatcmpl-", fingerprint)
        self._text = turn.text
        self._calls = [
            (call.id or stable_id("call_", fingerprint, index), call)
            for index, call in enumerate(turn.tool_calls)
        ]
        self._finish = "tool_calls" if self._calls else "stop"
        self._usage = _usage(*usage_counts(conversation, turn))

    def _envelope(self, kind: str) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": kind,
            "created": self._created,
            "model": self._model,
            "system_fingerprint": _FINGERPRINT,
            "service_tier": "default",
        }

    def whole(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": self._text,
            "refusal": None,
            "annotations": [],
        }
        if self._calls:
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json()},
                }
                for call_id, call in self._calls
            ]
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": self._finish}
        return {**self._envelope("chat.completion"), "choices": [choice], "usage": self._usage}

    def chunks(self, include_usage: bool) -> Iterator[dict[str, Any]]:
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": "", "refusal": None}]
        deltas += [{"content": piece} for piece in pieces(self._text or "")]
        for index, (call_id, call) in enumerate(self._calls):
            head = {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            deltas.append({"tool_calls": [head]})
            deltas += [
                {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                for piece in pieces(call.arguments_json(), width=16)
            ]
        extra = {"usage": None} if include_usage else {}
        for delta in deltas:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
            yield {**self._envelope("chat.completion.chunk"), "choices": [choice], **extra}
        last = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": self._finish}
        yield {**self._envelope("chat.completion.chunk"), "choices": [last], **extra}
        if include_usage:
            yield {**self._envelope("chat.completion.chunk"), "choices": [], "usage": self._usage}


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }

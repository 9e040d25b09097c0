"""The OpenAI dialect's shared parts: its error shape, auth, ids, token counts and SSE framing.

Errors follow OpenAI's documented body, ``{"error": {"message", "type", "param", "code"}}``,
with OpenAI's rate-limit headers, because that is what the ``openai`` SDK parses into
``RateLimitError``, ``AuthenticationError`` and friends, and what its retry loop reads.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from crs._dialects import OPENAI
from crs.sandbox._fields import optional_mapping, optional_text, require_text
from crs.sandbox._http import ApiFamily, BadRequest, Handler, guard
from crs.sandbox._model import AssistantTurn, Conversation, ToolSpec

__all__ = [
    "FAMILY",
    "SESSION_HEADER",
    "authorized",
    "content_text",
    "estimate_tokens",
    "output_schema",
    "pieces",
    "sse_response",
    "stable_id",
    "tool_choice",
    "tool_spec",
    "usage_counts",
]

#: Header that routes a request to a per-session script (see ``Sandbox.script``).
SESSION_HEADER = "X-CRS-Session"

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

FAMILY = ApiFamily(OPENAI)


def authorized(api_key: str) -> Callable[[Handler], Handler]:
    """Wrap a route so it answers 401 unless ``Authorization: Bearer <api_key>`` is sent."""

    def problem(request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), api_key.encode()
        ):
            return None
        what = "No API key provided" if not token else "Incorrect API key provided"
        return f"{what}. The sandbox's key is Sandbox.api_key (printed by `crs sandbox`)."

    return guard(FAMILY, problem)


def stable_id(prefix: str, *parts: object) -> str:
    """A deterministic id such as ``chatcmpl-3f9a...``: same request, same id."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()
    return f"{prefix}{digest[:24]}"


def estimate_tokens(*texts: str) -> int:
    """A token count close enough for budgets and cost reports: about four characters a token.

    Real tokenizers need vocabulary files fetched from the internet; the sandbox must work
    offline, and deterministic counts matter more here than exact ones.
    """
    return sum(max(1, math.ceil(len(text) / 4)) for text in texts if text)


def usage_counts(conversation: Conversation, turn: AssistantTurn) -> tuple[int, int]:
    """Estimated ``(prompt, completion)`` tokens: the prompt counts every message, every earlier
    tool call and every tool definition offered, as the real API bills them."""
    prompt = [m.text for m in conversation.messages]
    prompt += [c.arguments_json() for m in conversation.messages for c in m.tool_calls]
    prompt += [f"{t.name}{t.description}{t.parameters}" for t in conversation.tools]
    answer = [turn.text or "", *(c.arguments_json() for c in turn.tool_calls)]
    return estimate_tokens(*prompt), estimate_tokens(*answer)


def sse_response(events: Iterable[tuple[str | None, Any]], *, done: bool) -> StreamingResponse:
    """A ``text/event-stream`` of ``(event name, JSON payload)`` pairs.

    Chat Completions sends nameless ``data:`` lines closed by ``data: [DONE]``; the Responses
    API names each event and sends no terminator. Each event is its own chunk on the wire, so
    clients (and recordings) see them one by one.
    """

    async def body() -> AsyncIterator[bytes]:
        for name, payload in events:
            head = f"event: {name}\n" if name else ""
            yield f"{head}data: {json.dumps(payload)}\n\n".encode()
        if done:
            yield b"data: [DONE]\n\n"

    return StreamingResponse(
        body(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
    )


def tool_spec(function: Mapping[str, Any], param: str) -> ToolSpec:
    """A function tool definition, checked as OpenAI checks it (name pattern, schema object)."""
    name = require_text(function, "name", f"{param}.name")
    if not _TOOL_NAME.match(name):
        raise BadRequest(
            f"Invalid '{param}.name': {name!r} does not match '^[a-zA-Z0-9_-]{{1,64}}$'.",
            param=f"{param}.name",
        )
    description = optional_text(function, "description", f"{param}.description") or ""
    parameters = optional_mapping(function, "parameters", f"{param}.parameters") or {}
    return ToolSpec(name, description, parameters)


def content_text(content: object, param: str) -> str:
    """The text of a message's ``content``: a string, or the text parts of a parts array."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        parts = []
        for index, part in enumerate(content):
            if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
                raise BadRequest(
                    f"Invalid '{param}[{index}]': a content part needs a 'type'.",
                    param=f"{param}[{index}]",
                )
            if part["type"] in {"text", "input_text", "output_text"}:
                parts.append(require_text(part, "text", f"{param}[{index}].text"))
        return "\n".join(parts)
    raise BadRequest(
        f"Invalid type for '{param}': expected a string or an array of content parts.",
        param=param,
    )


def pieces(text: str, width: int | None = None) -> list[str]:
    """``text`` cut into stream-sized pieces: words (with their spaces), or fixed widths."""
    if width is not None:
        return [text[i : i + width] for i in range(0, len(text), width)]
    return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])


def tool_choice(raw: object, name: object, names: set[str], shape: str) -> str:
    """A request's ``tool_choice``: a mode, or the ``name`` of the one function to call.

    The two APIs nest the forced function's name differently, so the caller digs out ``name``
    and describes its API's ``shape`` for the error message.
    """
    if raw is None:
        return "auto"
    if isinstance(raw, str) and raw in {"auto", "none", "required"}:
        return raw
    if not isinstance(name, str):
        raise BadRequest(
            f"Invalid value for 'tool_choice': expected 'auto', 'none', 'required' or {shape}.",
            param="tool_choice",
        )
    if name not in names:
        raise BadRequest(
            f"Invalid value for 'tool_choice': no function named {name!r} is in 'tools'.",
            param="tool_choice",
        )
    return name


def output_schema(
    kind: object, holder: Mapping[str, Any] | None, *, format_param: str, schema_param: str
) -> Mapping[str, Any] | None:
    """The JSON Schema a structured-output request asks for: ``None`` for free text, ``{}`` for
    JSON mode. ``holder`` is the object carrying ``schema``; the params name where each API
    keeps the format (``response_format`` / ``text.format``) and its schema."""
    if kind in {None, "text"}:
        return None
    if kind == "json_object":
        return {}
    if kind == "json_schema":
        schema = None if holder is None else optional_mapping(holder, "schema", schema_param)
        if schema is None:
            raise BadRequest(f"Missing required parameter: '{schema_param}'.", param=schema_param)
        return schema
    raise BadRequest(
        f"Invalid value for '{format_param}.type': {kind!r} is not one of 'text', "
        "'json_object', 'json_schema'.",
        param=f"{format_param}.type",
    )

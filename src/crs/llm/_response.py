"""What one model call produced, in a shape that does not depend on the SDK's classes.

Tool-call arguments arrive as JSON text that the model wrote, and models do write broken JSON.
They are parsed here, once, so an agent gets a ``dict`` or a :class:`ToolArgumentsError`
naming the tool and showing the text, never a ``json.JSONDecodeError`` from deep in its loop.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crs._secrets import redact_secrets
from crs.llm._errors import ToolArgumentsError
from crs.resilience import Attempt

__all__ = ["LLMResponse", "LLMToolCall", "LLMUsage", "parse_completion", "parse_tool_call"]

_PREVIEW = 120


@dataclass(frozen=True)
class LLMToolCall:
    """One function call the model asked for.

    ``arguments`` is the parsed JSON object; ``raw_arguments`` the exact text the model sent,
    which is what goes back into the conversation (:meth:`LLMResponse.to_message`).
    """

    id: str
    name: str
    arguments: Mapping[str, Any]
    raw_arguments: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class LLMUsage:
    """Tokens the call consumed, as the server counted them."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True)
class LLMResponse:
    """The model's answer.

    Attributes:
        content: the text, or ``None`` when the model only called tools.
        tool_calls: the tool calls, parsed, in the order the model made them.
        finish_reason: ``"stop"``, ``"tool_calls"``, ``"length"``, ``"content_filter"`` ...
        usage: token counts, when the server reported them.
        model: the model that answered, as the server named it.
        attempts: requests made for this answer (1 unless something was retried).
        latency: seconds on the crs clock from the call to the answer, retries, backoff and
            rate-limit waits included (virtual seconds under ``crs_clock``); for a stream,
            until its last chunk was read.
        history: the retry policy's record of each attempt.
        raw: the SDK's ``ChatCompletion`` (``None`` for a streamed answer).
    """

    content: str | None
    tool_calls: tuple[LLMToolCall, ...]
    finish_reason: str | None
    usage: LLMUsage | None
    model: str
    attempts: int
    latency: float
    history: tuple[Attempt, ...] = field(default=(), repr=False, compare=False)
    raw: Any = field(default=None, repr=False, compare=False)

    def to_message(self) -> dict[str, Any]:
        """The assistant message to append to the conversation before the tool results."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.raw_arguments},
                }
                for call in self.tool_calls
            ]
        return message


def parse_tool_call(
    call_id: str, name: str, arguments: str, *, model: str, attempts: int
) -> LLMToolCall:
    """A tool call with its arguments parsed, or :class:`ToolArgumentsError` saying why not.

    Empty arguments mean "no arguments" (some models send ``""`` for a function without
    parameters); anything else must be a JSON object.
    """
    text = arguments or ""
    problem: str | None = None
    parsed: object = {}
    if text.strip():
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            problem = f"invalid JSON ({exc})"
        else:
            if not isinstance(parsed, dict):
                problem = f"a JSON {type(parsed).__name__}, not an object"
    if problem is None and isinstance(parsed, dict):
        return LLMToolCall(call_id, name, parsed, text)
    preview = text if len(text) <= _PREVIEW else text[: _PREVIEW - 1] + "…"
    raise ToolArgumentsError(
        redact_secrets(
            f"the model called tool {name!r} (call {call_id}) with arguments that are "
            f"{problem}: {preview!r}"
        ),
        tool=name,
        call_id=call_id,
        arguments=text,
        model=model,
        attempts=attempts,
    )


def usage_of(raw: object) -> LLMUsage | None:
    """Token counts from the SDK's usage object (or a dict), when there is one."""
    if raw is None:
        return None
    names = ("prompt_tokens", "completion_tokens", "total_tokens")
    if isinstance(raw, Mapping):
        counts = [raw.get(name) for name in names]
    else:
        counts = [getattr(raw, name, None) for name in names]
    prompt, completion, total = counts
    if isinstance(prompt, int) and isinstance(completion, int) and isinstance(total, int):
        return LLMUsage(prompt, completion, total)
    return None


def parse_completion(
    completion: Any, *, attempts: int, latency: float, history: tuple[Attempt, ...]
) -> LLMResponse:
    """An :class:`LLMResponse` from the SDK's ``ChatCompletion``."""
    model = str(getattr(completion, "model", "") or "")
    choices = getattr(completion, "choices", None) or []
    message = choices[0].message if choices else None
    finish = choices[0].finish_reason if choices else None
    calls = tuple(
        parse_tool_call(
            str(call.id),
            str(call.function.name),
            call.function.arguments,
            model=model,
            attempts=attempts,
        )
        for call in (getattr(message, "tool_calls", None) or [])
        if getattr(call, "function", None) is not None  # custom tools carry no function
    )
    return LLMResponse(
        content=getattr(message, "content", None),
        tool_calls=calls,
        finish_reason=None if finish is None else str(finish),
        usage=usage_of(getattr(completion, "usage", None)),
        model=model,
        attempts=attempts,
        latency=latency,
        history=history,
        raw=completion,
    )

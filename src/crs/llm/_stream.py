"""Streamed chunks back into one answer: text as it comes, tool calls once they are whole.

Chat Completions streams a tool call in pieces keyed by ``index``: the first piece carries its
``id`` and function ``name``, later ones append fragments of the JSON arguments. Arguments can
only be parsed once the last fragment has arrived, so tool calls are assembled here and parsed
at the end of the stream, into the same :class:`~crs.llm.LLMResponse` a non-streamed call gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crs.llm._response import LLMResponse, LLMUsage, parse_tool_call, usage_of

__all__ = ["StreamAssembler"]


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class StreamAssembler:
    """Feeds on ``ChatCompletionChunk``\\ s (first choice only) and builds the final response."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._calls: dict[int, _PartialCall] = {}
        self._finish: str | None = None
        self._usage: LLMUsage | None = None
        self._model = ""

    def feed(self, chunk: Any) -> str:
        """Take one chunk; return its text delta ("" when it has none)."""
        model = getattr(chunk, "model", None)
        if isinstance(model, str) and model:
            self._model = model
        usage = usage_of(getattr(chunk, "usage", None))
        if usage is not None:
            self._usage = usage
        text = ""
        for choice in getattr(chunk, "choices", None) or []:
            if getattr(choice, "index", 0) != 0:
                continue
            delta = getattr(choice, "delta", None)
            content = getattr(delta, "content", None)
            if isinstance(content, str) and content:
                text += content
            for piece in getattr(delta, "tool_calls", None) or []:
                self._add_call_piece(piece)
            finish = getattr(choice, "finish_reason", None)
            if finish is not None:
                self._finish = str(finish)
        if text:
            self._text.append(text)
        return text

    def _add_call_piece(self, piece: Any) -> None:
        index = getattr(piece, "index", None)
        slot = self._calls.setdefault(
            index if isinstance(index, int) else len(self._calls), _PartialCall()
        )
        if getattr(piece, "id", None):
            slot.id = str(piece.id)
        function = getattr(piece, "function", None)
        name = getattr(function, "name", None)
        if name and not slot.name:
            slot.name = str(name)
        arguments = getattr(function, "arguments", None)
        if arguments:
            slot.arguments.append(str(arguments))

    def response(
        self, *, attempts: int, latency: float, history: tuple[Any, ...], model: str
    ) -> LLMResponse:
        """The whole answer; raises :class:`~crs.llm.ToolArgumentsError` on bad arguments."""
        answered_by = self._model or model
        calls = tuple(
            parse_tool_call(
                slot.id,
                slot.name,
                "".join(slot.arguments),
                model=answered_by,
                attempts=attempts,
            )
            for _, slot in sorted(self._calls.items())
        )
        text = "".join(self._text)
        return LLMResponse(
            content=text if text or not calls else None,
            tool_calls=calls,
            finish_reason=self._finish,
            usage=self._usage,
            model=answered_by,
            attempts=attempts,
            latency=latency,
            history=history,
        )

"""What the sandbox's language model says: scripted turns, or a deterministic default.

Both OpenAI endpoints (Chat Completions and Responses) translate their request into one
neutral :class:`Conversation` and their response out of one :class:`AssistantTurn`, so the
model behaviour is written once and the wire formats stay thin.

Two behaviours, after pydantic-ai's ``FunctionModel`` and ``TestModel``:

* **Scripted** - a test lists the assistant turns to play, per model name or per session
  (the ``X-CRS-Session`` header), and each request takes the next one. Strict: a request
  past the end of a script is an error, and :meth:`ModelScripts.pending` reports turns a test
  set up but never used.
* **Default** - calls every offered tool once, with arguments derived from the tool's JSON
  Schema, then answers with a summary of the tool results. Seeded by a hash of the request, so
  the same request always gets the same response and recordings are stable.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from crs.errors import ConfigError
from crs.sandbox._schema_data import example_for

__all__ = [
    "AssistantTurn",
    "CannotRespond",
    "Conversation",
    "Message",
    "ModelScripts",
    "ScriptExhausted",
    "ToolCall",
    "ToolSpec",
    "TurnSource",
    "default_turn",
    "respond",
]

#: The longest tool result quoted in the default model's summary.
_SUMMARY_LIMIT = 300


@dataclass(frozen=True)
class ToolCall:
    """One function call the assistant makes.

    ``arguments`` may be a mapping (serialised as JSON on the wire) or a raw string, so a script
    can also send malformed JSON to test how an agent copes with it. ``id`` defaults to a
    deterministic ``call_...`` derived from the request.
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), separators=(",", ":"))


@dataclass(frozen=True)
class AssistantTurn:
    """One assistant message: text, tool calls, or both."""

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()

    def __post_init__(self) -> None:
        if self.text is None and not self.tool_calls:
            raise ConfigError("an assistant turn needs text or at least one tool call")


@dataclass(frozen=True)
class ToolSpec:
    """A function tool offered to the model."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    """A message of the conversation so far, reduced to what the model looks at."""

    role: str
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True)
class Conversation:
    """Everything a request asks of the model, in wire-neutral form.

    ``tool_choice`` is ``"auto"``, ``"none"``, ``"required"`` or the name of the one function
    the model must call. ``response_schema`` is the JSON Schema of a structured-output request
    (``{}`` for plain JSON mode, ``None`` for free text).
    """

    model: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str = "auto"
    parallel_tool_calls: bool = True
    response_schema: Mapping[str, Any] | None = None
    session: str | None = None
    seed: int = 0

    def fingerprint(self) -> str:
        """A stable hash of the request, which seeds everything the default model invents."""
        canonical = json.dumps(
            {
                "model": self.model,
                "messages": [
                    [m.role, m.text, [[c.name, c.arguments_json()] for c in m.tool_calls]]
                    for m in self.messages
                ],
                "tools": [[t.name, t.description, t.parameters] for t in self.tools],
                "tool_choice": self.tool_choice,
                "parallel": self.parallel_tool_calls,
                "schema": self.response_schema,
                "seed": self.seed,
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


#: A script entry: text, one call, parallel calls, a full turn, or a function of the request.
TurnSource: TypeAlias = (
    str | ToolCall | Sequence[ToolCall] | AssistantTurn | Callable[[Conversation], Any]
)


class CannotRespond(Exception):
    """The model has no answer for this request; the app answers it as a 400 with ``code``."""

    code = "sandbox_cannot_respond"


class ScriptExhausted(CannotRespond):
    """A request arrived for a script that has no turns left."""

    code = "sandbox_script_exhausted"


def _as_turn(source: object, where: str) -> AssistantTurn:
    if isinstance(source, AssistantTurn):
        return source
    if isinstance(source, str):
        return AssistantTurn(text=source)
    if isinstance(source, ToolCall):
        return AssistantTurn(tool_calls=(source,))
    if isinstance(source, Sequence) and source and all(isinstance(c, ToolCall) for c in source):
        return AssistantTurn(tool_calls=tuple(source))
    raise ConfigError(
        f"{where} is {source!r}; expected text, a ToolCall, a list of ToolCalls, an "
        "AssistantTurn, or a function of the conversation returning one of those"
    )


@dataclass
class _Script:
    turns: list[TurnSource]
    label: str
    strict: bool
    used: int = 0


class ModelScripts:
    """Scripted turns keyed by session or by model name; a session script wins over a model one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_session: dict[str, _Script] = {}
        self._by_model: dict[str, _Script] = {}

    def add(
        self,
        turns: Sequence[TurnSource],
        *,
        model: str | None = None,
        session: str | None = None,
        strict: bool = True,
    ) -> None:
        """Script ``turns`` for requests naming ``model`` or carrying session ``session``."""
        if (model is None) == (session is None):
            raise ConfigError("script() needs exactly one of model= or session=")
        if isinstance(turns, str | ToolCall | AssistantTurn) or not turns:
            raise ConfigError("script() needs a non-empty list of turns")
        label = f"session {session!r}" if session is not None else f"model {model!r}"
        for index, source in enumerate(turns):
            if not callable(source):
                _as_turn(source, f"turn {index} of the script for {label}")
        script = _Script(list(turns), label, strict)
        with self._lock:
            if session is not None:
                self._by_session[session] = script
            else:
                self._by_model[str(model)] = script

    def next_turn(self, conversation: Conversation) -> AssistantTurn | None:
        """The next scripted turn for this request, or ``None`` when it is not scripted."""
        with self._lock:
            script = None
            if conversation.session is not None:
                script = self._by_session.get(conversation.session)
            if script is None:
                script = self._by_model.get(conversation.model)
            if script is None:
                return None
            if script.used >= len(script.turns):
                raise ScriptExhausted(
                    f"the script for {script.label} has no turn left: all "
                    f"{len(script.turns)} were used by earlier requests"
                )
            index = script.used
            script.used += 1
            source = script.turns[index]
        where = f"turn {index} of the script for {script.label}"
        if callable(source) and not isinstance(source, ToolCall | AssistantTurn):
            # The test's own function runs inside the server: its failure must reach the test
            # as a clear 400, not as a bare 500 that the SDK would retry.
            try:
                source = source(conversation)
            except Exception as exc:
                raise CannotRespond(f"{where} raised {type(exc).__name__}: {exc}") from exc
            where = f"the value returned by {where}"
        try:
            return _as_turn(source, where)
        except ConfigError as exc:
            raise CannotRespond(exc.message) from exc

    def pending(self) -> list[str]:
        """Strict scripts with unused turns, described for a test failure message."""
        with self._lock:
            scripts = [*self._by_session.values(), *self._by_model.values()]
            return [
                f"the script for {s.label} used {s.used} of its {len(s.turns)} turns"
                for s in scripts
                if s.strict and s.used < len(s.turns)
            ]

    def clear(self) -> None:
        with self._lock:
            self._by_session.clear()
            self._by_model.clear()


def respond(scripts: ModelScripts, conversation: Conversation) -> AssistantTurn:
    """The assistant's turn: scripted when a script applies, otherwise the default model's."""
    return scripts.next_turn(conversation) or default_turn(conversation)


def default_turn(conversation: Conversation) -> AssistantTurn:
    """The deterministic default model.

    It calls each offered tool once per conversation (tools it already called are skipped; all
    remaining ones at once unless parallel calls are off), then summarises the tool results.
    """
    seed = conversation.fingerprint()
    if conversation.response_schema is not None:
        schema = conversation.response_schema or {"type": "object"}
        return AssistantTurn(text=json.dumps(_invent(schema, seed, "the response format")))
    tools = _tools_to_call(conversation)
    if tools:
        calls = tuple(
            ToolCall(tool.name, _invent(tool.parameters, seed, f"tool {tool.name!r}"))
            for tool in tools
        )
        return AssistantTurn(tool_calls=calls)
    results = _trailing_tool_results(conversation)
    if results:
        return AssistantTurn(text=_summary(results))
    last_user = next((m.text for m in reversed(conversation.messages) if m.role == "user"), "")
    return AssistantTurn(
        text=f"This is the crs sandbox model ({conversation.model}). You said: {last_user}"
    )


def _invent(schema: Mapping[str, Any], seed: str, what: str) -> Any:
    try:
        return example_for(schema or {"type": "object"}, seed=seed)
    except ConfigError as exc:
        raise CannotRespond(
            f"the default model cannot invent a value for {what}: {exc.message}",
        ) from exc


def _tools_to_call(conversation: Conversation) -> list[ToolSpec]:
    if conversation.tool_choice == "none" or not conversation.tools:
        return []
    if conversation.tool_choice not in {"auto", "required"}:
        forced = [t for t in conversation.tools if t.name == conversation.tool_choice]
        already = _called_names(conversation)
        return [] if conversation.tool_choice in already else forced
    called = _called_names(conversation)
    remaining = [tool for tool in conversation.tools if tool.name not in called]
    if (
        not remaining
        and conversation.tool_choice == "required"
        and not _trailing_tool_results(conversation)
    ):
        remaining = [conversation.tools[0]]
    return remaining if conversation.parallel_tool_calls else remaining[:1]


def _called_names(conversation: Conversation) -> set[str]:
    return {
        call.name
        for message in conversation.messages
        if message.role == "assistant"
        for call in message.tool_calls
    }


def _trailing_tool_results(conversation: Conversation) -> list[tuple[str, str]]:
    """The tool results after the last assistant turn, paired with the tool names they answer."""
    names = {
        call.id: call.name
        for message in conversation.messages
        for call in message.tool_calls
        if call.id is not None
    }
    results: list[tuple[str, str]] = []
    for message in reversed(conversation.messages):
        if message.role != "tool":
            break
        name = names.get(message.tool_call_id or "", message.tool_call_id or "tool")
        results.append((name, message.text))
    return results[::-1]


def _summary(results: list[tuple[str, str]]) -> str:
    lines = [f"Summary of {len(results)} tool result{'s' if len(results) != 1 else ''}:"]
    for name, text in results:
        quoted = text if len(text) <= _SUMMARY_LIMIT else f"{text[:_SUMMARY_LIMIT]}..."
        lines.append(f"- {name}: {quoted}")
    return "\n".join(lines)

"""Everything that touches the openai package: importing it, building clients, shaping requests.

openai is an optional extra, so it is imported here on first use, never at ``import crs``.
Clients are taken with the SDK's own retries switched off (``max_retries=0``): a second retry
loop inside the SDK would multiply attempts, wait on its own schedule and hide attempts from
crs's policy, classification, rate limiter and stats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from crs._secrets import REDACTED, redact_secrets
from crs.errors import ConfigError
from crs.llm._config import LLMConfig

__all__ = [
    "Messages",
    "build_request",
    "import_openai",
    "prepare_client",
    "scrubber",
]

Messages = str | Sequence[Mapping[str, Any]]

_EXTRA_HINT = "install the extra: pip install 'pytest-crs[openai]'"
# Options that crs sets itself; passing them per call would bypass it.
_RESERVED = {
    "messages": "pass the messages as the first argument",
    "stream": "use stream() for a streamed answer",
    "tools": "pass tools= as a keyword of complete()/stream()",
    "timeout": "set LLMConfig.timeout (config.with_options(timeout=...)); crs times attempts",
}
_SYSTEM_ROLES = frozenset({"system", "developer"})


def import_openai() -> ModuleType:
    """The openai module, or a :class:`~crs.errors.ConfigError` naming the extra."""
    try:
        import openai
    except ImportError as exc:
        raise ConfigError(
            "crs.llm needs the openai package, which is not installed", hint=_EXTRA_HINT
        ) from exc
    return openai


def prepare_client(
    *,
    client: Any,
    api_key: str | None,
    base_url: str | None,
    is_async: bool,
) -> tuple[Any, bool]:
    """The SDK client to call, with its retries off, and whether crs made it (and closes it)."""
    openai = import_openai()
    wanted = openai.AsyncOpenAI if is_async else openai.OpenAI
    ours, other = ("AsyncLLMClient", "LLMClient") if is_async else ("LLMClient", "AsyncLLMClient")
    if client is not None:
        if api_key is not None or base_url is not None:
            raise ConfigError(
                f"{ours} got client= and api_key=/base_url= together",
                hint="configure the injected client itself, or pass only api_key/base_url",
            )
        if not isinstance(client, wanted):
            raise ConfigError(
                f"{ours}(client=...) needs an openai.{wanted.__name__}, got "
                f"{type(client).__name__}",
                hint=f"use {other} for an openai.{'OpenAI' if is_async else 'AsyncOpenAI'}",
            )
        return client.with_options(max_retries=0), False
    try:
        made = wanted(api_key=api_key, base_url=base_url, max_retries=0)
    except openai.OpenAIError as exc:
        raise ConfigError(
            f"{ours} could not build an openai.{wanted.__name__}: {redact_secrets(str(exc))}",
            hint="pass api_key= (or set OPENAI_API_KEY), or inject a ready client with client=",
        ) from exc
    return made, True


def scrubber(client: Any) -> Any:
    """A function that removes the client's API key (and anything key-shaped) from text.

    Shape-based redaction misses keys that do not look like keys; the client knows its own.
    """
    key = getattr(client, "api_key", None)
    literal = key if isinstance(key, str) and len(key) >= 4 else None

    def scrub(text: str) -> str:
        if literal is not None:
            text = text.replace(literal, REDACTED)
        return redact_secrets(text)

    return scrub


def _messages(config: LLMConfig, messages: Messages) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        listed: list[dict[str, Any]] = [{"role": "user", "content": messages}]
    elif isinstance(messages, Sequence):
        listed = []
        for index, message in enumerate(messages):
            if not isinstance(message, Mapping) or "role" not in message:
                raise ConfigError(
                    f"messages[{index}] must be a mapping with a 'role', got {message!r}"[:300],
                    hint='e.g. {"role": "user", "content": "..."}',
                )
            listed.append(dict(message))
    else:
        raise ConfigError(
            f"messages must be a string or a list of message dicts, got {type(messages).__name__}"
        )
    if not listed:
        raise ConfigError("messages is empty", hint="send at least one user message")
    if config.system_prompt and not any(m.get("role") in _SYSTEM_ROLES for m in listed):
        listed.insert(0, {"role": "system", "content": config.system_prompt})
    return listed


def _tools(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI tool definitions; a bare function definition (``{"name": ...}``) is wrapped."""
    shaped: list[dict[str, Any]] = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise ConfigError(f"tools[{index}] must be a mapping, got {tool!r}"[:300])
        if "type" in tool:
            shaped.append(dict(tool))
        elif isinstance(tool.get("name"), str):
            shaped.append({"type": "function", "function": dict(tool)})
        else:
            raise ConfigError(
                f"tools[{index}] is neither an OpenAI tool nor a function definition: {tool!r}"[
                    :300
                ],
                hint='{"type": "function", "function": {"name": ..., "parameters": {...}}}',
            )
    return shaped


def build_request(
    config: LLMConfig,
    messages: Messages,
    *,
    tools: Sequence[Mapping[str, Any]] | None,
    tool_choice: Any,
    options: Mapping[str, Any],
    stream: bool,
) -> dict[str, Any]:
    """The keyword arguments of ``chat.completions.create`` for one call.

    The config gives the defaults; ``options`` override them per call (``model``,
    ``temperature``, ``max_tokens``, ``response_format``, ``seed`` ...).
    """
    for name, hint in _RESERVED.items():
        if name in options:
            raise ConfigError(f"the option {name}= cannot be passed per call", hint=hint)
    request: dict[str, Any] = {"model": config.model, "messages": _messages(config, messages)}
    if config.max_tokens is not None and not {"max_tokens", "max_completion_tokens"} & set(options):
        request["max_completion_tokens"] = config.max_tokens
    if config.temperature is not None:
        request["temperature"] = config.temperature
    if tools:
        request["tools"] = _tools(tools)
    if tool_choice is not None:
        request["tool_choice"] = tool_choice
    request.update(options)
    if not isinstance(request["model"], str) or not request["model"]:
        raise ConfigError(f"model must be a non-empty string, got {request['model']!r}")
    if stream:
        request["stream"] = True
        request.setdefault("stream_options", {"include_usage": True})
    return request

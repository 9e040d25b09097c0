"""The label and one-line summary of an HTTP interaction, so a cassette reads like a transcript.

``llm`` for model calls (chat completions, responses, completions, embeddings), with the model
and what it did (which tools it called, or the start of its answer); ``tool`` for Composio tool
executions, with the action and whether it succeeded; ``http`` for everything else, with method,
path and status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = ["label"]

_LLM_PATH: Final = re.compile(r"/(chat/completions|responses|completions|embeddings)$")
_COMPOSIO_EXECUTE: Final = (
    re.compile(r"/api/v2/actions/(?P<slug>[^/]+)/execute$"),  # composio-core 0.7
    re.compile(r"/api/v3(?:\.1)?/tools/execute/(?P<slug>[^/]+)$"),  # the current SDK
)
_PREVIEW: Final = 60


def label(request: Mapping[str, Any], response: Mapping[str, Any]) -> tuple[str, str]:
    """``(kind, summary)`` for an HTTP interaction in cassette form."""
    path = urlsplit(str(request.get("url", ""))).path
    status = response.get("status")
    if _LLM_PATH.search(path):
        return "llm", _llm_summary(path, request.get("body"), response.get("body"), status)
    for pattern in _COMPOSIO_EXECUTE:
        match = pattern.search(path)
        if match:
            return "tool", _tool_summary(match["slug"], response.get("body"), status)
    return "http", f"{request.get('method', '?')} {path} -> {status}"


def _json(body: Any) -> Any:
    return body.get("json") if isinstance(body, Mapping) else None


def _llm_summary(path: str, request_body: Any, response_body: Any, status: Any) -> str:
    sent = _json(request_body)
    model = sent.get("model", "?") if isinstance(sent, Mapping) else "?"
    endpoint = "chat" if path.endswith("chat/completions") else path.rsplit("/", 1)[-1]
    head = f"{model} {endpoint}"
    if status != 200:
        return f"{head} -> HTTP {status}"
    if isinstance(response_body, Mapping) and "sse" in response_body:
        return f"{head} -> streamed, {len(response_body['sse'])} events{_streamed(response_body)}"
    return f"{head} -> {_answer(_json(response_body))}"


def _answer(reply: Any) -> str:
    """Tool calls by name, else the start of the text, for chat completions and responses."""
    if not isinstance(reply, Mapping):
        return "non-JSON reply"
    calls: list[str] = []
    texts: list[str] = []
    for choice in reply.get("choices") or []:
        message = choice.get("message") or {} if isinstance(choice, Mapping) else {}
        for call in message.get("tool_calls") or []:
            calls.append(str((call.get("function") or {}).get("name", "?")))
        if isinstance(message.get("content"), str):
            texts.append(message["content"])
    for item in reply.get("output") or []:
        if not isinstance(item, Mapping):
            continue
        if item.get("type") == "function_call":
            calls.append(str(item.get("name", "?")))
        for part in item.get("content") or []:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    if calls:
        return "tool calls: " + ", ".join(calls)
    if texts:
        return "text: " + _preview(" ".join(texts))
    if "data" in reply:
        return f"{len(reply['data'])} embedding(s)"
    return "no content"


def _streamed(body: Mapping[str, Any]) -> str:
    calls: list[str] = []
    for event in body["sse"]:
        data = event.get("data") if isinstance(event, Mapping) else None
        if not isinstance(data, Mapping):
            continue
        for choice in data.get("choices") or []:
            delta = choice.get("delta") or {} if isinstance(choice, Mapping) else {}
            for call in delta.get("tool_calls") or []:
                name = (call.get("function") or {}).get("name")
                if name:
                    calls.append(str(name))
    return f"; tool calls: {', '.join(calls)}" if calls else ""


def _tool_summary(slug: str, body: Any, status: Any) -> str:
    result = _json(body)
    if status != 200 or not isinstance(result, Mapping):
        return f"composio {slug} -> HTTP {status}"
    ok = result.get("successful", result.get("successfull"))
    if ok is True:
        return f"composio {slug}: ok"
    return f"composio {slug}: failed: {_preview(str(result.get('error')))}"


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _PREVIEW else flat[: _PREVIEW - 1] + "…"

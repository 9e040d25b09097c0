"""Which attempts a fault rule is about: LLM calls, tool calls, or any HTTP request.

Targets match on what a person reading the test cares about — the model, the tool's slug, the
host — never on ports or volatile headers, so the same rule works against the sandbox, a
cassette and the real service. Tool targets match both Composio's wire (the execute request of
either SDK generation) and Python tools run by the adapter (the tool seam), so one rule covers a
tool whichever way it is wired.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from crs._dialects import dialect_of
from crs.errors import ConfigError
from pytest_crs.faults._wire import WireCall

__all__ = ["Target", "TargetKind", "ToolCall", "http", "llm", "tool", "tool_call_of"]


class TargetKind(StrEnum):
    LLM = "llm"
    TOOL = "tool"
    HTTP = "http"


@dataclass(frozen=True)
class ToolCall:
    """A tool execution, wherever it was seen: on Composio's wire or at the tool seam."""

    slug: str
    app: str
    action: str
    arguments: Mapping[str, Any]
    user_id: str | None


@dataclass(frozen=True)
class Target:
    """A set of attempts. Build one with :func:`llm`, :func:`tool` or :func:`http`."""

    kind: TargetKind
    model: str | None = None
    endpoint: str | None = None
    slug: str | None = None
    app: str | None = None
    action: str | None = None
    host: str | None = None
    path: str | None = None
    method: str | None = None

    @property
    def api(self) -> str | None:
        """The API dialect the target's attempts speak, for checking faults against it."""
        return {TargetKind.LLM: "openai", TargetKind.TOOL: "composio"}.get(self.kind)

    def matches(self, call: WireCall) -> bool:
        """Whether an HTTP request is one of this target's attempts."""
        if self.kind is TargetKind.HTTP:
            return (
                _glob(self.host, call.host.lower())
                and _glob(self.path, call.path)
                and (self.method is None or self.method == call.method.upper())
            )
        if self.kind is TargetKind.LLM:
            dialect = dialect_of(call.path)
            if dialect is None or dialect.name != "openai":
                return False
            body = call.json
            model = body.get("model") if isinstance(body, dict) else None
            return _glob(self.endpoint, _endpoint(call.path)) and (
                self.model is None or (isinstance(model, str) and _glob(self.model, model))
            )
        found = tool_call_of(call)
        return found is not None and self.matches_tool(found)

    def matches_tool(self, call: ToolCall) -> bool:
        """Whether a tool execution is one of this target's attempts."""
        if self.kind is not TargetKind.TOOL:
            return False
        if self.slug is not None and not fnmatch.fnmatchcase(call.slug.upper(), self.slug):
            return False
        if self.app is not None and call.app.lower() != self.app:
            return False
        return self.action is None or call.action.upper() in (
            self.action,
            f"{call.app.upper()}_{self.action}",
        )

    def describe(self) -> str:
        """``llm(model='gpt-4o')`` — how a user would have written it."""
        fields = {
            TargetKind.LLM: ("model", "endpoint"),
            TargetKind.TOOL: ("slug", "app", "action"),
            TargetKind.HTTP: ("host", "path", "method"),
        }[self.kind]
        args = ", ".join(
            f"{name}={getattr(self, name)!r}" for name in fields if getattr(self, name) is not None
        )
        return f"{self.kind.value}({args})"

    def __repr__(self) -> str:
        return self.describe()


def llm(model: str | None = None, *, endpoint: str | None = None) -> Target:
    """OpenAI API calls, optionally only for ``model`` and/or ``endpoint``.

    Both take shell-style globs (``"gpt-4o*"``). ``endpoint`` is the path after ``/v1/``, also
    written as the SDK's attribute path: ``"chat.completions"``, ``"chat/completions"``,
    ``"responses"``, ``"embeddings"``.
    """
    return Target(
        TargetKind.LLM,
        model=_text(model, "model"),
        endpoint=None if endpoint is None else _endpoint(_text(endpoint, "endpoint") or ""),
    )


def tool(slug: str | None = None, *, app: str | None = None, action: str | None = None) -> Target:
    """Tool executions: by Composio ``slug`` (a glob, e.g. ``"GMAIL_*"``), by ``app``, or by
    ``action`` within an app — over Composio's wire (either SDK) and for Python tools run by
    the adapter alike."""
    return Target(
        TargetKind.TOOL,
        slug=None if slug is None else (_text(slug, "slug") or "").upper(),
        app=None if app is None else (_text(app, "app") or "").lower(),
        action=None if action is None else (_text(action, "action") or "").upper(),
    )


def http(host: str | None = None, *, path: str | None = None, method: str | None = None) -> Target:
    """Any HTTP request, by ``host`` and ``path`` (globs) and ``method``."""
    return Target(
        TargetKind.HTTP,
        host=None if host is None else (_text(host, "host") or "").lower(),
        path=_text(path, "path"),
        method=None if method is None else (_text(method, "method") or "").upper(),
    )


def tool_call_of(call: WireCall) -> ToolCall | None:
    """The tool execution an HTTP request carries (either Composio generation), if any."""
    dialect = dialect_of(call.path)
    slug = None if dialect is None else dialect.tool_slug(call.path)
    if slug is None:
        return None
    body = call.json if isinstance(call.json, dict) else {}
    arguments = body.get("arguments", body.get("input"))
    user = body.get("user_id", body.get("entityId"))
    app, _, _action = slug.partition("_")
    return ToolCall(
        slug=slug.upper(),
        app=app.lower(),
        action=slug.upper(),
        arguments=arguments if isinstance(arguments, dict) else {},
        user_id=user if isinstance(user, str) else None,
    )


def _endpoint(path: str) -> str:
    cleaned = path.strip("/")
    if cleaned.startswith("v1/"):
        cleaned = cleaned[3:]
    return cleaned.replace(".", "/")


def _glob(pattern: str | None, value: str) -> bool:
    return pattern is None or fnmatch.fnmatchcase(value, pattern)


def _text(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
    return value.strip()

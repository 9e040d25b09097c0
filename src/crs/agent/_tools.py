"""What the model may call, and which adapter action each function name runs.

The model calls functions by name (``GITHUB_CREATE_AN_ISSUE``, ``get_weather``); the adapter
runs ``(app, action)`` pairs. For Composio the function name *is* the action's slug and its
first word the app, which :func:`route_for` checks with the backend's own ``qualify`` rather
than assuming it: a Python tool called ``get_weather`` is not an action of an app ``get``. Such
names fall back to a label app (``"tools"`` unless configured), which only names the tool in
records and analytics. Anything else is said explicitly with :class:`AgentTool` or ``routes=``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crs.errors import ConfigError
from crs.tools import ComposioAdapter

__all__ = ["AgentTool", "ToolSource", "Toolbox"]

_OPEN_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class AgentTool:
    """One function the model may call, and the adapter action behind it.

    Args:
        name: the function name the model sees and calls.
        app: the app the adapter runs it under (derived from ``name`` when ``None``).
        action: the adapter action (``name`` when ``None``).
        description: shown to the model.
        parameters: the JSON Schema of the arguments (an open object when ``None``).
    """

    name: str
    app: str | None = None
    action: str | None = None
    description: str | None = None
    parameters: Mapping[str, Any] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"AgentTool.name must be a non-empty str, got {self.name!r}")
        for label, value in (("app", self.app), ("action", self.action)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError(
                    f"AgentTool.{label} must be a non-empty str or None, got {value!r}"
                )
        if self.parameters is not None and not isinstance(self.parameters, Mapping):
            raise ConfigError(
                f"AgentTool.parameters of {self.name!r} must be a JSON Schema mapping, got "
                f"{type(self.parameters).__name__}"
            )

    def spec(self) -> dict[str, Any]:
        """The OpenAI function tool definition."""
        function: dict[str, Any] = {"name": self.name}
        if self.description:
            function["description"] = self.description
        function["parameters"] = copy.deepcopy(dict(self.parameters or _OPEN_SCHEMA))
        return {"type": "function", "function": function}


ToolSource = str | AgentTool | Mapping[str, Any]
"""A name, an :class:`AgentTool`, or an OpenAI tool / function definition."""


def route_for(adapter: ComposioAdapter, name: str, default_app: str) -> tuple[str, str]:
    """``(app, action)`` for a function name that was given no explicit route.

    A Composio slug's first word is its app when the backend agrees (qualifying the rest under
    that app gives the slug back); anything else runs under ``default_app``.
    """
    prefix, _, rest = name.partition("_")
    if prefix and rest and adapter.qualify(prefix.lower(), rest) == name:
        return prefix.lower(), name
    return default_app, name


class Toolbox:
    """The tool definitions sent to the model and the route of each function name."""

    def __init__(
        self,
        adapter: ComposioAdapter,
        tools: Sequence[ToolSource],
        routes: Mapping[str, tuple[str, str]] | None,
        default_app: str,
    ) -> None:
        if isinstance(tools, str | Mapping) or not isinstance(tools, Sequence):
            raise ConfigError(
                f"tools must be a list of names, AgentTools or OpenAI tool definitions, got "
                f"{tools!r}"[:300],
                hint='e.g. tools=["GITHUB_CREATE_AN_ISSUE", "SLACK_SEND_MESSAGE"]',
            )
        if not isinstance(default_app, str) or not default_app.strip():
            raise ConfigError(f"default_app must be a non-empty str, got {default_app!r}")
        explicit = _routes(routes)
        self.specs: list[dict[str, Any]] = []
        self.routes: dict[str, tuple[str, str]] = {}
        for index, source in enumerate(tools):
            tool = _as_tool(source, index)
            if tool.name in self.routes:
                raise ConfigError(
                    f"tools name {tool.name!r} twice", hint="each function name must be unique"
                )
            app, action = explicit.get(tool.name) or (
                (tool.app or route_for(adapter, tool.name, default_app)[0]),
                tool.action or tool.name,
            )
            self.specs.append(tool.spec())
            self.routes[tool.name] = (app, action)
        unused = sorted(set(explicit) - set(self.routes))
        if unused:
            raise ConfigError(
                f"routes= names functions that are not among the tools: {', '.join(unused)}",
                hint="add them to tools=, or drop the routes",
            )

    @property
    def names(self) -> list[str]:
        return list(self.routes)


def _routes(routes: Mapping[str, tuple[str, str]] | None) -> dict[str, tuple[str, str]]:
    if routes is None:
        return {}
    if not isinstance(routes, Mapping):
        raise ConfigError(f"routes must map function names to (app, action), got {routes!r}")
    checked: dict[str, tuple[str, str]] = {}
    for name, route in routes.items():
        if (
            not isinstance(route, tuple | list)
            or len(route) != 2
            or not all(isinstance(part, str) and part.strip() for part in route)
        ):
            raise ConfigError(
                f"routes[{name!r}] must be an (app, action) pair of strings, got {route!r}",
                hint='e.g. routes={"create_issue": ("github", "GITHUB_CREATE_AN_ISSUE")}',
            )
        checked[str(name)] = (route[0], route[1])
    return checked


def _as_tool(source: object, index: int) -> AgentTool:
    if isinstance(source, AgentTool):
        return source
    if isinstance(source, str):
        return AgentTool(source)
    if isinstance(source, Mapping):
        function = source.get("function") if "type" in source else source
        if source.get("type", "function") == "function" and isinstance(function, Mapping):
            name = function.get("name")
            parameters = function.get("parameters")
            description = function.get("description")
            if isinstance(name, str) and (parameters is None or isinstance(parameters, Mapping)):
                return AgentTool(
                    name,
                    description=description if isinstance(description, str) else None,
                    parameters=parameters,
                )
    raise ConfigError(
        f"tools[{index}] is not a name, an AgentTool or an OpenAI function tool: {source!r}"[:300],
        hint='{"type": "function", "function": {"name": ..., "parameters": {...}}}',
    )

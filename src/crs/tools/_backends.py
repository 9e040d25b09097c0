"""Tool backends: the one seam between the adapter and whatever actually runs a tool.

Three implementations cover what users run: composio-core's ``ComposioToolSet`` (the
deprecated generation many agents still use), the current ``composio`` SDK, and plain Python
callables for users' own tools. Each takes an action name, parameters and a user id and returns a
:class:`~crs.tools.ToolResult`; transport failures (HTTP errors, timeouts) are raised as the SDK
raised them, so the resilience kit can classify and retry them. The SDK objects are passed in,
never imported here, so ``crs.tools`` works with either Composio generation installed, or none.
"""

from __future__ import annotations

import asyncio
import inspect
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from crs.errors import ConfigError
from crs.tools._result import ToolResult

__all__ = ["CallableBackend", "ComposioBackend", "ComposioCoreBackend", "ToolBackend"]


@runtime_checkable
class ToolBackend(Protocol):
    """Runs one tool call for one user."""

    name: str

    def qualify(self, app: str, action: str) -> str:
        """The name this backend knows ``action`` of ``app`` by (what ``execute`` is given)."""
        ...

    def execute(self, action: str, params: Mapping[str, Any], *, user_id: str) -> ToolResult:
        """Run ``action`` with ``params`` on behalf of ``user_id``."""
        ...

    async def aexecute(self, action: str, params: Mapping[str, Any], *, user_id: str) -> ToolResult:
        """The same, without blocking the event loop."""
        ...


class _ComposioSdk(ABC):
    """What both Composio generations share: slugs, and a synchronous SDK.

    Their async twin runs the SDK on a worker thread.
    """

    def qualify(self, app: str, action: str) -> str:
        """The Composio slug: ``("github", "create_an_issue")`` → ``GITHUB_CREATE_AN_ISSUE``.

        An action already given as a slug of the app (any case) is kept as it is.
        """
        return composio_slug(app, action)

    @abstractmethod
    def execute(self, action: str, params: Mapping[str, Any], *, user_id: str) -> ToolResult:
        """Run the action on the calling thread."""

    async def aexecute(self, action: str, params: Mapping[str, Any], *, user_id: str) -> ToolResult:
        return await asyncio.to_thread(self.execute, action, params, user_id=user_id)


class ComposioCoreBackend(_ComposioSdk):
    """composio-core 0.7: ``toolset.execute_action(action, params, entity_id=user_id)``."""

    name = "composio-core"

    def __init__(self, toolset: Any) -> None:
        if not callable(getattr(toolset, "execute_action", None)):
            raise ConfigError(
                f"ComposioCoreBackend needs a composio-core ComposioToolSet, got {toolset!r}",
                hint="for the current composio SDK use ComposioBackend(Composio(...))",
            )
        self._toolset = toolset

    def execute(self, action: str, params: Mapping[str, Any], *, user_id: str) -> ToolResult:
        body = self._toolset.execute_action(action, dict(params), entity_id=user_id)
        return ToolResult.from_composio(body)

    def __repr__(self) -> str:
        return f"ComposioCoreBackend({type(self._toolset).__name__})"


class ComposioBackend(_ComposioSdk):
    """The current SDK: ``composio.tools.execute(slug, arguments, user_id=..., version=...)``.

    The SDK refuses to execute manually without a pinned toolkit version (``"latest"`` is not
    accepted). ``versions`` pins toolkits here (``{"github": "20250909_00"}``, matched by the
    slug's prefix) and ``version`` applies to the rest; with neither, the client's own
    ``toolkit_versions`` configuration decides, and the SDK raises if it has none.
    """

    name = "composio"

    def __init__(
        self,
        client: Any,
        *,
        version: str | None = None,
        versions: Mapping[str, str] | None = None,
    ) -> None:
        tools = getattr(client, "tools", None)
        if not callable(getattr(tools, "execute", None)):
            raise ConfigError(
                f"ComposioBackend needs a composio.Composio client, got {client!r}",
                hint="for composio-core 0.7 use ComposioCoreBackend(ComposioToolSet(...))",
            )
        self._client = client
        self._version = version
        self._versions = {app.lower(): pinned for app, pinned in (versions or {}).items()}

    def version_for(self, action: str) -> str | None:
        """The toolkit version pinned for ``action`` here, or ``None`` to let the client decide."""
        app = action.split("_", 1)[0].lower()
        return self._versions.get(app, self._version)

    def execute(self, action: str, params: Mapping[str, Any], *, user_id: str) -> ToolResult:
        version = self.version_for(action)
        pinned = {} if version is None else {"version": version}
        body = self._client.tools.execute(action, dict(params), user_id=user_id, **pinned)
        return ToolResult.from_composio(body)

    def __repr__(self) -> str:
        return f"ComposioBackend(version={self._version!r})"


ToolFunction = Callable[..., Any]


class CallableBackend:
    """Users' own tools: plain functions (sync or async) called with the params as keywords.

    A function may take a ``user_id`` keyword to learn who it acts for. Whatever it returns is
    the result's ``data``; a returned :class:`ToolResult` is passed through, so a tool can
    report a failure without raising.
    """

    name = "callable"

    def __init__(self, tools: Mapping[str, ToolFunction]) -> None:
        for action, function in tools.items():
            if not callable(function):
                raise ConfigError(f"tool {action!r} is not callable: {function!r}")
        self._tools = dict(tools)

    def qualify(self, app: str, action: str) -> str:
        """Python tools are known by the name they were registered under; ``app`` is a label."""
        del app
        return action

    def _function(self, action: str) -> ToolFunction:
        try:
            return self._tools[action]
        except KeyError:
            known = ", ".join(sorted(self._tools)) or "none"
            raise ConfigError(f"no tool named {action!r}", hint=f"registered: {known}") from None

    def _call(self, action: str, params: Mapping[str, Any], user_id: str) -> Any:
        function = self._function(action)
        kwargs = dict(params)
        if "user_id" in inspect.signature(function).parameters:
            kwargs["user_id"] = user_id
        return function(**kwargs)

    def execute(self, action: str, params: Mapping[str, Any], *, user_id: str) -> ToolResult:
        if inspect.iscoroutinefunction(self._function(action)):
            raise ConfigError(
                f"tool {action!r} is async; call it with aexecute() (or the adapter's async API)"
            )
        return _as_result(self._call(action, params, user_id))

    async def aexecute(self, action: str, params: Mapping[str, Any], *, user_id: str) -> ToolResult:
        function = self._function(action)
        if inspect.iscoroutinefunction(function):
            awaitable: Awaitable[Any] = self._call(action, params, user_id)
            return _as_result(await awaitable)
        return _as_result(await asyncio.to_thread(self._call, action, params, user_id))

    def __repr__(self) -> str:
        return f"CallableBackend({sorted(self._tools)})"


def _as_result(value: Any) -> ToolResult:
    return value if isinstance(value, ToolResult) else ToolResult.from_value(value)


def composio_slug(app: str, action: str) -> str:
    """``app`` and ``action`` as one upper-case Composio slug (see ``_ComposioSdk.qualify``)."""
    prefix = app.strip().upper().replace("-", "_") + "_"
    slug = action.strip().upper().replace("-", "_").replace(" ", "_")
    return slug if slug.startswith(prefix) else prefix + slug

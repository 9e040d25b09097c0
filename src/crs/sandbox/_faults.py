"""Server-side faults: make the next N matching requests fail the way production fails.

Faults live in the server, not in the client, so they work for any language and any HTTP
stack, and so the SDKs' own retry code runs against them unchanged. A rule says *what* goes
wrong (:class:`FaultKind`), *which* requests it hits (API family, method, path glob, tool slug)
and *how often* (``times``, after skipping ``after`` matches). Rules are consumed in the order
they were added; the first live rule that matches a request takes it.

Strict by default, like pytest-httpx: a rule that never fired is reported by
:meth:`FaultPlan.unfired`, and the pytest fixture fails the test for it, because a fault that
matched nothing means the test did not exercise the failure path it was written for.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from crs._options import parse_choice, require_positive_int, require_seconds
from crs.errors import ConfigError

__all__ = ["FaultKind", "FaultPlan", "FaultRule"]

#: The API family names a rule's ``api`` may use; "composio" matches both wire generations.
_API_NAMES = ("openai", "composio", "composio-core")


class FaultKind(StrEnum):
    """What goes wrong."""

    #: ``429``. With ``headers=True`` (the documented shape) it carries ``Retry-After`` and
    #: ``X-RateLimit-*``; with ``headers=False`` it carries none, and Composio families answer
    #: with the undocumented ``{"code": 10429, "slug": "HTTP_TooManyRequests"}`` body.
    RATE_LIMIT = "rate_limit"
    #: A ``5xx`` (``status``, default 503) in the family's error shape.
    SERVER_ERROR = "server_error"
    #: A ``401`` in the family's error shape.
    UNAUTHORIZED = "unauthorized"
    #: A ``200 OK`` whose body reports a 401: how Composio sometimes fails auth.
    AUTH_ENVELOPE = "auth_envelope"
    #: Wait ``seconds`` on the sandbox's clock, then answer normally. Under a ``VirtualClock``
    #: the wait is virtual; with the system clock it is real, long enough to trip a client timeout.
    DELAY = "delay"
    #: Send the status line and headers, then close the connection without a body.
    DROP = "drop"
    #: Flip ``user_id``'s connected account on ``app`` to EXPIRED, then answer normally (so the
    #: request fails the way an expired credential fails).
    EXPIRE_ACCOUNT = "expire_account"


_PARAMS: Mapping[FaultKind, frozenset[str]] = {
    FaultKind.RATE_LIMIT: frozenset({"retry_after", "headers"}),
    FaultKind.SERVER_ERROR: frozenset({"status"}),
    FaultKind.UNAUTHORIZED: frozenset(),
    FaultKind.AUTH_ENVELOPE: frozenset(),
    FaultKind.DELAY: frozenset({"seconds"}),
    FaultKind.DROP: frozenset(),
    FaultKind.EXPIRE_ACCOUNT: frozenset({"user_id", "app"}),
}


@dataclass
class FaultRule:
    """One fault, with its match criteria and how many more requests it will hit.

    ``hits`` counts the requests it has answered, so a test can assert the client really retried
    (``rule.hits == 3``) rather than inferring it from the outcome.
    """

    kind: FaultKind
    api: str | None = None
    method: str | None = None
    path: str | None = None
    tool: str | None = None
    times: int = 1
    after: int = 0
    retry_after: float = 1.0
    headers: bool = True
    status: int = 503
    seconds: float = 0.0
    user_id: str = "default"
    app: str | None = None
    strict: bool = True
    hits: int = 0
    skipped: int = field(default=0, repr=False)

    @property
    def remaining(self) -> int:
        """How many more matching requests this rule will answer."""
        return self.times - self.hits

    def matches(self, api: str, method: str, path: str, tool: str | None) -> bool:
        """Whether a request falls under this rule (ignoring how many times it has fired)."""
        if (
            self.api is not None
            and self.api != api
            and not (self.api == "composio" and api.startswith("composio"))
        ):
            return False
        if self.method is not None and self.method != method.upper():
            return False
        if self.path is not None and not fnmatch.fnmatchcase(path, self.path):
            return False
        return self.tool is None or (tool is not None and tool.upper() == self.tool)

    def describe(self) -> str:
        """A one-line summary for error messages and reports."""
        where = [
            f"{name}={value!r}"
            for name, value in (
                ("api", self.api),
                ("method", self.method),
                ("path", self.path),
                ("tool", self.tool),
            )
            if value is not None
        ]
        scope = ", ".join(where) or "any request"
        return f"{self.kind.value} x{self.times} on {scope} (fired {self.hits})"


def build_rule(kind: FaultKind | str, **options: Any) -> FaultRule:
    """A validated :class:`FaultRule`; any bad option raises ``ConfigError`` naming it."""
    fault = parse_choice(FaultKind, kind, "kind")
    common = {"api", "method", "path", "tool", "times", "after", "strict"}
    allowed = common | _PARAMS[fault]
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigError(
            f"fault {fault.value!r} does not take {', '.join(unknown)}",
            hint=f"it takes: {', '.join(sorted(allowed))}",
        )
    rule = FaultRule(kind=fault)
    api = options.get("api")
    if api is not None and api not in _API_NAMES:
        raise ConfigError(f"api={api!r} is not one of {', '.join(map(repr, _API_NAMES))}")
    rule.api = api
    if fault is FaultKind.AUTH_ENVELOPE and (api is None or not api.startswith("composio")):
        raise ConfigError(
            f"fault 'auth_envelope' needs api='composio' or 'composio-core', got api={api!r}",
            hint="only Composio reports auth failures inside a 200 envelope",
        )
    method = _optional_text(options, "method")
    rule.method = None if method is None else method.upper()
    rule.path = _optional_text(options, "path")
    tool = _optional_text(options, "tool")
    rule.tool = None if tool is None else tool.upper()
    rule.times = require_positive_int(options.get("times", 1), "times")
    after = options.get("after", 0)
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise ConfigError(f"after must be a non-negative int, got {after!r}")
    rule.after = after
    rule.strict = _flag(options, "strict", default=True)
    _apply_kind_options(rule, options)
    return rule


def _apply_kind_options(rule: FaultRule, options: Mapping[str, Any]) -> None:
    if rule.kind is FaultKind.RATE_LIMIT:
        rule.retry_after = require_seconds(options.get("retry_after", 1.0), "retry_after")
        rule.headers = _flag(options, "headers", default=True)
    elif rule.kind is FaultKind.SERVER_ERROR:
        status = options.get("status", 503)
        if isinstance(status, bool) or not isinstance(status, int) or not 500 <= status <= 599:
            raise ConfigError(f"status must be an int from 500 to 599, got {status!r}")
        rule.status = status
    elif rule.kind is FaultKind.DELAY:
        if "seconds" not in options:
            raise ConfigError("fault 'delay' needs seconds=, the time to wait before answering")
        rule.seconds = require_seconds(options["seconds"], "seconds", finite=True)
    elif rule.kind is FaultKind.EXPIRE_ACCOUNT:
        app = _optional_text(options, "app")
        if app is None:
            raise ConfigError("fault 'expire_account' needs app=, e.g. app='GMAIL'")
        rule.app = app.upper()
        rule.user_id = _optional_text(options, "user_id") or "default"


def _optional_text(options: Mapping[str, Any], name: str) -> str | None:
    value = options.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _flag(options: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = options.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    return value


class FaultPlan:
    """The live fault rules, consumed first-come first-served; safe across server threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def take(self, api: str, method: str, path: str, tool: str | None) -> FaultRule | None:
        """The rule that answers this request, with its hit counted; ``None`` if none does."""
        with self._lock:
            for rule in self._rules:
                if rule.remaining <= 0 or not rule.matches(api, method, path, tool):
                    continue
                if rule.skipped < rule.after:
                    rule.skipped += 1
                    continue
                rule.hits += 1
                return rule
        return None

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def unfired(self) -> list[FaultRule]:
        """Strict rules that never fired: the failure path they were set up for never ran."""
        with self._lock:
            return [rule for rule in self._rules if rule.strict and rule.hits == 0]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

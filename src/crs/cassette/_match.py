"""When a live request is "the same" as a recorded one: agent-aware matching.

Generic recorders match a POST by method and URL, so every chat completion looks like every
other. Here a request is matched by method, host, path, query *and* its body in canonical form
(JSON with sorted keys), after removing what legitimately changes between runs:

* headers do not take part at all by default (``x-request-id``, ``x-stainless-*``,
  ``user-agent``, retry counters and credentials all vary);
* loopback hosts are one host, whatever the port (``127.0.0.1:53117`` = ``localhost:8080``), so
  a recording made against the sandbox replays against the sandbox on any port;
* client-generated ids inside JSON bodies are ignored — composio-core's random
  ``sessionInfo.sessionId`` by default, plus any dotted paths the user adds;
* credentials are redacted on both sides with the same placeholder, so a replay with a fake key
  matches a recording made with a real one.

Tool calls (no HTTP) match on app, action, user and canonical parameters.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from crs.cassette._body import decode_body
from crs.cassette._redact import Redactor
from crs.errors import ConfigError

__all__ = [
    "LOOPBACK",
    "MatchRules",
    "live_signature",
    "mask_ignored",
    "normalise_url",
    "request_signature",
    "tool_signature",
]

LOOPBACK: Final = "loopback"
PARTS: Final = frozenset({"method", "scheme", "host", "path", "query", "body", "headers"})
DEFAULT_IGNORED_JSON: Final = ("sessionInfo.sessionId",)
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


@dataclass(frozen=True)
class MatchRules:
    """What two requests must share to match.

    Args:
        on: the parts compared, from ``method``, ``scheme``, ``host``, ``path``, ``query``,
            ``body`` and ``headers`` (headers compare only ``match_headers``).
        ignore_json: dotted paths removed from JSON bodies before comparing (a path matches at
            the top level of the body; ``*`` matches any key or list index).
        ignore_query: query parameters left out of the comparison.
        match_headers: the headers compared when ``"headers"`` is in ``on``.
    """

    on: tuple[str, ...] = ("method", "host", "path", "query", "body")
    ignore_json: tuple[str, ...] = DEFAULT_IGNORED_JSON
    ignore_query: tuple[str, ...] = ()
    match_headers: tuple[str, ...] = ()
    redactor: Redactor = field(default_factory=Redactor, compare=False)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.on) - PARTS)
        if unknown:
            raise ConfigError(
                f"match_on has unknown part(s) {', '.join(map(repr, unknown))}",
                hint=f"choose from {', '.join(sorted(PARTS))}",
            )

    def extended(self, **changes: Iterable[str]) -> MatchRules:
        """These rules with more ``ignore_json`` / ``ignore_query`` entries (or new ``on``)."""
        on = tuple(changes.get("on", self.on))
        return MatchRules(
            on=on,
            ignore_json=(*self.ignore_json, *changes.get("ignore_json", ())),
            ignore_query=(*self.ignore_query, *changes.get("ignore_query", ())),
            match_headers=(*self.match_headers, *changes.get("match_headers", ())),
            redactor=self.redactor,
        )


def normalise_url(url: str) -> str:
    """``url`` with a loopback host (any port) as ``loopback`` and default ports dropped."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port
    if _is_loopback(host):
        netloc = LOOPBACK
    else:
        netloc = host.lower()
        if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
            netloc = f"{netloc}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def request_signature(request: Mapping[str, Any], rules: MatchRules) -> tuple[Any, ...]:
    """The comparable form of an HTTP request in cassette form (``method``, ``url``, ...)."""
    body = request.get("body")
    if isinstance(body, Mapping) and "json" in body:
        content: Any = _Parsed(body["json"])
    else:
        content = decode_body(body)
    return _signature(request["method"], request["url"], request.get("headers", {}), content, rules)


def live_signature(
    method: str, url: str, headers: Mapping[str, Any], body: bytes | None, rules: MatchRules
) -> tuple[Any, ...]:
    """The same signature, straight from a live request's parts (no cassette form needed)."""
    return _signature(method, url, headers, body or b"", rules)


class _Parsed:
    """A body already parsed as JSON (so it is not parsed again)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _signature(
    method: str, url: str, headers: Mapping[str, Any], body: bytes | _Parsed, rules: MatchRules
) -> tuple[Any, ...]:
    parsed = urlsplit(normalise_url(rules.redactor.url(url)))
    parts: list[Any] = []
    for part in rules.on:
        if part == "method":
            parts.append(method.upper())
        elif part == "scheme":
            parts.append(parsed.scheme)
        elif part == "host":
            parts.append(parsed.netloc)
        elif part == "path":
            parts.append(parsed.path)
        elif part == "query":
            pairs = parse_qsl(parsed.query, keep_blank_values=True)
            parts.append(tuple(sorted(p for p in pairs if p[0] not in rules.ignore_query)))
        elif part == "body":
            parts.append(_body_signature(body, rules))
        else:
            redacted = {k.lower(): v for k, v in rules.redactor.headers(headers).items()}
            parts.append(tuple((h, str(redacted.get(h.lower()))) for h in rules.match_headers))
    return tuple(parts)


def tool_signature(request: Mapping[str, Any], rules: MatchRules) -> tuple[Any, ...]:
    """The comparable form of a tool call: app, action, user and canonical parameters."""
    params = _without(rules.redactor.data(request.get("params", {})), rules.ignore_json)
    return (request["app"], request["action"], request["user_id"], _canonical(params))


def _body_signature(body: bytes | _Parsed, rules: MatchRules) -> str:
    """JSON in canonical form (whatever its spacing), else the redacted text, else hex."""
    if isinstance(body, _Parsed):
        value = body.value
    else:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return body.hex()
        try:
            value = json.loads(text) if text.lstrip()[:1] in ("{", "[") else _NOT_JSON
        except ValueError:
            value = _NOT_JSON
        if value is _NOT_JSON:
            return rules.redactor.text(text)
    return _canonical(_without(rules.redactor.data(value), rules.ignore_json))


_NOT_JSON: Final = object()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _without(value: Any, paths: Iterable[str]) -> Any:
    for path in paths:
        value = _drop(value, path.split("."))
    return value


def _drop(value: Any, keys: list[str]) -> Any:
    """``value`` without what the dotted path ``keys`` names (``*``: any key or index)."""
    if not keys:
        return value
    head, rest = keys[0], keys[1:]
    if isinstance(value, Mapping):
        kept: dict[Any, Any] = {}
        for key, item in value.items():
            hit = head in ("*", key)
            if not (hit and not rest):
                kept[key] = _drop(item, rest) if hit else item
        return kept
    if isinstance(value, list) and (head == "*" or head.isdigit()):
        items = []
        for index, item in enumerate(value):
            hit = head in ("*", str(index))
            if not (hit and not rest):
                items.append(_drop(item, rest) if hit else item)
        return items
    return value


def mask_ignored(value: Any, paths: Iterable[str], mask: str = "[IGNORED]") -> Any:
    """``value`` with what ``paths`` name replaced by ``mask`` (kept in place, unlike matching).

    The recorder stores what the matcher ignores this way: a random session id would otherwise
    change every time a cassette is re-recorded, and look like a secret to scanners.
    """
    for path in paths:
        value = _mask(value, path.split("."), mask)
    return value


def _mask(value: Any, keys: list[str], mask: str) -> Any:
    if not keys:
        return mask
    head, rest = keys[0], keys[1:]
    if isinstance(value, Mapping):
        return {k: _mask(v, rest, mask) if head in ("*", k) else v for k, v in value.items()}
    if isinstance(value, list) and (head == "*" or head.isdigit()):
        return [_mask(v, rest, mask) if head in ("*", str(i)) else v for i, v in enumerate(value)]
    return value


def _is_loopback(host: str) -> bool:
    if host in ("localhost", LOOPBACK):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

"""Taking credentials out of interactions before anything is written.

Applied to every interaction *before* it reaches a file, and to every live request before it is
matched: the placeholder does not depend on the secret, so a recording made with a real key
matches a replay made with a fake one, and two recordings of the same call are identical.

What goes, by default:

* request and response headers that carry credentials — ``authorization``, ``x-api-key``,
  ``cookie``, ``set-cookie`` and anything whose name says key, token, secret, password ...;
* URL user-info, and query parameters with such names (``?api_key=...``);
* JSON fields with such names, anywhere in request bodies, response bodies, SSE events, tool
  parameters and tool results (an OAuth ``access_token`` in a tool's answer);
* values that *look* like credentials wherever they occur (``sk-...``, ``ghp_...``,
  ``Bearer ...``, JWTs, AWS keys; see :mod:`crs._secrets`);
* whatever the user adds: header names, field names, and regular expressions.

Binary (base64) bodies are left as they are: they cannot be searched reliably. Use
``crs cassette audit`` to check a cassette before committing it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from crs._secrets import REDACTED, is_secret_name, redact_secrets

__all__ = ["Redactor"]

CREDENTIAL_HEADERS: Final = frozenset(
    {
        "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key",
        "x-auth-token", "x-goog-api-key", "x-amz-security-token", "openai-organization",
        "openai-project", "x-composio-api-key",
    }
)  # fmt: skip


class Redactor:
    """Redacts interactions (see the module docstring); extend it per test suite.

    Args:
        headers: more header names to redact (case-insensitive).
        keys: more JSON field / query parameter names to redact (case-insensitive, exact).
        patterns: regular expressions; every match in any text value is replaced.
    """

    def __init__(
        self,
        *,
        headers: Iterable[str] = (),
        keys: Iterable[str] = (),
        patterns: Iterable[str | re.Pattern[str]] = (),
    ) -> None:
        self._headers = CREDENTIAL_HEADERS | {h.lower() for h in headers}
        self._keys = frozenset(k.lower() for k in keys)
        self._patterns = tuple(re.compile(p) if isinstance(p, str) else p for p in patterns)

    def extended(
        self,
        *,
        headers: Iterable[str] = (),
        keys: Iterable[str] = (),
        patterns: Iterable[str | re.Pattern[str]] = (),
    ) -> Redactor:
        """A redactor that does all this one does, and more."""
        return Redactor(
            headers=[*self._headers, *headers],
            keys=[*self._keys, *keys],
            patterns=[*self._patterns, *patterns],
        )

    # -- pieces -------------------------------------------------------------------------------

    def text(self, text: str) -> str:
        text = redact_secrets(text)
        for pattern in self._patterns:
            text = pattern.sub(REDACTED, text)
        return text

    def secret_key(self, name: str) -> bool:
        return is_secret_name(name) or name.lower() in self._keys

    def data(self, value: Any) -> Any:
        """JSON-like ``value`` with secret fields and secret-looking strings replaced (a copy)."""
        if isinstance(value, Mapping):
            return {
                k: REDACTED if isinstance(k, str) and self.secret_key(k) else self.data(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def headers(self, headers: Mapping[str, Any]) -> dict[str, Any]:
        redacted: dict[str, Any] = {}
        for name, value in headers.items():
            if name.lower() in self._headers or is_secret_name(name):
                redacted[name] = [REDACTED] * len(value) if isinstance(value, list) else REDACTED
            elif isinstance(value, list):
                redacted[name] = [self.text(v) for v in value]
            else:
                redacted[name] = self.text(value)
        return redacted

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode(
                [(k, REDACTED if self.secret_key(k) else self.text(v)) for k, v in pairs],
                safe="[]",
            )
        path = self.text(parts.path)
        return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))

    def body(self, body: Any) -> Any:
        """A stored body (see :mod:`crs.cassette._body`) with its secrets replaced."""
        if not isinstance(body, Mapping):
            return body
        if "json" in body:
            return {**body, "json": self.data(body["json"])}
        if "sse" in body:
            return {**body, "sse": [self._event(e) for e in body["sse"]]}
        if "text" in body:
            return {**body, "text": self.text(body["text"])}
        return dict(body)

    def _event(self, event: Any) -> Any:
        if not isinstance(event, Mapping):
            return event
        data = event.get("data")
        if data is None:
            return dict(event)
        return {**event, "data": self.data(data)}

    # -- whole interactions -------------------------------------------------------------------

    def interaction(self, interaction: Mapping[str, Any]) -> dict[str, Any]:
        """A redacted copy of a cassette interaction (HTTP or tool)."""
        redacted = dict(interaction)
        request, response = interaction["request"], interaction["response"]
        if "app" in request and "method" not in request:  # a Python tool call at the seam
            redacted["request"] = {**request, "params": self.data(request.get("params", {}))}
            redacted["response"] = self.data(response)
        else:
            redacted["request"] = self.http_message(request)
            redacted["response"] = self.http_message(response)
        if isinstance(interaction.get("summary"), str):
            redacted["summary"] = self.text(interaction["summary"])
        return redacted

    def http_message(self, message: Mapping[str, Any]) -> dict[str, Any]:
        redacted = dict(message)
        if "url" in message:
            redacted["url"] = self.url(message["url"])
        if "headers" in message:
            redacted["headers"] = self.headers(message["headers"])
        if "body" in message:
            redacted["body"] = self.body(message["body"])
        return redacted

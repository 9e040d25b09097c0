"""Recognising credentials, so that nothing ``crs`` writes or says ever contains one.

Error messages, execution records, cassettes and reports all end up on disk or in logs. Two
nets catch secrets: *names* (a field, header or parameter called ``api_key``, ``token``,
``authorization`` ...) and *shapes* (``sk-...``, ``ghp_...``, ``Bearer ...``, JWTs, AWS keys).
The placeholder is the same for every secret, so redacting a live request and a recorded one
gives the same text: matching still works, and replaying with a fake key works too.
Over-redacting a harmless word is cheap; leaking a key is not.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "is_secret_name", "redact_data", "redact_secrets"]

REDACTED = "[REDACTED]"
_SECRET_NAMES = (
    r"x-api-key|api[_-]?key|apikey|authorization|proxy-authorization|access[_-]?token"
    r"|refresh[_-]?token|id[_-]?token|client[_-]?secret|secret|password|passwd|token"
)
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization schemes: keep the scheme, drop the credential.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}"), r"\1 " + REDACTED),
    # name=value, name: value, "name": "value" for names that hold credentials.
    (
        re.compile(
            rf"""(?ix)(?<![a-z0-9])((?:{_SECRET_NAMES})["']?\s*[:=]\s*["']?)"""
            r"""(?!\[REDACTED\]|(?:bearer|basic)\b)([^\s"'&,;}]+)"""
        ),
        r"\1" + REDACTED,
    ),
    # Well-known key shapes, wherever they appear (including masked ones like "sk-proj-****").
    (re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_*-]{8,}"), REDACTED),
    (re.compile(r"\b(?:sk|pk|rk|ak|uak)_[A-Za-z0-9_]{16,}"), REDACTED),
    (re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}"), REDACTED),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), REDACTED),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),  # JWT
    # user:password@ in URLs.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/:@]+:)[^\s/@]+@"), r"\1" + REDACTED + "@"),
)


# Field and header names that hold credentials, judged word by word ("github_token",
# "X-Api-Key", "clientSecret"), so that "max_tokens" or "prompt_tokens" are left alone.
_SECRET_WORDS = frozenset(
    {
        "apikey", "authorization", "cookie", "credential", "credentials", "passphrase",
        "passwd", "password", "secret", "signature", "token",
    }
)  # fmt: skip
_SECRET_PAIRS = frozenset({("api", "key"), ("private", "key"), ("access", "key")})
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")


def _scoped(pattern: re.Pattern[str]) -> str:
    """A pattern's source with its leading global flags turned into a scoped group."""
    match = re.match(r"\(\?([a-z]+)\)", pattern.pattern)
    if match is None:
        return f"(?:{pattern.pattern})"
    return f"(?{match[1]}:{pattern.pattern[match.end() :]})"


# One pass that finds whether *any* pattern matches: most text holds no secret, and one search
# is far cheaper than running every substitution.
_ANY_SECRET = re.compile("|".join(_scoped(pattern) for pattern, _ in _SECRET_PATTERNS))


def redact_secrets(text: str) -> str:
    """``text`` with anything that looks like a credential replaced by ``[REDACTED]``.

    Error messages echo what they were given (an ``Authorization`` header, a URL with a key in
    its query, OpenAI's "Incorrect API key provided: sk-..."), and details end up in logs,
    cassettes and reports. Over-redacting a harmless word is cheap; leaking a key is not.
    """
    if _ANY_SECRET.search(text) is None:
        return text
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def is_secret_name(name: str) -> bool:
    """Whether a field or header called ``name`` holds a credential."""
    words = [w.lower() for w in _SEPARATORS.split(_CAMEL.sub("_", name)) if w]
    return any(w in _SECRET_WORDS for w in words) or any(
        pair in _SECRET_PAIRS for pair in itertools.pairwise(words)
    )


def redact_data(value: Any) -> Any:
    """``value`` (JSON-like data) with credential-named fields replaced and secrets in strings
    redacted; containers are copied, never changed in place."""
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if is_secret_name(str(k)) else redact_data(v) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact_data(v) for v in value]
    if isinstance(value, str):
        return redact_secrets(value)
    return value

"""Turn whatever an agent's call failed with into one :class:`Classification`.

Agents meet failures in many shapes: openai and Composio SDK exceptions, raw ``httpx`` /
``httpx2`` / ``requests`` errors and responses, builtin ``TimeoutError``, a bare status code, or a
Composio result dict that says ``successful: false`` with HTTP 200. Retry policies, rate limiters
and breakers should not each relearn those shapes, so this module maps all of them onto one
verdict: what kind of failure, whether trying again can help, how long the server asked us to
wait, and whether the request may already have had its effect.

SDK exceptions are recognised by the module and class names along their MRO, never by
``isinstance``: that would need ``import openai`` (or ``composio``, which touches the network on
import), and ``crs`` must stay importable with none of the extras installed. Typed recognition
comes first; matching words in the message is the last resort and never claims a guessed failure
is retryable.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

from crs._secrets import redact_secrets
from crs.clock import get_clock
from crs.errors import RetryError
from crs.resilience._classification import Classification, ErrorType

__all__ = ["classify", "redact_secrets", "retry_after_from_headers"]

_DETAIL_LIMIT = 200
_DETAIL_SCAN = 20 * _DETAIL_LIMIT  # characters redacted before the final cut to _DETAIL_LIMIT
_MAX_UNWRAP = 8  # causes and wrappers followed before giving up (guards against cycles too)

# ---------------------------------------------------------------------------------------------
# Status codes
# ---------------------------------------------------------------------------------------------

# Statuses whose kind differs from their class (4xx -> validation, 5xx -> server).
_STATUS_KIND: Mapping[int, ErrorType] = {
    401: ErrorType.AUTH,
    402: ErrorType.PERMISSION,  # payment or plan limit: waiting will not lift it
    403: ErrorType.PERMISSION,
    404: ErrorType.NOT_FOUND,
    407: ErrorType.AUTH,
    408: ErrorType.TIMEOUT,
    409: ErrorType.CONFLICT,
    410: ErrorType.NOT_FOUND,
    429: ErrorType.RATE_LIMIT,
}

# The kinds the openai SDK retries (408, 409, 429, >= 500, timeouts, connection errors); the
# Composio SDK follows the same rules, so agents see one notion of "transient".
_RETRYABLE_KINDS = frozenset(
    {
        ErrorType.RATE_LIMIT,
        ErrorType.TIMEOUT,
        ErrorType.CONNECTION,
        ErrorType.SERVER,
        ErrorType.CONFLICT,
    }
)

# Google-style APIs (Gmail and friends, reached through Composio) name the status in words.
_STATUS_NAMES: Mapping[str, int] = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}

_COMPOSIO_RATE_LIMIT_CODE = 10429
_COMPOSIO_RATE_LIMIT_SLUG = "HTTP_TooManyRequests"


def _is_status(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599


def _kind_for_status(status: int) -> ErrorType:
    if status in _STATUS_KIND:
        return _STATUS_KIND[status]
    if 400 <= status < 500:
        return ErrorType.VALIDATION
    if status >= 500:
        return ErrorType.SERVER
    return ErrorType.UNKNOWN  # 1xx-3xx: not a failure at all


def _status_may_have_executed(status: int) -> bool:
    """A 4xx means the server refused before acting; anything else leaves it possible."""
    return not 400 <= status < 500


# ---------------------------------------------------------------------------------------------
# Retry-After and x-should-retry
# ---------------------------------------------------------------------------------------------

_DELAY_SECONDS = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*", re.ASCII)


def _lowered(headers: Mapping[Any, Any]) -> dict[str, str]:
    """Header names are case-insensitive on the wire, but a plain ``dict`` is not."""
    lowered: dict[str, str] = {}
    try:
        items = list(headers.items())
    except Exception:  # a foreign mapping that fails to iterate carries no usable headers
        return lowered
    for name, value in items:
        if isinstance(name, str) and isinstance(value, str):
            lowered.setdefault(name.strip().lower(), value)
    return lowered


def _parse_delay(value: str, divisor: float) -> float | None:
    if _DELAY_SECONDS.fullmatch(value) is None:
        return None
    delay = float(value) / divisor
    # A delay too long to represent is still the server saying "much later": keep it finite but
    # larger than any policy will accept, rather than dropping it and retrying at once.
    return delay if math.isfinite(delay) else sys.float_info.max


def _parse_http_date(value: str, now: float) -> float | None:
    try:
        when = parsedate_to_datetime(value)
        # "-0000" dates come back naive; HTTP dates are always GMT.
        timestamp = when.timestamp() if when.tzinfo else when.replace(tzinfo=UTC).timestamp()
    except (TypeError, ValueError, OverflowError, IndexError, OSError):
        return None
    delay = timestamp - now
    if not math.isfinite(delay):
        return None
    return max(delay, 0.0)  # a date already past means "now"


def retry_after_from_headers(headers: Mapping[str, str] | None, *, now: float) -> float | None:
    """Seconds the server asked the caller to wait, or ``None`` when it did not (validly) say.

    ``retry-after-ms`` wins over ``retry-after``, as in the openai SDK, because it is the more
    precise of the two when a server sends both. ``retry-after`` may be seconds (fractions
    allowed) or an HTTP date, which is measured from ``now`` (wall-clock seconds; pass
    ``crs.clock.get_clock().now()`` so virtual time applies). Negative or malformed values are
    ignored rather than raised: a broken header must not turn a retryable failure into a crash.
    """
    if not headers:
        return None
    lowered = _lowered(headers)
    if "retry-after-ms" in lowered:
        delay = _parse_delay(lowered["retry-after-ms"], 1000.0)
        if delay is not None:
            return delay
    value = lowered.get("retry-after")
    if value is None:
        return None
    delay = _parse_delay(value, 1.0)
    if delay is not None:
        return delay
    return _parse_http_date(value, now) if math.isfinite(now) else None


def _should_retry_header(headers: Mapping[str, str] | None) -> bool | None:
    """The server's explicit ``x-should-retry`` verdict, which beats any status-based default."""
    if not headers:
        return None
    value = _lowered(headers).get("x-should-retry", "").strip().lower()
    return {"true": True, "false": False}.get(value)


def _detail(source: str, status: int | None = None, message: str | None = None) -> str:
    head = " ".join(part for part in (source, "" if status is None else f"HTTP {status}") if part)
    # Bound the work on huge bodies (an HTML error page), but keep far more than will be shown:
    # redaction runs before the final cut, so that a cut never leaves half a key behind.
    text = ": ".join(part for part in (head, message) if part)[:_DETAIL_SCAN]
    text = " ".join(redact_secrets(text).split())
    if len(text) > _DETAIL_LIMIT:
        text = text[: _DETAIL_LIMIT - 1].rstrip() + "…"
    return text


# ---------------------------------------------------------------------------------------------
# Bodies: error payloads and Composio result envelopes
# ---------------------------------------------------------------------------------------------

_STATUS_IN_TEXT = (
    re.compile(
        r"\b([1-5]\d\d) (?:Client|Server) Error\b", re.ASCII
    ),  # requests' raise_for_status()
    re.compile(
        r"(?i)\b(?:HTTP(?:/[\d.]+)?|status(?:[ _]code)?|error code)\s*[:=]?\s*([1-5]\d\d)\b",
        re.ASCII,
    ),
)


def _status_in_text(text: str) -> int | None:
    for pattern in _STATUS_IN_TEXT:
        match = pattern.search(text)
        if match is not None:
            return int(match.group(1))
    return None


def _error_status_in_text(text: str) -> int | None:
    status = _status_in_text(text)
    return status if status is not None and status >= 400 else None


def _json_in_text(text: str) -> object:
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        return None


def _is_composio_rate_limit(body: Mapping[Any, Any]) -> bool:
    """Composio's undocumented 429: no headers, just ``{"code": 10429, "slug": ...}``."""
    return body.get("code") == _COMPOSIO_RATE_LIMIT_CODE or (
        body.get("slug") == _COMPOSIO_RATE_LIMIT_SLUG
    )


def _has_composio_rate_limit(body: object) -> bool:
    if not isinstance(body, Mapping):
        return False
    error = body.get("error")
    return _is_composio_rate_limit(body) or (
        isinstance(error, Mapping) and _is_composio_rate_limit(error)
    )


# The current API answers an execution whose user has no usable connected account with a 400
# and a slug naming it (ActionExecute_ConnectedAccountNotActive / ...NotFound / ...Expired):
# a credential problem, not a bad argument.
_COMPOSIO_ACCOUNT_SLUG = re.compile(r"ConnectedAccount(?:NotActive|NotFound|Expired|Inactive)")


def _composio_account_unusable(body: object) -> bool:
    if not isinstance(body, Mapping):
        return False
    error = body.get("error")
    slug = error.get("slug") if isinstance(error, Mapping) else body.get("slug")
    return isinstance(slug, str) and _COMPOSIO_ACCOUNT_SLUG.search(slug) is not None


def _succeeded(body: Mapping[Any, Any]) -> bool | None:
    """Composio's verdict on itself; core 0.7 spells the key ``successfull``."""
    for key in ("successful", "successfull"):
        value = body.get(key)
        if isinstance(value, bool):
            return value
    return None


def _is_failure_body(body: Mapping[Any, Any]) -> bool:
    succeeded = _succeeded(body)
    if succeeded is not None:
        return not succeeded
    return _is_composio_rate_limit(body) or bool(body.get("error"))


def _status_from_fields(body: Mapping[Any, Any]) -> int | None:
    for key in ("status", "status_code", "statusCode", "code"):
        value = body.get(key)
        if _is_status(value) and isinstance(value, int) and value >= 400:
            return value
        if isinstance(value, str) and value in _STATUS_NAMES:
            return _STATUS_NAMES[value]
    return None


def _failure_status(body: object, depth: int = 0) -> int | None:
    """The HTTP status an error body or result envelope carries, wherever its API put it.

    Composio nests the real failure: a tool that got a 401 from Gmail comes back as HTTP 200
    with ``successful: false`` and the 401 in ``error`` (as text, or as Google's JSON error) or
    in ``data``. Finding it is what turns "unknown failure" into "auth: do not retry".
    """
    if depth > 3:
        return None
    if isinstance(body, str):
        parsed = _json_in_text(body)
        if parsed is not None:
            return _failure_status(parsed, depth + 1)
        return _error_status_in_text(body)
    if not isinstance(body, Mapping):
        return None
    if _is_composio_rate_limit(body):
        return 429
    for key in ("error", "data"):
        inner = body.get(key)
        if isinstance(inner, Mapping | str):
            status = _failure_status(inner, depth + 1)
            if status is not None:
                return status
    status = _status_from_fields(body)
    if status is not None:
        return status
    message = body.get("message")
    return _error_status_in_text(message) if isinstance(message, str) else None


def _server_message(body: object) -> str | None:
    if isinstance(body, str):
        parsed = _json_in_text(body)
        return _server_message(parsed) if parsed is not None else (body or None)
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    if isinstance(error, Mapping) or (isinstance(error, str) and error):
        return _server_message(error)
    for key in ("message", "detail", "error_description", "slug"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _quota_exhausted(body: object) -> bool:
    """OpenAI answers an empty balance with 429 ``insufficient_quota``; waiting will not fix it."""
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping):
            return _quota_exhausted(inner)
        return "insufficient_quota" in (body.get("code"), body.get("type"))
    return False


# ---------------------------------------------------------------------------------------------
# Verdicts from an HTTP status (responses, status errors, bodies, plain ints)
# ---------------------------------------------------------------------------------------------


def _from_status(
    status: int,
    *,
    source: str,
    headers: Mapping[str, str] | None = None,
    body: object = None,
    message: str | None = None,
) -> Classification:
    if 200 <= status < 300 and isinstance(body, Mapping) and _is_failure_body(body):
        return _from_body(body, source=f"{source} HTTP {status} result", headers=headers)
    if _has_composio_rate_limit(body):
        status = 429
    kind = ErrorType.AUTH if _composio_account_unusable(body) else _kind_for_status(status)
    retryable = kind in _RETRYABLE_KINDS and not _quota_exhausted(body)
    override = _should_retry_header(headers)
    return Classification(
        kind=kind,
        retryable=retryable if override is None else override,
        retry_after=retry_after_from_headers(headers, now=get_clock().now()),
        status=status,
        detail=_detail(source, status, _server_message(body) or message),
        may_have_executed=_status_may_have_executed(status),
    )


def _from_body(
    body: Mapping[Any, Any], *, source: str, headers: Mapping[str, str] | None = None
) -> Classification:
    """A result dict or error body with no trustworthy HTTP status of its own."""
    message = _server_message(body)
    if not _is_failure_body(body):
        return Classification(
            kind=ErrorType.UNKNOWN,
            retryable=False,
            detail=_detail(source, message="not a failure"),
            may_have_executed=True,
        )
    status = _failure_status(body)
    if status is not None:
        return _from_status(status, source=source, headers=headers, body=body, message=message)
    return _guess(message or "", source=source) or Classification(
        kind=ErrorType.UNKNOWN,
        retryable=False,
        detail=_detail(source, message=message),
        may_have_executed=True,
    )


# ---------------------------------------------------------------------------------------------
# Exceptions recognised by name
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Verdict:
    kind: ErrorType
    retryable: bool
    may_have_executed: bool


_NEVER_SENT_TIMEOUT = _Verdict(ErrorType.TIMEOUT, retryable=True, may_have_executed=False)
_AMBIGUOUS_TIMEOUT = _Verdict(ErrorType.TIMEOUT, retryable=True, may_have_executed=True)
_NEVER_SENT_CONNECTION = _Verdict(ErrorType.CONNECTION, retryable=True, may_have_executed=False)
_AMBIGUOUS_CONNECTION = _Verdict(ErrorType.CONNECTION, retryable=True, may_have_executed=True)
_BAD_REQUEST = _Verdict(ErrorType.VALIDATION, retryable=False, may_have_executed=False)
_BAD_CREDENTIALS = _Verdict(ErrorType.AUTH, retryable=False, may_have_executed=False)
_NOT_FOUND = _Verdict(ErrorType.NOT_FOUND, retryable=False, may_have_executed=False)
_DENIED = _Verdict(ErrorType.PERMISSION, retryable=False, may_have_executed=False)

# httpx and httpx2 share one hierarchy; a connect failure never sent the request, a read or
# write failure may have delivered it.
_HTTPX: Mapping[str, _Verdict] = {
    "ConnectTimeout": _NEVER_SENT_TIMEOUT,
    "PoolTimeout": _NEVER_SENT_TIMEOUT,  # waited for a pooled connection; nothing was sent
    "TimeoutException": _AMBIGUOUS_TIMEOUT,  # ReadTimeout, WriteTimeout
    "ConnectError": _NEVER_SENT_CONNECTION,  # refused, DNS, TLS handshake
    "ProxyError": _NEVER_SENT_CONNECTION,
    "UnsupportedProtocol": _BAD_REQUEST,
    "LocalProtocolError": _BAD_REQUEST,  # our side built an invalid request; resending won't help
    "TransportError": _AMBIGUOUS_CONNECTION,  # ReadError, WriteError, RemoteProtocolError, ...
    "InvalidURL": _BAD_REQUEST,
}
_REQUESTS: Mapping[str, _Verdict] = {
    "ConnectTimeout": _NEVER_SENT_TIMEOUT,
    "Timeout": _AMBIGUOUS_TIMEOUT,  # ReadTimeout, and bare Timeout raised by user code
    "SSLError": _NEVER_SENT_CONNECTION,
    "ProxyError": _NEVER_SENT_CONNECTION,
    "ConnectionError": _AMBIGUOUS_CONNECTION,  # refined by the urllib3 error it wraps
    "ChunkedEncodingError": _AMBIGUOUS_CONNECTION,
    "RetryError": _Verdict(ErrorType.SERVER, retryable=True, may_have_executed=True),
    "InvalidURL": _BAD_REQUEST,
    "MissingSchema": _BAD_REQUEST,
    "InvalidSchema": _BAD_REQUEST,
    "URLRequired": _BAD_REQUEST,
    "InvalidHeader": _BAD_REQUEST,
}
_URLLIB3: Mapping[str, _Verdict] = {
    "NewConnectionError": _NEVER_SENT_CONNECTION,  # also NameResolutionError
    "ConnectTimeoutError": _NEVER_SENT_TIMEOUT,
    "ReadTimeoutError": _AMBIGUOUS_TIMEOUT,
    "TimeoutError": _AMBIGUOUS_TIMEOUT,
    "SSLError": _NEVER_SENT_CONNECTION,
    "ProxyError": _NEVER_SENT_CONNECTION,
    "ProtocolError": _AMBIGUOUS_CONNECTION,  # "Connection aborted." after the request went out
}
# openai, and the generated client inside composio >= 0.8 (composio_client): Stainless SDKs
# share class names. Status errors are handled by their status before this table is consulted.
_STAINLESS: Mapping[str, _Verdict] = {
    "APITimeoutError": _AMBIGUOUS_TIMEOUT,  # refined by the httpx error it was raised from
    "APIConnectionError": _AMBIGUOUS_CONNECTION,
}
# composio-core 0.7 and composio >= 0.8 both define composio.exceptions, with overlapping names.
_COMPOSIO: Mapping[str, _Verdict] = {
    "SDKTimeoutError": _AMBIGUOUS_TIMEOUT,  # core: raised after three read timeouts
    "ComposioSDKTimeoutError": _AMBIGUOUS_TIMEOUT,
    "ApiKeyError": _BAD_CREDENTIALS,
    # core: no ACTIVE connected account (or no integration) for the app and entity; raised
    # before the execute call, so an expired or revoked connection never reaches the tool.
    "NoItemsFound": _BAD_CREDENTIALS,
    "DescopeAuthError": _BAD_CREDENTIALS,
    "ComposioSharedAccessDeniedError": _DENIED,
    "ComposioSharedConnectionNotAccessibleError": _DENIED,
    "NotFoundError": _NOT_FOUND,
    "ValidationError": _BAD_REQUEST,
    "InvalidParams": _BAD_REQUEST,
    "ToolVersionRequiredError": _BAD_REQUEST,
    "InvalidSchemaError": _BAD_REQUEST,
    "InvalidEntityIdError": _BAD_REQUEST,
    "EnumStringNotFound": _BAD_REQUEST,
}
_BUILTINS: Mapping[str, _Verdict] = {
    "ConnectionRefusedError": _NEVER_SENT_CONNECTION,
    "ConnectionError": _AMBIGUOUS_CONNECTION,  # reset, aborted, broken pipe
    "TimeoutError": _AMBIGUOUS_TIMEOUT,  # also asyncio.TimeoutError and CrsTimeoutError
}
_CRS: Mapping[str, _Verdict] = {
    # Refused locally: nothing was sent, and retrying into an open circuit is what it prevents.
    "CircuitOpenError": _Verdict(ErrorType.UNKNOWN, retryable=False, may_have_executed=False),
}
_BY_MODULE: Mapping[str, Mapping[str, _Verdict]] = {
    "httpx": _HTTPX,
    "httpx2": _HTTPX,
    "requests": _REQUESTS,
    "urllib3": _URLLIB3,
    "openai": _STAINLESS,
    "composio_client": _STAINLESS,
    "anthropic": _STAINLESS,
    "composio": _COMPOSIO,
    "builtins": _BUILTINS,
    "socket": {"gaierror": _NEVER_SENT_CONNECTION},  # DNS lookup failed before connecting
    "crs": _CRS,
}


def _class_is(exc: BaseException, module_root: str, name: str) -> bool:
    return any(
        cls.__name__ == name and cls.__module__.partition(".")[0] == module_root
        for cls in type(exc).__mro__
    )


def _verdict_by_name(exc: BaseException) -> _Verdict | None:
    """The most specific verdict along the MRO, so subclasses we never heard of still match."""
    for cls in type(exc).__mro__:
        table = _BY_MODULE.get(cls.__module__.partition(".")[0])
        if table is not None and cls.__name__ in table:
            return table[cls.__name__]
    return None


# ---------------------------------------------------------------------------------------------
# Reading foreign objects without trusting them
# ---------------------------------------------------------------------------------------------


def _attr(obj: object, name: str) -> object:
    """``getattr`` that survives properties which raise: classify runs inside except blocks."""
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def _headers_of(obj: object) -> Mapping[str, str] | None:
    headers = _attr(obj, "headers")
    return headers if isinstance(headers, Mapping) else None


def _json_of(response: object) -> object:
    method = _attr(response, "json")
    if not callable(method):
        return None
    try:
        return method()
    except Exception:  # unread stream, not JSON, bad charset: the status alone still classifies
        return None


def _status_of(exc: BaseException) -> int | None:
    for value in (
        _attr(exc, "status_code"),
        _attr(_attr(exc, "response"), "status_code"),
        _attr(exc, "status"),
    ):
        if isinstance(value, int) and _is_status(value):
            return value
    return None


def _is_response(obj: object) -> bool:
    status = _attr(obj, "status_code")
    return isinstance(status, int) and _is_status(status) and _attr(obj, "headers") is not None


def _message_of(exc: BaseException) -> str:
    message = _attr(exc, "message")
    if isinstance(message, str) and message:
        return message
    try:
        return str(exc)
    except Exception:
        return ""


# ---------------------------------------------------------------------------------------------
# Exceptions
# ---------------------------------------------------------------------------------------------


def _wrapped(exc: BaseException) -> BaseException | None:
    """The real failure inside a container that only reports it (a retry that gave up)."""
    if isinstance(exc, RetryError):
        return exc.last_error
    if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        return exc.exceptions[0]  # a task group reporting one failed task
    reason = _attr(exc, "reason")
    if _class_is(exc, "urllib3", "MaxRetryError") and isinstance(reason, BaseException):
        return reason  # urllib3 gave up; the reason says how far the last try got
    return None


def _inner_errors(exc: BaseException) -> Iterator[BaseException]:
    """Where transport wrappers keep the lower-level error that says how far the request got."""
    if exc.args and isinstance(exc.args[0], BaseException):  # requests wraps urllib3 errors
        yield exc.args[0]
    if exc.__cause__ is not None:  # openai raises APITimeoutError from the httpx2 timeout
        yield exc.__cause__


def _from_status_error(exc: BaseException, status: int) -> Classification:
    response = _attr(exc, "response")
    body = _attr(exc, "body")  # openai and composio_client parse the body for us
    message = _message_of(exc)
    if body is None:
        body = _json_of(response) if response is not None else _json_in_text(message)
    return _from_status(
        status,
        source=type(exc).__name__,
        headers=_headers_of(response) or _headers_of(exc),
        body=body,
        message=message,
    )


def _from_verdict(exc: BaseException, verdict: _Verdict, seen: set[int]) -> Classification:
    source = type(exc).__name__
    if verdict.kind is ErrorType.AUTH:
        # composio-core reports a failed key check as ApiKeyError("Unexpected error: HTTP 500"):
        # a server failure, which says nothing about the key.
        status = _status_in_text(_message_of(exc))
        if status is not None and _kind_for_status(status) in _RETRYABLE_KINDS:
            return _from_status(status, source=source, message=_message_of(exc))
    classification = Classification(
        kind=verdict.kind,
        retryable=verdict.retryable,
        detail=_detail(source, message=_message_of(exc)),
        may_have_executed=verdict.may_have_executed,
    )
    if verdict.kind not in (ErrorType.TIMEOUT, ErrorType.CONNECTION):
        return classification
    for inner in _inner_errors(exc):
        refined = _recognise(inner, seen)
        if refined is not None and refined.kind in (ErrorType.TIMEOUT, ErrorType.CONNECTION):
            return replace(refined, detail=_detail(f"{source} ← {refined.detail}"))
    return classification


def _recognise(exc: BaseException, seen: set[int]) -> Classification | None:
    """A confident classification from types, statuses and causes; ``None`` if there is none."""
    if id(exc) in seen or len(seen) >= _MAX_UNWRAP:
        return None
    seen.add(id(exc))
    own = getattr(exc, "classification", None)
    if isinstance(own, Classification):  # an error that already carries its verdict
        return own
    wrapped = _wrapped(exc)
    if wrapped is not None:
        return _recognise(wrapped, seen)
    status = _status_of(exc)
    if status is not None:
        return _from_status_error(exc, status)
    verdict = _verdict_by_name(exc)
    if verdict is not None:
        return _from_verdict(exc, verdict, seen)
    if exc.__cause__ is not None:  # a generic error raised from a specific one
        cause = _recognise(exc.__cause__, seen)
        if cause is not None:
            return replace(
                cause,
                detail=_detail(type(exc).__name__, message=f"{_message_of(exc)} ← {cause.detail}"),
            )
    return None


# ---------------------------------------------------------------------------------------------
# The last resort: words in the message
# ---------------------------------------------------------------------------------------------

_MESSAGE_HINTS: tuple[tuple[re.Pattern[str], ErrorType], ...] = (
    (re.compile(r"(?i)rate.?limit|too many requests|throttl"), ErrorType.RATE_LIMIT),
    (
        re.compile(
            r"(?i)unauthori[sz]ed|unauthenticated|authentication|invalid api.?key"
            r"|(?:token|credentials?|connected account|session) (?:has |is )?expired"
            r"|(?-i:\bEXPIRED\b)"
        ),
        ErrorType.AUTH,
    ),
    (
        re.compile(r"(?i)forbidden|permission denied|access denied|not permitted"),
        ErrorType.PERMISSION,
    ),
    (re.compile(r"(?i)not found|no such"), ErrorType.NOT_FOUND),
    (re.compile(r"(?i)timed? ?out|timeout|deadline exceeded"), ErrorType.TIMEOUT),
    (
        re.compile(
            r"(?i)connection (?:refused|reset|aborted|error|closed)|network is unreachable"
            r"|name resolution|broken pipe"
        ),
        ErrorType.CONNECTION,
    ),
    (
        re.compile(r"(?i)internal server error|service unavailable|bad gateway|overloaded"),
        ErrorType.SERVER,
    ),
    (re.compile(r"(?i)\binvalid\b|validation|malformed|bad request"), ErrorType.VALIDATION),
)


def _guessed_kind(text: str) -> ErrorType | None:
    status = _status_in_text(text)
    if status is not None and status >= 400:
        return _kind_for_status(status)
    for pattern, kind in _MESSAGE_HINTS:
        if pattern.search(text):
            return kind
    return None


def _guess(text: str, *, source: str) -> Classification | None:
    """A kind read from free text: informative for reports and breakers, never trusted to retry.

    A message that merely mentions "timeout" may come from code that already retried, or from an
    operation that half-ran; only a typed signal is allowed to say "safe to try again".
    """
    kind = _guessed_kind(text)
    if kind is None:
        return None
    return Classification(
        kind=kind,
        retryable=False,
        detail=_detail(source, message=f"{text} [kind guessed from message]"),
        may_have_executed=True,
    )


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < _MAX_UNWRAP:
        seen.add(id(current))
        yield current
        current = _wrapped(current) or current.__cause__


def _classify_exception(exc: BaseException) -> Classification:
    recognised = _recognise(exc, set())
    if recognised is not None:
        return recognised
    source = type(exc).__name__
    for error in _causes(exc):
        guessed = _guess(_message_of(error), source=source)
        if guessed is not None:
            return guessed
    return Classification(
        kind=ErrorType.UNKNOWN,
        retryable=False,  # retrying what we do not understand can repeat a side effect
        detail=_detail(source, message=_message_of(exc)),
        may_have_executed=True,
    )


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def classify(error_or_response: object) -> Classification:
    """What went wrong, whether to retry, and whether the request may already have taken effect.

    Accepts an exception (SDK, transport or builtin; wrappers such as :class:`RetryError` and
    generic errors raised ``from`` a specific one are unwrapped; an error with a
    ``classification`` attribute holding a :class:`Classification` is taken at its word), an
    HTTP response from httpx, httpx2 or requests, a status code, or a Composio result dict /
    error body. Never raises:
    it is called from ``except`` blocks, where a second error would hide the first. Anything it
    cannot place is ``unknown``, not retryable, and assumed to have possibly executed.
    """
    subject = error_or_response
    if isinstance(subject, BaseException):
        return _classify_exception(subject)
    if isinstance(subject, int) and not isinstance(subject, bool):
        if _is_status(subject):
            return _from_status(subject, source="")
        return Classification(
            kind=ErrorType.UNKNOWN,
            retryable=False,
            detail=_detail("", message=f"{subject} is not an HTTP status code"),
            may_have_executed=True,
        )
    if isinstance(subject, Mapping):
        return _from_body(subject, source="result")
    if _is_response(subject):
        status = _attr(subject, "status_code")
        assert isinstance(status, int)  # checked by _is_response
        reason = _attr(subject, "reason_phrase") or _attr(subject, "reason")
        return _from_status(
            status,
            source="response",
            headers=_headers_of(subject),
            body=_json_of(subject),
            message=reason if isinstance(reason, str) else None,
        )
    return Classification(
        kind=ErrorType.UNKNOWN,
        retryable=False,
        detail=_detail(type(subject).__name__, message="not an error, response or status"),
        may_have_executed=True,
    )

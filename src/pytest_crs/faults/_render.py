"""A fault, in the exact wire form the real service uses for it.

Each fault becomes a :class:`~pytest_crs.faults._wire.Decision` for one request: a response in
the API's own error shape and headers (:mod:`crs._dialects`, the bytes the sandbox answers
with too), a transport failure, a wait, or a stream cut. The dialect is the request's — an LLM
call gets OpenAI's 429, a tool call over composio-core gets composio-core's — so the SDK that
sent it parses the error into the exception it raises in production, and its own retry code
reacts as it would there.

:func:`render` never raises: it runs inside an HTTP client, mid-request, where an exception of
ours would look like a bug in the client. Faults that cannot be rendered for an API are refused
earlier, when the rule is added (:func:`check_applicable`).
"""

from __future__ import annotations

from collections.abc import Mapping

from crs._dialects import RATE_LIMIT_10429, Dialect, dialect_of, json_bytes, retry_after_headers
from crs.errors import ConfigError
from pytest_crs.faults._kinds import AuthForm, Fault, FaultKind, RateLimitShape, TimeoutPhase
from pytest_crs.faults._wire import INJECTED, Cut, Decision, Delay, Fail, Failure, Reply, WireCall

__all__ = ["check_applicable", "render"]

_JSON = ("content-type", "application/json")


def check_applicable(fault: Fault, api: str | None) -> None:
    """Refuse, with a :class:`ConfigError` naming both, a fault the API cannot produce.

    ``api`` is the target's (``"openai"`` for ``llm()``, ``"composio"`` for ``tool()``,
    ``None`` for ``http()``, which may be any service).
    """
    if api == "openai" and fault.tools_only:
        raise ConfigError(
            f"{fault.describe()} cannot happen to an LLM call: only Composio tool calls fail "
            "that way",
            hint="target tool(...) instead, or use auth_expired('401') / rate_limit() for LLMs",
        )


def render(fault: Fault, call: WireCall, *, now: float) -> Decision:
    """What ``call`` meets when ``fault`` fires; ``now`` is wall-clock time (for HTTP dates)."""
    dialect = dialect_of(call.path)
    kind = fault.kind
    if kind is FaultKind.RATE_LIMIT:
        return _rate_limited(fault, dialect, now=now)
    if kind is FaultKind.SERVER_ERROR:
        message = f"The server had an error while processing your request {INJECTED}."
        return _error(dialect, fault.status, message, code="server_error")
    if kind is FaultKind.TIMEOUT:  # the transport words these as each library does
        connect = fault.phase == TimeoutPhase.CONNECT.value
        return Fail(Failure.CONNECT_TIMEOUT if connect else Failure.READ_TIMEOUT)
    if kind is FaultKind.CONNECTION_RESET:
        return Fail(Failure.RESET_AFTER_SEND if fault.after_send else Failure.CONNECT_ERROR)
    if kind is FaultKind.LATENCY:
        return Delay(fault.seconds)
    if kind is FaultKind.STREAM_CUT:
        return Cut(fault.after_events)
    if kind is FaultKind.AUTH_EXPIRED:
        return _auth_expired(fault, dialect, call)
    return _tool_failure(fault, dialect)


def _rate_limited(fault: Fault, dialect: Dialect | None, *, now: float) -> Reply:
    if fault.shape == RateLimitShape.COMPOSIO_10429.value:
        return Reply(429, (_JSON,), json_bytes(dict(RATE_LIMIT_10429)))
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        headers = retry_after_headers(fault.retry_after, fault.form, now=now)
    if dialect is not None:
        headers.update(dialect.quota_headers(fault.retry_after or 0.0, now=now))
    message = f"Rate limit reached {INJECTED}. Please try again later."
    return _error(dialect, 429, message, code="rate_limit_exceeded", headers=headers)


def _auth_expired(fault: Fault, dialect: Dialect | None, call: WireCall) -> Reply:
    if dialect is not None and dialect.name != "openai":
        if fault.form == AuthForm.IN_200.value:
            envelope = dialect.unauthorized_envelope()
            if envelope is not None:
                return Reply(200, (_JSON,), json_bytes(envelope))
        elif fault.form == AuthForm.EXPIRED_ACCOUNT.value:
            tool = dialect.tool_slug(call.path) or "the tool"
            message = f"The connected account for {tool} is not active: EXPIRED {INJECTED}"
            return _error(dialect, 400, message, code="ActionExecute_ConnectedAccountNotActive")
    if dialect is not None and dialect.name == "openai":
        message = f"Incorrect API key provided {INJECTED}."
    else:
        message = f"Invalid API key {INJECTED}."
    return _error(dialect, 401, message, code="invalid_api_key")


def _tool_failure(fault: Fault, dialect: Dialect | None) -> Reply:
    body = (
        None
        if dialect is None
        else dialect.execution_result({}, fault.error, successful=False, log_id=None)
    )
    if body is None:  # plain HTTP (refused for LLM calls when the rule was added)
        body = {"data": {}, "error": fault.error, "successful": False}
    return Reply(200, (_JSON,), json_bytes(body))


def _error(
    dialect: Dialect | None,
    status: int,
    message: str,
    *,
    code: str,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    if dialect is None:  # a service we do not know: the generic shape the sandbox uses too
        body: object = {"error": {"message": message, "status": status}}
    else:
        body = dialect.error_body(status, message, code=code)
    return Reply(status, (*(headers or {}).items(), _JSON), json_bytes(body))

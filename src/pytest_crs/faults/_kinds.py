"""What goes wrong: one value per fault, built by the functions users call.

A :class:`Fault` says *what* happens to an attempt; targets say *which* attempts
(:mod:`._targets`), schedules say *when* (:mod:`._schedule`). Each fault is rendered in the
exact wire form the real service uses (:mod:`._render`), so the SDKs' own retry code reacts as
in production, and as an exception classified the same way for Python tools (:mod:`._tools`).

Builders check their arguments at once, with a :class:`~crs.errors.ConfigError` naming the
argument and the value: a typo in a fault plan must not quietly test something else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from crs._options import parse_choice, require_seconds
from crs.errors import ConfigError

if TYPE_CHECKING:
    from pytest_crs.faults._schedule import Schedule

__all__ = [
    "AuthForm",
    "Fault",
    "FaultKind",
    "RetryAfterForm",
    "auth_expired",
    "connection_reset",
    "latency",
    "rate_limit",
    "server_error",
    "stream_cut",
    "timeout",
    "tool_failure",
]


class FaultKind(StrEnum):
    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION_RESET = "connection_reset"
    LATENCY = "latency"
    AUTH_EXPIRED = "auth_expired"
    TOOL_FAILURE = "tool_failure"
    STREAM_CUT = "stream_cut"


class RetryAfterForm(StrEnum):
    """How a 429 says when to come back."""

    SECONDS = "seconds"  # Retry-After: 20
    MS = "ms"  # retry-after-ms: 20000 (OpenAI's and Stainless SDKs' own header)
    HTTP_DATE = "http-date"  # Retry-After: Wed, 15 Nov 2023 22:13:40 GMT
    NONE = "none"  # no hint at all


class RateLimitShape(StrEnum):
    DOCUMENTED = "documented"  # 429 + Retry-After + X-RateLimit-* headers
    COMPOSIO_10429 = "composio-10429"  # 429, no headers, {"code": 10429, ...}


class AuthForm(StrEnum):
    """The three ways an expired credential shows up."""

    HTTP_401 = "401"  # a plain 401 in the API's error shape
    EXPIRED_ACCOUNT = "expired-account"  # Composio: the connected account is EXPIRED
    IN_200 = "401-in-200"  # Composio: 200 OK whose body reports a provider 401


class TimeoutPhase(StrEnum):
    CONNECT = "connect"
    READ = "read"


@dataclass(frozen=True)
class Fault:
    """One way an attempt fails. Build it with the module's functions, not directly.

    Only the fields of its kind mean anything; ``describe()`` shows those.
    """

    kind: FaultKind
    retry_after: float | None = None
    form: str = ""
    shape: str = RateLimitShape.DOCUMENTED.value
    status: int = 503
    phase: str = TimeoutPhase.READ.value
    after_send: bool = False
    seconds: float = 0.0
    error: str = ""
    after_events: int = 0

    @property
    def may_have_executed(self) -> bool:
        """Whether the service may have acted on an attempt that failed this way.

        A read timeout or a connection reset after sending leaves the caller not knowing; so
        does a 5xx (the same rule as :func:`crs.resilience.classify`: only a 4xx proves the
        server refused before acting), a cut stream and a slow answer (which still arrives).
        Retrying a side-effecting call after one of these may do the thing twice — what
        ``crs_faults.duplicates`` shows.
        """
        return (
            (self.kind is FaultKind.TIMEOUT and self.phase == TimeoutPhase.READ.value)
            or (self.kind is FaultKind.CONNECTION_RESET and self.after_send)
            or self.kind in (FaultKind.SERVER_ERROR, FaultKind.LATENCY, FaultKind.STREAM_CUT)
        )

    @property
    def wire_only(self) -> bool:
        """Faults that exist only on HTTP (a Python tool has no stream to cut)."""
        return self.kind is FaultKind.STREAM_CUT

    @property
    def tools_only(self) -> bool:
        """Faults that only tool calls can suffer (``successful: false``, expired accounts)."""
        return (
            self.kind is FaultKind.TOOL_FAILURE
            or (self.kind is FaultKind.AUTH_EXPIRED and self.form != AuthForm.HTTP_401.value)
            or (
                self.kind is FaultKind.RATE_LIMIT
                and self.shape == RateLimitShape.COMPOSIO_10429.value
            )
        )

    def describe(self) -> str:
        """``rate_limit(retry_after=2, form='seconds')`` — how a user would have written it."""
        args: list[str] = []
        kind = self.kind
        if kind is FaultKind.RATE_LIMIT:
            if self.retry_after is not None:
                args.append(f"retry_after={self.retry_after:g}")
            args.append(f"form={self.form!r}")
            if self.shape != RateLimitShape.DOCUMENTED.value:
                args.append(f"shape={self.shape!r}")
        elif kind is FaultKind.SERVER_ERROR:
            args.append(str(self.status))
        elif kind is FaultKind.TIMEOUT:
            args.append(repr(self.phase))
        elif kind is FaultKind.CONNECTION_RESET:
            args.append(f"after_send={self.after_send}")
        elif kind is FaultKind.LATENCY:
            args.append(f"{self.seconds:g}")
        elif kind is FaultKind.AUTH_EXPIRED:
            args.append(f"form={self.form!r}")
        elif kind is FaultKind.TOOL_FAILURE:
            args.append(f"error={self.error!r}")
        elif kind is FaultKind.STREAM_CUT:
            args.append(f"after_events={self.after_events}")
        return f"{kind.value}({', '.join(args)})"

    # -- schedules (tenacity-style chaining: ``rate_limit().times(2).then(succeed())``) ------

    def _schedule(self) -> Schedule:
        from pytest_crs.faults._schedule import fail

        return fail(self)

    def times(self, n: int) -> Schedule:
        """Fail the first ``n`` matching attempts."""
        return self._schedule().times(n)

    def always(self) -> Schedule:
        """Fail every matching attempt."""
        return self._schedule().always()

    def nth(self, n: int) -> Schedule:
        """Fail only the ``n``-th matching attempt (1-based)."""
        return self._schedule().nth(n)

    def every(self, k: int) -> Schedule:
        """Fail every ``k``-th matching attempt (the k-th, 2k-th, ...)."""
        return self._schedule().every(k)

    def with_probability(self, p: float) -> Schedule:
        """Fail each matching attempt with probability ``p`` (seeded: runs repeat exactly)."""
        return self._schedule().with_probability(p)

    def after(self, seconds: float) -> Schedule:
        """Fail only attempts made ``seconds`` of (virtual) time after the plan started."""
        return self._schedule().after(seconds)

    def then(self, following: Fault | Schedule) -> Schedule:
        """Once this fault has fired (once), go on with ``following``."""
        return self._schedule().then(following)

    def __repr__(self) -> str:
        return self.describe()


def rate_limit(
    retry_after: float | None = 1.0,
    *,
    form: RetryAfterForm | str = RetryAfterForm.SECONDS,
    shape: RateLimitShape | str = RateLimitShape.DOCUMENTED,
) -> Fault:
    """A ``429 Too Many Requests``.

    ``form`` is how the wait is announced: ``"seconds"`` (``Retry-After: 2``), ``"ms"``
    (``retry-after-ms: 2000``), ``"http-date"`` (``Retry-After`` as a date on the virtual
    clock) or ``"none"``. ``shape="composio-10429"`` is Composio's undocumented variant: no
    headers at all and the body ``{"code": 10429, "slug": "HTTP_TooManyRequests"}`` (tool
    calls only).
    """
    chosen_form = parse_choice(RetryAfterForm, form, "form")
    chosen_shape = parse_choice(RateLimitShape, shape, "shape")
    wait: float | None = None
    if retry_after is not None:
        wait = require_seconds(retry_after, "retry_after", finite=True)
    if chosen_form is not RetryAfterForm.NONE and wait is None:
        raise ConfigError(
            f"rate_limit(form={chosen_form.value!r}) needs retry_after=, the seconds to announce",
            hint="use form='none' for a 429 without a Retry-After",
        )
    if chosen_shape is RateLimitShape.COMPOSIO_10429:
        # The undocumented shape carries no headers, so there is nothing to announce.
        chosen_form, wait = RetryAfterForm.NONE, None
    if chosen_form is RetryAfterForm.NONE:
        wait = None
    return Fault(
        FaultKind.RATE_LIMIT, retry_after=wait, form=chosen_form.value, shape=chosen_shape.value
    )


def server_error(status: int = 503) -> Fault:
    """A ``5xx`` in the API's error shape (``500``, ``502``, ``503``, ``504``, ...)."""
    if isinstance(status, bool) or not isinstance(status, int) or not 500 <= status <= 599:
        raise ConfigError(
            f"server_error(status=...) must be an int from 500 to 599, got {status!r}"
        )
    return Fault(FaultKind.SERVER_ERROR, status=status)


def timeout(phase: TimeoutPhase | str = TimeoutPhase.READ) -> Fault:
    """The client's own timeout: ``"connect"`` (nothing was sent) or ``"read"`` (the request
    went out and no answer came — the service may have acted on it)."""
    return Fault(FaultKind.TIMEOUT, phase=parse_choice(TimeoutPhase, phase, "phase").value)


def connection_reset(*, after_send: bool = False) -> Fault:
    """The connection drops: before the request went out, or (``after_send=True``) after."""
    if not isinstance(after_send, bool):
        raise ConfigError(
            f"connection_reset(after_send=...) must be True or False, got {after_send!r}"
        )
    return Fault(FaultKind.CONNECTION_RESET, after_send=after_send)


def latency(seconds: float) -> Fault:
    """A slow answer: wait ``seconds`` of virtual time, then answer normally (or time out, if
    the client's read timeout is shorter)."""
    return Fault(FaultKind.LATENCY, seconds=require_seconds(seconds, "seconds", finite=True))


def auth_expired(form: AuthForm | str = AuthForm.HTTP_401) -> Fault:
    """The credential stopped working: ``"401"`` (any API), ``"expired-account"`` (Composio:
    the user's connected account is EXPIRED) or ``"401-in-200"`` (Composio: a ``200 OK``
    whose body reports the provider's 401)."""
    return Fault(FaultKind.AUTH_EXPIRED, form=parse_choice(AuthForm, form, "form").value)


def tool_failure(error: str = "The tool failed (injected by crs_faults)") -> Fault:
    """A tool call that answers ``successful: false`` with ``error`` (no HTTP error at all)."""
    if not isinstance(error, str) or not error:
        raise ConfigError(f"tool_failure(error=...) must be a non-empty string, got {error!r}")
    return Fault(FaultKind.TOOL_FAILURE, error=error)


def stream_cut(after_events: int = 1) -> Fault:
    """A streamed answer that breaks off after ``after_events`` server-sent events."""
    if isinstance(after_events, bool) or not isinstance(after_events, int) or after_events < 0:
        raise ConfigError(f"stream_cut(after_events=...) must be an int >= 0, got {after_events!r}")
    return Fault(FaultKind.STREAM_CUT, after_events=after_events)

"""One tool execution, start to finish: the pipeline behind ``execute_tool_with_context``.

1. **qualify** the action with the backend (``"github", "create_an_issue"`` →
   ``GITHUB_CREATE_AN_ISSUE``) and decide whether it is read-only (:mod:`crs.tools._actions`);
2. check the user's **credential** (:mod:`crs.tools._auth_gate`); a failure sends nothing and
   serves nothing from the cache either;
3. answer from the **response cache** when the action is cached and a fresh entry exists;
4. store the **intent** (:mod:`crs.tools._journal`);
5. run the backend under the **retry policy** — idempotent only for read-only actions, so a
   side-effecting action is never re-sent after a failure that may have reached the server —
   with each attempt taking a **rate-limit** slot for its app and passing its app's **circuit
   breaker**; a 429's ``Retry-After`` also pauses the app's limiter for concurrent callers;
6. store the **record**, update the cache (a successful write invalidates the app's cached
   reads), and return an :class:`~crs.tools.Execution`.

Each execution is a ``crs.tool.execute`` span with one ``crs.tool.attempt`` child per try, and
feeds the tool metrics (:mod:`crs.telemetry`; no-ops unless OpenTelemetry is configured).

Failures are outcomes, not exceptions (see :mod:`crs.tools._execution`). Two kinds of exception
escape: :class:`~crs.errors.ConfigError` and :class:`~crs.errors.CassetteError` (a bug in the
call, or a test harness refusing it — an unrecorded call while replaying: recorded, then raised) and
``BaseException``\\ s such as cancellation, which leave the intent without a record — exactly
what happened. The sync and async paths share everything but the attempt itself.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crs.clock import Clock, resolve_clock
from crs.errors import CassetteError, ConfigError, CredentialError, RetryError
from crs.resilience import (
    CircuitBreaker,
    Classification,
    ErrorType,
    RateLimiter,
    RetryPolicy,
    classify,
    redact_secrets,
)
from crs.telemetry import SpanAttr, SpanScope, TelemetrySpan, tool_span
from crs.tools._actions import ActionTable
from crs.tools._auth_gate import AuthGate
from crs.tools._backends import ToolBackend
from crs.tools._cache import MISS, ResponseCache
from crs.tools._execution import Execution
from crs.tools._journal import Journal
from crs.tools._result import ToolResult
from crs.tools._seam import tool_seam_for

__all__ = ["Limiters", "Pipeline"]


@dataclass
class _Call:
    """One execution in flight: what was asked and what has happened so far."""

    execution_id: str
    app: str
    action: str
    user_id: str
    params: dict[str, Any]
    metadata: dict[str, Any]
    auth_context_id: str | None
    read_only: bool
    policy: RetryPolicy
    started_at: float
    started_mono: float
    attempts: int = 0
    intent_ref: str | None = None
    exception: BaseException | None = field(default=None, repr=False)
    span: TelemetrySpan = field(default_factory=TelemetrySpan, repr=False)


class _RetryableFailure(Exception):
    """A tool answered ``successful: false`` for a reason worth retrying (e.g. a 429 inside)."""

    def __init__(self, result: ToolResult, classification: Classification) -> None:
        super().__init__(result.error or classification.detail)
        self.result = result
        self.classification = classification  # classify() takes this at its word


@dataclass(frozen=True)
class Limiters:
    """The rate limiter of each app: its own, else the shared one, else none."""

    per_app: Mapping[str, RateLimiter]
    shared: RateLimiter | None = None

    @classmethod
    def parse(cls, rate_limits: RateLimiter | Mapping[str, RateLimiter] | None) -> Limiters:
        if rate_limits is None:
            return cls({})
        if isinstance(rate_limits, RateLimiter):
            return cls({}, rate_limits)
        if not isinstance(rate_limits, Mapping):
            raise ConfigError(
                "rate_limits must be a RateLimiter or a mapping of app to RateLimiter, "
                f"got {rate_limits!r}"
            )
        for app, limiter in rate_limits.items():
            if not isinstance(limiter, RateLimiter):
                raise ConfigError(f"rate_limits[{app!r}] must be a RateLimiter, got {limiter!r}")
        return cls(dict(rate_limits))

    def get(self, app: str) -> RateLimiter | None:
        return self.per_app.get(app, self.shared)


@dataclass
class Pipeline:
    """Everything an execution passes through; the adapter owns one."""

    backend: ToolBackend
    journal: Journal
    actions: ActionTable
    policy: RetryPolicy
    limiters: Limiters
    breaker: CircuitBreaker | None
    cache: ResponseCache | None
    gate: AuthGate | None
    clock: Clock | None

    def execute(
        self,
        app: str,
        action: str,
        params: Mapping[str, Any],
        user_id: str,
        auth_context_id: str | None,
        metadata: Mapping[str, Any] | None,
        retry_policy: RetryPolicy | None,
    ) -> Execution:
        call = self._begin(app, action, params, user_id, auth_context_id, metadata, retry_policy)
        with self._span(call) as call.span:
            try:
                cached = self._admit(call)
                if cached is not None:
                    return cached
                result = call.policy.run(self._attempt, call).value
            except BaseException as exc:  # recorded (or deliberately not), never swallowed
                return self._failed(call, exc)
            return self._finish(call, result)

    async def aexecute(
        self,
        app: str,
        action: str,
        params: Mapping[str, Any],
        user_id: str,
        auth_context_id: str | None,
        metadata: Mapping[str, Any] | None,
        retry_policy: RetryPolicy | None,
    ) -> Execution:
        call = self._begin(app, action, params, user_id, auth_context_id, metadata, retry_policy)
        with self._span(call) as call.span:
            try:
                cached = self._admit(call)
                if cached is not None:
                    return cached
                result = (await call.policy.arun(self._aattempt, call)).value
            except BaseException as exc:
                return self._failed(call, exc)
            return self._finish(call, result)

    # -- stages -------------------------------------------------------------------------------

    def _begin(
        self,
        app: str,
        action: str,
        params: Mapping[str, Any],
        user_id: str,
        auth_context_id: str | None,
        metadata: Mapping[str, Any] | None,
        retry_policy: RetryPolicy | None,
    ) -> _Call:
        for field_name, value in (("app", app), ("action", action), ("user_id", user_id)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{field_name} must be a non-empty str, got {value!r}")
        if not isinstance(params, Mapping):
            raise ConfigError(f"params of {app}/{action} must be a mapping, got {params!r}")
        if metadata is not None and not isinstance(metadata, Mapping):
            raise ConfigError(f"execution_metadata must be a mapping, got {metadata!r}")
        if auth_context_id is not None and self.gate is None:
            raise ConfigError(
                f"auth_context_id={auth_context_id!r} was given but the adapter has no vault",
                hint="pass vault=CredentialVault(...) to ComposioAdapter",
            )
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise ConfigError(f"retry_policy must be a RetryPolicy, got {retry_policy!r}")
        name = self.backend.qualify(app, action)
        read_only = self.actions.read_only(app, name)
        policy = retry_policy or self.actions.retry_policy(name) or self.policy
        clock = resolve_clock(self.clock)
        return _Call(
            execution_id="ex_" + uuid.uuid4().hex,
            app=app,
            action=name,
            user_id=user_id,
            params=dict(params),
            metadata=dict(metadata or {}),
            auth_context_id=auth_context_id,
            read_only=read_only,
            policy=policy.with_options(idempotent=read_only),
            started_at=clock.now(),
            started_mono=clock.monotonic(),
        )

    def _span(self, call: _Call) -> SpanScope:
        return tool_span(
            call.app,
            call.action,
            execution_id=call.execution_id,
            read_only=call.read_only,
            clock=self.clock,
        )

    def _admit(self, call: _Call) -> Execution | None:
        """Check the credential (cache hits too: revoked means revoked), then the cache.

        Returns a recorded cache hit, or ``None`` after writing the intent of a real call.
        """
        if self.gate is not None:
            call.auth_context_id = self.gate.authorize(call.user_id, call.app, call.auth_context_id)
        cache = self.cache
        if cache is not None and call.read_only and cache.caches(call.action):
            data = cache.get(call.app, call.action, call.user_id, call.params)
            call.span.cache(hit=data is not MISS)
            if data is not MISS:
                return self._record(call, ToolResult(True, data, None, data), cached=True)
        call.intent_ref = self.journal.write_intent(
            execution_id=call.execution_id,
            app=call.app,
            action=call.action,
            user_id=call.user_id,
            params=call.params,
            metadata=call.metadata,
            auth_context_id=call.auth_context_id,
            started_at=call.started_at,
        )
        return None

    def _attempt(self, call: _Call) -> ToolResult:
        call.attempts += 1
        with call.span.attempt() as span:
            limiter = self.limiters.get(call.app)
            if limiter is not None:
                limiter.acquire(call.app)
            with self._guard(call.app):
                try:
                    return self._checked(call, self._call_backend(call), span)
                except Exception as exc:
                    self._note_rate_limit(call.app, exc)
                    raise

    async def _aattempt(self, call: _Call) -> ToolResult:
        call.attempts += 1
        with call.span.attempt() as span:
            limiter = self.limiters.get(call.app)
            if limiter is not None:
                await limiter.aacquire(call.app)
            async with self._guard(call.app):
                try:
                    return self._checked(call, await self._acall_backend(call), span)
                except Exception as exc:
                    self._note_rate_limit(call.app, exc)
                    raise

    def _call_backend(self, call: _Call) -> ToolResult:
        run = functools.partial(
            self.backend.execute, call.action, call.params, user_id=call.user_id
        )
        seam = tool_seam_for(self.backend)
        if seam is not None:
            return seam.execute(call.app, call.action, call.params, call.user_id, run)
        return run()

    async def _acall_backend(self, call: _Call) -> ToolResult:
        run = functools.partial(
            self.backend.aexecute, call.action, call.params, user_id=call.user_id
        )
        seam = tool_seam_for(self.backend)
        if seam is not None:
            return await seam.aexecute(call.app, call.action, call.params, call.user_id, run)
        return await run()

    def _guard(self, app: str) -> Any:
        return contextlib.nullcontext() if self.breaker is None else self.breaker.guard(app)

    def _checked(self, call: _Call, result: object, span: TelemetrySpan) -> ToolResult:
        if not isinstance(result, ToolResult):
            raise ConfigError(
                f"backend {self.backend!r} returned {type(result).__name__} for {call.action}, "
                "not a ToolResult"
            )
        if not result.successful and result.failure is not None and result.failure.retryable:
            raise _RetryableFailure(result, result.failure)
        if not result.successful:
            span.fail(result.failure, detail=result.error)
        return result

    def _note_rate_limit(self, app: str, error: Exception) -> None:
        """Pause the app's limiter for everyone when the server said how long to back off."""
        limiter = self.limiters.get(app)
        if limiter is None:
            return
        verdict = classify(error)
        if verdict.kind is ErrorType.RATE_LIMIT and verdict.retry_after:
            limiter.backoff(app, verdict.retry_after)

    def _failed(self, call: _Call, error: BaseException) -> Execution:
        if not isinstance(error, Exception):
            raise error  # cancelled or interrupted: the intent stays, with no record, as it was
        inner = error.last_error if isinstance(error, RetryError) else error
        if isinstance(inner, _RetryableFailure):
            return self._finish(call, inner.result)
        call.exception = error
        if isinstance(error, CredentialError):  # the gate refused: nothing was sent
            verdict = Classification(
                ErrorType.AUTH, retryable=False, detail=redact_secrets(str(error))
            )
        else:
            verdict = classify(error)
        text = redact_secrets(str(error)) or type(error).__name__
        execution = self._record(call, ToolResult(False, None, text, None, verdict))
        if isinstance(error, (ConfigError, CassetteError)):  # the call or the harness is wrong
            raise error
        return execution

    def _finish(self, call: _Call, result: ToolResult) -> Execution:
        cache = self.cache
        if cache is not None and result.successful:
            if call.read_only and cache.caches(call.action):
                cache.put(call.app, call.action, call.user_id, call.params, result.data)
            elif not call.read_only:
                cache.invalidate(app=call.app)  # a write may have changed what reads return
        return self._record(call, result)

    def _record(self, call: _Call, result: ToolResult, *, cached: bool = False) -> Execution:
        clock = resolve_clock(self.clock)
        execution = self.journal.append(
            Execution(
                execution_id=call.execution_id,
                app=call.app,
                action=call.action,
                user_id=call.user_id,
                successful=result.successful,
                data=result.data,
                error=result.error,
                failure=result.failure,
                attempts=0 if cached else call.attempts,
                latency_ms=(clock.monotonic() - call.started_mono) * 1000.0,
                cached=cached,
                started_at=call.started_at,
                finished_at=clock.now(),
                intent_ref=call.intent_ref,
                auth_context_id=call.auth_context_id,
                metadata=call.metadata,
                exception=call.exception,
            )
        )
        call.span.set(SpanAttr.ATTEMPT, execution.attempts)
        if not execution.successful:
            call.span.fail(execution.failure, detail=execution.error)
        return execution

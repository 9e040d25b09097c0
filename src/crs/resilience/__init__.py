"""The resilience kit: classify failures, retry them well, pace callers, fail fast, bound time.

Every part waits, times out and counts on the crs clock, so under a
:class:`~crs.clock.VirtualClock` a minute of backoff or a 30-second timeout takes no wall time.
"""

from __future__ import annotations

from crs.resilience._breaker import (
    CircuitBreaker,
    CircuitGuard,
    CircuitSnapshot,
    CircuitState,
    TransitionListener,
)
from crs.resilience._classification import Classification, ErrorType
from crs.resilience._classify import classify, redact_secrets, retry_after_from_headers
from crs.resilience._ratelimit import RateLimitAlgorithm, RateLimiter, RateLimiterStats
from crs.resilience._retry import (
    Attempt,
    Outcome,
    RetryIf,
    RetryPolicy,
    RetryRun,
    RetryState,
    Stop,
    Wait,
    retry_if_classified,
    retry_if_exception_type,
    retry_if_rate_limited,
    retry_if_result,
    retry_if_retryable,
    retry_if_unsuccessful,
    stop_after_attempt,
    stop_after_delay,
    stop_after_total_delay,
    stop_before_deadline,
    stop_never,
    wait_equal_jitter,
    wait_exponential,
    wait_fixed,
    wait_full_jitter,
    wait_jitter,
    wait_none,
)
from crs.resilience._timeout import Deadline, Timeout, timeout

__all__ = [
    "Attempt",
    "CircuitBreaker",
    "CircuitGuard",
    "CircuitSnapshot",
    "CircuitState",
    "Classification",
    "Deadline",
    "ErrorType",
    "Outcome",
    "RateLimitAlgorithm",
    "RateLimiter",
    "RateLimiterStats",
    "RetryIf",
    "RetryPolicy",
    "RetryRun",
    "RetryState",
    "Stop",
    "Timeout",
    "TransitionListener",
    "Wait",
    "classify",
    "redact_secrets",
    "retry_after_from_headers",
    "retry_if_classified",
    "retry_if_exception_type",
    "retry_if_rate_limited",
    "retry_if_result",
    "retry_if_retryable",
    "retry_if_unsuccessful",
    "stop_after_attempt",
    "stop_after_delay",
    "stop_after_total_delay",
    "stop_before_deadline",
    "stop_never",
    "timeout",
    "wait_equal_jitter",
    "wait_exponential",
    "wait_fixed",
    "wait_full_jitter",
    "wait_jitter",
    "wait_none",
]

"""``LLMConfig``: what model to call and how hard to try, checked when it is made.

The production-agent guide configures an agent as ``AgentConfig(model="gpt-4o-mini",
max_tokens=1000, temperature=0.7, max_retries=3, timeout=30.0)``. This is that shape, plus the
system prompt and the resilience parts (a retry policy, a rate limiter, a clock), validated up
front so that a typo fails at start-up with the field and the value, not on the first request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from crs._options import require_seconds
from crs.clock import Clock
from crs.errors import ConfigError
from crs.resilience import (
    RateLimiter,
    RetryPolicy,
    stop_after_attempt,
    wait_exponential,
    wait_jitter,
)

__all__ = ["AgentConfig", "LLMConfig", "default_retry_policy"]


def default_retry_policy(max_retries: int = 3, *, clock: Clock | None = None) -> RetryPolicy:
    """Up to ``max_retries`` retries: exponential backoff (0.5 s doubling, capped at 8 s, plus up
    to 0.25 s of jitter), or exactly the server's ``Retry-After`` when it sent one.

    A chat completion changes nothing in the world, so the policy is ``idempotent``: a read
    timeout (the model may have answered into the void) is retried like any other transient
    failure. Authentication, permission and validation errors never are.
    """
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigError(f"max_retries must be an int >= 0, got {max_retries!r}")
    return RetryPolicy(
        stop=stop_after_attempt(max_retries + 1),
        wait=wait_exponential(0.5, 8.0) + wait_jitter(0.25),
        idempotent=True,
        clock=clock,
    )


@dataclass(frozen=True)
class LLMConfig:
    """How an :class:`~crs.llm.LLMClient` calls the model.

    Args:
        model: the model name sent with every request.
        max_tokens: the most tokens the model may generate (sent as ``max_completion_tokens``);
            ``None`` leaves it to the server.
        temperature: sampling temperature from 0 to 2; ``None`` leaves it to the server
            (reasoning models accept no other value).
        max_retries: retries after the first attempt, for the default retry policy.
        timeout: seconds one attempt may take, on the crs clock (per read for streams).
        system_prompt: prepended as a ``system`` message when the messages have none.
        retry_policy: replaces the default policy built from ``max_retries``; ``max_retries``
            is then unused.
        rate_limiter: paces requests, keyed by model; a 429's ``Retry-After`` pauses the key
            for every caller sharing the limiter.
        clock: the time source for timeouts, latency and the default policy's waits
            (``crs.clock.get_clock()`` at each use when ``None``).
    """

    model: str = "gpt-4o-mini"
    max_tokens: int | None = 1000
    temperature: float | None = 0.7
    max_retries: int = 3
    timeout: float = 30.0
    system_prompt: str | None = None
    retry_policy: RetryPolicy | None = None
    rate_limiter: RateLimiter | None = None
    clock: Clock | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError(
                f"LLMConfig.model must be a non-empty string, got {self.model!r}",
                hint='name the model, e.g. LLMConfig(model="gpt-4o-mini")',
            )
        tokens = self.max_tokens
        if tokens is not None and (
            isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1
        ):
            raise ConfigError(
                f"LLMConfig.max_tokens must be a positive int or None, got {tokens!r}"
            )
        self._check_temperature()
        retries = self.max_retries
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigError(
                f"LLMConfig.max_retries must be an int >= 0, got {retries!r}",
                hint="0 means one attempt and no retry",
            )
        require_seconds(self.timeout, "LLMConfig.timeout", allow_zero=False, finite=True)
        if self.system_prompt is not None and not isinstance(self.system_prompt, str):
            raise ConfigError(
                f"LLMConfig.system_prompt must be a string or None, got "
                f"{type(self.system_prompt).__name__}"
            )
        if self.retry_policy is not None and not isinstance(self.retry_policy, RetryPolicy):
            raise ConfigError(
                f"LLMConfig.retry_policy must be a crs RetryPolicy or None, got "
                f"{self.retry_policy!r}",
                hint="build one with crs.RetryPolicy(...), or set max_retries instead",
            )
        if self.rate_limiter is not None and not isinstance(self.rate_limiter, RateLimiter):
            raise ConfigError(
                f"LLMConfig.rate_limiter must be a crs RateLimiter or None, got "
                f"{self.rate_limiter!r}"
            )
        if self.clock is not None and not isinstance(self.clock, Clock):
            raise ConfigError(
                f"LLMConfig.clock must be a crs Clock or None, got {self.clock!r}",
                hint="pass crs.SystemClock(), a crs.VirtualClock(), or leave it None",
            )

    def _check_temperature(self) -> None:
        value = self.temperature
        if value is None:
            return
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 <= value <= 2
        ):
            raise ConfigError(
                f"LLMConfig.temperature must be a number from 0 to 2 or None, got {value!r}"
            )

    def policy(self) -> RetryPolicy:
        """The retry policy in force: ``retry_policy``, or the default from ``max_retries``."""
        if self.retry_policy is not None:
            return self.retry_policy
        return default_retry_policy(self.max_retries, clock=self.clock)

    def with_options(self, **changes: Any) -> LLMConfig:
        """A copy with some fields changed (and checked again)."""
        return replace(self, **changes)


AgentConfig = LLMConfig
"""The production-agent guide's name for the same configuration."""

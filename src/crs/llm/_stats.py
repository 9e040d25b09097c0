"""Counters for one client: how many calls, how many requests, what failed and why.

Two failure tallies, because they answer different questions: ``failures_by_type`` counts
*calls* that failed for good (what the agent saw), ``attempt_failures_by_type`` counts every
failed *request*, retried or not (what the provider did — three 429s absorbed by retries show
up only there).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from crs.llm._response import LLMUsage
from crs.resilience import ErrorType

__all__ = ["LLMStats", "StatsRecorder"]


@dataclass(frozen=True)
class LLMStats:
    """A snapshot of a client's counters since it was made.

    Attributes:
        requests: calls of ``complete`` / ``stream`` / ``run``.
        succeeded: calls that produced an answer.
        failed: calls that ended in an error.
        attempts: HTTP requests made (retries included).
        retries: requests beyond the first of each call.
        failures_by_type: failed calls, by the kind of their last failure.
        attempt_failures_by_type: failed requests, by kind, retried or not.
        prompt_tokens: prompt tokens of successful calls, as the server counted them.
        completion_tokens: completion tokens of successful calls.
    """

    requests: int
    succeeded: int
    failed: int
    attempts: int
    retries: int
    failures_by_type: dict[ErrorType, int]
    attempt_failures_by_type: dict[ErrorType, int]
    prompt_tokens: int
    completion_tokens: int

    def to_dict(self) -> dict[str, Any]:
        """Plain data with string keys, for logs and metrics."""
        return {
            "requests": self.requests,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "attempts": self.attempts,
            "retries": self.retries,
            "failures_by_type": {k.value: v for k, v in self.failures_by_type.items()},
            "attempt_failures_by_type": {
                k.value: v for k, v in self.attempt_failures_by_type.items()
            },
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


class StatsRecorder:
    """Thread-safe counters behind :class:`LLMStats` (shared by the sync and async clients)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = self._succeeded = self._failed = self._attempts = self._retries = 0
        self._prompt = self._completion = 0
        self._failures: Counter[ErrorType] = Counter()
        self._attempt_failures: Counter[ErrorType] = Counter()

    def request(self) -> None:
        with self._lock:
            self._requests += 1

    def attempt(self, *, retry: bool) -> None:
        with self._lock:
            self._attempts += 1
            self._retries += retry

    def attempt_failed(self, kind: ErrorType) -> None:
        with self._lock:
            self._attempt_failures[kind] += 1

    def succeeded(self, usage: LLMUsage | None) -> None:
        with self._lock:
            self._succeeded += 1
            if usage is not None:
                self._prompt += usage.prompt_tokens
                self._completion += usage.completion_tokens

    def failed(self, kind: ErrorType) -> None:
        with self._lock:
            self._failed += 1
            self._failures[kind] += 1

    def snapshot(self) -> LLMStats:
        with self._lock:
            return LLMStats(
                requests=self._requests,
                succeeded=self._succeeded,
                failed=self._failed,
                attempts=self._attempts,
                retries=self._retries,
                failures_by_type=dict(self._failures),
                attempt_failures_by_type=dict(self._attempt_failures),
                prompt_tokens=self._prompt,
                completion_tokens=self._completion,
            )

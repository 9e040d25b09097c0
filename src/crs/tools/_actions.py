"""Which actions are safe to repeat, and how each one is retried.

Retrying and caching are only safe for actions without side effects: re-sending
``GMAIL_SEND_EMAIL`` after an ambiguous timeout can send the email twice, and answering
``SLACK_SEND_MESSAGE`` from a cache would not send it at all. So every action is either
*read-only* or *side-effecting*. Users can say which per action; otherwise the verb of its name
decides (``GITHUB_LIST_REPOSITORY_ISSUES`` reads, ``GITHUB_CREATE_AN_ISSUE`` writes), and any verb
not known to read counts as writing — the safe default.

The integration guide configures retries as ``{"max_retries": 3, "backoff_multiplier": 2,
"initial_delay_seconds": 1}``; :func:`retry_policy_from_config` reads that shape into a
:class:`~crs.resilience.RetryPolicy` so batch items written for the guide keep working.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from crs._options import reject_unknown_keys
from crs.errors import ConfigError
from crs.resilience import RetryPolicy, stop_after_attempt, wait_exponential

__all__ = ["ActionPolicy", "ActionTable", "looks_read_only", "retry_policy_from_config"]

# Verbs that name reads in Composio's catalogue and in the tools people write themselves.
READ_VERBS: Final = frozenset(
    {
        "CHECK", "COUNT", "DESCRIBE", "DOWNLOAD", "EXPORT", "FETCH", "FIND", "GET", "INSPECT",
        "LIST", "LOOKUP", "QUERY", "READ", "RETRIEVE", "SEARCH", "SHOW", "VIEW",
    }
)  # fmt: skip

_WORD = re.compile(r"[A-Za-z0-9]+")


def looks_read_only(app: str, action: str) -> bool:
    """Whether the action's verb (the first word after the app's name) is a read.

    Without an ``app`` (a bare slug such as ``GITHUB_LIST_REPOSITORY_ISSUES``) the verb may be
    the first or the second word.
    """
    words = [w.upper() for w in _WORD.findall(action)]
    app_words = [w.upper() for w in _WORD.findall(app)]
    if app_words and words[: len(app_words)] == app_words:
        words = words[len(app_words) :]
    candidates = words[:1] if app_words else words[:2]
    return any(word in READ_VERBS for word in candidates)


@dataclass(frozen=True)
class ActionPolicy:
    """How the adapter treats one action.

    Args:
        read_only: the action has no side effects, so an ambiguous failure (a read timeout, a
            5xx) may be retried and its results may be cached. ``None`` guesses from the name.
        retry_policy: replaces the adapter's retry policy for this action. Its ``idempotent``
            flag is set from ``read_only`` either way.
    """

    read_only: bool | None = None
    retry_policy: RetryPolicy | None = None

    def __post_init__(self) -> None:
        if self.read_only is not None and not isinstance(self.read_only, bool):
            raise ConfigError(
                f"ActionPolicy.read_only must be a bool or None, not {self.read_only!r}"
            )
        if self.retry_policy is not None and not isinstance(self.retry_policy, RetryPolicy):
            raise ConfigError(
                f"ActionPolicy.retry_policy must be a RetryPolicy, not {self.retry_policy!r}",
                hint="build one with crs.RetryPolicy(...) or retry_policy_from_config({...})",
            )


_RETRY_KEYS: Final = frozenset(
    {"max_retries", "backoff_multiplier", "initial_delay_seconds", "max_delay_seconds"}
)


def retry_policy_from_config(
    config: Mapping[str, Any] | RetryPolicy, *, where: str = "retry_config"
) -> RetryPolicy:
    """A :class:`RetryPolicy` from the guide's dict (a policy is returned unchanged).

    ``max_retries`` counts retries, not attempts (3 → up to 4 attempts); the wait after attempt
    ``n`` is ``initial_delay_seconds * backoff_multiplier**(n-1)``, at most ``max_delay_seconds``
    (default 60). Server-sent ``Retry-After`` still takes precedence, as in every policy.
    """
    if isinstance(config, RetryPolicy):
        return config
    if not isinstance(config, Mapping):
        raise ConfigError(f"{where} must be a mapping or a RetryPolicy, not {config!r}")
    reject_unknown_keys(config, _RETRY_KEYS, where)
    retries = config.get("max_retries", 3)
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ConfigError(f"{where}.max_retries must be an int >= 0, not {retries!r}")
    numbers = {
        key: config.get(key, default)
        for key, default in (
            ("backoff_multiplier", 2.0),
            ("initial_delay_seconds", 1.0),
            ("max_delay_seconds", 60.0),
        )
    }
    for key, value in numbers.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{where}.{key} must be a number >= 0, not {value!r}")
    if numbers["backoff_multiplier"] < 1:
        raise ConfigError(
            f"{where}.backoff_multiplier must be >= 1, not {numbers['backoff_multiplier']!r}",
            hint="a multiplier below 1 would make the waits shrink",
        )
    return RetryPolicy(
        stop=stop_after_attempt(retries + 1),
        wait=wait_exponential(
            float(numbers["initial_delay_seconds"]),
            float(numbers["max_delay_seconds"]),
            multiplier=float(numbers["backoff_multiplier"]),
        ),
    )


class ActionTable:
    """The adapter's per-action policies, keyed by qualified action name; thread-safe."""

    def __init__(self, policies: Mapping[str, ActionPolicy] | None = None) -> None:
        self._lock = threading.Lock()
        self._policies: dict[str, ActionPolicy] = {}
        for name, policy in (policies or {}).items():
            if not isinstance(policy, ActionPolicy):
                raise ConfigError(f"actions[{name!r}] must be an ActionPolicy, got {policy!r}")
            self._policies[name] = policy

    def get(self, name: str) -> ActionPolicy | None:
        with self._lock:
            return self._policies.get(name)

    def set(self, name: str, policy: ActionPolicy) -> ActionPolicy | None:
        """Set ``name``'s policy; returns the one it replaced."""
        with self._lock:
            previous = self._policies.get(name)
            self._policies[name] = policy
            return previous

    def restore(self, name: str, previous: ActionPolicy | None) -> None:
        with self._lock:
            if previous is None:
                self._policies.pop(name, None)
            else:
                self._policies[name] = previous

    def read_only(self, app: str, name: str) -> bool:
        """Configured, or guessed from the name (unknown verbs count as writes)."""
        policy = self.get(name)
        if policy is not None and policy.read_only is not None:
            return policy.read_only
        return looks_read_only(app, name)

    def retry_policy(self, name: str) -> RetryPolicy | None:
        policy = self.get(name)
        return None if policy is None else policy.retry_policy

    def refuse_caching_writes(self, app: str, name: str) -> None:
        """Raise unless ``name`` is read-only: caching a write would skip its effect."""
        if not self.read_only(app, name):
            raise ConfigError(
                f"{name} is side-effecting, so its responses cannot be cached: a cache hit "
                "would skip the effect",
                hint="if it really only reads, say so: configure_action(app, action, "
                "read_only=True) or actions={name: ActionPolicy(read_only=True)}",
            )

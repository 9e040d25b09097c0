"""crs: the runtime library behind pytest-crs.

Public names live here; every other module path is private and may change.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from crs.auth import CredentialInfo, CredentialVault
from crs.clock import (
    Clock,
    SystemClock,
    VirtualClock,
    VirtualTimeout,
    get_clock,
    resolve_clock,
    set_clock,
    use_clock,
)
from crs.errors import (
    AgentError,
    CircuitOpenError,
    ConfigError,
    ContentTypeError,
    ContextCorruptedError,
    ContextEvictedError,
    ContextExpiredError,
    ContextLookupError,
    ContextNotFoundError,
    CredentialError,
    CredentialExpiredError,
    CredentialNotFoundError,
    CredentialTamperedError,
    CrsError,
    CrsTimeoutError,
    MetadataError,
    RetryError,
    StoreCapacityError,
    StoreClosedError,
    StoreDiskError,
    VaultCorruptedError,
    VaultError,
    VaultKeyError,
)
from crs.resilience import (
    Attempt,
    CircuitBreaker,
    CircuitGuard,
    CircuitSnapshot,
    CircuitState,
    Classification,
    Deadline,
    ErrorType,
    Outcome,
    RateLimitAlgorithm,
    RateLimiter,
    RateLimiterStats,
    RetryIf,
    RetryPolicy,
    RetryRun,
    RetryState,
    Stop,
    Timeout,
    TransitionListener,
    Wait,
    classify,
    redact_secrets,
    retry_after_from_headers,
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
    timeout,
    wait_equal_jitter,
    wait_exponential,
    wait_fixed,
    wait_full_jitter,
    wait_jitter,
    wait_none,
)
from crs.store import (
    CompressionAlgorithm,
    ContextMetadata,
    ContextReferenceStore,
    EvictionPolicy,
)
from crs.tools import (
    CallableBackend,
    ComposioBackend,
    ComposioCoreBackend,
    ToolBackend,
    ToolResult,
)

if TYPE_CHECKING:
    from crs.sandbox import AssistantTurn as AssistantTurn
    from crs.sandbox import FaultKind as FaultKind
    from crs.sandbox import FaultRule as FaultRule
    from crs.sandbox import Sandbox as Sandbox
    from crs.sandbox import ToolCall as ToolCall

# The sandbox needs the ``sandbox`` extra (starlette, uvicorn), so its names load on first use
# and stay out of ``__all__``: ``import crs`` and ``from crs import *`` work without the extra.
_SANDBOX_NAMES = frozenset({"AssistantTurn", "FaultKind", "FaultRule", "Sandbox", "ToolCall"})


def __getattr__(name: str) -> Any:
    if name in _SANDBOX_NAMES:
        from crs import sandbox

        return getattr(sandbox, name)
    raise AttributeError(f"module 'crs' has no attribute {name!r}")


try:
    __version__ = version("pytest-crs")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "AgentError",
    "Attempt",
    "CallableBackend",
    "CircuitBreaker",
    "CircuitGuard",
    "CircuitOpenError",
    "CircuitSnapshot",
    "CircuitState",
    "Classification",
    "Clock",
    "ComposioBackend",
    "ComposioCoreBackend",
    "CompressionAlgorithm",
    "ConfigError",
    "ContentTypeError",
    "ContextCorruptedError",
    "ContextEvictedError",
    "ContextExpiredError",
    "ContextLookupError",
    "ContextMetadata",
    "ContextNotFoundError",
    "ContextReferenceStore",
    "CredentialError",
    "CredentialExpiredError",
    "CredentialInfo",
    "CredentialNotFoundError",
    "CredentialTamperedError",
    "CredentialVault",
    "CrsError",
    "CrsTimeoutError",
    "Deadline",
    "ErrorType",
    "EvictionPolicy",
    "MetadataError",
    "Outcome",
    "RateLimitAlgorithm",
    "RateLimiter",
    "RateLimiterStats",
    "RetryError",
    "RetryIf",
    "RetryPolicy",
    "RetryRun",
    "RetryState",
    "Stop",
    "StoreCapacityError",
    "StoreClosedError",
    "StoreDiskError",
    "SystemClock",
    "Timeout",
    "ToolBackend",
    "ToolResult",
    "TransitionListener",
    "VaultCorruptedError",
    "VaultError",
    "VaultKeyError",
    "VirtualClock",
    "VirtualTimeout",
    "Wait",
    "__version__",
    "classify",
    "get_clock",
    "redact_secrets",
    "resolve_clock",
    "retry_after_from_headers",
    "retry_if_classified",
    "retry_if_exception_type",
    "retry_if_rate_limited",
    "retry_if_result",
    "retry_if_retryable",
    "retry_if_unsuccessful",
    "set_clock",
    "stop_after_attempt",
    "stop_after_delay",
    "stop_after_total_delay",
    "stop_before_deadline",
    "stop_never",
    "timeout",
    "use_clock",
    "wait_equal_jitter",
    "wait_exponential",
    "wait_fixed",
    "wait_full_jitter",
    "wait_jitter",
    "wait_none",
]

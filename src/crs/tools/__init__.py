"""Running tools for agents: backends, the Composio adapter, caching, batches, selection.

A backend runs one action (composio-core, the current composio SDK, or Python callables); the
:class:`ComposioAdapter` puts records, credentials, retries, rate limits, a circuit breaker, a
response cache, batches, workflows, analytics and tool selection in front of it.
"""

from __future__ import annotations

from crs.tools._actions import ActionPolicy, looks_read_only, retry_policy_from_config
from crs.tools._adapter import ComposioAdapter
from crs.tools._backends import (
    CallableBackend,
    ComposioBackend,
    ComposioCoreBackend,
    ToolBackend,
)
from crs.tools._batch import BatchAction, BatchResult
from crs.tools._cache import CacheEntry, ResponseCache
from crs.tools._execution import Execution, ToolExecutionError
from crs.tools._result import ToolResult
from crs.tools._selection import (
    AppPerformance,
    SelectionWeights,
    ToolConfig,
    ToolScore,
    ToolSelection,
    ToolSelector,
)
from crs.tools._workflow_definition import WorkflowDefinition
from crs.tools._workflow_state import StepOutcome, StepStatus, WorkflowRun, WorkflowStatus

__all__ = [
    "ActionPolicy",
    "AppPerformance",
    "BatchAction",
    "BatchResult",
    "CacheEntry",
    "CallableBackend",
    "ComposioAdapter",
    "ComposioBackend",
    "ComposioCoreBackend",
    "Execution",
    "ResponseCache",
    "SelectionWeights",
    "StepOutcome",
    "StepStatus",
    "ToolBackend",
    "ToolConfig",
    "ToolExecutionError",
    "ToolResult",
    "ToolScore",
    "ToolSelection",
    "ToolSelector",
    "WorkflowDefinition",
    "WorkflowRun",
    "WorkflowStatus",
    "looks_read_only",
    "retry_policy_from_config",
]

"""Running tools for agents: one result shape and pluggable backends (Composio or Python).

The Composio adapter (history, caching, retries, batches, workflows) builds on these.
"""

from __future__ import annotations

from crs.tools._backends import (
    CallableBackend,
    ComposioBackend,
    ComposioCoreBackend,
    ToolBackend,
)
from crs.tools._result import ToolResult

__all__ = ["CallableBackend", "ComposioBackend", "ComposioCoreBackend", "ToolBackend", "ToolResult"]

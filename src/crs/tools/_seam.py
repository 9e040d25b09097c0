"""The seam where test harnesses step between the adapter and a Python tool.

HTTP-backed tools (both Composio SDKs) are recorded, replayed and fault-injected on the wire.
A user's own Python tool has no wire, so the adapter offers this seam instead: while a
:class:`ToolSeam` is installed, every call to a backend it ``handles`` goes through it, and it
decides whether to run the real tool (``run()``), answer from a recording, or fail on purpose.

One seam per process, not per context: batches run tools on worker threads, and a seam must
see those calls too. ``crs`` never installs one itself; the pytest plugin does, per test.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Protocol

from crs.tools._backends import ToolBackend
from crs.tools._result import ToolResult

__all__ = ["ToolSeam", "current_tool_seam", "installed_tool_seam"]


class ToolSeam(Protocol):
    def handles(self, backend: ToolBackend) -> bool:
        """Whether calls to ``backend`` go through this seam."""
        ...

    def execute(
        self,
        app: str,
        action: str,
        params: Mapping[str, Any],
        user_id: str,
        run: Callable[[], ToolResult],
    ) -> ToolResult:
        """Answer one call; ``run()`` calls the real tool."""
        ...

    async def aexecute(
        self,
        app: str,
        action: str,
        params: Mapping[str, Any],
        user_id: str,
        run: Callable[[], Awaitable[ToolResult]],
    ) -> ToolResult:
        """The same, for the async path."""
        ...


class _Slot:
    """The process's one seam (a holder, so no module-level ``global`` juggling)."""

    lock = threading.Lock()
    seam: ToolSeam | None = None


def current_tool_seam() -> ToolSeam | None:
    return _Slot.seam


@contextlib.contextmanager
def installed_tool_seam(seam: ToolSeam) -> Iterator[ToolSeam]:
    """Install ``seam`` for the duration of the block (one at a time per process)."""
    with _Slot.lock:
        if _Slot.seam is not None:
            raise RuntimeError("a tool seam is already installed; they do not nest")
        _Slot.seam = seam
    try:
        yield seam
    finally:
        with _Slot.lock:
            _Slot.seam = None

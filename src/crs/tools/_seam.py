"""The seam where test harnesses step between the adapter and a Python tool.

HTTP-backed tools (both Composio SDKs) are recorded, replayed and fault-injected on the wire.
A user's own Python tool has no wire, so the adapter offers this seam instead: while a
:class:`ToolSeam` is installed, every call to a backend it ``handles`` goes through it, and it
decides whether to run the real tool (``run()``), answer from a recording, or fail on purpose.

One set of seams per process, not per context: batches run tools on worker threads, and a seam
must see those calls too. ``crs`` never installs one itself; the pytest plugin does, per test.

Seams stack. A test can record its tools in a cassette *and* inject faults, and the two must
compose the way they do on the wire: an injected failure never reaches the recorder (it is not
recorded and consumes no recording), and an attempt that is let through is recorded or
replayed as usual. So each seam is installed with an ``order``: lower is further out, and a call
goes through every seam that handles its backend, outermost first, each one's ``run`` calling
the next.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Protocol

from crs.tools._backends import ToolBackend
from crs.tools._result import ToolResult

__all__ = ["ToolSeam", "installed_tool_seam", "tool_seam_for"]

#: The order fault injection installs at: outside everything else.
OUTERMOST = 0
#: The default order (recording and replay).
DEFAULT_ORDER = 100


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
        """Answer one call; ``run()`` calls the real tool (or the next seam in)."""
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
    """The process's seams, outermost first (a holder, so no module-level ``global``)."""

    lock = threading.Lock()
    seams: tuple[tuple[int, ToolSeam], ...] = ()


class _Stack:
    """Several seams handling one backend, composed so each one's ``run`` is the next one."""

    def __init__(self, seams: tuple[ToolSeam, ...]) -> None:
        self._seams = seams

    def handles(self, backend: ToolBackend) -> bool:
        del backend  # a stack is built for one backend by tool_seam_for()
        return True

    def execute(
        self,
        app: str,
        action: str,
        params: Mapping[str, Any],
        user_id: str,
        run: Callable[[], ToolResult],
    ) -> ToolResult:
        for seam in reversed(self._seams):
            run = functools.partial(seam.execute, app, action, params, user_id, run)
        return run()

    async def aexecute(
        self,
        app: str,
        action: str,
        params: Mapping[str, Any],
        user_id: str,
        run: Callable[[], Awaitable[ToolResult]],
    ) -> ToolResult:
        for seam in reversed(self._seams):
            run = functools.partial(seam.aexecute, app, action, params, user_id, run)
        return await run()


def tool_seam_for(backend: ToolBackend) -> ToolSeam | None:
    """The seam calls to ``backend`` go through, or ``None`` when no installed seam handles it."""
    handling = tuple(seam for _, seam in _Slot.seams if seam.handles(backend))
    if not handling:
        return None
    return handling[0] if len(handling) == 1 else _Stack(handling)


@contextlib.contextmanager
def installed_tool_seam(seam: ToolSeam, *, order: int = DEFAULT_ORDER) -> Iterator[ToolSeam]:
    """Install ``seam`` for the duration of the block, at ``order`` (lower is further out).

    Two seams may not share an order: which one is outside would be an accident.
    """
    with _Slot.lock:
        if any(taken == order for taken, _ in _Slot.seams):
            raise RuntimeError(f"a tool seam is already installed at order {order}")
        _Slot.seams = tuple(sorted((*_Slot.seams, (order, seam)), key=lambda pair: pair[0]))
    try:
        yield seam
    finally:
        with _Slot.lock:
            _Slot.seams = tuple(pair for pair in _Slot.seams if pair[1] is not seam)

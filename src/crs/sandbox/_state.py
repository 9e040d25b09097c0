"""Everything the sandbox remembers between requests, in one object that can be reset.

One server serves a whole test session, but each test must start from the same world: no
leftover GitHub issues, scripted turns, faults or expired accounts from the test before. Keeping
all mutable state here, behind :meth:`SandboxState.reset`, is what makes a per-test reset total
rather than a list of things someone remembered to clear.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from crs.clock import Clock, resolve_clock
from crs.sandbox._composio_world import ComposioWorld
from crs.sandbox._faults import FaultPlan
from crs.sandbox._model import Message, ModelScripts

__all__ = ["HISTORY_LIMIT", "RecordedRequest", "SandboxState"]

#: How many requests the log and how many responses the ``previous_response_id`` store keep.
#: A test never comes near it; a ``crs sandbox`` left running for days must not grow forever.
HISTORY_LIMIT = 10_000


@dataclass(frozen=True)
class RecordedRequest:
    """One request the sandbox answered, for tests that assert on what an agent sent.

    ``body`` is the parsed JSON body (``None`` when there was none or it was not JSON), so a test
    can see, for instance, that a non-idempotent tool was executed twice by an SDK retry.
    """

    api: str
    method: str
    path: str
    status: int
    body: Any = None
    fault: str | None = None


@dataclass
class SandboxState:
    """The sandbox's memory: the Composio world, model scripts, faults and the request log."""

    api_key: str
    clock: Clock | None = None
    seed: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    composio: ComposioWorld = field(init=False, repr=False)
    scripts: ModelScripts = field(init=False, repr=False)
    faults: FaultPlan = field(default_factory=FaultPlan, repr=False)
    requests: deque[RecordedRequest] = field(
        default_factory=lambda: deque(maxlen=HISTORY_LIMIT), repr=False
    )
    responses: OrderedDict[str, tuple[Message, ...]] = field(
        default_factory=OrderedDict, repr=False
    )

    def __post_init__(self) -> None:
        self.composio = ComposioWorld(clock=self.clock)
        self.scripts = ModelScripts()

    def now(self) -> float:
        """Wall-clock time on the sandbox's clock (the ``crs`` default unless one was given)."""
        return resolve_clock(self.clock).now()

    def remember_response(self, response_id: str, messages: tuple[Message, ...]) -> None:
        """Keep a response's conversation for ``previous_response_id``, oldest dropped first."""
        with self.lock:
            self.responses[response_id] = messages
            self.responses.move_to_end(response_id)
            while len(self.responses) > HISTORY_LIMIT:
                self.responses.popitem(last=False)

    def reset(self) -> None:
        """Forget everything a test did: world state, scripts, faults, log, stored responses."""
        with self.lock:
            self.composio.reset()
            self.scripts.clear()
            self.faults.clear()
            self.requests.clear()
            self.responses.clear()

"""Fixtures that put ``crs`` on virtual time for the duration of one test.

Only fixtures backed by working ``crs`` components are registered here; markers, cassettes and
fault plans arrive with the layers they drive.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crs.clock import VirtualClock, use_clock
from crs.store import ContextReferenceStore

__all__ = ["crs_clock", "crs_store"]


@pytest.fixture
def crs_clock() -> Iterator[VirtualClock]:
    """A fresh :class:`~crs.VirtualClock`, installed as ``crs``'s process-wide default clock.

    Everything in ``crs`` that waits or expires resolves the default clock at each use, so inside
    the test sleeps return at once (and are recorded in ``crs_clock.sleeps``) and TTLs expire only
    when the test calls ``crs_clock.advance()``. The previous default is restored at teardown,
    even when the test fails.

    That covers the resilience kit too: retry backoff, rate-limiter waits, breaker cool-downs and
    ``crs.resilience.timeout`` deadlines all run in virtual time.

    Only ``crs`` follows this clock for now: ``time.sleep`` and ``asyncio.sleep`` called by
    third-party code (SDK retry loops, for instance) still take real time. Making those virtual
    comes later.
    """
    clock = VirtualClock()
    with use_clock(clock):
        yield clock


@pytest.fixture
def crs_store(crs_clock: VirtualClock) -> Iterator[ContextReferenceStore]:
    """An in-memory :class:`~crs.ContextReferenceStore` with default settings on ``crs_clock``.

    The store is closed at teardown, so code that holds on to it after the test gets
    ``StoreClosedError`` instead of quietly working against a store nobody owns.
    """
    store = ContextReferenceStore(clock=crs_clock)
    try:
        yield store
    finally:
        store.close()

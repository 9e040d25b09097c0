"""Shared test configuration: pytester for plugin tests, and one Hypothesis profile."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import pytest
from hypothesis import settings

pytest_plugins = ["pytester"]

# No deadline: timing-based flakiness on loaded CI machines tells us nothing about correctness.
# print_blob: a failure prints the @reproduce_failure blob, so a CI failure replays locally.
settings.register_profile("ci", deadline=None, print_blob=True)
settings.load_profile("ci")


Race = Callable[[Callable[[], None]], None]


@pytest.fixture
def race() -> Race:
    """Run a worker on 8 threads released at once, switching threads every few bytecodes.

    The tiny switch interval makes interleavings that a default 5 ms interval would almost never
    produce, so a missing lock shows up as a failure instead of hiding. The first error any
    worker raises is re-raised in the test.
    """

    def run(worker: Callable[[], None], threads: int = 8) -> None:
        barrier = threading.Barrier(threads)
        errors: list[BaseException] = []

        def start() -> None:
            barrier.wait()
            try:
                worker()
            except BaseException as error:
                errors.append(error)

        previous = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        try:
            pool = [threading.Thread(target=start) for _ in range(threads)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
        finally:
            sys.setswitchinterval(previous)
        if errors:
            raise errors[0]

    return run

"""Service test helpers: apps in a TestClient's lifespan, and runners the tests can steer.

A ``TestClient`` used as a context manager runs the app's lifespan on one event loop in a
thread (background tasks need both); ``client.portal.call(service.join)`` waits on that loop
for background tasks, so no test polls or sleeps for them. :class:`GatedRunner` holds a sync
runner inside its thread until the test releases it, which is how a test sees a task
``running`` or ``queued`` on purpose instead of by timing luck.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crs.service import AgentService, create_app

# Long enough for a loaded CI machine, short enough that a broken test fails instead of hanging;
# only ever a wait for a thread that is expected to arrive, never a pause.
THREAD_WAIT = 10.0

Serve = Callable[..., TestClient]


def echo_runner(task: str, session_id: str) -> Mapping[str, Any]:
    return {"status": "success", "result": f"{task} [{session_id}]"}


class GatedRunner:
    """A sync runner that records each call, signals it started, and waits to be released."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.started = threading.Semaphore(0)
        self.release = threading.Event()

    def __call__(self, task: str, session_id: str) -> Mapping[str, Any]:
        self.calls.append((task, session_id))
        self.started.release()
        if not self.release.wait(THREAD_WAIT):
            raise RuntimeError("the test never released the runner")
        return {"status": "success", "result": task}

    def wait_started(self) -> None:
        assert self.started.acquire(timeout=THREAD_WAIT), "the runner never started"


@pytest.fixture
def serve() -> Iterator[Serve]:
    """``serve(runner, **create_app_options)``: a TestClient inside the app's lifespan.

    Every client is closed at teardown (ending the lifespan, so pending tasks are recorded
    as stopped) even when the test fails.
    """
    with ExitStack() as stack:

        def make(runner: Any = echo_runner, **options: Any) -> TestClient:
            return stack.enter_context(TestClient(create_app(runner, **options)))

        yield make


def service_of(client: TestClient) -> AgentService:
    app = client.app
    assert isinstance(app, FastAPI)
    service = app.state.service
    assert isinstance(service, AgentService)
    return service


def _join(client: TestClient, task_id: str | None = None) -> None:
    client.portal.call(service_of(client).join, task_id)


@pytest.fixture
def join() -> Callable[..., None]:
    """``join(client, task_id=None)``: wait, on the app's own loop, for background task(s)."""
    return _join


@pytest.fixture
def gated() -> Iterator[GatedRunner]:
    """A :class:`GatedRunner`; released at teardown so no runner thread outlives the test."""
    runner = GatedRunner()
    yield runner
    runner.release.set()

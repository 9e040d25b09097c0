"""Tasks outlive the app that made them: other apps on the same store see them.

The seed's dict lost every task on a restart and hid them from a second worker. Here a second
app on the same store — a disk store reopened after a restart, or a Redis store shared by
processes — answers ``GET /agent/status`` for a task the first one ran.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from crs import ContextReferenceStore, VirtualClock

Serve = Callable[..., TestClient]
Join = Callable[..., None]


def test_a_second_app_on_the_same_store_sees_the_task(
    serve: Serve, crs_store: ContextReferenceStore, join: Join
) -> None:
    first = serve(store=crs_store)
    second = serve(store=crs_store)
    task_id = first.post("/agent/run-async", json={"task": "t"}).json()["task_id"]
    join(first, task_id)

    body = second.get(f"/agent/status/{task_id}")
    assert body.status_code == 200
    assert body.json() == first.get(f"/agent/status/{task_id}").json()
    assert body.json()["status"] == "succeeded"


def test_apps_with_different_names_keep_separate_tasks(
    serve: Serve, crs_store: ContextReferenceStore
) -> None:
    task_id = serve(store=crs_store).post("/agent/run", json={"task": "t"}).json()["task_id"]
    assert serve(store=crs_store, name="other").get(f"/agent/status/{task_id}").status_code == 404


def test_tasks_survive_a_restart_on_a_disk_store(
    serve: Serve, tmp_path: Path, crs_clock: VirtualClock
) -> None:
    path = tmp_path / "service-store"
    with (
        ContextReferenceStore(use_disk_storage=True, disk_path=path) as store,
        TestClient(_app(store)) as client,
    ):
        ran = client.post("/agent/run", json={"task": "keep me"}).json()
    with ContextReferenceStore(use_disk_storage=True, disk_path=path) as reopened:
        assert serve(store=reopened).get(f"/agent/status/{ran['task_id']}").json() == ran


def test_processes_sharing_redis_share_tasks(serve: Serve, crs_redis_url: str, join: Join) -> None:
    with (
        ContextReferenceStore(redis_url=crs_redis_url) as one,
        ContextReferenceStore(redis_url=crs_redis_url) as two,
    ):
        first, second = serve(store=one), serve(store=two)
        task_id = first.post("/agent/run-async", json={"task": "shared"}).json()["task_id"]
        join(first, task_id)
        body = second.get(f"/agent/status/{task_id}").json()
        assert (body["status"], body["task"]) == ("succeeded", "shared")
        ran = second.post("/agent/run", json={"task": "back"}).json()
        assert first.get(f"/agent/status/{ran['task_id']}").json() == ran


def _app(store: ContextReferenceStore) -> Any:
    from crs.service import create_app

    return create_app(lambda task, session: {"status": "success", "result": task}, store=store)

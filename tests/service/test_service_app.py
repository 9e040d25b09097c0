"""The HTTP contract of the agent service: status codes, bodies, validation, background runs.

Clients of the seed's service read these bodies; what matters is that a failed agent is a
recorded task (not a 500 that loses the id), that bad input is a 422 naming the field (and the
limit) without echoing what was sent, and that a background task can be polled to its end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crs import VirtualClock
from crs.service import create_app
from crs.service._service import STOPPED

KEY = "sk-proj-abcdefghijklmnopqrstuvwx"
Serve = Callable[..., TestClient]
Join = Callable[..., None]


def test_run_answers_200_with_the_final_record(serve: Serve, crs_clock: VirtualClock) -> None:
    calls: list[tuple[str, str]] = []

    def runner(task: str, session_id: str) -> Mapping[str, Any]:
        calls.append((task, session_id))
        crs_clock.advance(2)
        return {"status": "success", "result": task.upper(), "duration": 2.0}

    client = serve(runner)
    response = client.post("/agent/run", json={"task": "say hi", "session_id": "chat-1"})

    assert response.status_code == 200
    body = response.json()
    assert calls == [("say hi", "chat-1")]
    assert body == {
        "task_id": body["task_id"],
        "task": "say hi",
        "session_id": "chat-1",
        "status": "succeeded",
        "result": "SAY HI",
        "error": None,
        "outcome": {"status": "success", "result": "SAY HI", "duration": 2.0},
        "created_at": body["created_at"],
        "started_at": body["created_at"],
        "finished_at": body["created_at"] + 2,
    }
    assert client.get(f"/agent/status/{body['task_id']}").json() == body


def test_the_session_defaults_to_the_task_id(serve: Serve) -> None:
    body = serve().post("/agent/run", json={"task": "t"}).json()
    assert body["session_id"] == body["task_id"]
    assert body["result"] == f"t [{body['task_id']}]"


def test_an_async_runner_runs_on_the_loop(serve: Serve) -> None:
    async def runner(task: str, session_id: str) -> Mapping[str, Any]:
        return {"status": "completed", "result": len(task)}

    body = serve(runner).post("/agent/run", json={"task": "four"}).json()
    assert (body["status"], body["result"]) == ("succeeded", 4)


def test_a_failed_agent_is_a_recorded_task_not_a_server_error(serve: Serve) -> None:
    def runner(task: str, session_id: str) -> Mapping[str, Any]:
        return {"status": "error", "error": f"auth: Incorrect API key provided: {KEY}"}

    client = serve(runner)
    response = client.post("/agent/run", json={"task": "t"})

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "failed"
    assert body["error"] == "auth: Incorrect API key provided: [REDACTED]"
    assert KEY not in response.text
    assert client.get(f"/agent/status/{body['task_id']}").json()["status"] == "failed"


def test_a_runner_that_raises_fails_its_task_with_a_redacted_error(serve: Serve) -> None:
    def runner(task: str, session_id: str) -> Mapping[str, Any]:
        raise ConnectionError(f"could not reach https://api.example.test?api_key={KEY}")

    client = serve(runner)
    response = client.post("/agent/run", json={"task": "t"})

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "failed"
    assert body["error"].startswith("ConnectionError: could not reach")
    assert KEY not in response.text
    assert body["outcome"] is None
    status = client.get(f"/agent/status/{body['task_id']}")
    assert status.json() == body


@pytest.mark.parametrize(
    ("body", "loc", "msg"),
    [
        ({}, ["body", "task"], "Field required"),
        ({"session_id": "s"}, ["body", "task"], "Field required"),
        ({"task": ""}, ["body", "task"], "String should have at least 1 character"),
        ({"task": " \n\t"}, ["body", "task"], "task must not be blank"),
        ({"task": 42}, ["body", "task"], "Input should be a valid string"),
        ({"task": None}, ["body", "task"], "Input should be a valid string"),
        (
            {"task": "x" * 101},
            ["body", "task"],
            "String should have at most 100 characters: the task is longer than this "
            "service's max_task_chars=100",
        ),
        ({"task": "t", "session_id": ""}, ["body", "session_id"], "at least 1 character"),
        ({"task": "t", "session_id": "has space"}, ["body", "session_id"], "should match"),
        ({"task": "t", "session_id": "s" * 129}, ["body", "session_id"], "at most 128"),
        ({"task": "t", "priority": 1}, ["body", "priority"], "Extra inputs are not permitted"),
        (["t"], ["body"], "valid dictionary"),
        ("t", ["body"], "valid dictionary"),
    ],
)
@pytest.mark.parametrize("path", ["/agent/run", "/agent/run-async"])
def test_invalid_bodies_are_422s_naming_the_field(
    serve: Serve, path: str, body: Any, loc: list[str], msg: str
) -> None:
    calls: list[str] = []
    client = serve(lambda task, session: calls.append(task), max_task_chars=100)
    response = client.post(path, json=body)

    assert response.status_code == 422
    problems = response.json()["detail"]
    assert any(p["loc"] == loc and msg in p["msg"] for p in problems), problems
    assert all(set(p) == {"loc", "msg", "type"} for p in problems)
    assert calls == []


def test_a_body_that_is_not_json_is_a_422(serve: Serve) -> None:
    response = serve().post(
        "/agent/run", content=b"{task: oops", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_validation_errors_never_echo_what_was_sent(serve: Serve) -> None:
    response = serve(max_task_chars=10).post(
        "/agent/run", json={"task": f"use {KEY} " * 1000, "api_key": KEY}
    )
    assert response.status_code == 422
    assert KEY not in response.text
    assert len(response.text) < 1000
    fields = {tuple(p["loc"]) for p in response.json()["detail"]}
    assert fields == {("body", "task"), ("body", "api_key")}


def test_status_of_an_unknown_task_is_404_naming_it(serve: Serve) -> None:
    missing = "f" * 32
    response = serve().get(f"/agent/status/{missing}")
    assert response.status_code == 404
    assert response.json()["detail"].startswith(f"no task has id '{missing}'")


@pytest.mark.parametrize("task_id", ["nope", "F" * 32, "0" * 31, "0" * 33, "g" * 32])
def test_status_of_a_malformed_id_is_422_naming_it(serve: Serve, task_id: str) -> None:
    response = serve().get(f"/agent/status/{task_id}")
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["path", "task_id"]
    assert problem["msg"].startswith(f"task id {task_id!r} is not a task id")
    assert "32 lowercase hex digits" in problem["msg"]


def test_a_malformed_id_carrying_a_secret_is_not_echoed(serve: Serve) -> None:
    response = serve().get(f"/agent/status/{KEY}")
    assert response.status_code == 422
    assert KEY not in response.text


def test_run_async_answers_202_and_the_task_can_be_polled_to_its_end(
    serve: Serve, gated: Any, join: Join
) -> None:
    client = serve(gated)
    response = client.post("/agent/run-async", json={"task": "later", "session_id": "s-9"})

    assert response.status_code == 202
    accepted = response.json()
    task_id = accepted["task_id"]
    assert accepted == {
        "task_id": task_id,
        "status": "queued",
        "status_url": f"/agent/status/{task_id}",
    }
    gated.wait_started()
    running = client.get(accepted["status_url"]).json()
    assert (running["status"], running["started_at"] is not None) == ("running", True)
    assert running["finished_at"] is None

    gated.release.set()
    join(client, task_id)
    done = client.get(accepted["status_url"]).json()
    assert (done["status"], done["result"], done["session_id"]) == ("succeeded", "later", "s-9")
    assert gated.calls == [("later", "s-9")]


def test_tasks_beyond_max_concurrency_wait_queued(serve: Serve, gated: Any, join: Join) -> None:
    client = serve(gated, max_concurrency=1)
    first = client.post("/agent/run-async", json={"task": "one"}).json()["task_id"]
    second = client.post("/agent/run-async", json={"task": "two"}).json()["task_id"]
    gated.wait_started()

    assert client.get(f"/agent/status/{first}").json()["status"] == "running"
    assert client.get(f"/agent/status/{second}").json()["status"] == "queued"
    assert client.get("/health").json()["pending"] == 2

    gated.release.set()
    join(client)
    assert [client.get(f"/agent/status/{i}").json()["status"] for i in (first, second)] == [
        "succeeded",
        "succeeded",
    ]
    assert [task for task, _session in gated.calls] == ["one", "two"]


def test_past_max_pending_run_async_is_a_503_naming_the_limit(
    serve: Serve, gated: Any, join: Join
) -> None:
    client = serve(gated, max_pending=1)
    assert client.post("/agent/run-async", json={"task": "one"}).status_code == 202
    response = client.post("/agent/run-async", json={"task": "two"})

    assert response.status_code == 503
    assert "max_pending=1" in response.json()["detail"]
    gated.release.set()
    join(client)
    assert client.post("/agent/run-async", json={"task": "three"}).status_code == 202


def test_a_background_runner_failure_is_recorded(serve: Serve, join: Join) -> None:
    def runner(task: str, session_id: str) -> Mapping[str, Any]:
        raise ValueError(f"token={KEY}")

    client = serve(runner)
    task_id = client.post("/agent/run-async", json={"task": "t"}).json()["task_id"]
    join(client, task_id)
    body = client.get(f"/agent/status/{task_id}").json()
    assert (body["status"], body["error"]) == ("failed", "ValueError: token=[REDACTED]")


def test_stopping_the_service_fails_its_pending_tasks(gated: Any) -> None:
    app = create_app(gated, max_concurrency=1)
    with TestClient(app) as client:
        running = client.post("/agent/run-async", json={"task": "one"}).json()["task_id"]
        queued = client.post("/agent/run-async", json={"task": "two"}).json()["task_id"]
        gated.wait_started()
    board = app.state.service.board
    for task_id in (running, queued):
        record = board.get(task_id)
        assert (record.status.value, record.error) == ("failed", STOPPED)
    assert app.state.service.pending == 0


def test_health(serve: Serve) -> None:
    response = serve(name="triage", max_concurrency=2, max_pending=5).get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "service": "triage",
        "pending": 0,
        "max_pending": 5,
        "max_concurrency": 2,
    }


def test_the_openapi_schema_documents_the_endpoints_and_limit(serve: Serve) -> None:
    schema = serve(max_task_chars=500).get("/openapi.json").json()
    assert {"/agent/run", "/agent/run-async", "/agent/status/{task_id}", "/health"} <= set(
        schema["paths"]
    )
    request = schema["components"]["schemas"]["TaskRequest"]
    assert request["properties"]["task"]["maxLength"] == 500
    assert request["additionalProperties"] is False


def test_without_the_lifespan_a_plain_run_still_works() -> None:
    response = TestClient(create_app(lambda task, session: {"status": "ok"})).post(
        "/agent/run", json={"task": "t"}
    )
    assert response.json()["status"] == "succeeded"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("max_task_chars", 0, "max_task_chars"),
        ("max_concurrency", -1, "max_concurrency"),
        ("max_pending", "3", "max_pending"),
    ],
)
def test_bad_options_are_config_errors(option: str, value: Any, message: str) -> None:
    from crs import ConfigError

    with pytest.raises(ConfigError, match=message):
        create_app(lambda task, session: {"status": "ok"}, **{option: value})


def test_a_runner_must_be_callable() -> None:
    with pytest.raises(TypeError, match="runner must be callable"):
        create_app("agent")  # type: ignore[arg-type]

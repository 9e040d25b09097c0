"""The service with a real model client as its runner, against the sandbox.

``LLMClient.run`` already speaks the runner contract, so ``llm_runner`` is all it takes to
serve a model; these tests check the whole path — HTTP in, the openai SDK out to the sandbox,
the answer recorded — including a model failure kept as a failed task without the key.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from crs import VirtualClock
from crs.llm import AsyncLLMClient, LLMClient, LLMConfig
from crs.sandbox import Sandbox
from crs.service import llm_runner
from pytest_crs.faults import FaultPlan, auth_expired, llm

Serve = Callable[..., TestClient]
Join = Callable[..., None]


@pytest.fixture
def model(crs_sandbox: Sandbox) -> LLMClient:
    return LLMClient(LLMConfig(model="gpt-4o"), client=crs_sandbox.openai_client())


def test_a_task_is_answered_by_the_model(
    serve: Serve, model: LLMClient, crs_sandbox: Sandbox, crs_clock: VirtualClock
) -> None:
    crs_sandbox.script(["Paris."], model="gpt-4o")
    body = serve(llm_runner(model)).post("/agent/run", json={"task": "Capital of France?"}).json()

    assert body["status"] == "succeeded"
    assert body["result"] == "Paris."
    assert body["outcome"] == {"status": "success", "result": "Paris.", "duration": 0.0}
    [request] = crs_sandbox.requests
    assert request.body["messages"][-1] == {"role": "user", "content": "Capital of France?"}


def test_a_background_task_is_answered_by_the_model(
    serve: Serve, model: LLMClient, crs_sandbox: Sandbox, join: Join
) -> None:
    crs_sandbox.script(["Done."], model="gpt-4o")
    client = serve(llm_runner(model))
    task_id = client.post("/agent/run-async", json={"task": "Do it"}).json()["task_id"]
    join(client, task_id)
    body = client.get(f"/agent/status/{task_id}").json()
    assert (body["status"], body["result"]) == ("succeeded", "Done.")


def test_a_model_failure_is_a_failed_task_without_the_key(
    serve: Serve, model: LLMClient, crs_sandbox: Sandbox, crs_faults: FaultPlan
) -> None:
    crs_faults.on(llm(), auth_expired())
    response = serve(llm_runner(model)).post("/agent/run", json={"task": "hello"})

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "failed"
    assert body["error"].startswith("auth: ")
    assert crs_sandbox.api_key not in response.text


def test_an_async_client_makes_an_async_runner(serve: Serve, crs_sandbox: Sandbox) -> None:
    crs_sandbox.script(["Async."], model="gpt-4o")
    client = AsyncLLMClient(
        LLMConfig(model="gpt-4o"),
        api_key=crs_sandbox.api_key,
        base_url=crs_sandbox.openai_base_url,
    )
    http = serve(llm_runner(client))
    body = http.post("/agent/run", json={"task": "hi"}).json()
    http.portal.call(client.aclose)  # its connections belong to the app's loop
    assert (body["status"], body["result"]) == ("succeeded", "Async.")


def test_llm_runner_refuses_other_objects() -> None:
    with pytest.raises(TypeError, match="client must be an LLMClient or AsyncLLMClient"):
        llm_runner(object())  # type: ignore[arg-type]

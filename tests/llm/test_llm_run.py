"""run(task): the production-agent guide's result contract, exactly, on success and failure.

Callers of the seed agent read these dicts; the keys must not change, ``duration`` must be
measured on the crs clock (virtual under tests) and the error text must be classified and free
of credentials, because it ends up in logs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from crs import VirtualClock
from crs.llm import AsyncLLMClient, LLMClient, LLMConfig
from crs.sandbox import Sandbox
from pytest_crs.faults import FaultPlan, auth_expired, latency, llm, rate_limit

MakeClient = Callable[..., LLMClient]


def test_success_is_status_result_duration(
    make_client: MakeClient, crs_sandbox: Sandbox, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_sandbox.script(["Paris."], model="m")
    crs_faults.on(llm(), latency(3))
    outcome = make_client(model="m", system_prompt="Answer briefly.").run("Capital of France?")

    assert outcome == {"status": "success", "result": "Paris.", "duration": 3.0}
    assert crs_sandbox.requests[0].body["messages"][0] == {
        "role": "system",
        "content": "Answer briefly.",
    }


def test_a_rate_limit_that_outlasts_the_retries_is_an_error_result(
    make_client: MakeClient, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), rate_limit(retry_after=2).always())
    outcome = make_client(max_retries=2).run("hello")

    assert set(outcome) == {"status", "error", "duration"}
    assert outcome["status"] == "error"
    assert outcome["error"].startswith("rate_limit: ")
    assert "429" in outcome["error"]
    assert outcome["duration"] == 4.0  # two waits of Retry-After: 2, on the virtual clock


def test_an_expired_key_is_an_auth_error_result(
    make_client: MakeClient, crs_faults: FaultPlan
) -> None:
    crs_faults.on(llm(), auth_expired())
    outcome = make_client().run("hello")
    assert outcome["status"] == "error"
    assert outcome["error"].startswith("auth: ")


def test_the_error_text_never_carries_the_api_key(crs_sandbox: Sandbox) -> None:
    """Providers echo keys in errors; neither the key's shape nor its value gets through."""

    def echo_key(conversation: Any) -> str:
        raise PermissionError(f"Incorrect API key provided: {crs_sandbox.api_key}")

    crs_sandbox.script([echo_key], model="m")
    client = LLMClient(LLMConfig(model="m"), client=crs_sandbox.openai_client())
    outcome = client.run("hello")
    assert outcome["status"] == "error"
    assert outcome["error"].startswith("validation: ")
    assert "Incorrect API key provided" in outcome["error"]
    assert crs_sandbox.api_key not in outcome["error"]

    wrong = LLMClient(
        LLMConfig(model="m"), client=crs_sandbox.openai_client(api_key="sk-live-0123456789abcdef")
    )
    denied = wrong.run("hello")
    assert denied["error"].startswith("auth: ")
    assert "0123456789abcdef" not in denied["error"]


def test_a_key_of_no_known_shape_is_scrubbed_by_value(crs_clock: VirtualClock) -> None:
    key = "plain words as a key"
    with Sandbox(api_key=key) as sandbox:

        def echo_key(conversation: Any) -> str:
            raise PermissionError(f"key {key} is over quota")

        sandbox.script([echo_key], model="m")
        with LLMClient(
            LLMConfig(model="m"), api_key=key, base_url=sandbox.openai_base_url
        ) as client:
            outcome = client.run("hello")
    assert outcome["status"] == "error"
    assert key not in outcome["error"]
    assert "[REDACTED]" in outcome["error"]


@pytest.mark.parametrize("task", ["", "   ", None])
def test_a_missing_task_is_an_error_result_not_an_exception(
    make_client: MakeClient, task: Any
) -> None:
    outcome = make_client().run(task)
    assert outcome["status"] == "error"
    assert outcome["error"].startswith("validation: ")
    assert outcome["duration"] == 0.0


def test_the_async_run_keeps_the_same_contract(
    crs_sandbox: Sandbox, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_sandbox.script(["Paris."], model="m")
    crs_faults.on(llm(model="m"), rate_limit(retry_after=7))

    async def scenario() -> dict[str, Any]:
        async with crs_sandbox.async_openai_client() as raw:
            return await AsyncLLMClient(LLMConfig(model="m"), client=raw).run("Capital?")

    assert asyncio.run(scenario()) == {"status": "success", "result": "Paris.", "duration": 7.0}

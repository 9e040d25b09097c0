"""check_retry_policy against the retry code agents really use: tenacity, stamina, the openai SDK.

tenacity and stamina run in operation mode (the policy wraps ``op``); what each needs to keep
the promises is spelled out in the policies below (a Retry-After-aware wait, a retry predicate
built on crs's classifier). The openai SDK's built-in retries run in wire mode: real SDK calls
through an ``httpx2.MockTransport``, with faults injected above the transport by
``faulty_transports`` in their exact wire form.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
import stamina
import tenacity
from hypothesis import settings

from crs.errors import ConfigError
from crs.resilience import classify
from pytest_crs.faults import llm
from pytest_crs.properties import Property, PropertyViolation, check_retry_policy
from pytest_crs.strategies import fault_schedules, faults

CHECK = settings(max_examples=30, deadline=None, database=None, derandomize=True)
MAX_RETRY_AFTER = 60.0


def transient(error: BaseException) -> bool:
    """Retry what crs calls retryable, unless the server asked for a wait we will not make."""
    verdict = classify(error)
    return verdict.retryable and (verdict.retry_after or 0.0) <= MAX_RETRY_AFTER


class wait_for_server(tenacity.wait.wait_base):
    """tenacity has no Retry-After support: wait what the server asked, else ``fallback``."""

    def __init__(self, fallback: tenacity.wait.wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        error = None if outcome is None else outcome.exception()
        asked = None if error is None else classify(error).retry_after
        return asked if asked is not None else self.fallback(retry_state)


TENACITY: dict[str, Any] = {
    "stop": tenacity.stop_after_attempt(4) | tenacity.stop_before_delay(120),
    "wait": wait_for_server(tenacity.wait_exponential(multiplier=0.5, max=8)),
    "retry": tenacity.retry_if_exception(transient),
    "reraise": True,
}


# -- tenacity -------------------------------------------------------------------------------------


def test_tenacity_retry_decorator() -> None:
    @tenacity.retry(**TENACITY)
    def call(op: Any) -> Any:
        return op()

    check_retry_policy(call, max_attempts=4, budget=120, settings=CHECK)


def test_tenacity_retrying_object_with_openai_exceptions() -> None:
    retrying = tenacity.Retrying(**TENACITY)
    check_retry_policy(retrying, max_attempts=4, budget=120, error_style="openai", settings=CHECK)


def test_tenacity_async_retrying() -> None:
    async def call(op: Any) -> Any:
        async for attempt in tenacity.AsyncRetrying(**TENACITY):
            with attempt:
                return await op()
        raise AssertionError("unreachable: reraise=True")

    check_retry_policy(call, max_attempts=4, budget=120, settings=CHECK)


def test_tenacity_without_a_retry_after_wait_is_caught() -> None:
    @tenacity.retry(**{**TENACITY, "wait": tenacity.wait_exponential(multiplier=0.5, max=8)})
    def call(op: Any) -> Any:
        return op()

    with pytest.raises(PropertyViolation) as caught:
        check_retry_policy(call, max_attempts=4, settings=CHECK)
    assert caught.value.property is Property.RETRY_AFTER


def test_tenacitys_stop_after_delay_overruns_its_limit() -> None:
    """``stop_after_delay`` is checked before the wait, so the last wait can pass the limit;
    ``stop_before_delay`` (used above) is the one that keeps a budget."""

    @tenacity.retry(**{**TENACITY, "stop": tenacity.stop_after_delay(10)})
    def call(op: Any) -> Any:
        return op()

    waits = fault_schedules(faults(["rate_limit", "server_error"]), min_faults=2, max_faults=3)
    with pytest.raises(PropertyViolation) as caught:
        check_retry_policy(call, faults=waits, budget=10, settings=CHECK)
    assert caught.value.property is Property.BUDGET


# -- stamina --------------------------------------------------------------------------------------


def stamina_hook(error: Exception) -> bool | float:
    """stamina's backoff hook: ``False`` to stop, the server's wait, or ``True`` for backoff."""
    if not transient(error):
        return False
    asked = classify(error).retry_after
    return True if asked is None else asked


def test_stamina_retry_decorator() -> None:
    @stamina.retry(on=stamina_hook, attempts=4, timeout=None, wait_initial=0.5, wait_max=8)
    def call(op: Any) -> Any:
        return op()

    check_retry_policy(call, max_attempts=4, settings=CHECK)


def test_stamina_retry_context_async() -> None:
    async def call(op: Any) -> Any:
        async for attempt in stamina.retry_context(on=stamina_hook, attempts=4, timeout=None):
            with attempt:
                return await op()
        raise AssertionError("unreachable: stamina re-raises the last error")

    check_retry_policy(call, max_attempts=4, settings=CHECK)


def test_stamina_retrying_on_every_exception_is_caught() -> None:
    @stamina.retry(on=Exception, attempts=4, timeout=None)
    def call(op: Any) -> Any:
        return op()

    with pytest.raises(PropertyViolation) as caught:
        check_retry_policy(call, max_attempts=4, skip=["retry_after"], settings=CHECK)
    assert caught.value.property is Property.NON_RETRYABLE


def test_staminas_timeout_is_not_a_budget() -> None:
    """stamina's ``timeout`` is tenacity's ``stop_after_delay``: checked before each wait, so
    an honoured Retry-After (or the last backoff) can take the run past it."""

    @stamina.retry(on=stamina_hook, attempts=10, timeout=10, wait_initial=0.5, wait_max=8)
    def call(op: Any) -> Any:
        return op()

    with pytest.raises(PropertyViolation) as caught:
        check_retry_policy(call, budget=10, settings=CHECK)
    assert caught.value.property is Property.BUDGET


# -- the openai SDK's own retries (wire mode) ---------------------------------------------------

COMPLETION = {
    "id": "chatcmpl-property",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hi", "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ],
}
MESSAGES = [{"role": "user", "content": "hi"}]


def ok_handler(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, json=COMPLETION)


def sync_client(max_retries: int) -> openai.OpenAI:
    return openai.OpenAI(
        base_url="http://127.0.0.1:9/v1",
        api_key="sk-test",
        max_retries=max_retries,
        http_client=httpx2.Client(transport=httpx2.MockTransport(ok_handler)),
    )


@pytest.fixture
def client() -> Iterator[openai.OpenAI]:
    sdk = sync_client(max_retries=2)
    yield sdk
    sdk.close()


def test_the_openai_sdk_keeps_its_promises(client: openai.OpenAI) -> None:
    def call() -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]

    # max_retries=2: three attempts; the SDK honours Retry-After up to two minutes.
    check_retry_policy(call, target=llm(), max_attempts=3, settings=CHECK)


def test_the_async_openai_sdk_keeps_its_promises() -> None:
    sdk = openai.AsyncOpenAI(
        base_url="http://127.0.0.1:9/v1",
        api_key="sk-test",
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(ok_handler)),
    )

    async def call() -> Any:
        return await sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]

    try:
        check_retry_policy(call, target=llm(), max_attempts=3, settings=CHECK)
    finally:
        asyncio.run(sdk.close())


@pytest.mark.parametrize(
    ("max_retries", "broken"),
    [
        (6, Property.MAX_ATTEMPTS),  # too many SDK retries
        (0, Property.EVENTUAL_SUCCESS),  # retries switched off: gives up too early
    ],
)
def test_sdk_retry_settings_that_break_a_promise_are_caught(
    max_retries: int, broken: Property
) -> None:
    sdk = sync_client(max_retries=max_retries)
    try:
        with pytest.raises(PropertyViolation) as caught:
            check_retry_policy(
                lambda: sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES),  # type: ignore[arg-type]
                target=llm(),
                max_attempts=3,
                settings=CHECK,
            )
    finally:
        sdk.close()
    assert caught.value.property is broken


def test_a_target_that_matches_nothing_is_a_configuration_error(client: openai.OpenAI) -> None:
    def call() -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]

    with pytest.raises(ConfigError, match="no request"):
        check_retry_policy(call, target=llm(model="o3*"), settings=CHECK)

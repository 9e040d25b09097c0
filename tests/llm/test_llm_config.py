"""LLMConfig and client construction: mistakes fail at start-up, naming the field and value.

An agent misconfigured in production should not find out on its first request (or its first
outage); and the optional openai extra must fail with the command that installs it.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import openai
import pytest

from crs import ConfigError, RateLimiter, RetryPolicy, VirtualClock, stop_after_attempt
from crs.llm import AgentConfig, AsyncLLMClient, LLMClient, LLMConfig, default_retry_policy
from crs.resilience import RetryState
from crs.sandbox import Sandbox


def test_defaults_are_the_guides_agent_config() -> None:
    """The seed's AgentConfig(...) keeps working under its old name."""
    config = AgentConfig()
    assert AgentConfig is LLMConfig
    assert (config.model, config.max_tokens, config.temperature) == ("gpt-4o-mini", 1000, 0.7)
    assert (config.max_retries, config.timeout) == (3, 30.0)
    assert config.system_prompt is None
    assert config.retry_policy is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model", ""),
        ("model", None),
        ("max_tokens", 0),
        ("max_tokens", True),
        ("max_tokens", "1000"),
        ("temperature", 2.5),
        ("temperature", -0.1),
        ("temperature", math.nan),
        ("temperature", "hot"),
        ("max_retries", -1),
        ("max_retries", 1.5),
        ("timeout", 0),
        ("timeout", -3),
        ("timeout", math.inf),
        ("timeout", "30"),
        ("system_prompt", 42),
        ("retry_policy", {"max_retries": 3}),
        ("rate_limiter", 60),
        ("clock", "system"),
    ],
)
def test_a_bad_field_is_named_with_its_value(field: str, value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        LLMConfig(**{field: value})
    message = str(caught.value)
    assert f"LLMConfig.{field}" in message
    if field != "system_prompt":  # a prompt may be long: its type is named instead
        assert repr(value)[:20] in message


def test_with_options_checks_again() -> None:
    config = LLMConfig(model="gpt-4o")
    assert config.with_options(timeout=5).timeout == 5
    with pytest.raises(ConfigError, match=r"LLMConfig.timeout .* got -1"):
        config.with_options(timeout=-1)


def test_the_default_policy_retries_max_retries_times_and_retries_timeouts() -> None:
    """Completions have no side effects, so an ambiguous read timeout may be retried."""
    clock = VirtualClock()
    policy = LLMConfig(max_retries=2, clock=clock).policy()
    assert policy.idempotent
    assert policy.respect_retry_after
    assert policy.clock is clock
    state = RetryState(attempt_number=3, elapsed=0, total_delay=0, classification=None)
    assert policy.stop(state)
    assert not policy.stop(RetryState(2, 0, 0, None))
    given = RetryPolicy(stop=stop_after_attempt(1))
    assert LLMConfig(retry_policy=given).policy() is given
    with pytest.raises(ConfigError, match="max_retries"):
        default_retry_policy(-2)


def test_the_sdks_own_retries_are_switched_off(crs_sandbox: Sandbox) -> None:
    """Two retry loops would multiply attempts; the injected client itself is left alone."""
    injected = crs_sandbox.openai_client(max_retries=5)
    client = LLMClient(client=injected)
    assert client.sdk_client.max_retries == 0
    assert injected.max_retries == 5
    assert "sk-crs-sandbox" not in repr(client)


def test_a_client_built_from_a_key_is_owned_and_closed(crs_sandbox: Sandbox) -> None:
    with LLMClient(
        LLMConfig(model="gpt-4o"),
        api_key=crs_sandbox.api_key,
        base_url=crs_sandbox.openai_base_url,
    ) as client:
        assert client.complete("hi").content
        assert client.sdk_client.max_retries == 0
    assert client.sdk_client.is_closed()


def test_no_api_key_anywhere_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="api_key") as caught:
        LLMClient()
    assert "OPENAI_API_KEY" in str(caught.value)


def test_missing_openai_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)  # makes `import openai` fail
    with pytest.raises(ConfigError, match=r"pytest-crs\[openai\]"):
        LLMClient(api_key="sk-test-not-used-anywhere")


def test_contradictory_arguments_are_refused(crs_sandbox: Sandbox) -> None:
    with pytest.raises(ConfigError, match="together"):
        LLMClient(client=crs_sandbox.openai_client(), api_key="sk-other-key-000000")
    with pytest.raises(ConfigError, match="AsyncLLMClient"):
        LLMClient(client=openai.AsyncOpenAI(api_key="k", base_url=crs_sandbox.openai_base_url))
    with pytest.raises(ConfigError, match="LLMConfig"):
        LLMClient({"model": "gpt-4o"}, client=crs_sandbox.openai_client())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"openai\.AsyncOpenAI"):
        AsyncLLMClient(client=crs_sandbox.openai_client())


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"stream": True}, "stream"),
        ({"timeout": 3}, "LLMConfig.timeout"),
        ({"messages": []}, "first argument"),
    ],
)
def test_options_crs_owns_cannot_be_passed_per_call(
    crs_sandbox: Sandbox, options: dict[str, Any], match: str
) -> None:
    client = LLMClient(client=crs_sandbox.openai_client())
    with pytest.raises(ConfigError, match=match):
        client.complete("hi", **options)


@pytest.mark.parametrize(
    ("messages", "match"),
    [([], "empty"), ([{"content": "no role"}], r"messages\[0\]"), (42, "string or a list")],
)
def test_malformed_messages_are_config_errors(
    crs_sandbox: Sandbox, messages: Any, match: str
) -> None:
    client = LLMClient(client=crs_sandbox.openai_client())
    with pytest.raises(ConfigError, match=match):
        client.complete(messages)
    assert client.stats().requests == 0  # refused before anything was sent


def test_a_rate_limiter_in_the_config_must_be_a_crs_one() -> None:
    assert LLMConfig(rate_limiter=RateLimiter(30)).rate_limiter is not None

"""crs's own machinery under injected faults: rate limiter, credential expiry, breaker.

The adapter runs tools over the sandbox through the installed Composio SDK; the faults are
injected on its wire, so the adapter sees the same responses it would see from Composio.
"""

from __future__ import annotations

import pytest

from crs import ContextReferenceStore, CredentialVault, RateLimiter, RetryPolicy, VirtualClock
from crs.errors import CredentialExpiredError
from crs.resilience import ErrorType, stop_after_attempt, wait_fixed
from crs.tools import CallableBackend, ComposioAdapter, ToolBackend
from pytest_crs.faults import FaultPlan, rate_limit, tool

REPO = {"owner": "octocat", "repo": "hello-world"}
LIST = tool("GITHUB_LIST_REPOSITORY_ISSUES")


def test_a_429_burst_pauses_the_rate_limiter_for_every_caller(
    crs_faults: FaultPlan, crs_clock: VirtualClock, crs_store: ContextReferenceStore
) -> None:
    """Each 429's Retry-After pauses the app's limiter, so other callers wait too.

    A Python tool here: composio-core's ``HTTPError`` keeps a 429's status and body but drops
    its headers, so over that SDK the adapter never learns the Retry-After (the next test).
    """
    backend = CallableBackend({"list_issues": lambda owner, repo: {"issues": []}})
    limiter = RateLimiter(requests_per_minute=600, burst=10)
    policy = RetryPolicy(stop=stop_after_attempt(3), wait=wait_fixed(0.5), idempotent=True)
    adapter = ComposioAdapter(
        crs_store, backend, retry_policy=policy, rate_limits={"github": limiter}
    )
    issues = tool(app="github", action="list_issues")
    crs_faults.on(issues, rate_limit(retry_after=20).times(2))

    first = adapter.execute_tool_with_context("github", "list_issues", REPO, "u1")
    second = adapter.execute_tool_with_context("github", "list_issues", REPO, "u2")

    assert first.successful
    assert second.successful
    assert first.attempts == 3
    assert limiter.stats().backoffs == 2  # each 429 paused the whole app
    assert crs_clock.sleeps == [20.0, 20.0]  # Retry-After, not the policy's 0.5 s
    assert crs_faults.attempts(issues) == 4
    moments = [attempt.at for attempt in crs_faults.calls]
    assert moments == [0.0, 20.0, 40.0, 40.0]


def test_over_composio_core_a_429_has_no_retry_after_to_honour(
    crs_faults: FaultPlan,
    crs_clock: VirtualClock,
    crs_store: ContextReferenceStore,
    crs_tool_backend: ToolBackend,
) -> None:
    crs_faults.on(LIST, rate_limit(retry_after=20).times(2))
    policy = RetryPolicy(stop=stop_after_attempt(3), wait=wait_fixed(0.5), idempotent=True)
    adapter = ComposioAdapter(crs_store, crs_tool_backend, retry_policy=policy)
    execution = adapter.execute_tool_with_context(
        "github", "LIST_REPOSITORY_ISSUES", REPO, "default"
    )
    assert execution.successful
    assert crs_clock.sleeps == [0.5, 0.5]  # the SDK dropped the header: the policy's own wait
    assert crs_faults.attempts(LIST) == 3


def test_a_429_burst_beyond_the_retry_budget_is_reported_as_a_rate_limit(
    crs_faults: FaultPlan, crs_store: ContextReferenceStore, crs_tool_backend: ToolBackend
) -> None:
    crs_faults.on(LIST, rate_limit(retry_after=5).always())
    policy = RetryPolicy(stop=stop_after_attempt(3), wait=wait_fixed(1), idempotent=True)
    adapter = ComposioAdapter(crs_store, crs_tool_backend, retry_policy=policy)
    execution = adapter.execute_tool_with_context(
        "github", "LIST_REPOSITORY_ISSUES", REPO, "default"
    )
    assert not execution.successful
    assert execution.error_type is ErrorType.RATE_LIMIT
    assert crs_faults.attempts(LIST) == 3


def test_a_credential_expires_when_the_clock_is_advanced(
    crs_faults: FaultPlan,
    crs_clock: VirtualClock,
    crs_store: ContextReferenceStore,
    crs_vault: CredentialVault,
    crs_tool_backend: ToolBackend,
) -> None:
    crs_faults.on(LIST, rate_limit(retry_after=30).times(1))
    crs_vault.store_user_credentials("default", "github", {"token": "ghp_" + "x" * 36}, ttl_hours=1)
    adapter = ComposioAdapter(crs_store, crs_tool_backend, vault=crs_vault, auth_cache_ttl=0)
    assert adapter.execute_tool_with_context(
        "github", "LIST_REPOSITORY_ISSUES", REPO, "default"
    ).successful  # one 429, a short backoff, then through: well within the hour
    crs_clock.advance(3600)
    expired = adapter.execute_tool_with_context("github", "LIST_REPOSITORY_ISSUES", REPO, "default")
    assert not expired.successful
    assert expired.error_type is ErrorType.AUTH
    assert crs_faults.attempts(LIST) == 2  # the expired call never reached the wire
    with pytest.raises(CredentialExpiredError):
        crs_vault.get_user_credentials("default", "github")

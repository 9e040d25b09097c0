"""The Composio adapter against the sandbox, through whichever real Composio SDK is installed.

The same tests run in both test environments: composio-core 0.7 in the main one, the current
``composio`` SDK in its own. Time is virtual (``crs_clock``): backoff, Retry-After waits, breaker
cool-downs and credential expiry cost nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from crs import (
    CircuitBreaker,
    ContextReferenceStore,
    CredentialVault,
    RateLimiter,
    RetryPolicy,
    VirtualClock,
    wait_fixed,
)
from crs.auth._layout import vault_heads
from crs.resilience import ErrorType, classify
from crs.sandbox import Sandbox
from crs.tools import (
    ComposioAdapter,
    ResponseCache,
    ToolBackend,
    ToolExecutionError,
)

REPO = {"owner": "acme", "repo": "api"}
ISSUE = {**REPO, "title": "Flaky test", "body": "fails on Tuesdays"}
LIST = "GITHUB_LIST_REPOSITORY_ISSUES"


def composio_requests(sandbox: Sandbox, slug: str) -> int:
    """How many execute requests for ``slug`` reached the sandbox."""
    return len(sandbox.composio.executions(slug))


class TestExecution:
    def test_runs_the_tool_and_records_intent_and_result(
        self, crs_adapter: ComposioAdapter, crs_sandbox: Sandbox, crs_store: ContextReferenceStore
    ) -> None:
        execution = crs_adapter.execute_tool_with_context(
            "github", "create_an_issue", ISSUE, "default", execution_metadata={"session": "s1"}
        )

        assert execution.successful, execution.error
        assert execution.action == "GITHUB_CREATE_AN_ISSUE"
        assert execution.data["title"] == "Flaky test"
        assert execution.attempts == 1
        assert [i["title"] for i in crs_sandbox.composio.issues("acme", "api")] == ["Flaky test"]
        intent = crs_store.retrieve(execution.intent_ref or "")
        record = crs_store.retrieve(execution.record_ref or "")
        assert intent["status"] == "executing"
        assert intent["params"] == ISSUE
        assert intent["metadata"] == {"session": "s1"}
        assert record["status"] == "success"
        assert record["execution_id"] == execution.execution_id
        assert record["intent_ref"] == execution.intent_ref

    def test_a_tool_failure_is_an_outcome_not_an_exception(
        self, crs_adapter: ComposioAdapter, crs_sandbox: Sandbox
    ) -> None:
        execution = crs_adapter.execute_tool_with_context(
            "github", "GITHUB_CREATE_AN_ISSUE", REPO, "default"
        )

        assert not execution.successful
        assert execution.error_type is ErrorType.VALIDATION
        assert "title" in (execution.error or "")
        assert execution.attempts == 1  # a bad argument is not retried
        with pytest.raises(ToolExecutionError, match="GITHUB_CREATE_AN_ISSUE") as caught:
            execution.raise_for_error()
        assert classify(caught.value) is execution.failure

    def test_429_then_success_is_retried_after_the_servers_wait(
        self, crs_adapter: ComposioAdapter, crs_sandbox: Sandbox, crs_clock: VirtualClock
    ) -> None:
        crs_sandbox.fault("rate_limit", tool="SLACK_SEND_MESSAGE", retry_after=7)

        execution = crs_adapter.execute_tool_with_context(
            "slack", "send_message", {"channel": "general", "text": "deploy done"}, "default"
        )

        assert execution.successful, execution.error
        assert execution.attempts == 2
        assert crs_clock.total_slept > 0
        assert execution.latency_ms == pytest.approx(crs_clock.total_slept * 1000)
        assert [m["text"] for m in crs_sandbox.composio.messages("general")] == ["deploy done"]

    def test_a_side_effect_is_never_resent_after_an_ambiguous_failure(
        self, crs_adapter: ComposioAdapter, crs_sandbox: Sandbox
    ) -> None:
        crs_sandbox.fault("server_error", tool="SLACK_SEND_MESSAGE", status=502)
        crs_sandbox.fault("server_error", tool=LIST, status=502)

        sent = crs_adapter.execute_tool_with_context(
            "slack", "send_message", {"channel": "general", "text": "once"}, "default"
        )
        listed = crs_adapter.execute_tool_with_context("github", LIST, REPO, "default")

        assert (sent.successful, sent.attempts, sent.error_type) == (False, 1, ErrorType.SERVER)
        assert (listed.successful, listed.attempts) == (True, 2)  # a read is safe to repeat

    def test_async_execution(self, crs_adapter: ComposioAdapter, crs_sandbox: Sandbox) -> None:
        execution = asyncio.run(
            crs_adapter.aexecute_tool_with_context("github", "create_an_issue", ISSUE, "default")
        )

        assert execution.successful, execution.error
        assert crs_adapter.get_execution(execution.execution_id).record_ref == execution.record_ref


class TestGuards:
    def test_the_breaker_opens_and_then_refuses_without_sending(
        self, crs_store: ContextReferenceStore, crs_sandbox: Sandbox, crs_clock: VirtualClock
    ) -> None:
        breaker = CircuitBreaker(failure_threshold=2, cooldown=30)
        adapter = ComposioAdapter(crs_store, crs_sandbox.tool_backend(), breaker=breaker)
        crs_sandbox.fault("server_error", tool=LIST, times=2)

        outage = [adapter.execute_tool_with_context("github", LIST, REPO, "default")]
        outage.append(adapter.execute_tool_with_context("github", LIST, REPO, "default"))
        sent_before = composio_requests(crs_sandbox, LIST)
        refused = adapter.execute_tool_with_context("github", LIST, REPO, "default")

        assert all(not e.successful for e in outage)
        assert not refused.successful
        assert "circuit" in (refused.error or "").lower()
        assert composio_requests(crs_sandbox, LIST) == sent_before  # nothing left the adapter
        assert adapter.get_tool_performance_stats()["circuits"] == {"github": "open"}
        crs_clock.advance(31)
        recovered = adapter.execute_tool_with_context("github", LIST, REPO, "default")
        assert recovered.successful
        assert adapter.get_tool_performance_stats()["circuits"] == {"github": "closed"}

    def test_a_rate_limiter_spaces_calls_in_virtual_time(
        self, crs_store: ContextReferenceStore, crs_sandbox: Sandbox, crs_clock: VirtualClock
    ) -> None:
        adapter = ComposioAdapter(
            crs_store, crs_sandbox.tool_backend(), rate_limits={"github": RateLimiter(30)}
        )

        for _ in range(3):
            assert adapter.execute_tool_with_context("github", LIST, REPO, "default").successful
        adapter.execute_tool_with_context(
            "slack", "send_message", {"channel": "general", "text": "unlimited"}, "default"
        )

        assert crs_clock.sleeps == [2.0, 2.0]  # 30/min on github; slack has no limiter


class TestCredentials:
    @pytest.fixture
    def adapter(
        self, crs_store: ContextReferenceStore, crs_vault: CredentialVault, crs_sandbox: Sandbox
    ) -> ComposioAdapter:
        return ComposioAdapter(crs_store, crs_sandbox.tool_backend(), vault=crs_vault)

    def test_no_credential_means_nothing_is_sent(
        self, adapter: ComposioAdapter, crs_sandbox: Sandbox
    ) -> None:
        execution = adapter.execute_tool_with_context("github", LIST, REPO, "default")

        assert execution.error_type is ErrorType.AUTH
        assert "no credential for user_id='default', app='github'" in (execution.error or "")
        assert composio_requests(crs_sandbox, LIST) == 0

    def test_a_credential_expiring_mid_batch_stops_it(
        self, crs_store: ContextReferenceStore, crs_vault: CredentialVault, crs_sandbox: Sandbox
    ) -> None:
        adapter = ComposioAdapter(
            crs_store,
            crs_sandbox.tool_backend(),
            vault=crs_vault,
            retry_policy=RetryPolicy(wait=wait_fixed(40), respect_retry_after=False),
        )
        adapter.store_app_auth_context("github", "default", {"token": "ghp_x"}, ttl_hours=0.01)
        crs_sandbox.fault("rate_limit", tool=LIST, after=1)  # the 2nd call backs off for 40s

        batch = adapter.execute_batch(
            [{"app": "github", "action": LIST, "params": REPO}] * 4, "default", fail_fast=True
        )

        outcomes = [None if r is None else (r.successful, r.attempts) for r in batch.results]
        assert outcomes == [(True, 1), (True, 2), (False, 0), None]  # 4th: never started
        third = batch.results[2]
        assert third is not None
        assert third.error_type is ErrorType.AUTH
        assert "expired" in (third.error or "")
        counts = (batch.successful_actions, batch.failed_actions, batch.cancelled_actions)
        assert counts == (2, 1, 1)
        assert composio_requests(crs_sandbox, LIST) == 2  # the expired call never left

    def test_an_expired_composio_account_is_an_auth_failure(
        self, crs_adapter: ComposioAdapter, crs_sandbox: Sandbox
    ) -> None:
        crs_sandbox.expire_account("slack")

        execution = crs_adapter.execute_tool_with_context(
            "slack", "send_message", {"channel": "general", "text": "x"}, "default"
        )

        assert not execution.successful
        assert execution.error_type is ErrorType.AUTH
        assert execution.attempts == 1
        assert crs_sandbox.composio.messages("general") == []

    def test_a_tampered_vault_entry_is_refused(
        self, adapter: ComposioAdapter, crs_store: ContextReferenceStore, crs_sandbox: Sandbox
    ) -> None:
        adapter.store_app_auth_context("github", "default", {"token": "mine"})
        adapter.store_app_auth_context("github", "mallory", {"token": "hers"})
        swap_entries(crs_store, ("default", "github"), ("mallory", "github"))
        adapter.invalidate_auth_cache()

        execution = adapter.execute_tool_with_context("github", LIST, REPO, "default")

        assert execution.error_type is ErrorType.AUTH
        assert "tamper" in (execution.error or "").lower() or "authentic" in (execution.error or "")
        assert composio_requests(crs_sandbox, LIST) == 0

    def test_a_stale_auth_context_id_is_refused(
        self, adapter: ComposioAdapter, crs_sandbox: Sandbox
    ) -> None:
        old = adapter.store_app_auth_context("github", "default", {"token": "v1"})
        new = adapter.store_app_auth_context("github", "default", {"token": "v2"})

        stale = adapter.execute_tool_with_context("github", LIST, REPO, "default", old)
        current = adapter.execute_tool_with_context("github", LIST, REPO, "default", new)

        assert stale.error_type is ErrorType.AUTH
        assert current.successful
        assert current.auth_context_id == new

    def test_verified_credentials_are_cached_but_revocation_is_immediate(
        self, adapter: ComposioAdapter, crs_vault: CredentialVault
    ) -> None:
        adapter.store_app_auth_context("github", "default", {"token": "t"})

        for _ in range(4):
            assert adapter.execute_tool_with_context("github", LIST, REPO, "default").successful
        adapter.revoke_auth_context("github", "default")
        revoked = adapter.execute_tool_with_context("github", LIST, REPO, "default")

        assert adapter.get_tool_performance_stats()["auth_cache_hit_rate"] == pytest.approx(3 / 5)
        assert crs_vault.stats()["reads"] == 1  # one decryption served four executions
        assert revoked.error_type is ErrorType.AUTH


class TestCache:
    @pytest.fixture
    def adapter(self, crs_store: ContextReferenceStore, crs_sandbox: Sandbox) -> ComposioAdapter:
        return ComposioAdapter(
            crs_store, crs_sandbox.tool_backend(), cache=ResponseCache({LIST: 60})
        )

    def test_reads_are_served_from_the_cache_until_they_expire(
        self, adapter: ComposioAdapter, crs_sandbox: Sandbox, crs_clock: VirtualClock
    ) -> None:
        crs_sandbox.composio.execute("GITHUB_CREATE_AN_ISSUE", ISSUE, user_id="default")
        first = adapter.execute_tool_with_context("github", LIST, REPO, "default")
        first.data["issues"].clear()  # a caller mutating its result changes nothing cached
        second = adapter.execute_tool_with_context(
            "github", "list_repository_issues", REPO, "default"
        )
        crs_clock.advance(61)
        third = adapter.execute_tool_with_context("github", LIST, REPO, "default")

        assert (first.cached, second.cached, third.cached) == (False, True, False)
        assert [i["title"] for i in second.data["issues"]] == ["Flaky test"]
        assert (second.attempts, second.intent_ref) == (0, None)
        assert composio_requests(crs_sandbox, LIST) == 2
        stats = adapter.get_tool_performance_stats()
        assert stats["response_cache_hit_rate"] == pytest.approx(1 / 3)
        assert stats["response_cache"]["expired"] == 1

    def test_a_write_to_the_app_invalidates_its_cached_reads(
        self, adapter: ComposioAdapter
    ) -> None:
        before = adapter.execute_tool_with_context("github", LIST, REPO, "default")
        adapter.execute_tool_with_context("github", "create_an_issue", ISSUE, "default")
        after = adapter.execute_tool_with_context("github", LIST, REPO, "default")

        assert before.data["issues"] == []
        assert not after.cached
        assert [i["title"] for i in after.data["issues"]] == ["Flaky test"]

    def test_entries_are_per_user_and_params_and_can_be_invalidated(
        self, adapter: ComposioAdapter, crs_sandbox: Sandbox
    ) -> None:
        crs_sandbox.composio.connect("ada", "github")
        adapter.execute_tool_with_context("github", LIST, REPO, "default")
        other_user = adapter.execute_tool_with_context("github", LIST, REPO, "ada")
        reordered = adapter.execute_tool_with_context(
            "github", LIST, {"repo": "api", "owner": "acme"}, "default"
        )
        dropped = adapter.invalidate_cache(predicate=lambda e: e.user_id == "ada")

        assert not other_user.cached
        assert reordered.cached  # canonical params: key order does not matter
        assert dropped == 1
        assert not adapter.execute_tool_with_context("github", LIST, REPO, "ada").cached

    def test_side_effecting_actions_cannot_be_cached(
        self, crs_store: ContextReferenceStore, crs_sandbox: Sandbox
    ) -> None:
        with pytest.raises(ValueError, match="GMAIL_SEND_EMAIL is side-effecting"):
            ComposioAdapter(
                crs_store, crs_sandbox.tool_backend(), cache=ResponseCache(["GMAIL_SEND_EMAIL"])
            )
        adapter = ComposioAdapter(crs_store, crs_sandbox.tool_backend(), cache=ResponseCache())
        with pytest.raises(ValueError, match="side-effecting"):
            adapter.enable_response_caching("slack", "send_message")
        assert adapter.enable_response_caching("slack", "fetch_conversation_history") == (
            "SLACK_FETCH_CONVERSATION_HISTORY"
        )


class TestBatchesAndHistory:
    def test_a_batch_with_fail_fast_stops_at_the_first_failure(
        self, crs_adapter: ComposioAdapter, crs_sandbox: Sandbox
    ) -> None:
        actions: list[dict[str, Any]] = [
            {"app": "github", "action": "create_an_issue", "params": ISSUE},
            {"app": "slack", "action": "send_message", "params": {"channel": "nope", "text": "x"}},
            {
                "app": "slack",
                "action": "send_message",
                "params": {"channel": "general", "text": "y"},
            },
        ]

        batch = crs_adapter.execute_batch(
            actions, "default", {"parallel": False, "fail_fast": True}
        )

        assert [r is not None and r.successful for r in batch.results] == [True, False, False]
        assert batch.results[2] is None
        assert crs_sandbox.composio.messages("general") == []
        summary = batch.to_dict()
        assert (summary["total_actions"], summary["successful_actions"]) == (3, 1)
        assert summary["cancelled_actions"] == 1

    def test_concurrent_batch_keeps_input_order(
        self, crs_adapter: ComposioAdapter, crs_sandbox: Sandbox
    ) -> None:
        titles = [f"issue {n}" for n in range(6)]
        actions = [
            {"app": "github", "action": "create_an_issue", "params": {**REPO, "title": t}}
            for t in titles
        ]

        batch = crs_adapter.execute_batch(actions, "default", concurrent=True, max_concurrent=3)
        again = asyncio.run(
            crs_adapter.aexecute_batch(actions[:2], "default", concurrent=True, max_concurrent=2)
        )

        assert [r.data["title"] for r in batch.results if r is not None] == titles
        assert [r.data["title"] for r in again.results if r is not None] == titles[:2]
        assert len(crs_sandbox.composio.issues("acme", "api")) == 8

    def test_history_survives_a_restart_on_the_same_disk(
        self, crs_sandbox: Sandbox, crs_clock: VirtualClock, tmp_path: Any
    ) -> None:
        backend: ToolBackend = crs_sandbox.tool_backend()
        with ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path / "s") as store:
            first = ComposioAdapter(store, backend)
            done = [
                first.execute_tool_with_context("github", "create_an_issue", ISSUE, "default"),
                first.execute_tool_with_context("github", LIST, REPO, "default"),
            ]
        with ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path / "s") as store:
            reopened = ComposioAdapter(store, backend)
            history = reopened.get_execution_history()

        assert [e.execution_id for e in history] == [e.execution_id for e in reversed(done)]
        assert history[1].data["title"] == "Flaky test"
        assert reopened.get_tool_performance_stats()["total_executions"] == 2


def swap_entries(
    store: ContextReferenceStore, one: tuple[str, str], other: tuple[str, str]
) -> None:
    """Point two index rows at each other's ciphertext, as an attacker with store access could."""
    heads = vault_heads(store, "default")
    generation, ref = heads.read()[0]
    doc = store.retrieve(ref)
    rows = {(r["user_id"], r["app"]): r for r in doc["entries"]}
    rows[one]["ref"], rows[other]["ref"] = rows[other]["ref"], rows[one]["ref"]
    doc["generation"] = generation + 1
    heads.write(generation + 1, store.store(doc))

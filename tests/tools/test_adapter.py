"""The adapter's own logic, with Python tools as the backend (the sandbox tests cover the SDKs).

Python tools let a test decide exactly how long a call takes (by advancing the virtual clock),
when it fails and how, and how many run at once — what analytics, batches and the journal are
judged on.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from crs import (
    ConfigError,
    ContextLookupError,
    ContextReferenceStore,
    CredentialVault,
    RateLimiter,
    RetryPolicy,
    VirtualClock,
)
from crs.resilience import Classification, ErrorType, wait_fixed
from crs.tools import (
    ActionPolicy,
    BatchAction,
    CallableBackend,
    ComposioAdapter,
    ResponseCache,
    ToolResult,
    looks_read_only,
    retry_policy_from_config,
)


class Tools:
    """A small tool table whose behaviour each test steers."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.latency: dict[str, float] = {}
        self.failures: list[BaseException | ToolResult] = []

    def backend(self) -> CallableBackend:
        return CallableBackend(
            {name: self._tool(name) for name in ("get_weather", "send_note", "list_items")}
        )

    def _tool(self, name: str) -> Any:
        def run(**params: Any) -> Any:
            self.calls.append((name, params))
            self.clock.advance(self.latency.get(name, 0.0))
            if self.failures:
                failure = self.failures.pop(0)
                if isinstance(failure, BaseException):
                    raise failure
                return failure
            return {"tool": name, **params}

        return run


@pytest.fixture
def tools(crs_clock: VirtualClock) -> Tools:
    return Tools(crs_clock)


@pytest.fixture
def adapter(crs_store: ContextReferenceStore, tools: Tools) -> ComposioAdapter:
    return ComposioAdapter(crs_store, tools.backend())


def rate_limited(retry_after: float) -> ToolResult:
    failure = Classification(ErrorType.RATE_LIMIT, retryable=True, retry_after=retry_after)
    return ToolResult(False, None, "429 slow down", None, failure)


class TestPipeline:
    def test_retryable_failures_inside_a_result_are_retried(
        self, adapter: ComposioAdapter, tools: Tools, crs_clock: VirtualClock
    ) -> None:
        tools.failures = [rate_limited(5), rate_limited(5)]

        execution = adapter.execute_tool_with_context("weather", "get_weather", {}, "ada")

        assert execution.successful
        assert execution.attempts == 3
        assert crs_clock.sleeps == [5.0, 5.0]

    def test_a_retry_after_pauses_the_apps_limiter_for_everyone(
        self, crs_store: ContextReferenceStore, tools: Tools, crs_clock: VirtualClock
    ) -> None:
        limiter = RateLimiter(600)
        adapter = ComposioAdapter(crs_store, tools.backend(), rate_limits=limiter)
        tools.failures = [rate_limited(30)]

        adapter.execute_tool_with_context("weather", "get_weather", {}, "ada")

        assert limiter.stats().backoffs == 1
        assert limiter.delay("weather") == pytest.approx(0.1)  # the pause is over, 600/min left

    def test_per_action_policies_and_read_only_overrides(
        self, crs_store: ContextReferenceStore, tools: Tools
    ) -> None:
        adapter = ComposioAdapter(
            crs_store,
            tools.backend(),
            actions={
                "send_note": ActionPolicy(retry_policy=retry_policy_from_config({"max_retries": 0}))
            },
        )
        tools.failures = [TimeoutError("read timed out"), TimeoutError("read timed out")]

        note = adapter.execute_tool_with_context("notes", "send_note", {"text": "hi"}, "ada")
        adapter.configure_action("notes", "list_items", read_only=False)
        tools.failures = [ConnectionResetError("reset")]
        listed = adapter.execute_tool_with_context("notes", "list_items", {}, "ada")

        assert (note.successful, note.attempts, note.error_type) == (False, 1, ErrorType.TIMEOUT)
        assert (listed.successful, listed.attempts) == (False, 1)  # now a write: not re-sent
        assert adapter.is_read_only("weather", "get_weather")
        assert not adapter.is_read_only("notes", "list_items")

    def test_a_call_level_retry_policy_wins(
        self, adapter: ComposioAdapter, tools: Tools, crs_clock: VirtualClock
    ) -> None:
        tools.failures = [rate_limited(1)] * 3
        policy = RetryPolicy(wait=wait_fixed(2), respect_retry_after=False)

        execution = adapter.execute_tool_with_context(
            "weather", "get_weather", {}, "ada", retry_policy=policy
        )

        assert (execution.successful, execution.attempts) == (False, 3)
        assert crs_clock.sleeps == [2.0, 2.0]

    def test_bad_calls_raise_and_unknown_tools_are_recorded_then_raised(
        self, adapter: ComposioAdapter
    ) -> None:
        with pytest.raises(ConfigError, match="user_id must be a non-empty str"):
            adapter.execute_tool_with_context("weather", "get_weather", {}, "")
        with pytest.raises(ConfigError, match="params of weather/get_weather must be a mapping"):
            adapter.execute_tool_with_context("weather", "get_weather", [], "ada")  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="has no vault"):
            adapter.execute_tool_with_context("weather", "get_weather", {}, "ada", "auth_x")
        with pytest.raises(ConfigError, match="no tool named 'nope'"):
            adapter.execute_tool_with_context("weather", "nope", {}, "ada")

        (recorded,) = adapter.get_execution_history()
        assert (recorded.action, recorded.successful) == ("nope", False)

    def test_cancellation_leaves_the_intent_without_a_record(
        self, adapter: ComposioAdapter, tools: Tools, crs_store: ContextReferenceStore
    ) -> None:
        tools.failures = [KeyboardInterrupt()]

        with pytest.raises(KeyboardInterrupt):
            adapter.execute_tool_with_context("weather", "get_weather", {}, "ada")

        assert adapter.get_execution_history() == []

    def test_credentials_in_params_and_errors_never_reach_the_store_in_clear(
        self, adapter: ComposioAdapter, tools: Tools, crs_store: ContextReferenceStore
    ) -> None:
        tools.failures = [PermissionError("denied for Authorization: Bearer sk-live-abcdef123456")]

        execution = adapter.execute_tool_with_context(
            "notes", "send_note", {"text": "hi", "api_key": "sk-live-abcdef123456"}, "ada"
        )

        intent = crs_store.retrieve(execution.intent_ref or "")
        record = crs_store.retrieve(execution.record_ref or "")
        assert intent["params"] == {"text": "hi", "api_key": "[REDACTED]"}
        assert "sk-live" not in str(record)
        assert "sk-live" not in (execution.error or "")

    def test_results_the_store_cannot_keep_are_described_not_lost(
        self, crs_store: ContextReferenceStore
    ) -> None:
        adapter = ComposioAdapter(crs_store, CallableBackend({"make": lambda: {1, 2}}))

        execution = adapter.execute_tool_with_context("py", "make", {}, "ada")

        assert execution.data == {1, 2}  # the caller gets the real value
        record = crs_store.retrieve(execution.record_ref or "")
        assert record["data"]["unstorable"] == "set"

    def test_a_revoked_user_gets_nothing_from_the_cache(
        self, crs_store: ContextReferenceStore, crs_vault: CredentialVault, tools: Tools
    ) -> None:
        adapter = ComposioAdapter(
            crs_store, tools.backend(), vault=crs_vault, cache=ResponseCache(["list_items"])
        )
        adapter.store_app_auth_context("notes", "ada", {"token": "t"})

        warm = [adapter.execute_tool_with_context("notes", "list_items", {}, "ada") for _ in "ab"]
        adapter.revoke_auth_context("notes", "ada")
        refused = adapter.execute_tool_with_context("notes", "list_items", {}, "ada")

        assert [e.cached for e in warm] == [False, True]
        assert (refused.successful, refused.cached, refused.data) == (False, False, None)
        assert refused.error_type is ErrorType.AUTH
        assert refused.intent_ref is None  # nothing was about to run
        assert len(tools.calls) == 1

    def test_async_tools_run_on_the_async_path(self, crs_store: ContextReferenceStore) -> None:
        async def fetch(url: str) -> dict[str, str]:
            await asyncio.sleep(0)
            return {"url": url}

        adapter = ComposioAdapter(crs_store, CallableBackend({"fetch": fetch}))

        execution = asyncio.run(
            adapter.aexecute_tool_with_context("web", "fetch", {"url": "u"}, "ada")
        )

        assert execution.data == {"url": "u"}


class TestAnalytics:
    def test_performance_stats(
        self, adapter: ComposioAdapter, tools: Tools, crs_clock: VirtualClock
    ) -> None:
        tools.latency = {"get_weather": 0.1, "send_note": 2.0}
        for _ in range(19):
            adapter.execute_tool_with_context("weather", "get_weather", {}, "ada")
        tools.latency["get_weather"] = 1.0
        adapter.execute_tool_with_context("weather", "get_weather", {}, "ada")
        tools.failures = [ValueError("invalid text")]
        adapter.execute_tool_with_context("notes", "send_note", {"text": ""}, "bo")

        stats = adapter.get_tool_performance_stats()

        assert stats["total_executions"] == 21
        assert stats["successful_executions"] == 20
        assert stats["success_rate"] == pytest.approx(20 / 21)
        assert stats["avg_execution_time_ms"] == pytest.approx((19 * 100 + 1000 + 2000) / 21)
        assert stats["p95_execution_time_ms"] == pytest.approx(1000)
        assert stats["most_used_app"] == "weather"
        assert stats["app_usage_distribution"] == {"weather": 20, "notes": 1}
        assert stats["apps"]["notes"]["error_types"] == {"validation": 1}
        assert stats["apps"]["weather"]["p95_execution_time_ms"] == pytest.approx(100)
        assert (stats["response_cache_hit_rate"], stats["auth_cache_hit_rate"]) == (0.0, 0.0)

    def test_history_is_newest_first_and_filtered(self, adapter: ComposioAdapter) -> None:
        for user, app, action in [
            ("ada", "weather", "get_weather"),
            ("bo", "notes", "send_note"),
            ("ada", "notes", "list_items"),
            ("ada", "weather", "get_weather"),
        ]:
            adapter.execute_tool_with_context(app, action, {}, user)

        ada = adapter.get_user_execution_history("ada", limit=2)
        notes = adapter.get_app_execution_history("notes")
        patterns = adapter.get_user_app_patterns("ada")

        assert [e.action for e in ada] == ["get_weather", "list_items"]
        assert [e.user_id for e in notes] == ["ada", "bo"]
        assert list(patterns) == ["weather", "notes"]
        assert patterns["weather"]["share"] == pytest.approx(2 / 3)
        assert patterns["notes"]["actions"] == {"list_items": 1}

    def test_history_is_bounded(self, crs_store: ContextReferenceStore, tools: Tools) -> None:
        adapter = ComposioAdapter(crs_store, tools.backend(), history_limit=3)

        done = [
            adapter.execute_tool_with_context("notes", "send_note", {"n": n}, "ada")
            for n in range(5)
        ]

        assert [e.data["n"] for e in adapter.get_execution_history()] == [4, 3, 2]
        for dropped in done[:2]:  # their intents and records left the store with them
            for ref in (dropped.intent_ref, dropped.record_ref):
                with pytest.raises(ContextLookupError):
                    crs_store.retrieve(ref or "")
        reopened = ComposioAdapter(crs_store, tools.backend(), history_limit=10)
        assert [e.data["n"] for e in reopened.get_execution_history()] == [4, 3, 2]

    def test_tool_selection_uses_history_and_breaker(
        self, crs_store: ContextReferenceStore, tools: Tools
    ) -> None:
        from crs import CircuitBreaker

        breaker = CircuitBreaker(failure_threshold=1)
        adapter = ComposioAdapter(crs_store, tools.backend(), breaker=breaker)
        adapter.register_available_tools(
            {
                "notes": {"keywords": ["note", "message"], "categories": ["writing"]},
                "chat": {"keywords": ["message", "team"], "categories": ["communication"]},
            }
        )
        for _ in range(10):
            adapter.execute_tool_with_context("notes", "send_note", {}, "ada")

        preferred = adapter.select_optimal_tool("send a message", "ada")
        breaker.record_failure("notes")
        degraded = adapter.select_optimal_tool("send a message", "ada")

        # Same intent match; ada uses notes and it works, so notes wins...
        assert preferred.selected_tool == "notes"
        assert preferred.scores["notes"].preference == 1.0
        assert preferred.alternative_tools[0][0] == "chat"
        # ...and with its circuit open it loses exactly the availability weight (10%).
        assert degraded.scores["notes"].availability == 0.0
        assert degraded.scores["notes"].total == pytest.approx(
            preferred.scores["notes"].total - 0.1
        )


class TestBatches:
    def test_concurrent_batches_really_overlap_within_the_bound(
        self, crs_store: ContextReferenceStore
    ) -> None:
        running, peak, lock = 0, 0, threading.Lock()
        barrier = threading.Barrier(3, timeout=10)

        def slow(n: int) -> int:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            if n < 3:
                barrier.wait()  # the first three can only pass together: proof of overlap
            with lock:
                running -= 1
            return n

        adapter = ComposioAdapter(crs_store, CallableBackend({"slow": slow}))
        batch = adapter.execute_batch(
            [BatchAction("py", "slow", {"n": n}) for n in range(7)],
            "ada",
            concurrent=True,
            max_concurrent=3,
        )

        assert [r.data for r in batch.results if r is not None] == list(range(7))
        assert peak == 3

    def test_concurrent_fail_fast_never_starts_the_rest(
        self, crs_store: ContextReferenceStore
    ) -> None:
        started: list[int] = []

        def step(n: int) -> ToolResult:
            started.append(n)
            return ToolResult(n != 0, n, None if n else "bad input")

        adapter = ComposioAdapter(crs_store, CallableBackend({"step": step}))
        batch = adapter.execute_batch(
            [{"app": "py", "action": "step", "params": {"n": n}} for n in range(20)],
            "ada",
            {"parallel": True, "fail_fast": True, "max_concurrent": 1},
        )

        assert started == [0]
        assert batch.results[0] is not None
        assert not batch.results[0].successful
        assert batch.cancelled_actions == 19

    def test_async_concurrent_batch(self, crs_store: ContextReferenceStore) -> None:
        live, peak = 0, 0

        async def hop(n: int) -> int:
            nonlocal live, peak
            live += 1
            peak = max(peak, live)
            await asyncio.sleep(0)
            live -= 1
            return n

        adapter = ComposioAdapter(crs_store, CallableBackend({"hop": hop}))
        batch = asyncio.run(
            adapter.aexecute_batch(
                [BatchAction("py", "hop", {"n": n}) for n in range(6)],
                "ada",
                concurrent=True,
                max_concurrent=2,
            )
        )

        assert [r.data for r in batch.results if r is not None] == list(range(6))
        assert peak == 2

    def test_batch_items_carry_their_own_retry_config_and_metadata(
        self, adapter: ComposioAdapter, tools: Tools, crs_store: ContextReferenceStore
    ) -> None:
        tools.failures = [rate_limited(0)] * 2

        batch = adapter.execute_batch(
            [
                {
                    "app": "weather",
                    "action": "get_weather",
                    "params": {},
                    "retry_config": {"max_retries": 0},
                },
                {"app": "weather", "action": "get_weather", "params": {}},
            ],
            "ada",
        )

        first, second = batch.results
        assert first is not None
        assert second is not None
        assert (first.successful, first.attempts) == (False, 1)
        assert (second.successful, second.attempts) == (True, 2)
        assert first.metadata == {"batch_id": batch.batch_id, "batch_index": 0}
        record = crs_store.retrieve(batch.record_ref or "")
        assert [r["ok"] for r in record["results"]] == [False, True]

    @pytest.mark.parametrize(
        ("actions", "config", "message"),
        [
            ("get_weather", None, "actions must be a sequence"),
            ([{"app": "w"}], None, "batch action 0 needs a non-empty str 'action'"),
            ([{"app": "w", "action": "a", "retries": 3}], None, "unknown key.*retries"),
            ([], {"paralel": True}, "batch_config has unknown key.*paralel"),
            ([], {"parallel": "yes"}, "batch parallel must be a bool"),
            (
                [{"app": "w", "action": "a", "retry_config": {"max_retries": -1}}],
                None,
                "max_retries",
            ),
        ],
    )
    def test_malformed_batches_are_refused_before_anything_runs(
        self, adapter: ComposioAdapter, tools: Tools, actions: Any, config: Any, message: str
    ) -> None:
        with pytest.raises(ConfigError, match=message):
            adapter.execute_batch(actions, "ada", config)
        assert tools.calls == []


class TestActionNames:
    @pytest.mark.parametrize(
        ("app", "action", "read_only"),
        [
            ("github", "GITHUB_LIST_REPOSITORY_ISSUES", True),
            ("github", "GITHUB_CREATE_AN_ISSUE", False),
            ("slack", "fetch_conversation_history", True),
            ("gmail", "GMAIL_SEND_EMAIL", False),
            ("", "GITHUB_GET_AN_ISSUE", True),
            ("py", "frobnicate", False),  # unknown verbs count as writes
            ("py", "", False),
        ],
    )
    def test_read_only_is_guessed_from_the_verb(
        self, app: str, action: str, read_only: bool
    ) -> None:
        assert looks_read_only(app, action) is read_only

    def test_the_guides_retry_config(self) -> None:
        policy = retry_policy_from_config(
            {"max_retries": 2, "backoff_multiplier": 3, "initial_delay_seconds": 1}
        )

        assert repr(policy.stop) == "stop_after_attempt(3)"
        with pytest.raises(ConfigError, match="backoff_multiplier must be >= 1"):
            retry_policy_from_config({"backoff_multiplier": 0.5})
        with pytest.raises(ConfigError, match="unknown key"):
            retry_policy_from_config({"retries": 2})


class TestResponseCache:
    @pytest.fixture
    def cache(self, crs_store: ContextReferenceStore) -> ResponseCache:
        cache = ResponseCache(["LIST"], ttl=10, max_entries=2)
        cache.attach(crs_store)
        return cache

    def test_least_recently_used_entries_go_first(self, cache: ResponseCache) -> None:
        for n in range(3):
            assert cache.put("app", "LIST", "u", {"n": n}, {"n": n})

        assert cache.get("app", "LIST", "u", {"n": 0}) is not None
        assert cache.stats()["evicted"] == 1
        assert [e.params for e in cache.entries()] == [{"n": 1}, {"n": 2}]

    def test_identical_data_under_two_keys_survives_dropping_one(
        self, cache: ResponseCache
    ) -> None:
        cache.put("app", "LIST", "u", {"page": 1}, ["same"])
        cache.put("app", "LIST", "v", {"page": 1}, ["same"])

        cache.invalidate(user_id="u")

        assert cache.get("app", "LIST", "v", {"page": 1}) == ["same"]

    def test_what_cannot_be_cached_is_not(self, cache: ResponseCache) -> None:
        assert not cache.put("app", "OTHER", "u", {}, 1)  # not enabled
        assert not cache.put("app", "LIST", "u", {"when": object()}, 1)  # params not JSON
        assert not cache.put("app", "LIST", "u", {}, {1, 2})  # data the store cannot keep
        assert cache.stats()["unstorable"] == 1

    def test_disable_drops_entries_and_bad_options_are_named(self, cache: ResponseCache) -> None:
        cache.put("app", "LIST", "u", {}, 1)

        assert cache.disable("LIST") == 1
        assert not cache.caches("LIST")
        with pytest.raises(ConfigError, match="ttl of LIST"):
            cache.enable("LIST", -1)
        with pytest.raises(ConfigError, match="not attached"):
            ResponseCache().get("a", "b", "c", {})

"""The pytest plugin, exercised the way users meet it: installed, and found by entry point."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from crs.clock import get_clock

USES_FIXTURES = """
import asyncio

import pytest

from crs import ContextExpiredError, StoreClosedError, SystemClock, VirtualClock, get_clock

kept = []


def test_clock_is_installed_as_default(crs_clock):
    assert isinstance(crs_clock, VirtualClock)
    assert get_clock() is crs_clock
    asyncio.run(crs_clock.asleep(30))
    crs_clock.sleep(90)
    assert crs_clock.sleeps == [30.0, 90.0]


def test_each_test_gets_a_fresh_clock(crs_clock):
    assert crs_clock.sleeps == []
    assert crs_clock.now() == VirtualClock.DEFAULT_START


def test_store_expires_on_virtual_time(crs_clock, crs_store):
    ref = crs_store.store({"issue": 1}, metadata={"ttl": 60})
    crs_clock.advance(59)
    assert crs_store.retrieve(ref) == {"issue": 1}
    crs_clock.advance(2)
    with pytest.raises(ContextExpiredError):
        crs_store.retrieve(ref)
    kept.append(crs_store)


def test_store_was_closed_at_teardown():
    (store,) = kept
    with pytest.raises(StoreClosedError):
        store.store("after teardown")


def test_failure_inside_a_test(crs_clock):
    raise AssertionError("deliberate")


def test_default_restored_after_failure():
    assert isinstance(get_clock(), SystemClock)
"""


def test_entry_point_is_registered() -> None:
    (point,) = [ep for ep in entry_points(group="pytest11") if ep.name == "crs"]
    assert point.value == "pytest_crs.plugin"


def test_fixtures_work_in_a_user_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USES_FIXTURES)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["*test_failure_inside_a_test FAILED*", "*deliberate*"])


def test_fixtures_listed_through_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--fixtures")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*crs_clock*", "*crs_store*"])


def test_plugin_can_be_disabled_by_its_entry_point_name(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="def test_needs_clock(crs_clock):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:crs")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'crs_clock' not found*"])


def test_fixtures_work_inline(pytester: pytest.Pytester) -> None:
    """Inline runs share this process: the clock the plugin swapped in must be swapped back out."""
    before = get_clock()
    pytester.makepyfile(
        test_inline="""
        from crs import get_clock

        def test_inline(crs_clock, crs_store):
            assert get_clock() is crs_clock
            ref = crs_store.store(b"payload")
            assert crs_store.retrieve(ref) == b"payload"
        """
    )
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(passed=1)
    assert get_clock() is before


def test_the_adapter_fixtures_compose_and_the_backend_can_be_overridden(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import pytest
        from crs.tools import CallableBackend

        @pytest.fixture
        def crs_tool_backend():
            return CallableBackend({"lookup_order": lambda order_id: {"id": order_id}})
        """
    )
    pytester.makepyfile(
        test_user="""
        from crs import ComposioAdapter

        def test_own_tools(crs_adapter, crs_store):
            execution = crs_adapter.execute_tool_with_context(
                "shop", "lookup_order", {"order_id": 7}, "u1"
            )
            assert execution.data == {"id": 7}
            assert crs_adapter.store is crs_store

        def test_vault_gated(crs_store, crs_tool_backend, crs_vault, crs_clock):
            adapter = ComposioAdapter(crs_store, crs_tool_backend, vault=crs_vault)
            adapter.store_app_auth_context("shop", "u1", {"key": "k"}, ttl_hours=1)
            order = {"order_id": 1}
            assert adapter.execute_tool_with_context("shop", "lookup_order", order, "u1").successful
            crs_clock.advance(3601)
            late = adapter.execute_tool_with_context("shop", "lookup_order", order, "u1")
            assert late.error_type == "auth"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)

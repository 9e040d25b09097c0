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

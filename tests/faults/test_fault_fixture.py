"""The crs_faults fixture and marker as a user's suite meets them: strictness and errors."""

from __future__ import annotations

import pytest

SUITE = """
import pytest

from crs.tools import CallableBackend, ComposioAdapter
from pytest_crs.faults import llm, rate_limit, server_error, tool, timeout


@pytest.fixture
def adapter(crs_store):
    return ComposioAdapter(crs_store, CallableBackend({"lookup": lambda q: q}))


def test_unfired_rule_fails(crs_faults):
    crs_faults.on(llm("gpt-5"), timeout())


def test_unfired_but_not_strict(crs_faults):
    crs_faults.on(llm("gpt-5"), timeout(), strict=False)


def test_plan_level_opt_out(crs_faults):
    crs_faults.on(llm("gpt-5"), timeout())
    crs_faults.strict = False


@pytest.mark.crs_faults(tool(action="lookup"), rate_limit(retry_after=1).times(5), strict=False)
def test_marker_opt_out(adapter, crs_faults):
    assert adapter.execute_tool_with_context("local", "lookup", {"q": 1}, "u").attempts == 3


def test_failing_test_reports_only_its_own_failure(crs_faults):
    crs_faults.on(llm("gpt-5"), timeout())
    assert False, "the test's own failure"


@pytest.mark.crs_faults(llm())
def test_odd_marker(crs_faults):
    pass


@pytest.mark.crs_faults("llm", timeout())
def test_not_a_target(crs_faults):
    pass


@pytest.mark.crs_faults(llm(), server_error().always(), colour="red")
def test_unknown_keyword(crs_faults):
    pass


@pytest.mark.crs_faults(llm(), server_error().always(), strict="no")
def test_strict_not_a_bool(crs_faults):
    pass
"""


def test_strict_teardown_and_marker_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=4, failed=1, errors=5)
    text = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*crs_faults: the rule on(llm(model='gpt-5'), fail(timeout('read'))) never fired "
            "(it matched 0 attempt(s)) (pass strict=False to allow this)*",
            "ERROR test_user.py::test_unfired_rule_fails - Failed: crs_faults: the rule*",
        ]
    )
    assert "the test's own failure" in text
    assert "test_failing_test_reports_only_its_own_failure - Failed: crs_faults" not in text
    assert "takes pairs of a target and a fault or schedule" in text
    assert "'llm' is not a target" in text
    assert "unknown keyword(s) colour" in text
    assert "strict must be True or False, got 'no'" in text

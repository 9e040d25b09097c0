"""The failure paths production will hit, one line each, on virtual time."""

from __future__ import annotations

import openai
import pytest
from triage_agent import TriageAgent

from crs import VirtualClock
from crs.tools import ToolExecutionError
from pytest_crs import FaultPlan, auth_expired, llm, rate_limit, server_error, tool


def test_the_model_is_rate_limited_twice(
    agent: TriageAgent, crs_faults: FaultPlan, crs_clock: VirtualClock
) -> None:
    crs_faults.on(llm(), rate_limit(retry_after=20).times(2))
    assert agent.triage("Checkout button does nothing").issue_number == 1
    assert crs_faults.attempts(llm()) == 4  # two 429s, then the plan and the summary
    assert crs_clock.sleeps[:2] == [20.0, 20.0]  # the openai SDK waited as told, virtually


def test_a_rate_limited_tool_is_retried_until_the_issue_is_filed(
    agent: TriageAgent, crs_faults: FaultPlan
) -> None:
    crs_faults.on(tool("GITHUB_CREATE_AN_ISSUE"), rate_limit(retry_after=3).times(2))
    triage = agent.triage("Search returns nothing")
    assert triage.issue_number == 1
    assert triage.tool_attempts == 3
    assert crs_faults.duplicates == []  # a 429 proves the first two never filed anything


def test_a_write_that_may_have_happened_is_not_repeated(
    agent: TriageAgent, crs_faults: FaultPlan
) -> None:
    crs_faults.on(tool("GITHUB_CREATE_AN_ISSUE"), server_error(503))
    with pytest.raises(ToolExecutionError, match="503"):
        agent.triage("Search returns nothing")
    assert crs_faults.attempts(tool("GITHUB_CREATE_AN_ISSUE")) == 1


def test_an_expired_openai_key_is_not_retried(agent: TriageAgent, crs_faults: FaultPlan) -> None:
    crs_faults.on(llm(), auth_expired())
    with pytest.raises(openai.AuthenticationError):
        agent.triage("Anything")
    assert crs_faults.attempts(llm()) == 1

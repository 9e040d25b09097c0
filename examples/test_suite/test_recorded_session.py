"""Record once, replay forever: this session was recorded against the sandbox with
``pytest --crs-record-mode=once`` and is replayed from cassettes/ on every run since."""

from __future__ import annotations

import pytest
from triage_agent import TriageAgent

from crs.cassette import Cassette


@pytest.mark.crs_cassette
def test_a_bug_report_becomes_an_issue(agent: TriageAgent, crs_cassette: Cassette) -> None:
    triage = agent.triage("Login fails with a 500 after the last deploy")
    assert triage.issue_number == 1
    assert triage.summary
    assert triage.tool_attempts == 1
    assert crs_cassette.recorded or crs_cassette.new  # replayed (or, once, recorded)

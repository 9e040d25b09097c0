"""``crs demo``, the README's main job: offline, recorded, replayed, retried on virtual time."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from crs.cli import main
from crs.sandbox._composio_clients import installed_sdk

pytestmark = pytest.mark.skipif(
    installed_sdk() != "composio-core", reason="the demo's tools run through composio-core here"
)


def test_the_three_runs_agree_and_the_faulted_one_retries_virtually(tmp_path: Path) -> None:
    from pytest_crs._demo import run_demo

    narration: list[str] = []
    report = run_demo(tmp_path, progress=narration.append)

    assert [phase.status for phase in report.phases] == ["completed"] * 3
    assert report.consistent
    live, offline, faulted = report.phases
    assert live.tool_calls == offline.tool_calls == faulted.tool_calls == 2
    assert faulted.model_attempts == live.model_attempts + 3  # two 429s and a read timeout
    assert faulted.slept == [20.0, 20.0, 4.0]  # Retry-After twice, then the policy's backoff
    assert faulted.virtual_seconds == 44.0
    assert report.cassette.exists()
    assert offline.interactions == live.interactions
    assert [line.split(" ")[0] for line in narration] == ["1/3", "2/3", "3/3"]


def test_crs_demo_prints_the_summary(tmp_path: Path) -> None:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for expected in (
        "replay, faults",
        "backoff slept (virtual): 20 s, 20 s, 4 s",
        "all three runs reached the same answer.",
        "triage-session.yaml",
    ):
        assert expected in result.output

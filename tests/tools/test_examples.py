"""Every script in examples/ runs as a user would run it, and says what it should.

Each runs in a fresh interpreter (as ``python examples/<name>.py``) against its own sandbox,
through whichever Composio SDK this environment has.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

EXPECTED = {
    "authenticate_github.py": [
        "the store holds only ciphertext: crs.auth.vault-entry",
        "listed issues with the credential: success=True",
        "after revoking: success=False (auth)",
    ],
    "create_issue.py": [
        "created issue #1: Bug report from agent",
        "action=GITHUB_CREATE_AN_ISSUE attempts=1",
        "record: status=success intent=True",
    ],
    "batch_fail_fast.py": [
        "slack/send_message: failed",
        "slack/send_message: not started",
        "successful=1 failed=1 cancelled=1",
        "messages in #general: 0",
    ],
    "notify_slack_workflow.py": [
        "'Checkout is down': completed [create_github_issue=succeeded",
        "'Typo on pricing page': completed",
        "notify_team=skipped",
        "slack #engineering: ['New urgent issue #1: Checkout is down']",
    ],
    "pick_tool.py": [
        "'Post a chat notification to the team' -> slack",
        "'Open an issue in the repository' -> github",
        "'Email the quarterly report' -> gmail",
    ],
}


def test_every_example_is_exercised() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs(script: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    for line in EXPECTED[script]:
        assert line in done.stdout, done.stdout
    assert list(tmp_path.iterdir()) == []  # nothing written where the user ran it

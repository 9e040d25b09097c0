"""examples/test_suite, the suite a user copies, passes as a user would run it.

It runs in a fresh interpreter from its own folder, so its pytest.ini, conftest.py and
cassettes/ are the ones in effect — exactly what a copy of it would have.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crs.sandbox._composio_clients import installed_sdk

SUITE = Path(__file__).resolve().parents[1] / "examples" / "test_suite"


@pytest.mark.skipif(
    installed_sdk() != "composio-core", reason="its cassette went through composio-core"
)
def test_the_example_suite_passes_offline() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=SUITE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed" in done.stdout
    assert "1 replayed, 0 recorded" in done.stdout  # the recorded session, from its cassette

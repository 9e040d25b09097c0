"""Shared test configuration: pytester for plugin tests, and one Hypothesis profile."""

from __future__ import annotations

from hypothesis import settings

pytest_plugins = ["pytester"]

# No deadline: timing-based flakiness on loaded CI machines tells us nothing about correctness.
# print_blob: a failure prints the @reproduce_failure blob, so a CI failure replays locally.
settings.register_profile("ci", deadline=None, print_blob=True)
settings.load_profile("ci")

"""The agent's tool retry policy keeps its promises under every fault schedule Hypothesis finds."""

from __future__ import annotations

from typing import Any

from triage_agent import TOOL_RETRIES

from pytest_crs.properties import check_retry_policy


def test_tool_retries_keep_their_promises() -> None:
    def call(op: Any) -> Any:
        return TOOL_RETRIES.call(op)

    # At most 4 attempts; the backoff (0.5 s doubling, at most 8 s) fits in 4 minutes even when
    # every 429 asks for the 60 s the policy is willing to honour; and, the operation being a
    # write, nothing that may already have happened is sent again.
    check_retry_policy(call, max_attempts=4, budget=240, idempotent=False)

"""The fixtures the suite shares. Everything else comes from the crs plugin itself."""

from __future__ import annotations

import pytest
from triage_agent import TriageAgent

from crs.sandbox import Sandbox
from crs.tools import ComposioAdapter


@pytest.fixture
def agent(crs_sandbox: Sandbox, crs_adapter: ComposioAdapter) -> TriageAgent:
    """The agent on the sandbox: the real openai SDK and the installed Composio SDK, offline."""
    return TriageAgent(crs_sandbox.openai_client(max_retries=2), crs_adapter)

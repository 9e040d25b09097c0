"""Agents for the crs.agent tests: the real openai SDK against the sandbox, on virtual time.

The model is the sandbox's, scripted turn by turn (``crs_sandbox.script``); tools are either the
sandbox's fake Composio apps (through whichever Composio SDK is installed) or Python functions
that log their side effects, so a test can count exactly what happened.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crs import ContextReferenceStore, VirtualClock
from crs.agent import ToolAgent
from crs.llm import AsyncLLMClient, LLMClient, LLMConfig
from crs.sandbox import Sandbox
from crs.tools import CallableBackend, ComposioAdapter

MODEL = "gpt-4o"


class Effects:
    """A thread-safe log of side effects, in the order they happened."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.log: list[tuple[str, Any]] = []

    def add(self, kind: str, value: Any) -> None:
        with self._lock:
            self.log.append((kind, value))


@pytest.fixture
def llm(crs_sandbox: Sandbox, crs_clock: VirtualClock) -> Iterator[LLMClient]:
    """An LLMClient on the sandbox; retries off so a scripted failure fails at once."""
    with LLMClient(
        LLMConfig(model=MODEL, max_retries=0), client=crs_sandbox.openai_client()
    ) as client:
        yield client


@pytest.fixture
def effects() -> Effects:
    return Effects()


@pytest.fixture
def python_tools(effects: Effects) -> dict[str, Callable[..., Any]]:
    """Side-effecting and read-only Python tools that log what they do."""

    def send_note(to: str, text: str) -> dict[str, Any]:
        effects.add("note", (to, text))
        return {"sent": True, "to": to}

    def create_ticket(title: str) -> dict[str, Any]:
        effects.add("ticket", title)
        return {"id": len(effects.log), "title": title}

    def get_status(service: str) -> dict[str, Any]:
        return {"service": service, "status": "degraded"}

    return {"send_note": send_note, "create_ticket": create_ticket, "get_status": get_status}


@pytest.fixture
def python_adapter(
    crs_store: ContextReferenceStore, python_tools: dict[str, Callable[..., Any]]
) -> ComposioAdapter:
    return ComposioAdapter(crs_store, CallableBackend(python_tools))


MakeAgent = Callable[..., ToolAgent]


@pytest.fixture
def make_agent(llm: LLMClient, python_adapter: ComposioAdapter) -> MakeAgent:
    """``make_agent(tools=[...], adapter=..., **options)``: a ToolAgent on the sandbox model."""

    def make(**options: Any) -> ToolAgent:
        options.setdefault("tools", ["send_note", "create_ticket", "get_status"])
        adapter = options.pop("adapter", python_adapter)
        client = options.pop("llm", llm)
        return ToolAgent(client, adapter, **options)

    return make


@pytest.fixture
def async_llm_factory(
    crs_sandbox: Sandbox, crs_clock: VirtualClock
) -> Callable[[], AsyncLLMClient]:
    """Async clients belong to the loop that uses them: make one inside the test's loop."""

    def make() -> AsyncLLMClient:
        return AsyncLLMClient(
            LLMConfig(model=MODEL, max_retries=0), client=crs_sandbox.async_openai_client()
        )

    return make

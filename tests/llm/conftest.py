"""Clients for the crs.llm tests: the real openai SDK, pointed at the sandbox, on virtual time.

Every test takes ``crs_clock``, so retry waits, timeouts and latency cost no wall time and
``crs_clock.sleeps`` is exactly what crs waited.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from crs import VirtualClock
from crs.llm import LLMClient, LLMConfig
from crs.sandbox import Sandbox

_WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
        },
    },
}

MakeClient = Callable[..., LLMClient]


@pytest.fixture
def weather() -> dict[str, Any]:
    """A function tool in OpenAI's shape (a fresh copy: tests may not share mutable state)."""
    return copy.deepcopy(_WEATHER)


@pytest.fixture
def make_client(crs_sandbox: Sandbox, crs_clock: VirtualClock) -> MakeClient:
    """``make_client(model="m", max_retries=2, ...)``: an LLMClient on the sandbox's client.

    The injected client keeps the SDK's default of two retries, which crs must switch off.
    """

    def make(**config: Any) -> LLMClient:
        config.setdefault("model", "gpt-4o")
        return LLMClient(LLMConfig(**config), client=crs_sandbox.openai_client())

    return make

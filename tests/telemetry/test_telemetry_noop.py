"""Telemetry off: without opentelemetry, and with the API but nothing configured.

Each case runs in a fresh interpreter, because what is under test is what gets imported and
OpenTelemetry's global providers can be set only once per process.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

BLOCK_OPENTELEMETRY = """
import importlib.abc, sys

class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "opentelemetry":
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None

sys.meta_path.insert(0, _Blocker())
"""

RUN_A_TOOL = """
import asyncio, json, sys
from crs.clock import VirtualClock, use_clock
from crs.resilience import RetryPolicy, stop_after_attempt, wait_fixed
from crs.store import ContextReferenceStore
from crs.telemetry import agent_span, llm_span, telemetry_enabled, tool_span
from crs.tools import CallableBackend, ComposioAdapter, ResponseCache

failures = [ConnectionResetError("reset")]

def lookup(q):
    if failures:
        raise failures.pop()
    return {"answer": q}

with use_clock(VirtualClock()):
    adapter = ComposioAdapter(
        ContextReferenceStore(),
        CallableBackend({"lookup": lookup}),
        retry_policy=RetryPolicy(stop=stop_after_attempt(3), wait=wait_fixed(1), idempotent=True),
        cache=ResponseCache(["lookup"]),
    )
    runs = [adapter.execute_tool_with_context("local", "lookup", {"q": "x"}, "u") for _ in "ab"]
    async def model():
        async with agent_span("a") as run, llm_span("m") as call:
            with call.attempt() as attempt:
                attempt.fail(None)
            call.usage(input_tokens=1, output_tokens=2)
            run.set("crs.agent.steps", 1)
        return run.recording
    recording = asyncio.run(model())
print(json.dumps({
    "results": [(e.successful, e.attempts, e.cached) for e in runs],
    "enabled": telemetry_enabled(),
    "recording": recording,
    "same_scope": tool_span("a", "b") is llm_span("m") is agent_span("n"),
    "otel": sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"),
}))
"""


def _run(code: str) -> dict[str, object]:
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, object] = json.loads(completed.stdout)
    return result


def test_without_opentelemetry_everything_works_and_nothing_is_recorded() -> None:
    result = _run(BLOCK_OPENTELEMETRY + RUN_A_TOOL)

    assert result["results"] == [[True, 2, False], [True, 0, True]]
    assert result["enabled"] is False
    assert result["recording"] is False
    assert result["same_scope"] is True  # one shared no-op scope: nothing allocated per call
    assert result["otel"] == []


def test_with_the_api_but_no_sdk_configured_nothing_is_recorded() -> None:
    pytest.importorskip("opentelemetry.trace")
    result = _run(RUN_A_TOOL)

    assert result["results"] == [[True, 2, False], [True, 0, True]]
    assert (result["enabled"], result["recording"], result["same_scope"]) == (False, False, True)
    otel = result["otel"]
    assert isinstance(otel, list)
    assert "opentelemetry.trace" in otel
    assert not [m for m in otel if m.startswith("opentelemetry.sdk")]


def test_import_crs_does_not_import_opentelemetry() -> None:
    result = _run(
        "import json, sys, crs, crs.telemetry, crs.tools\n"
        "print(json.dumps({'otel': [m for m in sys.modules if m.startswith('opentelemetry')]}))"
    )

    assert result == {"otel": []}


def test_a_globally_configured_sdk_is_used_without_handing_it_to_crs() -> None:
    pytest.importorskip("opentelemetry.sdk")
    result = _run(
        "import json\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import "
        "InMemorySpanExporter\n"
        "from crs.store import ContextReferenceStore\n"
        "from crs.telemetry import telemetry_enabled\n"
        "from crs.tools import CallableBackend, ComposioAdapter\n"
        "adapter = ComposioAdapter(ContextReferenceStore(), CallableBackend({'f': lambda: 1}))\n"
        "before = telemetry_enabled()\n"
        "exporter = InMemorySpanExporter()\n"
        "provider = TracerProvider(shutdown_on_exit=False)\n"
        "provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
        "trace.set_tracer_provider(provider)\n"
        "adapter.execute_tool_with_context('local', 'f', {}, 'u')\n"
        "names = [s.name for s in exporter.get_finished_spans()]\n"
        "print(json.dumps({'before': before, 'after': telemetry_enabled(), 'names': names}))"
    )

    assert result == {
        "before": False,
        "after": True,
        "names": ["crs.tool.attempt", "crs.tool.execute"],
    }


SKIPS_WITHOUT_SDK = """
import sys

import pytest

from pytest_crs._telemetry import crs_spans


@pytest.fixture(autouse=True)
def no_sdk(monkeypatch):
    for name in [m for m in sys.modules if m.startswith("opentelemetry.sdk")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk", None)


def test_wants_spans(crs_spans):
    raise AssertionError("not reached")
"""


def test_crs_spans_skips_with_a_reason_without_the_sdk(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_wants_spans=SKIPS_WITHOUT_SDK)

    result = pytester.runpytest("-p", "no:cacheprovider", "-rs")

    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*crs_spans needs the OpenTelemetry SDK: pip install*"])

"""``crs demo``: one run that shows what the harness is for, on a fresh machine, offline.

A triage agent (:class:`crs.agent.ToolAgent` on :class:`crs.llm.LLMClient` and the Composio
adapter) files a GitHub issue and tells Slack about it, three times:

1. **live**, against the sandbox (the real openai and Composio SDK clients over loopback), with
   every HTTP interaction recorded into a cassette;
2. **replayed** from that cassette with the sandbox stopped — nothing answers on the network;
3. **replayed under faults**: two 429s with a 20 s Retry-After and a read timeout on the model,
   retried by crs's policy on virtual time, so minutes of backoff take milliseconds.

It lives in the plugin package because step 3 is the plugin's fault injection; nothing here
imports pytest. Everything runs under :func:`crs.virtual_time`, so every run prints the same.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from crs._composio_offline import reset_core_caches
from crs._virtual_time import virtual_time
from crs.agent import ToolAgent
from crs.cassette import Cassette
from crs.cassette._http import VcrBridge, intercepting
from crs.clock import VirtualClock
from crs.llm import LLMClient, LLMConfig
from crs.resilience import RetryPolicy, stop_after_attempt, wait_exponential
from crs.sandbox import Sandbox, ToolCall
from crs.sandbox._composio_catalog import TOOLKIT_VERSION
from crs.sandbox._composio_clients import composio_client, core_toolset, installed_sdk
from crs.store import ContextReferenceStore
from crs.tools import ComposioAdapter, ComposioBackend, ComposioCoreBackend, ToolBackend
from pytest_crs.faults import FaultPlan, fail, llm, rate_limit, succeed, timeout
from pytest_crs.faults._transport import faulty_transports

__all__ = ["DemoPhase", "DemoReport", "render", "run_demo"]

MODEL = "gpt-4o-mini"
TASK = "Checkout is down for EU customers: file an issue and tell the team."
TOOLS = ["GITHUB_CREATE_AN_ISSUE", "SLACK_SEND_MESSAGE"]
#: What the model answers while recording (the sandbox plays it); replays answer from the tape.
SCRIPT: list[str | list[ToolCall]] = [
    [
        ToolCall(
            "GITHUB_CREATE_AN_ISSUE",
            {"owner": "acme", "repo": "web-app", "title": "Checkout down for EU customers"},
            id="call_issue",
        ),
        ToolCall(
            "SLACK_SEND_MESSAGE",
            {"channel": "general", "text": "Filed: checkout down for EU customers"},
            id="call_slack",
        ),
    ],
    "Filed the issue and told #general.",
]


@dataclass
class DemoPhase:
    """What one of the three runs did."""

    name: str
    status: str
    answer: str | None
    steps: int
    tool_calls: int
    model_attempts: int
    faults: list[str] = field(default_factory=list)
    slept: list[float] = field(default_factory=list)
    virtual_seconds: float = 0.0
    wall_seconds: float = 0.0
    interactions: int = 0


@dataclass
class DemoReport:
    cassette: Path
    phases: list[DemoPhase]

    @property
    def consistent(self) -> bool:
        """Whether every run reached the same answer."""
        return len({(p.status, p.answer) for p in self.phases}) == 1


def run_demo(workdir: Path, *, progress: Callable[[str], None] = print) -> DemoReport:
    """Run the three phases, writing the cassette under ``workdir``; ``progress`` narrates."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "triage-session.yaml"
    path.unlink(missing_ok=True)
    phases: list[DemoPhase] = []
    with virtual_time(VirtualClock()) as clock:
        with Sandbox() as sandbox:
            sandbox.script(SCRIPT, model=MODEL)
            progress(f"1/3 live: the agent works against the sandbox at {sandbox.url}")
            with _cassette(path, "once") as cassette:
                phases.append(_phase("live, recording", _Address.of(sandbox), clock, cassette))
            address = _Address.of(sandbox)
        progress(f"2/3 replay: the sandbox is stopped; answers come from {path.name}")
        with _cassette(path, "none") as cassette:
            phases.append(_phase("replay, offline", address, clock, cassette))
        progress("3/3 replay under faults: two 429s (Retry-After 20 s) and a read timeout")
        plan = FaultPlan()
        plan.on(
            llm(),
            fail(rate_limit(retry_after=20)).times(2).then(timeout("read")).then(succeed()),
        )
        with _cassette(path, "none") as cassette, faulty_transports(plan, bridge=cassette.bridge):
            phases.append(_phase("replay, faults", address, clock, cassette, plan))
    return DemoReport(path, phases)


@dataclass
class _Taped:
    cassette: Cassette
    bridge: VcrBridge


@contextmanager
def _cassette(path: Path, mode: str) -> Iterator[_Taped]:
    cassette = Cassette(path, mode=mode)
    bridge = VcrBridge(cassette)
    with intercepting(bridge):
        yield _Taped(cassette, bridge)
    cassette.save()


@dataclass(frozen=True)
class _Address:
    """Where the sandbox was: replays send their requests there, and the tape answers."""

    openai: str
    composio_core: str
    composio: str
    api_key: str

    @classmethod
    def of(cls, sandbox: Sandbox) -> _Address:
        return cls(
            sandbox.openai_base_url,
            sandbox.composio_core_base_url,
            sandbox.composio_base_url,
            sandbox.api_key,
        )


def _phase(
    name: str,
    where: _Address,
    clock: VirtualClock,
    taped: _Taped,
    plan: FaultPlan | None = None,
) -> DemoPhase:
    slept_before = len(clock.sleeps)
    virtual_start, wall_start = clock.monotonic(), time.perf_counter()
    with ContextReferenceStore() as store, contextlib.ExitStack() as stack:
        agent = _agent(where, store, stack)
        reset_core_caches()  # composio-core (imported by now) sends the same requests each time
        run = agent.run(TASK, session_id=f"demo-{name.split(maxsplit=1)[0]}")
    return DemoPhase(
        name=name,
        status=str(run.status),
        answer=run.final_answer,
        steps=len(run.steps),
        tool_calls=len(run.tool_calls),
        model_attempts=sum(step.attempts for step in run.steps),
        faults=[i.fault.describe() for i in plan.injected] if plan else [],
        slept=clock.sleeps[slept_before:],
        virtual_seconds=clock.monotonic() - virtual_start,
        wall_seconds=time.perf_counter() - wall_start,
        interactions=len(taped.cassette.recorded) + len(taped.cassette.new),
    )


def _agent(where: _Address, store: ContextReferenceStore, stack: contextlib.ExitStack) -> ToolAgent:
    """A fresh agent, LLM client and Composio client per phase, as a new process would have."""
    if installed_sdk() == "composio":
        import httpx  # the current SDK's HTTP client; composio-core needs none

        http = stack.enter_context(httpx.Client())
        sdk = composio_client(base_url=where.composio, api_key=where.api_key, http_client=http)
        backend: ToolBackend = ComposioBackend(sdk, version=TOOLKIT_VERSION)
    else:
        backend = ComposioCoreBackend(
            core_toolset(base_url=where.composio_core, api_key=where.api_key)
        )
    # No jitter, so every run of the demo prints the same waits.
    policy = RetryPolicy(stop=stop_after_attempt(4), wait=wait_exponential(1, 8), idempotent=True)
    config = LLMConfig(model=MODEL, retry_policy=policy)
    client = stack.enter_context(LLMClient(config, api_key=where.api_key, base_url=where.openai))
    # One tool at a time: concurrent tools would interleave composio-core's schema fetches
    # differently from run to run, and each replay must send what was recorded.
    adapter = ComposioAdapter(store, backend, retry_policy=policy)
    return ToolAgent(client, adapter, tools=TOOLS, max_concurrency=1)


def render(report: DemoReport, console: Console) -> None:
    """The summary table and what it shows, for a person reading a terminal."""
    table = Table(title="the same task, three ways", title_justify="left")
    for column in ("run", "status", "steps", "tools", "attempts", "virtual", "wall"):
        left = column in ("run", "status")
        table.add_column(column, justify="left" if left else "right", no_wrap=left)
    for phase in report.phases:
        table.add_row(
            phase.name,
            phase.status,
            str(phase.steps),
            str(phase.tool_calls),
            str(phase.model_attempts),
            f"{phase.virtual_seconds:g} s",
            f"{phase.wall_seconds * 1000:.0f} ms",
        )
    console.print(table)
    faulted = report.phases[-1]
    console.print(f"answer: {report.phases[0].answer}")
    console.print(f"faults injected: {', '.join(faulted.faults) or 'none'}")
    waits = ", ".join(f"{seconds:g} s" for seconds in faulted.slept) or "none"
    console.print(f"backoff slept (virtual): {waits}")
    console.print(f"cassette: {report.cassette} ({faulted.interactions} interactions)")
    verdict = "the same answer" if report.consistent else "DIFFERENT answers"
    console.print(f"all three runs reached {verdict}.")

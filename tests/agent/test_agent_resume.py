"""Crash and resume: a session continues from its last checkpoint without repeating effects.

Crashes are simulated the way processes die: a ``BaseException`` (not an ``Exception``, so
nothing catches and records it) raised from inside a tool, or from the store just before or
just after a checkpoint commit. The resumer is always a *new* agent and adapter on the same
store, as after a restart: it knows only what the store holds.
"""

from __future__ import annotations

import asyncio
import collections
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crs import ContextReferenceStore
from crs.agent import (
    AgentResumeError,
    AgentSessionNotFoundError,
    AgentStatus,
    ToolAgent,
    ToolCallStatus,
)
from crs.errors import HeadConflictError
from crs.llm import LLMClient
from crs.sandbox import Sandbox, ToolCall
from crs.sandbox._model import Conversation
from crs.tools import CallableBackend, ComposioAdapter, ToolBackend, ToolResult

Effects = Any  # conftest.Effects

TOOLS = ["send_note", "create_ticket", "get_status"]


class Crash(BaseException):
    """The process dies here: nothing catches it, nothing more is written."""


def planned_model(plan: list[list[tuple[str, dict[str, Any]]]]) -> Callable[[Conversation], Any]:
    """A deterministic model: its k-th assistant turn is ``plan[k]``, then a final answer.

    It depends only on the conversation, so asking again after a crash gives the same answer.
    """

    def turn(conversation: Conversation) -> Any:
        k = sum(1 for m in conversation.messages if m.role == "assistant")
        if k >= len(plan):
            return f"done after {k} steps"
        return [ToolCall(name, args, id=f"s{k}c{i}") for i, (name, args) in enumerate(plan[k])]

    return turn


def script(sandbox: Sandbox, plan: list[list[tuple[str, dict[str, Any]]]]) -> None:
    sandbox.script([planned_model(plan)] * 50, model="gpt-4o", strict=False)


def fresh_agent(
    llm: LLMClient, store: ContextReferenceStore, tools: Mapping[str, Callable[..., Any]], **kw: Any
) -> ToolAgent:
    """An agent as a restarted process builds it: new adapter (journal reloaded from store)."""
    return ToolAgent(llm, ComposioAdapter(store, CallableBackend(tools)), tools=list(tools), **kw)


def crashing(function: Callable[..., Any], *, before: bool = False) -> Callable[..., Any]:
    """``function`` that crashes the process the first time, after (or before) its effect."""
    fired = False

    def wrapper(**kwargs: Any) -> Any:
        nonlocal fired
        if not fired:
            fired = True
            if before:
                raise Crash("died before the effect")
            function(**kwargs)
            raise Crash("died after the effect, before anyone recorded it")
        return function(**kwargs)

    return wrapper


class CommitCrasher:
    """Crashes the process at the n-th agent checkpoint commit, just before or after the swap."""

    def __init__(self, store: ContextReferenceStore, n: int, *, after: bool) -> None:
        self.store, self.n, self.after = store, n, after
        self.count = 0
        self._swap = store.swap_metadata

    def __call__(self, content: object, metadata: Any, *, expect: Mapping[str, Any]) -> Any:
        agent_head = isinstance(content, str) and content.startswith("crs.agent session")
        if agent_head:
            self.count += 1
            if self.count == self.n and not self.after:
                raise Crash(f"died before commit {self.n}")
        result = self._swap(content, metadata, expect=expect)
        if agent_head and self.count == self.n and self.after:
            raise Crash(f"died after commit {self.n}")
        return result


@pytest.fixture
def patch_store(crs_store: ContextReferenceStore) -> Iterator[Callable[[Any], None]]:
    """Install a ``swap_metadata`` wrapper on the store for one phase of a test."""

    def install(wrapper: Any) -> None:
        if wrapper is None:
            crs_store.__dict__.pop("swap_metadata", None)
        else:
            crs_store.swap_metadata = wrapper  # type: ignore[method-assign]

    yield install
    install(None)


PLAN = [
    [("create_ticket", {"title": "outage"}), ("send_note", {"to": "ops", "text": "filed"})],
    [("get_status", {"service": "api"})],
    [("send_note", {"to": "dev", "text": "fix it"}), ("create_ticket", {"title": "postmortem"})],
]


class TestCrashInATool:
    def test_a_crash_after_the_effect_is_not_repeated_and_the_model_is_told(
        self,
        crs_sandbox: Sandbox,
        llm: LLMClient,
        crs_store: ContextReferenceStore,
        python_tools: dict[str, Callable[..., Any]],
        effects: Effects,
    ) -> None:
        script(crs_sandbox, PLAN)
        tools = {**python_tools, "send_note": crashing(python_tools["send_note"])}
        with pytest.raises(Crash):
            fresh_agent(llm, crs_store, tools, max_concurrency=1).run("go", session_id="s1")
        assert effects.log == [("ticket", "outage"), ("note", ("ops", "filed"))]
        crashed = fresh_agent(llm, crs_store, python_tools).load("s1")
        assert crashed.status is AgentStatus.RUNNING
        assert [c.status for c in crashed.steps[0].tool_calls] == [
            ToolCallStatus.SUCCEEDED,
            ToolCallStatus.STARTED,
        ]

        run = fresh_agent(llm, crs_store, python_tools, max_concurrency=1).resume("s1")

        assert run.status is AgentStatus.COMPLETED
        assert effects.log == [
            ("ticket", "outage"),
            ("note", ("ops", "filed")),  # once: the crashed call was not repeated
            ("note", ("dev", "fix it")),
            ("ticket", "postmortem"),
        ]
        unknown = run.steps[0].tool_calls[1]
        assert unknown.status is ToolCallStatus.UNKNOWN
        assert json.loads(unknown.content or "")["outcome"] == "unknown"
        assert "not repeated" in (unknown.error or "")

    def test_in_doubt_rerun_repeats_a_call_that_crashed_before_its_effect(
        self,
        crs_sandbox: Sandbox,
        llm: LLMClient,
        crs_store: ContextReferenceStore,
        python_tools: dict[str, Callable[..., Any]],
        effects: Effects,
    ) -> None:
        script(crs_sandbox, PLAN[:1])
        tools = {**python_tools, "send_note": crashing(python_tools["send_note"], before=True)}
        with pytest.raises(Crash):
            fresh_agent(llm, crs_store, tools, max_concurrency=1).run("go", session_id="s1")

        run = fresh_agent(llm, crs_store, python_tools).resume("s1", in_doubt="rerun")

        assert run.status is AgentStatus.COMPLETED
        assert effects.log == [("ticket", "outage"), ("note", ("ops", "filed"))]
        assert run.steps[0].tool_calls[1].status is ToolCallStatus.SUCCEEDED

    def test_in_doubt_raise_refuses_and_writes_nothing(
        self,
        crs_sandbox: Sandbox,
        llm: LLMClient,
        crs_store: ContextReferenceStore,
        python_tools: dict[str, Callable[..., Any]],
        effects: Effects,
    ) -> None:
        script(crs_sandbox, PLAN[:1])
        tools = {**python_tools, "send_note": crashing(python_tools["send_note"])}
        with pytest.raises(Crash):
            fresh_agent(llm, crs_store, tools, max_concurrency=1).run("go", session_id="s1")
        agent = fresh_agent(llm, crs_store, python_tools, in_doubt="raise")
        before = agent.load("s1").checkpoint_ref

        with pytest.raises(AgentResumeError, match="send_note") as caught:
            agent.resume("s1")

        assert caught.value.calls == ("s0c1",)
        assert caught.value.hint
        assert "in_doubt=" in caught.value.hint
        assert agent.load("s1").checkpoint_ref == before
        assert agent.resume("s1", in_doubt="report").status is AgentStatus.COMPLETED
        assert effects.log == [("ticket", "outage"), ("note", ("ops", "filed"))]

    def test_a_read_only_call_in_doubt_is_simply_run_again(
        self,
        crs_sandbox: Sandbox,
        llm: LLMClient,
        crs_store: ContextReferenceStore,
        python_tools: dict[str, Callable[..., Any]],
    ) -> None:
        script(crs_sandbox, PLAN[1:2])
        tools = {**python_tools, "get_status": crashing(python_tools["get_status"])}
        with pytest.raises(Crash):
            fresh_agent(llm, crs_store, tools).run("go", session_id="s1")

        run = fresh_agent(llm, crs_store, python_tools).resume("s1")

        (call,) = run.steps[0].tool_calls
        assert call.status is ToolCallStatus.SUCCEEDED
        assert call.execution is not None
        assert call.execution.data["status"] == "degraded"

    def test_a_composio_backend_crash_does_not_file_the_issue_twice(
        self,
        crs_sandbox: Sandbox,
        llm: LLMClient,
        crs_store: ContextReferenceStore,
        crs_tool_backend: ToolBackend,
    ) -> None:
        class DiesAfterFirstIssue:
            """The real Composio backend; the process dies right after the first issue."""

            name = "dies-after-first-issue"

            def __init__(self, inner: ToolBackend) -> None:
                self.inner, self.died = inner, False

            def qualify(self, app: str, action: str) -> str:
                return self.inner.qualify(app, action)

            def execute(self, action: str, params: Any, *, user_id: str) -> ToolResult:
                result = self.inner.execute(action, params, user_id=user_id)
                if action == "GITHUB_CREATE_AN_ISSUE" and not self.died:
                    self.died = True
                    raise Crash("died after Composio filed the issue")
                return result

            async def aexecute(self, action: str, params: Any, *, user_id: str) -> ToolResult:
                return self.execute(action, params, user_id=user_id)

        issue = {"owner": "acme", "repo": "api", "title": "Checkout is down"}
        listing = {"owner": "acme", "repo": "api"}
        crs_sandbox.script(
            [
                planned_model(
                    [
                        [("GITHUB_CREATE_AN_ISSUE", issue)],
                        [("GITHUB_LIST_REPOSITORY_ISSUES", listing)],
                    ]
                )
            ]
            * 10,
            model="gpt-4o",
            strict=False,
        )
        tools = ["GITHUB_CREATE_AN_ISSUE", "GITHUB_LIST_REPOSITORY_ISSUES"]
        crashing_adapter = ComposioAdapter(crs_store, DiesAfterFirstIssue(crs_tool_backend))
        with pytest.raises(Crash):
            ToolAgent(llm, crashing_adapter, tools=tools).run("file it", session_id="s1")

        run = ToolAgent(llm, ComposioAdapter(crs_store, crs_tool_backend), tools=tools).resume("s1")

        assert run.status is AgentStatus.COMPLETED
        assert len(crs_sandbox.composio.issues("acme", "api")) == 1
        assert [e.slug for e in crs_sandbox.composio.executions()] == [
            "GITHUB_CREATE_AN_ISSUE",
            "GITHUB_LIST_REPOSITORY_ISSUES",
        ]


class TestCrashAroundACommit:
    def test_the_adapters_record_settles_a_call_whose_result_was_not_checkpointed(
        self,
        crs_sandbox: Sandbox,
        llm: LLMClient,
        crs_store: ContextReferenceStore,
        python_tools: dict[str, Callable[..., Any]],
        effects: Effects,
        patch_store: Callable[[Any], None],
    ) -> None:
        script(crs_sandbox, PLAN[:1])
        # Commits: 1 session, 2 intent, 3 started(ticket), 4 result(ticket) <- dies before it.
        patch_store(CommitCrasher(crs_store, 4, after=False))
        with pytest.raises(Crash):
            fresh_agent(llm, crs_store, python_tools, max_concurrency=1).run("go", session_id="s1")
        patch_store(None)
        assert effects.log == [("ticket", "outage")]

        run = fresh_agent(llm, crs_store, python_tools).resume("s1", in_doubt="rerun")

        # Even with "rerun", the journal's record wins: the ticket is not filed again.
        assert effects.log == [("ticket", "outage"), ("note", ("ops", "filed"))]
        ticket = run.steps[0].tool_calls[0]
        assert ticket.status is ToolCallStatus.SUCCEEDED
        assert ticket.execution is not None
        assert ticket.execution.data["title"] == "outage"

    def test_a_crash_before_the_first_commit_leaves_no_session(
        self,
        crs_sandbox: Sandbox,
        llm: LLMClient,
        crs_store: ContextReferenceStore,
        python_tools: dict[str, Callable[..., Any]],
        patch_store: Callable[[Any], None],
    ) -> None:
        patch_store(CommitCrasher(crs_store, 1, after=False))
        with pytest.raises(Crash):
            fresh_agent(llm, crs_store, python_tools).run("go", session_id="s1")
        patch_store(None)

        with pytest.raises(AgentSessionNotFoundError):
            fresh_agent(llm, crs_store, python_tools).resume("s1")


class TestRace:
    def test_two_resumers_cannot_both_advance_a_session(
        self,
        crs_sandbox: Sandbox,
        llm: LLMClient,
        crs_store: ContextReferenceStore,
        python_tools: dict[str, Callable[..., Any]],
        effects: Effects,
    ) -> None:
        script(crs_sandbox, PLAN)
        tools = {**python_tools, "send_note": crashing(python_tools["send_note"], before=True)}
        with pytest.raises(Crash):
            fresh_agent(llm, crs_store, tools, max_concurrency=1).run("go", session_id="s1")
        outcomes: list[object] = []

        def ticket_racing_a_second_resumer(title: str) -> dict[str, Any]:
            # While the first resumer is inside this tool, a second process resumes the same
            # session (it sees this very call as started) and drives it to the end.
            if not outcomes:
                outcomes.append(fresh_agent(llm, crs_store, python_tools).resume("s1"))
            return python_tools["create_ticket"](title=title)

        first = fresh_agent(
            llm,
            crs_store,
            {**python_tools, "create_ticket": ticket_racing_a_second_resumer},
            in_doubt="rerun",
            max_concurrency=1,  # no worker threads: the interleaving is exactly the one above
        )
        with pytest.raises(HeadConflictError, match="advanced by another process"):
            first.resume("s1")

        (second,) = outcomes
        assert isinstance(second, type(first.load("s1")))
        assert second.status is AgentStatus.COMPLETED
        assert first.load("s1").checkpoint_ref == second.checkpoint_ref  # the loser wrote nothing
        # The ticket the loser was filing when the winner took over is in doubt for the winner:
        # reported as unknown, not filed a second time.
        assert second.steps[2].tool_calls[1].status is ToolCallStatus.UNKNOWN
        assert collections.Counter(effects.log)[("ticket", "postmortem")] == 1


class TestAsyncResume:
    def test_arun_crash_then_aresume(
        self,
        crs_sandbox: Sandbox,
        crs_store: ContextReferenceStore,
        async_llm_factory: Any,
        python_tools: dict[str, Callable[..., Any]],
        effects: Effects,
    ) -> None:
        """Both calls of step 0 finish in the same loop turn; the process dies committing the
        first result. The second call's result was never checkpointed either, but the adapter
        recorded it, so the resume takes it from the journal; the crashed one is unknown."""
        script(crs_sandbox, PLAN)
        crashed = False

        async def create_ticket(title: str) -> Any:
            nonlocal crashed
            result = python_tools["create_ticket"](title=title)
            if not crashed:
                crashed = True
                raise Crash("died after filing, before the record")
            return result

        async def send_note(to: str, text: str) -> Any:
            return python_tools["send_note"](to=to, text=text)

        async def get_status(service: str) -> Any:
            return python_tools["get_status"](service=service)

        tools = {"create_ticket": create_ticket, "send_note": send_note, "get_status": get_status}

        async def main() -> Any:
            client = async_llm_factory()
            try:
                crashing_agent = ToolAgent(
                    client, ComposioAdapter(crs_store, CallableBackend(tools)), tools=TOOLS
                )
                with pytest.raises(Crash):
                    await crashing_agent.arun("go", session_id="s1")
                agent = ToolAgent(
                    client, ComposioAdapter(crs_store, CallableBackend(tools)), tools=TOOLS
                )
                return await agent.aresume("s1")
            finally:
                await client.sdk_client.close()

        run = asyncio.run(main())

        assert run.status is AgentStatus.COMPLETED
        assert [c.status for c in run.steps[0].tool_calls] == [
            ToolCallStatus.UNKNOWN,
            ToolCallStatus.SUCCEEDED,
        ]
        assert collections.Counter(effects.log) == {
            ("ticket", "outage"): 1,
            ("note", ("ops", "filed")): 1,
            ("note", ("dev", "fix it")): 1,
            ("ticket", "postmortem"): 1,
        }


# -- the property -------------------------------------------------------------------------------

PROPERTY_PLAN = [
    [
        ("create_ticket", {"title": "outage"}),
        ("send_note", {"to": "ops", "text": "filed"}),
        ("get_status", {"service": "api"}),
    ],
    [("send_note", {"to": "dev", "text": "look"})],
    [("create_ticket", {"title": "db"}), ("create_ticket", {"title": "cache"})],
    [("send_note", {"to": "ops", "text": "done"})],
]


def test_an_interrupted_and_resumed_run_has_the_same_side_effects_as_an_uninterrupted_one(
    crs_sandbox: Sandbox,
    llm: LLMClient,
    crs_store: ContextReferenceStore,
    python_tools: dict[str, Callable[..., Any]],
    effects: Effects,
    patch_store: Callable[[Any], None],
) -> None:
    """Wherever the process dies — at any checkpoint commit (before or after the swap), or
    inside any side-effecting tool after its effect — the resumed run has the effects of a run
    that never crashed: none doubled ever, and none lost except a call that was in flight with
    no record, which the model is told about as unknown (see the comment below)."""
    script(crs_sandbox, PROPERTY_PLAN)
    counter = CommitCrasher(crs_store, 0, after=False)
    patch_store(counter)
    reference = fresh_agent(llm, crs_store, python_tools).run("go")
    patch_store(None)
    assert reference.status is AgentStatus.COMPLETED
    expected = collections.Counter(effects.log)
    commits = counter.count
    writes = sum(1 for kind, _ in effects.log if kind in ("ticket", "note"))

    crash_points = st.one_of(
        st.tuples(st.just("commit"), st.integers(2, commits), st.booleans()),
        st.tuples(st.just("tool"), st.integers(1, writes), st.just(True)),
    )

    @settings(max_examples=25, deadline=None, database=None)
    @given(crash=crash_points, concurrency=st.sampled_from([1, 4]))
    def check(crash: tuple[str, int, bool], concurrency: int) -> None:
        effects.log.clear()
        script(crs_sandbox, PROPERTY_PLAN)  # a fresh script (turns are consumed per request)
        session = f"s-{uuid.uuid4().hex}"
        kind, n, after = crash
        tools = dict(python_tools)
        if kind == "commit":
            patch_store(CommitCrasher(crs_store, n, after=after))
        else:
            calls = 0

            def dies_on_nth_write(name: str) -> Callable[..., Any]:
                def tool(**kwargs: Any) -> Any:
                    nonlocal calls
                    calls += 1
                    result = python_tools[name](**kwargs)
                    if calls == n:
                        raise Crash(f"died after write {n}")
                    return result

                return tool

            tools.update({name: dies_on_nth_write(name) for name in ("create_ticket", "send_note")})
        try:
            with pytest.raises(Crash):
                fresh_agent(llm, crs_store, tools, max_concurrency=concurrency).run(
                    "go", session_id=session
                )
        finally:
            patch_store(None)

        run = fresh_agent(llm, crs_store, python_tools, max_concurrency=concurrency).resume(session)

        assert run.status is AgentStatus.COMPLETED
        assert run.final_answer == reference.final_answer
        actual = collections.Counter(effects.log)
        assert not actual - expected, "a side effect happened twice"
        missing = expected - actual
        unknown = collections.Counter(
            effect_of(call.name, call.arguments)
            for call in run.tool_calls
            if call.status is ToolCallStatus.UNKNOWN
        )
        # The one window no resume can judge: the process died after committing that a call
        # had started, before the call reached the adapter. The call is then in doubt, is not
        # repeated (in_doubt="report"), and the model is told its outcome is unknown.
        assert not missing - unknown, "an effect was lost without the model being told"
        if kind == "tool" or (kind == "commit" and not after):
            assert actual == expected

    check()


def effect_of(tool: str, arguments: Mapping[str, Any]) -> tuple[str, Any]:
    """The entry a Python tool adds to the effect log, for comparing with unknown calls."""
    if tool == "create_ticket":
        return ("ticket", arguments["title"])
    if tool == "send_note":
        return ("note", (arguments["to"], arguments["text"]))
    return ("read", tool)

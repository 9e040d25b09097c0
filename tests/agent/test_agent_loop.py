"""The tool agent's loop end to end: the real openai SDK plans, the adapter executes.

Each test scripts the sandbox model turn by turn and checks what happened in the world (issues,
Slack messages, Python side effects), what the model was sent, and what the run reports.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from crs import ContextReferenceStore, VirtualClock
from crs.agent import (
    AgentSessionError,
    AgentStatus,
    AgentTool,
    ToolAgent,
    ToolCallStatus,
)
from crs.errors import ConfigError
from crs.llm import LLMClient
from crs.resilience import ErrorType
from crs.sandbox import Sandbox, ToolCall
from crs.tools import CallableBackend, ComposioAdapter

Effects = Any  # conftest.Effects: the side-effect log of the Python tools
MakeAgent = Any  # conftest.make_agent

ISSUE = {"owner": "acme", "repo": "api", "title": "Checkout is down", "body": "500s since 9:00"}


def tool_messages(transcript: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    return [json.loads(m["content"]) for m in transcript if m["role"] == "tool"]


class TestWithComposio:
    def test_two_tool_calls_then_an_answer_change_the_world_once(
        self, crs_sandbox: Sandbox, crs_adapter: ComposioAdapter, llm: LLMClient
    ) -> None:
        channel = crs_sandbox.composio.add_channel("incidents")
        crs_sandbox.script(
            [
                [
                    ToolCall("GITHUB_CREATE_AN_ISSUE", ISSUE, id="call_issue"),
                    ToolCall(
                        "SLACK_SEND_MESSAGE",
                        {"channel": channel, "text": "Filed: checkout is down"},
                        id="call_slack",
                    ),
                ],
                "Filed the issue and told #incidents.",
            ],
            model="gpt-4o",
        )
        agent = ToolAgent(llm, crs_adapter, tools=["GITHUB_CREATE_AN_ISSUE", "SLACK_SEND_MESSAGE"])

        run = agent.run("Checkout is down: file it and tell the team")

        assert run.status is AgentStatus.COMPLETED, run.error
        assert run.final_answer == "Filed the issue and told #incidents."
        assert [i["title"] for i in crs_sandbox.composio.issues("acme", "api")] == [
            "Checkout is down"
        ]
        assert [m["text"] for m in crs_sandbox.composio.messages("incidents")] == [
            "Filed: checkout is down"
        ]
        # Concurrent: either may reach Composio first, but each exactly once.
        assert sorted(e.slug for e in crs_sandbox.composio.executions()) == [
            "GITHUB_CREATE_AN_ISSUE",
            "SLACK_SEND_MESSAGE",
        ]
        assert agent.routes == {
            "GITHUB_CREATE_AN_ISSUE": ("github", "GITHUB_CREATE_AN_ISSUE"),
            "SLACK_SEND_MESSAGE": ("slack", "SLACK_SEND_MESSAGE"),
        }
        # Two steps: the calls, then the answer; results in call order.
        assert len(run.steps) == 2
        calls = run.steps[0].tool_calls
        assert [c.id for c in calls] == ["call_issue", "call_slack"]
        assert all(c.status is ToolCallStatus.SUCCEEDED for c in calls)
        assert [e.action for e in run.executions] == [
            "GITHUB_CREATE_AN_ISSUE",
            "SLACK_SEND_MESSAGE",
        ]
        roles = [m["role"] for m in run.transcript]
        assert roles == ["user", "assistant", "tool", "tool", "assistant"]
        assert [m["tool_call_id"] for m in run.transcript if m["role"] == "tool"] == [
            "call_issue",
            "call_slack",
        ]
        assert tool_messages(run.transcript)[0]["data"]["title"] == "Checkout is down"

    def test_the_model_is_sent_the_results_and_the_tool_definitions(
        self, crs_sandbox: Sandbox, crs_adapter: ComposioAdapter, llm: LLMClient
    ) -> None:
        crs_sandbox.script(
            [ToolCall("GITHUB_LIST_REPOSITORY_ISSUES", {"owner": "acme", "repo": "api"}), "ok"],
            model="gpt-4o",
        )
        agent = ToolAgent(
            llm, crs_adapter, tools=["GITHUB_LIST_REPOSITORY_ISSUES"], system_prompt="Be brief."
        )

        run = agent.run("Any open issues?")

        assert run.status is AgentStatus.COMPLETED
        chats = [r for r in crs_sandbox.requests if r.path.endswith("/chat/completions")]
        assert len(chats) == 2
        second = chats[1].body
        assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool"]
        assert second["tools"][0]["function"]["name"] == "GITHUB_LIST_REPOSITORY_ISSUES"
        assert json.loads(second["messages"][-1]["content"])["successful"] is True


class TestPythonTools:
    def test_a_failed_tool_is_fed_back_and_the_model_recovers(
        self, crs_sandbox: Sandbox, crs_store: ContextReferenceStore, llm: LLMClient
    ) -> None:
        def flaky_lookup(key: str) -> str:
            raise PermissionError(f"no access to {key}")

        adapter = ComposioAdapter(crs_store, CallableBackend({"lookup": flaky_lookup}))
        crs_sandbox.script(
            [ToolCall("lookup", {"key": "prod"}, id="c1"), "I could not read prod."],
            model="gpt-4o",
        )

        run = ToolAgent(llm, adapter, tools=["lookup"]).run("read prod")

        assert run.status is AgentStatus.COMPLETED
        (call,) = run.steps[0].tool_calls
        assert call.status is ToolCallStatus.FAILED
        assert call.execution is not None
        assert not call.execution.successful
        (message,) = tool_messages(run.transcript)
        assert message["successful"] is False
        assert "no access to prod" in message["error"]
        assert message["error_type"] == call.execution.failure.kind.value  # type: ignore[union-attr]

    def test_an_unknown_tool_is_refused_without_running_anything(
        self, crs_sandbox: Sandbox, make_agent: MakeAgent, effects: Effects
    ) -> None:
        crs_sandbox.script([ToolCall("delete_everything", {}, id="c1"), "Sorry."], model="gpt-4o")

        run = make_agent().run("clean up")

        (call,) = run.steps[0].tool_calls
        assert call.status is ToolCallStatus.REJECTED
        assert "no tool named 'delete_everything'" in (call.error or "")
        assert "send_note" in (call.error or "")
        assert effects.log == []
        assert run.status is AgentStatus.COMPLETED

    def test_arguments_that_are_not_json_are_fed_back_as_the_tools_result(
        self, crs_sandbox: Sandbox, make_agent: MakeAgent, effects: Effects
    ) -> None:
        crs_sandbox.script(
            [
                ToolCall("create_ticket", '{"title": "broken', id="c1"),
                ToolCall("create_ticket", {"title": "fixed"}, id="c2"),
                "Done.",
            ],
            model="gpt-4o",
        )

        run = make_agent().run("file a ticket")

        assert run.status is AgentStatus.COMPLETED
        assert [c.status for s in run.steps for c in s.tool_calls] == [
            ToolCallStatus.REJECTED,
            ToolCallStatus.SUCCEEDED,
        ]
        assert "not a JSON object" in (run.steps[0].tool_calls[0].error or "")
        assert effects.log == [("ticket", "fixed")]

    def test_max_steps_stops_a_model_that_keeps_calling_tools(
        self, crs_sandbox: Sandbox, make_agent: MakeAgent, effects: Effects
    ) -> None:
        crs_sandbox.script(
            [ToolCall("get_status", {"service": "api"}, id=f"c{i}") for i in range(3)],
            model="gpt-4o",
        )

        run = make_agent(max_steps=3).run("watch the api")

        assert run.status is AgentStatus.MAX_STEPS
        assert run.final_answer is None
        assert len(run.steps) == 3
        assert run.transcript[-1]["role"] == "tool"  # the last results are kept

    def test_resume_with_a_bigger_budget_continues_a_max_steps_session(
        self, crs_sandbox: Sandbox, make_agent: MakeAgent
    ) -> None:
        crs_sandbox.script(
            [ToolCall("get_status", {"service": "api"}, id="c1"), "All good now."],
            model="gpt-4o",
        )
        agent = make_agent(max_steps=1)
        first = agent.run("watch the api")
        assert first.status is AgentStatus.MAX_STEPS
        assert agent.resume(first.session_id).status is AgentStatus.MAX_STEPS  # nothing ran

        run = agent.resume(first.session_id, max_steps=2)

        assert run.status is AgentStatus.COMPLETED
        assert run.final_answer == "All good now."


class TestFailures:
    def test_a_model_failure_keeps_the_transcript_and_is_classified(
        self, crs_sandbox: Sandbox, make_agent: MakeAgent, effects: Effects
    ) -> None:
        crs_sandbox.script(
            [ToolCall("create_ticket", {"title": "outage"}, id="c1")], model="gpt-4o"
        )
        crs_sandbox.fault("unauthorized", api="openai", after=1)
        agent = make_agent()

        run = agent.run("file the outage")

        assert run.status is AgentStatus.FAILED
        assert run.error is not None
        assert run.error.error_type is ErrorType.AUTH
        assert run.error.recoverable is False
        assert crs_sandbox.api_key not in str(run.error)
        assert crs_sandbox.api_key not in repr(run)
        assert [m["role"] for m in run.transcript] == ["user", "assistant", "tool"]
        assert effects.log == [("ticket", "outage")]
        with pytest.raises(type(run.error)):
            run.raise_for_error()
        # The failure is in the store too: a restarted process sees the same run.
        assert agent.load(run.session_id).transcript == run.transcript

    def test_a_failed_session_resumes_where_it_failed(
        self, crs_sandbox: Sandbox, make_agent: MakeAgent, effects: Effects
    ) -> None:
        crs_sandbox.script(
            [ToolCall("create_ticket", {"title": "outage"}, id="c1"), "Filed."], model="gpt-4o"
        )
        crs_sandbox.fault("server_error", api="openai", after=1)
        agent = make_agent()
        failed = agent.run("file the outage")
        assert failed.status is AgentStatus.FAILED
        assert failed.error is not None
        assert failed.error.recoverable

        run = agent.resume(failed.session_id)

        assert run.status is AgentStatus.COMPLETED
        assert run.final_answer == "Filed."
        assert effects.log == [("ticket", "outage")]  # not filed twice

    def test_a_session_id_cannot_be_used_twice(
        self, crs_sandbox: Sandbox, make_agent: MakeAgent
    ) -> None:
        crs_sandbox.script(["hello"], model="gpt-4o")
        agent = make_agent()
        agent.run("hi", session_id="s-1")

        with pytest.raises(AgentSessionError, match="already exists") as caught:
            agent.run("hi again", session_id="s-1")
        assert caught.value.hint
        assert "resume" in caught.value.hint


class TestConfiguration:
    def test_routes_and_tool_definitions(
        self, crs_sandbox: Sandbox, llm: LLMClient, python_adapter: ComposioAdapter
    ) -> None:
        weather = {
            "type": "function",
            "function": {"name": "get_status", "parameters": {"type": "object"}},
        }
        agent = ToolAgent(
            llm,
            python_adapter,
            tools=[weather, AgentTool("note", action="send_note", description="Send a note")],
            routes={"get_status": ("status-page", "get_status")},
        )

        assert agent.routes == {
            "get_status": ("status-page", "get_status"),
            "note": ("tools", "send_note"),
        }
        assert [t["function"]["name"] for t in agent.tools] == ["get_status", "note"]
        assert agent.tools[1]["function"]["description"] == "Send a note"

    @pytest.mark.parametrize(
        ("options", "match"),
        [
            ({"tools": "send_note"}, "list of names"),
            ({"tools": ["send_note", "send_note"]}, "twice"),
            ({"tools": [{"nope": 1}]}, "not a name"),
            ({"routes": {"other": ("a", "b")}}, "not among the tools"),
            ({"routes": {"send_note": "app"}}, r"\(app, action\) pair"),
            ({"max_steps": 0}, "max_steps"),
            ({"in_doubt": "maybe"}, "in_doubt"),
            ({"user_id": ""}, "user_id"),
        ],
    )
    def test_bad_options_fail_at_construction(
        self, make_agent: MakeAgent, options: dict[str, Any], match: str
    ) -> None:
        with pytest.raises(ConfigError, match=match):
            make_agent(**options)

    def test_an_async_client_needs_arun(
        self, async_llm_factory: Any, python_adapter: ComposioAdapter, crs_clock: VirtualClock
    ) -> None:
        async def main() -> None:
            client = async_llm_factory()
            agent = ToolAgent(client, python_adapter, tools=["send_note"])
            with pytest.raises(ConfigError, match="arun"):
                agent.run("hi")
            await client.sdk_client.close()

        asyncio.run(main())


class TestAsync:
    def test_several_calls_run_concurrently_and_results_keep_call_order(
        self,
        crs_sandbox: Sandbox,
        crs_store: ContextReferenceStore,
        crs_clock: VirtualClock,
        async_llm_factory: Any,
    ) -> None:
        events: list[str] = []

        async def slow(name: str, seconds: float) -> str:
            events.append(f"start {name}")
            await asyncio.sleep(seconds)
            events.append(f"end {name}")
            return name

        adapter = ComposioAdapter(crs_store, CallableBackend({"slow": slow}))
        crs_sandbox.script(
            [
                [
                    ToolCall("slow", {"name": "a", "seconds": 3}, id="ca"),
                    ToolCall("slow", {"name": "b", "seconds": 1}, id="cb"),
                    ToolCall("slow", {"name": "c", "seconds": 2}, id="cc"),
                ],
                "done",
            ],
            model="gpt-4o",
        )

        async def main() -> Any:
            client = async_llm_factory()
            try:
                agent = ToolAgent(client, adapter, tools=["slow"])
                started = crs_clock.monotonic()
                run = await agent.arun("go")
                return run, crs_clock.monotonic() - started
            finally:
                await client.sdk_client.close()

        run, elapsed = asyncio.run(main())

        assert run.status is AgentStatus.COMPLETED
        assert events[:3] == ["start a", "start b", "start c"]  # all in flight at once
        assert events[3:] == ["end b", "end c", "end a"]
        assert elapsed == pytest.approx(3.0, abs=0.5)  # not 6: they overlapped
        assert [c.id for c in run.steps[0].tool_calls] == ["ca", "cb", "cc"]
        assert [
            json.loads(m["content"])["data"] for m in run.transcript if m["role"] == "tool"
        ] == [
            "a",
            "b",
            "c",
        ]

    def test_max_concurrency_bounds_the_calls_in_flight(
        self, crs_sandbox: Sandbox, crs_store: ContextReferenceStore, async_llm_factory: Any
    ) -> None:
        in_flight = 0
        peak = 0

        async def work(n: int) -> int:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(1)
            in_flight -= 1
            return n

        adapter = ComposioAdapter(crs_store, CallableBackend({"work": work}))
        crs_sandbox.script(
            [[ToolCall("work", {"n": n}, id=f"c{n}") for n in range(5)], "done"], model="gpt-4o"
        )

        async def main() -> Any:
            client = async_llm_factory()
            try:
                return await ToolAgent(client, adapter, tools=["work"], max_concurrency=2).arun(
                    "go"
                )
            finally:
                await client.sdk_client.close()

        run = asyncio.run(main())

        assert run.status is AgentStatus.COMPLETED
        assert peak == 2
        assert [c.execution.data for c in run.steps[0].tool_calls] == [0, 1, 2, 3, 4]  # type: ignore[union-attr]

    def test_the_sync_path_also_runs_calls_concurrently(
        self, crs_sandbox: Sandbox, make_agent: MakeAgent, effects: Effects
    ) -> None:
        crs_sandbox.script(
            [
                [
                    ToolCall("send_note", {"to": "ops", "text": "1"}, id="c1"),
                    ToolCall("send_note", {"to": "dev", "text": "2"}, id="c2"),
                    ToolCall("get_status", {"service": "api"}, id="c3"),
                ],
                "sent",
            ],
            model="gpt-4o",
        )

        run = make_agent().run("notify")

        assert run.status is AgentStatus.COMPLETED
        assert sorted(effects.log) == [("note", ("dev", "2")), ("note", ("ops", "1"))]
        assert [c.id for c in run.steps[0].tool_calls] == ["c1", "c2", "c3"]
        assert [m.get("tool_call_id") for m in run.transcript if m["role"] == "tool"] == [
            "c1",
            "c2",
            "c3",
        ]

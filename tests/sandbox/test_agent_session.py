"""End to end: the real ``openai`` client plans, the real composio-core toolset executes.

This is the session the sandbox exists for: a tool agent's loop with no network and no
credentials, where the model's tool calls change Composio state that later calls observe.
"""

from __future__ import annotations

import asyncio
import json
from importlib import metadata
from typing import Any

import jsonschema
import pytest

try:
    metadata.version("composio-core")
except metadata.PackageNotFoundError:
    pytest.skip("needs composio-core (the main test environment)", allow_module_level=True)

from crs.sandbox import Sandbox, ToolCall

REPO = {"owner": "acme", "repo": "payments"}
ACTIONS = ["GITHUB_CREATE_AN_ISSUE", "GITHUB_LIST_REPOSITORY_ISSUES", "SLACK_SEND_MESSAGE"]


def openai_tools(toolset: Any, actions: list[str]) -> list[dict[str, Any]]:
    """The Composio actions as OpenAI function tools, from the schemas the sandbox serves."""
    return [
        {
            "type": "function",
            "function": {
                "name": schema.name,
                "description": schema.description,
                "parameters": schema.parameters.model_dump(exclude_none=True),
            },
        }
        for schema in toolset.get_action_schemas(actions=actions)
    ]


def run_agent(client: Any, toolset: Any, tools: list[dict[str, Any]], task: str) -> list[Any]:
    """Model -> tool calls -> Composio -> results -> model, until the model answers in text."""
    messages: list[Any] = [{"role": "user", "content": task}]
    for _ in range(6):
        reply = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
        message = reply.choices[0].message
        messages.append(message.model_dump(exclude_none=True))
        if not message.tool_calls:
            return messages
        for call in message.tool_calls:
            result = toolset.execute_action(call.function.name, json.loads(call.function.arguments))
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
            )
    raise AssertionError("the agent did not finish in 6 turns")


def test_default_model_drives_every_tool_through_composio(crs_sandbox: Sandbox) -> None:
    toolset = crs_sandbox.composio_toolset()
    tools = openai_tools(toolset, ACTIONS)
    messages = run_agent(
        crs_sandbox.openai_client(max_retries=0), toolset, tools, "Triage the payments repo"
    )

    calls = [c for m in messages if m["role"] == "assistant" for c in m.get("tool_calls", [])]
    assert sorted(c["function"]["name"] for c in calls) == sorted(ACTIONS)
    for call in calls:
        schema = next(t for t in tools if t["function"]["name"] == call["function"]["name"])
        jsonschema.validate(json.loads(call["function"]["arguments"]),
                            schema["function"]["parameters"])
    results = [json.loads(m["content"]) for m in messages if m["role"] == "tool"]
    executed = {r.slug: r.outcome for r in crs_sandbox.composio.executions()}
    assert set(executed) == set(ACTIONS)
    assert all(r["successful"] == (executed[s] == "success") for r, s in
               zip(results, [c["function"]["name"] for c in calls], strict=True))
    answer = messages[-1]["content"]
    assert answer.startswith("Summary of 3 tool results")
    assert "GITHUB_CREATE_AN_ISSUE" in answer


def test_scripted_agent_creates_an_issue_then_finds_it(crs_sandbox: Sandbox) -> None:
    crs_sandbox.script(
        [
            ToolCall("GITHUB_CREATE_AN_ISSUE", {**REPO, "title": "Refunds time out",
                                                "labels": ["bug"]}),
            ToolCall("GITHUB_LIST_REPOSITORY_ISSUES", {**REPO, "labels": "bug"}),
            ToolCall("SLACK_SEND_MESSAGE", {"channel": "engineering",
                                            "markdown_text": "Filed: Refunds time out"}),
            "Filed the bug and told #engineering.",
        ],
        session="triage",
    )
    toolset = crs_sandbox.composio_toolset()
    client = crs_sandbox.openai_client(session="triage", max_retries=0)

    messages = run_agent(client, toolset, openai_tools(toolset, ACTIONS), "Triage")

    results = [json.loads(m["content"]) for m in messages if m["role"] == "tool"]
    created, listed, posted = results
    assert [created["successful"], listed["successful"], posted["successful"]] == [True] * 3
    assert [i["number"] for i in listed["data"]["issues"]] == [created["data"]["number"]]
    assert [i["title"] for i in crs_sandbox.composio.issues("acme", "payments")] == [
        "Refunds time out"
    ]
    assert crs_sandbox.composio.messages("engineering")[-1]["text"] == "Filed: Refunds time out"
    assert messages[-1]["content"] == "Filed the bug and told #engineering."


def test_async_agent_with_a_rate_limited_tool(crs_sandbox: Sandbox) -> None:
    """The async client plans; a 429 on the Slack call is visible to the agent as an error."""
    crs_sandbox.script(
        [ToolCall("SLACK_SEND_MESSAGE", {"channel": "alerts", "markdown_text": "p1"}), "Noted."],
        model="gpt-4o",
    )
    rule = crs_sandbox.fault("rate_limit", api="composio-core", tool="SLACK_SEND_MESSAGE",
                             headers=False)
    toolset = crs_sandbox.composio_toolset()

    async def scenario() -> tuple[Any, str]:
        async with crs_sandbox.async_openai_client(max_retries=0) as client:
            first = await client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "page"}]
            )
            call = first.choices[0].message.tool_calls[0]
            try:
                toolset.execute_action(call.function.name, json.loads(call.function.arguments))
            except Exception as exc:  # composio-core turns any non-200 into HTTPError
                error = exc
            else:
                raise AssertionError("the rate-limited call should fail")
            second = await client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "and?"}]
            )
            return error, str(second.choices[0].message.content)

    error, answer = asyncio.run(scenario())

    assert type(error).__name__ == "HTTPError"
    assert getattr(error, "status_code", None) == 429
    assert rule.hits == 1
    assert crs_sandbox.composio.messages("alerts") == []
    assert answer == "Noted."

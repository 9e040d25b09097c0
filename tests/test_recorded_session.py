"""A real tool-agent session, recorded once from the sandbox and replayed from cassettes/.

The cassette under ``cassettes/tests/`` was recorded with ``--crs-record-mode=once``; every run
since replays it (the default mode), with the network blocked beyond loopback. The session
runs through the real SDKs: openai plans a tool call (and streams a summary), crs's adapter
executes the tool through composio-core. Replayed answers must be the recorded ones.
"""

from __future__ import annotations

import json

import pytest

from crs.sandbox import Sandbox
from crs.sandbox._composio_clients import installed_sdk
from crs.tools import ComposioAdapter

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "GITHUB_CREATE_AN_ISSUE",
            "parameters": {
                "type": "object",
                "properties": {
                    "owner": {"type": "string", "enum": ["acme"]},
                    "repo": {"type": "string", "enum": ["web-app"]},
                    "title": {"type": "string"},
                },
                "required": ["owner", "repo", "title"],
            },
        },
    }
]


@pytest.mark.skipif(installed_sdk() != "composio-core", reason="recorded through composio-core")
@pytest.mark.crs_cassette
def test_plan_execute_and_summarise(crs_sandbox: Sandbox, crs_adapter: ComposioAdapter) -> None:
    client = crs_sandbox.openai_client()
    messages: list[dict[str, object]] = [{"role": "user", "content": "File the login bug"}]

    plan = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)
    call = plan.choices[0].message.tool_calls[0]
    arguments = json.loads(call.function.arguments)
    execution = crs_adapter.execute_tool_with_context(
        "github", call.function.name, arguments, "default"
    )
    messages += [
        plan.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps(execution.data)},
    ]
    summary = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(model="gpt-4o", messages=messages, stream=True)
        if chunk.choices
    )

    assert call.function.name == "GITHUB_CREATE_AN_ISSUE"
    assert (arguments["owner"], arguments["repo"]) == ("acme", "web-app")
    assert execution.successful
    assert execution.data["number"] == 1
    assert summary.startswith("Summary of 1 tool result")

"""The code under test: a small triage agent, written the way many are.

It asks an OpenAI model which tool to use for a bug report, runs the tool through crs's
``ComposioAdapter`` (which retries, rate-limits and records each execution), and asks the model
for a one-line summary. Nothing in it knows about tests: the suite next to it drives it against
the sandbox, from a recorded cassette, and under injected faults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import openai

from crs import RetryPolicy
from crs.resilience import stop_after_attempt, wait_exponential
from crs.tools import ComposioAdapter

#: The one tool the agent offers the model (enums keep the sandbox's default model on target).
CREATE_ISSUE = {
    "type": "function",
    "function": {
        "name": "GITHUB_CREATE_AN_ISSUE",
        "description": "File an issue in the team's repository",
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

#: How the agent retries its tools. Filing an issue is a write: the adapter retries it only
#: after failures that prove nothing happened (a 429, a refused connection), never after a 5xx
#: or a read timeout, which may have filed it already.
TOOL_RETRIES = RetryPolicy(stop=stop_after_attempt(4), wait=wait_exponential(0.5, 8.0))


@dataclass
class Triage:
    issue_number: int | None
    summary: str
    tool_attempts: int


class TriageAgent:
    def __init__(self, client: openai.OpenAI, adapter: ComposioAdapter, user_id: str = "default"):
        self.client = client
        self.adapter = adapter
        self.user_id = user_id

    def triage(self, report: str, model: str = "gpt-4o-mini") -> Triage:
        messages: list[Any] = [
            {"role": "system", "content": "File bug reports as GitHub issues."},
            {"role": "user", "content": report},
        ]
        plan = self.client.chat.completions.create(
            model=model, messages=messages, tools=[CREATE_ISSUE]
        )
        message = plan.choices[0].message
        if not message.tool_calls:
            return Triage(None, message.content or "", 0)
        call = message.tool_calls[0]
        execution = self.adapter.execute_tool_with_context(
            "github",
            call.function.name,
            json.loads(call.function.arguments),
            self.user_id,
            retry_policy=TOOL_RETRIES,
        ).raise_for_error()
        messages += [
            message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": json.dumps(execution.data)},
        ]
        summary = self.client.chat.completions.create(model=model, messages=messages)
        return Triage(
            execution.data["number"], summary.choices[0].message.content or "", execution.attempts
        )

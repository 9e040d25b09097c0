"""A workflow defined as data: file a GitHub issue, and tell the team on Slack when it is urgent.

Step parameters and conditions reference the workflow's input and earlier steps' outputs with
JMESPath (never ``eval``): ``"title.$": "input.title"`` takes a value, ``{{ ... }}`` fills a
template. The run is checkpointed in the store after every step, so it can be resumed after a
crash without filing the issue twice. Runs offline: ``python examples/notify_slack_workflow.py``.
"""

from __future__ import annotations

import json

from crs import ContextReferenceStore
from crs.sandbox import Sandbox
from crs.tools import ComposioAdapter

WORKFLOW = {
    "description": "issue creation with an urgent-only Slack notification",
    "steps": [
        {
            "name": "create_github_issue",
            "type": "action",
            "app": "github",
            "action": "create_an_issue",
            "params": {
                "owner": "acme",
                "repo": "web-app",
                "title.$": "input.title",
                "body": "This issue was created by a workflow (priority {{ input.priority }})",
            },
        },
        {
            "name": "only_if_urgent",
            "type": "condition",
            "condition": "input.priority == 'high'",
            "if_false": "end",
        },
        {
            "name": "notify_team",
            "type": "action",
            "app": "slack",
            "action": "send_message",
            "params": {
                "channel": "engineering",
                "text": "New urgent issue #{{ steps.create_github_issue.data.number }}: "
                "{{ input.title }}",
            },
        },
        {
            "name": "summary",
            "type": "transform",
            "transform": {
                "issue_number.$": "steps.create_github_issue.data.number",
                "announced.$": "steps.notify_team.success",
            },
        },
    ],
}


def main() -> None:
    with Sandbox() as sandbox, ContextReferenceStore() as store:
        adapter = ComposioAdapter(store, sandbox.tool_backend())
        adapter.define_workflow("issue_creation_workflow", WORKFLOW)

        for title, priority in (("Checkout is down", "high"), ("Typo on pricing page", "low")):
            run = adapter.execute_workflow(
                "issue_creation_workflow",
                {"title": title, "priority": priority},
                "default",
                {"fail_fast": True},
            )
            steps = ", ".join(f"{s.name}={s.status.value}" for s in run.steps)
            print(f"{title!r}: {run.status.value} [{steps}]")
            print(f"  output: {json.dumps(run.output_data)}")
        posted = [m["text"] for m in sandbox.composio.messages("engineering")]
        print(f"slack #engineering: {posted}")
        sandbox.close_clients()


if __name__ == "__main__":
    main()

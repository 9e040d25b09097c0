"""A batch that stops at its first failure, so nothing after it runs on a broken assumption.

The second action posts to a Slack channel that does not exist; with ``fail_fast`` the third
(another post) is never started, and its slot in the results is ``None``.
Runs offline: ``python examples/batch_fail_fast.py``.
"""

from __future__ import annotations

from crs import ContextReferenceStore
from crs.sandbox import Sandbox
from crs.tools import ComposioAdapter


def main() -> None:
    with Sandbox() as sandbox, ContextReferenceStore() as store:
        adapter = ComposioAdapter(store, sandbox.tool_backend())
        actions = [
            {
                "app": "github",
                "action": "create_an_issue",
                "params": {"owner": "acme", "repo": "web-app", "title": "Issue 1", "body": "One"},
            },
            {
                "app": "slack",
                "action": "send_message",
                "params": {"channel": "does-not-exist", "text": "Hello from agent"},
            },
            {
                "app": "slack",
                "action": "send_message",
                "params": {"channel": "general", "text": "All done"},
                "retry_config": {
                    "max_retries": 2,
                    "backoff_multiplier": 2,
                    "initial_delay_seconds": 1,
                },
            },
        ]

        batch = adapter.execute_batch(actions, "default", {"parallel": False, "fail_fast": True})

        for action, result in zip(actions, batch.results, strict=True):
            outcome = "not started" if result is None else ("ok" if result.successful else "failed")
            print(f"{action['app']}/{action['action']}: {outcome}")
        print(
            f"successful={batch.successful_actions} failed={batch.failed_actions} "
            f"cancelled={batch.cancelled_actions}"
        )
        print(f"messages in #general: {len(sandbox.composio.messages('general'))}")
        sandbox.close_clients()


if __name__ == "__main__":
    main()

"""Create a GitHub issue through the adapter and look at what it recorded.

Every execution stores an intent before the call and a record after it; the result comes back
with timing, attempts and both references. Runs offline: ``python examples/create_issue.py``.
"""

from __future__ import annotations

import json

from crs import ContextReferenceStore
from crs.sandbox import Sandbox
from crs.tools import ComposioAdapter


def main() -> None:
    with Sandbox() as sandbox, ContextReferenceStore() as store:
        adapter = ComposioAdapter(store, sandbox.tool_backend())

        result = adapter.execute_tool_with_context(
            app="github",
            action="create_an_issue",
            params={
                "owner": "acme",
                "repo": "web-app",
                "title": "Bug report from agent",
                "body": "Automated bug report",
                "labels": ["bug"],
            },
            user_id="default",
            execution_metadata={"session_id": "session_456", "source": "automated_testing"},
        )
        result.raise_for_error()
        print(f"created issue #{result.data['number']}: {result.data['title']}")
        print(f"action={result.action} attempts={result.attempts}")
        record = store.retrieve(result.record_ref or "")
        print(f"record: status={record['status']} intent={record['intent_ref'] is not None}")
        print(json.dumps(adapter.get_tool_performance_stats()["app_usage_distribution"]))
        sandbox.close_clients()


if __name__ == "__main__":
    main()

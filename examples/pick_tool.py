"""Pick the app that best serves an intent, from keywords, measured performance and habit.

Scores follow the integration guide: intent match 40%, observed performance 30%, the user's own
usage 20%, availability 10% (an app whose circuit breaker is open counts as unavailable).
Runs offline: ``python examples/pick_tool.py``.
"""

from __future__ import annotations

from crs import ContextReferenceStore
from crs.sandbox import Sandbox
from crs.tools import ComposioAdapter

TOOLS = {
    "github": {
        "keywords": ["code", "repository", "issue", "pull request"],
        "available": True,
        "categories": ["development", "collaboration"],
    },
    "gmail": {
        "keywords": ["email", "message", "communication"],
        "available": True,
        "categories": ["communication", "productivity"],
    },
    "slack": {
        "keywords": ["team", "chat", "notification"],
        "available": True,
        "categories": ["communication", "collaboration"],
    },
}


def main() -> None:
    with Sandbox() as sandbox, ContextReferenceStore() as store:
        adapter = ComposioAdapter(store, sandbox.tool_backend())
        adapter.register_available_tools(TOOLS)
        for text in ("standup in 5", "build is green"):
            adapter.execute_tool_with_context(
                "slack", "send_message", {"channel": "general", "text": text}, "user_123"
            )

        for intent in (
            "Post a chat notification to the team",
            "Open an issue in the repository",
            "Email the quarterly report",
        ):
            choice = adapter.select_optimal_tool(intent, "user_123", {"urgency": "medium"})
            runner_up = choice.alternative_tools[0]
            print(
                f"{intent!r} -> {choice.selected_tool} ({choice.confidence_score:.2f}); "
                f"next: {runner_up[0]} ({runner_up[1]:.2f})"
            )
        sandbox.close_clients()


if __name__ == "__main__":
    main()

"""Workflows through the adapter, against the sandbox via the installed Composio SDK.

The crash tests stop a run the way a dying process does — a ``BaseException`` out of the tool
call, nothing more written — then open a *new* store and adapter on the same disk path and
resume: completed side effects must not happen twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from crs import ContextReferenceStore, VirtualClock
from crs.errors import WorkflowDefinitionError, WorkflowNotFoundError, WorkflowResumeError
from crs.sandbox import Sandbox
from crs.tools import ComposioAdapter, ToolBackend, ToolResult, WorkflowStatus

NOTIFY = {
    "description": "file an issue, tell the team when it is urgent",
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
                "body": "Filed by a workflow for {{ user_id }}",
            },
        },
        {"name": "urgent", "type": "condition", "condition": "input.priority == 'high'"},
        {
            "name": "notify_team",
            "type": "action",
            "app": "slack",
            "action": "send_message",
            "params": {
                "channel": "engineering",
                "text": "Urgent issue #{{ steps.create_github_issue.data.number }}: "
                "{{ input.title }}",
            },
        },
        {
            "name": "summary",
            "type": "transform",
            "transform": {
                "issue.$": "steps.create_github_issue.data.number",
                "notified.$": "steps.notify_team.success",
            },
        },
    ],
}


# The same flow with a read-only look at the repository between filing and announcing.
CHECKED = {
    "steps": [
        NOTIFY["steps"][0],
        {
            "name": "check",
            "type": "action",
            "app": "github",
            "action": "list_repository_issues",
            "params": {"owner": "acme", "repo": "web-app"},
        },
        *NOTIFY["steps"][1:],
    ]
}


class Crash(BaseException):
    """The process dies: not an error anyone handles."""


class CrashingBackend:
    """The real backend, except that one action kills the 'process' before or after it runs."""

    name = "crashing"

    def __init__(self, inner: ToolBackend, action: str, *, after_sending: bool) -> None:
        self.inner = inner
        self.action = action
        self.after_sending = after_sending

    def qualify(self, app: str, action: str) -> str:
        return self.inner.qualify(app, action)

    def execute(self, action: str, params: Mapping[str, Any], *, user_id: str) -> ToolResult:
        if action == self.action and not self.after_sending:
            raise Crash
        result = self.inner.execute(action, params, user_id=user_id)
        if action == self.action:
            raise Crash
        return result

    async def aexecute(self, action: str, params: Mapping[str, Any], *, user_id: str) -> ToolResult:
        return self.execute(action, params, user_id=user_id)


def messages(sandbox: Sandbox) -> list[str]:
    return [m["text"] for m in sandbox.composio.messages("engineering")]


def issues(sandbox: Sandbox) -> list[str]:
    return [i["title"] for i in sandbox.composio.issues("acme", "web-app")]


def test_an_urgent_issue_is_filed_and_announced(
    crs_adapter: ComposioAdapter, crs_sandbox: Sandbox
) -> None:
    crs_adapter.define_workflow("notify", NOTIFY)

    run = crs_adapter.execute_workflow(
        "notify", {"title": "Checkout is down", "priority": "high"}, "default"
    )

    assert run.status is WorkflowStatus.COMPLETED, run.error
    assert issues(crs_sandbox) == ["Checkout is down"]
    number = run.output_data["issue"]
    assert messages(crs_sandbox) == [f"Urgent issue #{number}: Checkout is down"]
    assert run.output_data == {"issue": number, "notified": True}
    assert run.to_dict()["steps_successful"] == 4
    step = crs_adapter.get_execution_history(app="slack")[0]
    assert step.metadata["workflow_execution_id"] == run.execution_id
    assert crs_adapter.get_workflow_run(run.execution_id).status is WorkflowStatus.COMPLETED


def test_a_false_condition_ends_the_run_without_notifying(
    crs_adapter: ComposioAdapter, crs_sandbox: Sandbox
) -> None:
    crs_adapter.define_workflow("notify", NOTIFY)

    run = crs_adapter.execute_workflow("notify", {"title": "Typo", "priority": "low"}, "default")

    assert run.status is WorkflowStatus.COMPLETED
    assert [s.status.value for s in run.steps] == ["succeeded", "succeeded", "skipped", "skipped"]
    assert messages(crs_sandbox) == []


def test_a_failed_step_makes_the_run_partial(
    crs_adapter: ComposioAdapter, crs_sandbox: Sandbox
) -> None:
    crs_sandbox.expire_account("slack")
    crs_adapter.define_workflow("notify", NOTIFY)

    run = asyncio.run(
        crs_adapter.aexecute_workflow("notify", {"title": "Down", "priority": "high"}, "default")
    )

    assert run.status is WorkflowStatus.PARTIAL
    failed = next(s for s in run.steps if s.name == "notify_team")
    assert failed.status.value == "failed"
    assert issues(crs_sandbox) == ["Down"]


def test_definitions_are_checked_when_defined(crs_adapter: ComposioAdapter) -> None:
    broken = {"steps": [{"name": "a", "type": "condition", "condition": "input.x =="}]}

    with pytest.raises(WorkflowDefinitionError, match="step 0 'a'"):
        crs_adapter.define_workflow("broken", broken)
    with pytest.raises(WorkflowNotFoundError, match="no workflow named 'broken'"):
        crs_adapter.execute_workflow("broken", {}, "default")


def restart(path: Path, backend: ToolBackend) -> tuple[ContextReferenceStore, ComposioAdapter]:
    store = ContextReferenceStore(use_disk_storage=True, disk_path=path)
    adapter = ComposioAdapter(store, backend)
    adapter.define_workflow("notify", CHECKED)
    return store, adapter


def crashed_run(crs_sandbox: Sandbox, path: Path, action: str, *, after_sending: bool) -> str:
    """Start the workflow on a backend that dies at ``action``; return the run's id."""
    backend = CrashingBackend(crs_sandbox.tool_backend(), action, after_sending=after_sending)
    store, adapter = restart(path, backend)
    with store, pytest.raises(Crash):
        adapter.execute_workflow("notify", {"title": "Outage", "priority": "high"}, "default")
    (run_id,) = {e.metadata["workflow_execution_id"] for e in adapter.get_execution_history()}
    return str(run_id)


def test_resume_after_a_crash_does_not_repeat_finished_side_effects(
    crs_sandbox: Sandbox, crs_clock: VirtualClock, tmp_path: Path
) -> None:
    run_id = crashed_run(
        crs_sandbox, tmp_path / "store", "GITHUB_LIST_REPOSITORY_ISSUES", after_sending=True
    )
    assert issues(crs_sandbox) == ["Outage"]
    assert messages(crs_sandbox) == []

    store, adapter = restart(tmp_path / "store", crs_sandbox.tool_backend())
    with store:
        before = adapter.get_workflow_run(run_id)
        run = adapter.resume_workflow(run_id)
        again = adapter.resume_workflow(run_id)

    assert before.status is WorkflowStatus.RUNNING
    assert [s.status.value for s in before.steps][:2] == ["succeeded", "started"]
    assert run.status is WorkflowStatus.COMPLETED, run.error
    assert issues(crs_sandbox) == ["Outage"]  # the finished side effect is not repeated
    assert len(crs_sandbox.composio.executions("GITHUB_LIST_REPOSITORY_ISSUES")) == 2  # re-read
    assert len(messages(crs_sandbox)) == 1
    assert again == run  # a finished run resumes to itself


def test_a_side_effect_that_may_have_happened_is_not_repeated_blindly(
    crs_sandbox: Sandbox, crs_clock: VirtualClock, tmp_path: Path
) -> None:
    run_id = crashed_run(crs_sandbox, tmp_path / "store", "SLACK_SEND_MESSAGE", after_sending=True)
    assert len(messages(crs_sandbox)) == 1  # it went out; the crash hid the result

    store, adapter = restart(tmp_path / "store", crs_sandbox.tool_backend())
    with store:
        with pytest.raises(WorkflowResumeError, match="notify_team"):
            adapter.resume_workflow(run_id)
        forced = adapter.resume_workflow(run_id, rerun_in_doubt=True)
        assert adapter.forget_workflow_run(run_id)
        with pytest.raises(WorkflowNotFoundError):
            adapter.get_workflow_run(run_id)

    assert forced.status is WorkflowStatus.COMPLETED
    assert len(messages(crs_sandbox)) == 2  # the caller chose to risk the duplicate

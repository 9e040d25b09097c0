"""The workflow engine: runs, statuses, checkpoints, crashes and resumes.

Actions run against a tiny fake tool table (``FakeAdapter``) that builds real ``Execution``
objects and keeps a journal like the adapter's; checkpoints go to a real store on virtual time.
A crash is simulated by ``Crash``, a ``BaseException`` the engine must neither catch nor record.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crs import ContextReferenceStore, VirtualClock
from crs.errors import (
    ConfigError,
    ContentTypeError,
    WorkflowError,
    WorkflowNotFoundError,
    WorkflowResumeError,
)
from crs.store._heads import HeadSlots
from crs.tools._execution import Execution
from crs.tools._workflow import WorkflowEngine
from crs.tools._workflow_definition import WorkflowDefinition
from crs.tools._workflow_state import ActionRequest, StepStatus, WorkflowRun, WorkflowStatus

RUN_FORMAT = "crs.tools.workflow-run"
TOOLS: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {
    ("github", "create_issue"): lambda p: {"number": 42, "title": p.get("title")},
    ("github", "list_issues"): lambda p: {"issues": [{"number": 42}]},
    ("slack", "send_message"): lambda p: {"ts": "1700000000.1", "text": p.get("text")},
    ("python", "odd_value"): lambda p: {"tags": {"a", "b"}},
    ("python", "raw_bytes"): lambda p: b"\x00raw",
}
READ_ONLY = {("github", "list_issues")}
ISSUE_FLOW: dict[str, Any] = {
    "steps": [
        {
            "name": "create",
            "app": "github",
            "action": "create_issue",
            "params": {
                "repo": "acme/api",
                "title.$": "input.title",
                "labels": "{{ input.labels }}",
            },
        },
        {"name": "check", "type": "condition", "condition": "steps.create.data.number"},
        {
            "name": "notify",
            "app": "slack",
            "action": "send_message",
            "params": {"text": "Opened #{{ steps.create.data.number }}: {{ input.title }}"},
        },
        {
            "name": "summary",
            "type": "transform",
            "transform": {
                "issue.$": "steps.create.data.number",
                "notified.$": "steps.notify.success",
            },
        },
    ]
}
INPUT = {"title": "Flaky test", "labels": ["bug"]}


class Crash(BaseException):
    """The process dies here: not an ``Exception``, so the engine must let it through."""


class FakeAdapter:
    """A tool table standing in for the Composio adapter, with its execution journal."""

    def __init__(
        self,
        clock: VirtualClock,
        *,
        failing: tuple[str, ...] = (),
        crash_in: str | None = None,
        crash_after_record: bool = False,
    ) -> None:
        self.clock = clock
        self.failing = set(failing)
        self.crash_in = crash_in
        self.crash_after_record = crash_after_record
        self.calls: list[ActionRequest] = []
        self.effects: list[str] = []
        self.journal: dict[tuple[str, str], Execution] = {}

    def execute(self, request: ActionRequest) -> Execution:
        self.clock.advance(0.25)
        return self._run(request)

    async def aexecute(self, request: ActionRequest) -> Execution:
        await self.clock.asleep(0.25)
        return self._run(request)

    def find(self, execution_id: str, step: str) -> Execution | None:
        return self.journal.get((execution_id, step))

    def _run(self, request: ActionRequest) -> Execution:
        self.calls.append(request)
        self.effects.append(request.step)
        ok = request.step not in self.failing
        execution = Execution(
            f"exec_{len(self.calls)}",
            request.app,
            request.action,
            request.user_id,
            ok,
            data=TOOLS[request.app, request.action](request.params) if ok else None,
            error=None if ok else "rate limited",
            latency_ms=250.0,
            record_ref=f"ref_{len(self.calls)}",
            metadata=request.metadata,
        )
        crash = request.step == self.crash_in
        if crash:
            self.crash_in = None  # a process dies only once
        if crash and not self.crash_after_record:
            raise Crash
        self.journal[request.execution_id, request.step] = execution
        if crash:
            raise Crash
        return execution


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def store(clock: VirtualClock) -> Iterator[ContextReferenceStore]:
    store = ContextReferenceStore(clock=clock)
    yield store
    store.close()


@pytest.fixture
def adapter(clock: VirtualClock) -> FakeAdapter:
    return FakeAdapter(clock)


def make_engine(
    store: ContextReferenceStore, clock: VirtualClock, adapter: FakeAdapter | None = None
) -> WorkflowEngine:
    return WorkflowEngine(
        store,
        clock=clock,
        find_execution=None if adapter is None else adapter.find,
        is_read_only=lambda app, action: (app, action) in READ_ONLY,
    )


def define(data: dict[str, Any] | None = None, name: str = "issue_flow") -> WorkflowDefinition:
    return WorkflowDefinition.parse(name, ISSUE_FLOW if data is None else data)


def statuses(run: WorkflowRun) -> list[str]:
    return [outcome.status.value for outcome in run.steps]


def head(store: ContextReferenceStore, execution_id: str) -> tuple[int, str]:
    return HeadSlots(store, f"crs.tools workflow run {execution_id!r}").read()[0]


def spy_checkpoints(
    store: ContextReferenceStore,
    monkeypatch: pytest.MonkeyPatch,
    crash_if: Callable[[dict[str, Any]], bool] = lambda doc: False,
) -> list[dict[str, Any]]:
    """Record every checkpoint document written; raise ``Crash`` instead when ``crash_if``."""
    written: list[dict[str, Any]] = []
    original = store.store

    def store_spy(content: Any, metadata: Any = None) -> str:
        if isinstance(content, dict) and content.get("format") == RUN_FORMAT:
            if crash_if(content):
                raise Crash
            written.append(copy.deepcopy(content))
        return original(content, metadata)

    monkeypatch.setattr(store, "store", store_spy)
    return written


def started(step: str) -> Callable[[dict[str, Any]], bool]:
    """Whether a checkpoint document records ``step`` as started (its action about to run)."""

    def check(doc: dict[str, Any]) -> bool:
        last = doc["steps"][-1] if doc["steps"] else {}
        return (last.get("name"), last.get("status")) == (step, "started")

    return check


def fail_if_called(request: ActionRequest) -> Execution:
    raise AssertionError(f"nothing should run, but {request.step} did")


class TestRunning:
    def test_a_run_renders_params_calls_actions_and_completes(
        self, store: ContextReferenceStore, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        run = make_engine(store, clock).run(define(), INPUT, "user_123", adapter.execute)

        create, notify = adapter.calls
        assert (create.app, create.action, create.user_id) == ("github", "create_issue", "user_123")
        assert create.params == {"repo": "acme/api", "title": "Flaky test", "labels": ["bug"]}
        assert notify.params == {"text": "Opened #42: Flaky test"}
        assert create.execution_id == run.execution_id
        assert (create.workflow, create.step) == ("issue_flow", "create")
        assert notify.metadata == {
            "workflow": "issue_flow",
            "workflow_execution_id": run.execution_id,
            "workflow_step": "notify",
        }
        assert run.status is WorkflowStatus.COMPLETED
        assert statuses(run) == ["succeeded"] * 4
        assert run.output_data == {"issue": 42, "notified": True}
        assert run.steps[0].execution_id == "exec_1"
        assert run.steps[0].record_ref == "ref_1"
        assert run.steps[1].condition_result is True
        assert run.to_dict() == {
            "execution_id": run.execution_id,
            "status": "completed",
            "steps_completed": 4,
            "steps_successful": 4,
            "total_time_ms": 500.0,
            "output_data": {"issue": 42, "notified": True},
        }

    def test_times_come_from_the_clock(
        self, store: ContextReferenceStore, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        run = make_engine(store, clock).run(define(), INPUT, "u", adapter.execute)

        assert run.started_at == VirtualClock.DEFAULT_START
        assert run.finished_at == VirtualClock.DEFAULT_START + 0.5
        assert [outcome.execution_time_ms for outcome in run.steps] == [250.0, 0.0, 250.0, 0.0]

    def test_execution_ids_are_unique(
        self, store: ContextReferenceStore, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        engine = make_engine(store, clock)
        ids = {engine.run(define(), INPUT, "u", adapter.execute).execution_id for _ in range(3)}

        assert len(ids) == 3
        assert all(i.startswith("wf_") and len(i) == 35 for i in ids)

    def test_transforms_build_output_data_in_order(
        self, store: ContextReferenceStore, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        definition = define(
            {
                "steps": [
                    {"type": "transform", "transform": {"a": 1, "b.$": "input.title"}},
                    {"type": "transform", "transform": {"a": 2, "c": "{{ output.a }}+1"}},
                ]
            }
        )

        run = make_engine(store, clock).run(definition, INPUT, "u", adapter.execute)

        assert run.output_data == {"a": 2, "b": "Flaky test", "c": "1+1"}
        assert run.steps[1].output == {"a": 2, "c": "1+1"}
        assert adapter.calls == []

    def test_expressions_see_input_user_run_output_and_steps(
        self, store: ContextReferenceStore, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        definition = define(
            {
                "steps": [
                    {"name": "list", "app": "github", "action": "list_issues"},
                    {
                        "name": "c",
                        "type": "condition",
                        "condition": "input",
                        "if_true": {"skip": 1},
                    },
                    {"name": "skipped", "app": "slack", "action": "send_message"},
                    {"name": "t", "type": "transform", "transform": {"seen.$": "@"}},
                ]
            }
        )

        run = make_engine(store, clock).run(definition, {"k": 1}, "u1", adapter.execute)

        seen = run.output_data["seen"]
        assert (seen["input"], seen["user_id"]) == ({"k": 1}, "u1")
        assert (seen["execution_id"], seen["output"]) == (run.execution_id, {})
        assert seen["steps"]["list"] == {
            "status": "succeeded",
            "success": True,
            "data": {"issues": [{"number": 42}]},
            "error": None,
            "condition_result": None,
            "output": None,
        }
        assert seen["steps"]["c"]["condition_result"] is True
        assert seen["steps"]["skipped"]["status"] == "skipped"
        assert set(seen["steps"]) == {"list", "c", "skipped"}

    def test_execute_cannot_change_the_runs_data_through_params(
        self, store: ContextReferenceStore, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        def mutating(request: ActionRequest) -> Execution:
            request.params.get("labels", []).append("mutated")
            return adapter.execute(request)

        run = make_engine(store, clock).run(define(), INPUT, "u", mutating)

        assert adapter.calls[0].params["labels"] == ["bug", "mutated"]
        assert run.status is WorkflowStatus.COMPLETED
        assert store.retrieve(run.checkpoint_ref or "")["input_data"] == INPUT
        assert INPUT["labels"] == ["bug"]


OK, FAIL, SKIP = "succeeded", "failed", "skipped"


def branching(if_true: Any = "continue", if_false: Any = "end") -> WorkflowDefinition:
    condition = {"name": "c", "type": "condition", "condition": "input.flag"}
    return define(
        {
            "steps": [
                {"name": "create", "app": "github", "action": "create_issue"},
                {**condition, "if_true": if_true, "if_false": if_false},
                {"name": "a", "app": "slack", "action": "send_message"},
                {"name": "b", "app": "slack", "action": "send_message"},
                {"name": "t", "type": "transform", "transform": {"done": True}},
            ]
        }
    )


class TestConditions:
    @pytest.mark.parametrize(
        ("flag", "branches", "expected", "status"),
        [
            (True, {}, [OK, OK, OK, OK, OK], "completed"),
            (0, {}, [OK, OK, OK, OK, OK], "completed"),
            ("", {}, [OK, OK, SKIP, SKIP, SKIP], "completed"),
            ([], {}, [OK, OK, SKIP, SKIP, SKIP], "completed"),
            (None, {"if_false": "fail"}, [OK, FAIL, SKIP, SKIP, SKIP], "partial"),
            (True, {"if_true": {"skip": 2}}, [OK, OK, SKIP, SKIP, OK], "completed"),
            (True, {"if_true": {"skip": 1}}, [OK, OK, SKIP, OK, OK], "completed"),
            (False, {"if_false": {"goto": "b"}}, [OK, OK, SKIP, OK, OK], "completed"),
            (True, {"if_true": {"goto": "t"}}, [OK, OK, SKIP, SKIP, OK], "completed"),
            ({}, {"if_false": "continue", "if_true": "end"}, [OK, OK, OK, OK, OK], "completed"),
        ],
    )
    def test_every_branch_kind(
        self,
        store: ContextReferenceStore,
        clock: VirtualClock,
        adapter: FakeAdapter,
        flag: Any,
        branches: dict[str, Any],
        expected: list[str],
        status: str,
    ) -> None:
        run = make_engine(store, clock).run(
            branching(**branches), {"flag": flag}, "u", adapter.execute
        )

        assert statuses(run) == expected
        assert run.status == status
        ran = [o.name for o in run.steps if o.status is StepStatus.SUCCEEDED and o.type == "action"]
        assert adapter.effects == ran
        assert run.steps[1].condition_result is (
            flag is not False and flag not in ("", [], {}, None)
        )

    def test_a_failing_condition_first_fails_the_run(
        self, store: ContextReferenceStore, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        definition = define(
            {
                "steps": [
                    {"type": "condition", "condition": "input.ok", "if_false": "fail"},
                    {"app": "slack", "action": "send_message"},
                ]
            }
        )

        run = make_engine(store, clock).run(definition, {"ok": False}, "u", adapter.execute)

        assert run.status is WorkflowStatus.FAILED
        assert statuses(run) == ["failed", "skipped"]
        assert "'input.ok' was False" in (run.steps[0].error or "")
        assert (run.steps_completed, run.steps_successful) == (1, 0)
        assert run.error is None


class TestFailures:
    def test_fail_fast_stops_at_the_first_unsuccessful_action(
        self, store: ContextReferenceStore, clock: VirtualClock
    ) -> None:
        adapter = FakeAdapter(clock, failing=("notify",))

        run = make_engine(store, clock).run(define(), INPUT, "u", adapter.execute)

        assert run.status is WorkflowStatus.PARTIAL
        assert statuses(run) == ["succeeded", "succeeded", "failed", "skipped"]
        assert run.steps[2].error == "rate limited"
        assert run.output_data == {}
        assert (run.steps_completed, run.steps_successful) == (3, 2)

    def test_a_failing_first_action_fails_the_run(
        self, store: ContextReferenceStore, clock: VirtualClock
    ) -> None:
        adapter = FakeAdapter(clock, failing=("create",))

        run = make_engine(store, clock).run(define(), INPUT, "u", adapter.execute)

        assert run.status is WorkflowStatus.FAILED
        assert statuses(run) == ["failed", "skipped", "skipped", "skipped"]
        assert adapter.effects == ["create"]

    def test_continue_on_error_lets_the_run_go_on(
        self, store: ContextReferenceStore, clock: VirtualClock
    ) -> None:
        data = copy.deepcopy(ISSUE_FLOW)
        data["steps"][2]["continue_on_error"] = True
        adapter = FakeAdapter(clock, failing=("notify",))

        run = make_engine(store, clock).run(define(data), INPUT, "u", adapter.execute)

        assert run.status is WorkflowStatus.PARTIAL
        assert statuses(run) == ["succeeded", "succeeded", "failed", "succeeded"]
        assert run.output_data == {"issue": 42, "notified": False}

    def test_without_fail_fast_every_step_runs(
        self, store: ContextReferenceStore, clock: VirtualClock
    ) -> None:
        definition = define(
            {
                "steps": [
                    {"name": "one", "app": "slack", "action": "send_message"},
                    {"name": "two", "app": "slack", "action": "send_message"},
                ]
            }
        )
        adapter = FakeAdapter(clock, failing=("one", "two"))

        run = make_engine(store, clock).run(
            definition, {}, "u", adapter.execute, execution_config={"fail_fast": False}
        )

        assert adapter.effects == ["one", "two"]
        assert run.status is WorkflowStatus.FAILED
        assert statuses(run) == ["failed", "failed"]

    @pytest.mark.parametrize(
        ("config", "fragment"),
        [
            (
                {"fail_fast": True, "retries": 3, "timeout": 1},
                "unknown key(s) 'retries', 'timeout'",
            ),
            ({"fail_fast": "yes"}, "fail_fast must be a bool, got 'yes'"),
            (["fail_fast"], "must be a mapping"),
        ],
    )
    def test_execution_config_is_checked(
        self,
        store: ContextReferenceStore,
        clock: VirtualClock,
        adapter: FakeAdapter,
        config: Any,
        fragment: str,
    ) -> None:
        with pytest.raises(ConfigError) as caught:
            make_engine(store, clock).run(define(), INPUT, "u", adapter.execute, config)

        assert fragment in str(caught.value)
        assert adapter.calls == []
        assert len(store) == 0

    @pytest.mark.parametrize(
        ("args", "fragment"),
        [
            (({"steps": []}, INPUT, "u"), "definition must be a WorkflowDefinition"),
            ((None, ["x"], "u"), "input_data must be a mapping, got list"),
            ((None, INPUT, ""), "user_id must be a non-empty str"),
        ],
    )
    def test_run_arguments_are_checked(
        self,
        store: ContextReferenceStore,
        clock: VirtualClock,
        adapter: FakeAdapter,
        args: tuple[Any, Any, Any],
        fragment: str,
    ) -> None:
        definition, input_data, user_id = args
        with pytest.raises(ConfigError, match=fragment):
            make_engine(store, clock).run(
                definition or define(), input_data, user_id, adapter.execute
            )

    def test_the_engine_needs_a_store(self) -> None:
        with pytest.raises(ConfigError, match="ContextReferenceStore, got dict"):
            WorkflowEngine({})  # type: ignore[arg-type]

    def test_input_that_is_not_json_is_refused_before_anything_runs(
        self, store: ContextReferenceStore, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        with pytest.raises(ContentTypeError, match=r"input_data\.when"):
            make_engine(store, clock).run(define(), {"when": {1, 2}}, "u", adapter.execute)

        assert adapter.calls == []


class TestEngineErrors:
    def run_expecting_error(
        self, store: ContextReferenceStore, clock: VirtualClock, definition: WorkflowDefinition,
        execute: Callable[[ActionRequest], Any],
    ) -> WorkflowRun:  # fmt: skip
        engine = make_engine(store, clock)
        run = engine.run(definition, INPUT, "u", execute)
        assert run.status is WorkflowStatus.ERROR
        assert run.to_dict()["error"] == run.error
        assert engine.load(run.execution_id) == run  # the error is checkpointed
        return run

    def test_execute_raising_is_recorded_naming_the_step(
        self,
        store: ContextReferenceStore,
        clock: VirtualClock,
        adapter: FakeAdapter,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        def flaky(request: ActionRequest) -> Execution:
            if request.step == "notify":
                raise RuntimeError("backend exploded")
            return adapter.execute(request)

        with caplog.at_level(logging.WARNING, logger="crs.tools"):
            run = self.run_expecting_error(store, clock, define(), flaky)

        assert run.error == (
            "step 2 'notify' (slack send_message): execute raised RuntimeError: backend exploded"
        )
        assert statuses(run) == ["succeeded", "succeeded", "failed", "skipped"]
        assert run.steps[2].error == run.error
        assert any(record.exc_info for record in caplog.records)

    def test_execute_returning_something_else_is_an_error(
        self, store: ContextReferenceStore, clock: VirtualClock
    ) -> None:
        run = self.run_expecting_error(store, clock, define(), lambda request: {"ok": True})

        assert run.error is not None
        assert "step 0 'create'" in run.error
        assert "returned dict, not an Execution" in run.error

    def test_an_expression_failing_at_runtime_is_an_error(
        self, store: ContextReferenceStore, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        data = copy.deepcopy(ISSUE_FLOW)
        data["steps"][3]["transform"]["n.$"] = "length(steps.create.data.number)"

        run = self.run_expecting_error(store, clock, define(data), adapter.execute)

        assert run.error is not None
        assert "step 3 'summary' field transform.n.$" in run.error
        assert "'length(steps.create.data.number)'" in run.error
        assert "invalid type for value: 42" in run.error
        assert statuses(run) == ["succeeded", "succeeded", "succeeded", "failed"]

    @pytest.mark.parametrize("where", ["params", "condition"])
    def test_a_failing_param_or_condition_stops_before_the_call(
        self,
        store: ContextReferenceStore,
        clock: VirtualClock,
        adapter: FakeAdapter,
        monkeypatch: pytest.MonkeyPatch,
        where: str,
    ) -> None:
        data = copy.deepcopy(ISSUE_FLOW)
        if where == "params":
            data["steps"][2]["params"]["n.$"] = "abs(input.title)"
        else:
            data["steps"][1]["condition"] = "abs(input.title)"
        written = spy_checkpoints(store, monkeypatch)

        run = self.run_expecting_error(store, clock, define(data), adapter.execute)

        assert adapter.effects == ["create"]
        assert "'abs(input.title)'" in (run.error or "")
        assert not any(started("notify")(doc) for doc in written)

    def test_action_data_a_checkpoint_cannot_hold_is_an_error(
        self, store: ContextReferenceStore, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        definition = define({"steps": [{"name": "odd", "app": "python", "action": "odd_value"}]})

        run = self.run_expecting_error(store, clock, definition, adapter.execute)

        assert "step 0 'odd'" in (run.error or "")
        assert "cannot be kept in a checkpoint" in (run.error or "")
        assert run.steps[0].execution_id == "exec_1"
        assert run.steps[0].data is None

    def test_raw_bytes_are_refused_too_because_a_checkpoint_is_json(
        self, store: ContextReferenceStore, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        definition = define({"steps": [{"name": "raw", "app": "python", "action": "raw_bytes"}]})

        run = self.run_expecting_error(store, clock, definition, adapter.execute)

        assert "step 0 'raw'" in (run.error or "")
        assert "cannot be kept in a checkpoint" in (run.error or "")


class TestCheckpoints:
    def test_a_checkpoint_before_each_action_and_after_every_step(
        self,
        store: ContextReferenceStore,
        clock: VirtualClock,
        adapter: FakeAdapter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        written = spy_checkpoints(store, monkeypatch)

        run = make_engine(store, clock).run(define(), INPUT, "u", adapter.execute)

        timeline = [
            (
                doc["generation"],
                doc["status"],
                doc["next_step"],
                [s["status"] for s in doc["steps"]],
            )
            for doc in written
        ]
        assert timeline == [
            (1, "running", 0, []),
            (2, "running", 0, ["started"]),
            (3, "running", 1, ["succeeded"]),
            (4, "running", 2, ["succeeded"] * 2),
            (5, "running", 2, ["succeeded"] * 2 + ["started"]),
            (6, "running", 3, ["succeeded"] * 3),
            (7, "completed", 4, ["succeeded"] * 4),
        ]
        assert head(store, run.execution_id) == (7, run.checkpoint_ref)

    def test_the_document_is_format_tagged_and_complete(
        self, store: ContextReferenceStore, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        run = make_engine(store, clock).run(
            define(), INPUT, "u", adapter.execute, {"fail_fast": False}
        )

        doc = store.retrieve(run.checkpoint_ref or "")
        assert (doc["format"], doc["version"], doc["workflow"]) == (RUN_FORMAT, 1, "issue_flow")
        assert doc["definition"] == define().to_json()
        assert (doc["input_data"], doc["user_id"]) == (INPUT, "u")
        assert doc["execution_config"] == {"fail_fast": False}
        assert doc["output_data"] == run.output_data
        assert doc["finished_at"] == run.finished_at
        meta = store.get_metadata(run.checkpoint_ref or "")
        assert meta.content_type == "application/vnd.crs.workflow-run"
        assert meta.priority > 0

    def test_superseded_documents_are_released(
        self, store: ContextReferenceStore, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        engine = make_engine(store, clock)
        first = engine.run(define(), INPUT, "u", adapter.execute)
        assert len(store) == 4  # two head slots and the two newest documents
        engine.run(define(), INPUT, "u", adapter.execute)

        assert len(store) == 8
        assert engine.load(first.execution_id) == first

    def test_unknown_runs_are_not_found(
        self, store: ContextReferenceStore, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        engine = make_engine(store, clock)

        with pytest.raises(WorkflowNotFoundError, match="'wf_nope'"):
            engine.load("wf_nope")
        with pytest.raises(WorkflowNotFoundError):
            engine.resume("wf_nope", adapter.execute)

    @pytest.mark.parametrize(
        ("document", "fragment"),
        [
            ({"format": "something.else"}, "not a workflow checkpoint document"),
            ({"format": RUN_FORMAT, "version": 9}, "version 9 is unsupported"),
            ("plain text", "not a workflow checkpoint document"),
        ],
    )
    def test_a_document_that_is_not_a_checkpoint_is_reported(
        self, store: ContextReferenceStore, clock: VirtualClock, document: Any, fragment: str
    ) -> None:
        slots = HeadSlots(store, "crs.tools workflow run 'wf_bad'")
        slots.read()
        slots.write(1, store.store(document))

        with pytest.raises(WorkflowError) as caught:
            make_engine(store, clock).load("wf_bad")

        assert "'wf_bad'" in str(caught.value)
        assert fragment in str(caught.value)

    @pytest.mark.parametrize(
        ("change", "fragment"),
        [
            (lambda doc: doc.update(generation=3), "the document says generation 3"),
            (lambda doc: doc.update(next_step=3), "next_step 3 does not follow"),
            (lambda doc: doc["steps"].reverse(), "outcome 0 does not match step 0 'create'"),
            (lambda doc: doc.update(definition={"steps": []}), "field steps must be a non-empty"),
            (lambda doc: doc.update(finished_at=None), "disagrees with finished_at"),
        ],
    )
    def test_an_inconsistent_checkpoint_is_reported(
        self,
        store: ContextReferenceStore,
        clock: VirtualClock,
        adapter: FakeAdapter,
        change: Callable[[dict[str, Any]], None],
        fragment: str,
    ) -> None:
        run = make_engine(store, clock).run(define(), INPUT, "u", adapter.execute)
        doc = store.retrieve(run.checkpoint_ref or "")
        change(doc)
        slots = HeadSlots(store, f"crs.tools workflow run {run.execution_id!r}")
        slots.read()
        slots.write(8, store.store(doc))

        with pytest.raises(WorkflowError, match="checkpoint generation 8 is unreadable") as caught:
            make_engine(store, clock).load(run.execution_id)

        assert fragment in str(caught.value)

    def test_a_lost_document_is_reported(
        self, store: ContextReferenceStore, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        run = make_engine(store, clock).run(define(), INPUT, "u", adapter.execute)
        store.delete(run.checkpoint_ref or "", force=True)

        with pytest.raises(WorkflowError, match="generation 7 is unreadable: its document is gone"):
            make_engine(store, clock).resume(run.execution_id, adapter.execute)


Opener = Callable[[], ContextReferenceStore]


@pytest.fixture
def open_disk_store(tmp_path: Path, clock: VirtualClock) -> Iterator[Opener]:
    """Opens a store on the same disk path each call (a process restart); closes them all."""
    opened: list[ContextReferenceStore] = []

    def open_store() -> ContextReferenceStore:
        opened.append(
            ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path / "s", clock=clock)
        )
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()


def crash_in_notify(
    open_store: Opener, clock: VirtualClock, adapter: FakeAdapter
) -> tuple[ContextReferenceStore, str]:
    """Run ISSUE_FLOW until the adapter dies inside 'notify', then restart on the same disk.

    Returns the second store and the run's id; the first store is closed, as after a crash.
    """
    adapter.crash_in = "notify"
    first = open_store()
    engine = make_engine(first, clock, adapter)
    with pytest.raises(Crash):
        engine.run(define(), INPUT, "user_123", adapter.execute)
    (execution_id,) = {call.execution_id for call in adapter.calls}
    first.close()
    return open_store(), execution_id


class TestResume:
    def test_a_crash_leaves_the_step_started_and_writes_nothing_more(
        self,
        store: ContextReferenceStore,
        clock: VirtualClock,
        adapter: FakeAdapter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        written = spy_checkpoints(store, monkeypatch)
        adapter.crash_in = "notify"

        with pytest.raises(Crash):
            make_engine(store, clock).run(define(), INPUT, "u", adapter.execute)

        assert started("notify")(written[-1])
        run = make_engine(store, clock).load(adapter.calls[0].execution_id)
        assert run.status is WorkflowStatus.RUNNING
        assert run.finished_at is None
        assert statuses(run) == ["succeeded", "succeeded", "started"]
        assert head(store, run.execution_id)[0] == written[-1]["generation"] == 5

    def test_a_crash_between_steps_resumes_at_the_next_step_after_a_restart(
        self, open_disk_store: Opener, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        first = open_disk_store()
        with pytest.MonkeyPatch.context() as patch:
            spy_checkpoints(first, patch, crash_if=started("notify"))
            with pytest.raises(Crash):
                make_engine(first, clock, adapter).run(define(), INPUT, "u", adapter.execute)
        (execution_id,) = {call.execution_id for call in adapter.calls}
        first.close()
        second = open_disk_store()

        run = make_engine(second, clock, adapter).resume(execution_id, adapter.execute)

        assert adapter.effects == ["create", "notify"]  # create was not run again
        assert run.status is WorkflowStatus.COMPLETED
        assert run.output_data == {"issue": 42, "notified": True}
        assert run.steps[0].execution_id == "exec_1"
        assert run.started_at == VirtualClock.DEFAULT_START

    def test_an_action_in_doubt_is_not_rerun_without_permission(
        self, open_disk_store: Opener, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        store, execution_id = crash_in_notify(open_disk_store, clock, adapter)
        engine = make_engine(store, clock, adapter)
        before = head(store, execution_id)

        with pytest.raises(WorkflowResumeError) as caught:
            engine.resume(execution_id, adapter.execute)

        message = str(caught.value)
        assert "step 2 'notify' (slack send_message)" in message
        assert "may have executed" in message
        assert "rerun_in_doubt=True" in (caught.value.hint or "")
        assert caught.value.workflow == "issue_flow"
        assert head(store, execution_id) == before  # nothing written
        assert adapter.effects == ["create", "notify"]

    def test_rerun_in_doubt_runs_the_step_again(
        self, open_disk_store: Opener, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        store, execution_id = crash_in_notify(open_disk_store, clock, adapter)

        run = make_engine(store, clock, adapter).resume(
            execution_id, adapter.execute, rerun_in_doubt=True
        )

        assert adapter.effects == ["create", "notify", "notify"]
        assert run.status is WorkflowStatus.COMPLETED
        assert statuses(run) == ["succeeded"] * 4
        assert run.steps[2].execution_id == "exec_3"

    def test_a_recorded_execution_is_reused_instead_of_rerun(
        self, open_disk_store: Opener, clock: VirtualClock
    ) -> None:
        adapter = FakeAdapter(clock, crash_after_record=True)
        store, execution_id = crash_in_notify(open_disk_store, clock, adapter)

        run = make_engine(store, clock, adapter).resume(execution_id, fail_if_called)

        assert adapter.effects == ["create", "notify"]
        assert run.status is WorkflowStatus.COMPLETED
        assert run.steps[2].execution_id == "exec_2"
        assert run.steps[2].execution_time_ms == 250.0
        assert run.output_data == {"issue": 42, "notified": True}

    def test_an_unsuccessful_recorded_execution_follows_fail_fast(
        self, open_disk_store: Opener, clock: VirtualClock
    ) -> None:
        adapter = FakeAdapter(clock, failing=("notify",), crash_after_record=True)
        store, execution_id = crash_in_notify(open_disk_store, clock, adapter)

        run = make_engine(store, clock, adapter).resume(execution_id, fail_if_called)

        assert run.status is WorkflowStatus.PARTIAL
        assert statuses(run) == ["succeeded", "succeeded", "failed", "skipped"]

    def test_a_read_only_action_in_doubt_is_rerun(
        self, store: ContextReferenceStore, clock: VirtualClock
    ) -> None:
        definition = define(
            {
                "steps": [
                    {"name": "list", "app": "github", "action": "list_issues"},
                    {"type": "transform", "transform": {"n.$": "length(steps.list.data.issues)"}},
                ]
            }
        )
        adapter = FakeAdapter(clock, crash_in="list")
        engine = make_engine(store, clock)
        with pytest.raises(Crash):
            engine.run(definition, {}, "u", adapter.execute)

        run = engine.resume(adapter.calls[0].execution_id, adapter.execute)

        assert adapter.effects == ["list", "list"]
        assert run.status is WorkflowStatus.COMPLETED
        assert run.output_data == {"n": 1}

    def test_resuming_a_finished_run_changes_nothing(
        self, store: ContextReferenceStore, clock: VirtualClock
    ) -> None:
        adapter = FakeAdapter(clock, failing=("notify",))
        engine = make_engine(store, clock, adapter)
        run = engine.run(define(), INPUT, "u", adapter.execute)
        before = head(store, run.execution_id)

        resumed = engine.resume(run.execution_id, fail_if_called, rerun_in_doubt=True)

        assert resumed == run
        assert resumed.status is WorkflowStatus.PARTIAL
        assert head(store, run.execution_id) == before

    def test_resuming_an_errored_run_changes_nothing(
        self, store: ContextReferenceStore, clock: VirtualClock
    ) -> None:
        engine = make_engine(store, clock)
        run = engine.run(define(), INPUT, "u", lambda request: None)  # type: ignore[arg-type,return-value]

        assert engine.resume(run.execution_id, fail_if_called) == run
        assert run.status is WorkflowStatus.ERROR

    def test_time_spent_down_is_not_counted(
        self, open_disk_store: Opener, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        store, execution_id = crash_in_notify(open_disk_store, clock, adapter)
        assert make_engine(store, clock).load(execution_id).total_time_ms == 250.0
        clock.advance(3600)

        run = make_engine(store, clock).resume(execution_id, adapter.execute, rerun_in_doubt=True)

        assert run.total_time_ms == 500.0
        assert run.finished_at == VirtualClock.DEFAULT_START + 3600.75

    def test_two_engines_cannot_both_advance_a_run(
        self, store: ContextReferenceStore, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        adapter.crash_in = "notify"
        with pytest.raises(Crash):
            make_engine(store, clock).run(define(), INPUT, "u", adapter.execute)
        execution_id = adapter.calls[0].execution_id
        other = make_engine(store, clock)

        def racing(request: ActionRequest) -> Execution:
            other.resume(execution_id, adapter.execute, rerun_in_doubt=True)
            return adapter.execute(request)

        with pytest.raises(WorkflowError, match="advanced by another engine"):
            make_engine(store, clock).resume(execution_id, racing, rerun_in_doubt=True)
        assert other.load(execution_id).status is WorkflowStatus.COMPLETED


class TestAsync:
    def test_arun_matches_run(
        self, store: ContextReferenceStore, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        engine = make_engine(store, clock)

        run = asyncio.run(engine.arun(define(), INPUT, "u", adapter.aexecute))

        assert run.status is WorkflowStatus.COMPLETED
        assert run.output_data == {"issue": 42, "notified": True}
        assert [call.step for call in adapter.calls] == ["create", "notify"]
        assert clock.sleeps == [0.25, 0.25]
        assert run.total_time_ms == 500.0
        assert engine.load(run.execution_id) == run

    def test_an_async_execute_raising_is_recorded(
        self, store: ContextReferenceStore, clock: VirtualClock
    ) -> None:
        async def broken(request: ActionRequest) -> Execution:
            raise ValueError(f"no connection for {request.app}")

        run = asyncio.run(make_engine(store, clock).arun(define(), INPUT, "u", broken))

        assert run.status is WorkflowStatus.ERROR
        assert run.error == (
            "step 0 'create' (github create_issue): execute raised ValueError: "
            "no connection for github"
        )

    def test_aresume_continues_a_crashed_run(
        self, open_disk_store: Opener, clock: VirtualClock, adapter: FakeAdapter
    ) -> None:
        store, execution_id = crash_in_notify(open_disk_store, clock, adapter)
        engine = make_engine(store, clock, adapter)

        with pytest.raises(WorkflowResumeError):
            asyncio.run(engine.aresume(execution_id, adapter.aexecute))
        run = asyncio.run(engine.aresume(execution_id, adapter.aexecute, rerun_in_doubt=True))

        assert run.status is WorkflowStatus.COMPLETED
        assert adapter.effects == ["create", "notify", "notify"]
        assert engine.load(execution_id) == run

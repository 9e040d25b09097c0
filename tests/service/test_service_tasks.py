"""TaskBoard: tasks as records in the store behind their own head slots.

The point of keeping tasks in the store instead of a dict is that every board on the same
store — another object, a process reopening a disk store, another process on Redis — sees and
moves the same task, and never two of them from the same state. Records are read by whoever
holds an id, so what they keep of a runner's answer must be redacted.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from crs import ContextReferenceStore, HeadConflictError, VirtualClock
from crs.service import (
    TaskBoard,
    TaskError,
    TaskIdError,
    TaskNotFoundError,
    TaskStateError,
    TaskStatus,
)

KEY = "sk-proj-abcdefghijklmnopqrstuvwx"


@pytest.fixture
def board(crs_store: ContextReferenceStore) -> TaskBoard:
    return TaskBoard(crs_store)


def test_a_new_task_is_queued_under_a_fresh_uuid4_hex_id(
    board: TaskBoard, crs_clock: VirtualClock
) -> None:
    record = board.create("summarise issue 42")
    assert record.status is TaskStatus.QUEUED
    assert len(record.task_id) == 32
    assert int(record.task_id, 16) >= 0
    assert record.session_id == record.task_id  # the seed's default
    assert record.created_at == crs_clock.now()
    assert (record.started_at, record.finished_at, record.result, record.error) == (
        None,
        None,
        None,
        None,
    )
    assert board.get(record.task_id) == record
    assert board.create("again", session_id="s-1").task_id != record.task_id


def test_start_and_finish_stamp_times_on_the_crs_clock(
    board: TaskBoard, crs_clock: VirtualClock
) -> None:
    created = board.create("t", session_id="chat-7")
    crs_clock.advance(5)
    running = board.start(created.task_id)
    crs_clock.advance(30)
    done = board.finish(created.task_id, {"status": "success", "result": "ok", "duration": 30})

    assert running.status is TaskStatus.RUNNING
    assert running.started_at == created.created_at + 5
    assert done.status is TaskStatus.SUCCEEDED
    assert done.finished_at == created.created_at + 35
    assert done.result == "ok"
    assert done.error is None
    assert done.outcome == {"status": "success", "result": "ok", "duration": 30}
    assert done.session_id == "chat-7"
    assert board.get(created.task_id) == done


@pytest.mark.parametrize("status", ["success", "completed", "SUCCEEDED", "ok"])
def test_success_statuses_succeed(board: TaskBoard, status: str) -> None:
    task_id = board.create("t").task_id
    board.start(task_id)
    assert board.finish(task_id, {"status": status}).status is TaskStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("outcome", "error"),
    [
        ({"status": "error", "error": "rate_limit: slow down"}, "rate_limit: slow down"),
        ({"status": "failed"}, "the runner reported status 'failed'"),
        ({"result": "no status"}, "the runner's result has no 'status'"),
        (["not", "a", "mapping"], "the runner returned a list, not a mapping with a 'status'"),
    ],
)
def test_anything_but_a_success_status_fails_with_a_reason(
    board: TaskBoard, outcome: Any, error: str
) -> None:
    task_id = board.create("t").task_id
    board.start(task_id)
    record = board.finish(task_id, outcome)
    assert record.status is TaskStatus.FAILED
    assert record.error == error


def test_what_is_recorded_of_a_runner_is_redacted(board: TaskBoard) -> None:
    task_id = board.create("t").task_id
    board.start(task_id)
    record = board.finish(
        task_id,
        {
            "status": "error",
            "error": f"auth: Incorrect API key provided: {KEY}",
            "debug": {"api_key": "hunter2", "note": f"Bearer {KEY}"},
        },
    )
    text = repr(record.to_dict())
    assert KEY not in text
    assert "hunter2" not in text
    assert record.outcome is not None
    assert record.outcome["debug"]["api_key"] == "[REDACTED]"
    assert record.error == "auth: Incorrect API key provided: [REDACTED]"


def test_a_runner_exception_is_kept_as_type_and_redacted_message(board: TaskBoard) -> None:
    task_id = board.create("t").task_id
    board.start(task_id)
    record = board.fail(task_id, RuntimeError(f"upstream said api_key={KEY}"))
    assert record.status is TaskStatus.FAILED
    assert record.error == "RuntimeError: upstream said api_key=[REDACTED]"


def test_values_the_store_cannot_keep_are_described_not_fatal(board: TaskBoard) -> None:
    task_id = board.create("t").task_id
    board.start(task_id)
    record = board.finish(task_id, {"status": "success", "result": {1, 2}, "n": 3})
    assert record.status is TaskStatus.SUCCEEDED
    assert record.outcome is not None
    assert record.outcome["n"] == 3
    assert record.outcome["result"]["unstorable"] == "set"
    assert board.get(task_id) == record


@pytest.mark.parametrize(
    ("moves", "action", "message"),
    [
        ([], "finish", "cannot finish task '{id}': it is queued, not running"),
        (["start"], "start", "cannot start task '{id}': it is running, not queued"),
        (["start", "finish"], "fail", "cannot fail task '{id}': it is succeeded, not queued or"),
    ],
)
def test_a_task_moves_forward_once(
    board: TaskBoard, moves: list[str], action: str, message: str
) -> None:
    task_id = board.create("t").task_id
    steps = {
        "start": lambda: board.start(task_id),
        "finish": lambda: board.finish(task_id, {"status": "success"}),
        "fail": lambda: board.fail(task_id, "x"),
    }
    for move in moves:
        steps[move]()
    with pytest.raises(TaskStateError, match="^" + message.format(id=task_id)) as caught:
        steps[action]()
    assert caught.value.task_id == task_id


def test_unknown_and_malformed_ids_are_typed_errors_naming_the_id(board: TaskBoard) -> None:
    missing = "0" * 32
    with pytest.raises(TaskNotFoundError, match=f"no task has id '{missing}'") as caught:
        board.get(missing)
    assert isinstance(caught.value, LookupError)
    assert caught.value.hint

    with pytest.raises(TaskIdError, match="task id 'ABC' is not a task id: expected 32") as bad:
        board.get("ABC")
    assert isinstance(bad.value, ValueError)


def test_a_malformed_id_is_shown_bounded_and_redacted(board: TaskBoard) -> None:
    with pytest.raises(TaskIdError) as caught:
        board.get(f"{KEY}{'x' * 500}")
    assert KEY not in str(caught.value)
    assert len(caught.value.task_id) <= 40
    assert len(str(caught.value)) < 300


def test_each_task_keeps_two_slots_and_at_most_two_records(
    crs_store: ContextReferenceStore, board: TaskBoard
) -> None:
    task_id = board.create("t").task_id
    board.start(task_id)
    board.finish(task_id, {"status": "success"})
    assert len(crs_store) == 4  # slots A and B, generations 2 and 3 (1 was released)


def test_another_board_on_the_same_store_sees_and_moves_the_task(
    crs_store: ContextReferenceStore, board: TaskBoard
) -> None:
    other = TaskBoard(crs_store)
    task_id = board.create("t").task_id
    other.start(task_id)
    assert board.get(task_id).status is TaskStatus.RUNNING
    board.finish(task_id, {"status": "success", "result": 1})
    assert other.get(task_id).result == 1


def test_boards_with_different_names_do_not_share_tasks(
    crs_store: ContextReferenceStore, board: TaskBoard
) -> None:
    task_id = board.create("t").task_id
    with pytest.raises(TaskNotFoundError, match="service 'billing'"):
        TaskBoard(crs_store, name="billing").get(task_id)


def test_a_reopened_disk_store_still_has_the_tasks(tmp_path: Path, crs_clock: VirtualClock) -> None:
    path = tmp_path / "tasks"
    with ContextReferenceStore(use_disk_storage=True, disk_path=path) as store:
        board = TaskBoard(store)
        task_id = board.create("t").task_id
        board.start(task_id)
        done = board.finish(task_id, {"status": "success", "result": "kept"})
    with ContextReferenceStore(use_disk_storage=True, disk_path=path) as reopened:
        assert TaskBoard(reopened).get(task_id) == done


def test_only_one_of_many_racing_boards_starts_a_task(
    crs_store: ContextReferenceStore, race: Any
) -> None:
    task_id = TaskBoard(crs_store).create("t").task_id
    wins: list[int] = []
    losses: list[BaseException] = []
    lock = threading.Lock()

    def start() -> None:
        try:
            TaskBoard(crs_store).start(task_id)
        except (TaskStateError, HeadConflictError) as exc:
            with lock:
                losses.append(exc)
        else:
            with lock:
                wins.append(1)

    race(start)
    assert len(wins) == 1
    assert len(losses) == 7
    assert TaskBoard(crs_store).get(task_id).generation == 2


def test_forget_removes_the_task(crs_store: ContextReferenceStore, board: TaskBoard) -> None:
    task_id = board.create("t").task_id
    assert board.forget(task_id) is True
    assert len(crs_store) == 0
    with pytest.raises(TaskNotFoundError):
        board.get(task_id)
    assert board.forget(task_id) is False


def test_a_lost_record_is_reported_not_misread(
    crs_store: ContextReferenceStore, board: TaskBoard
) -> None:
    record = board.create("t")
    crs_store.delete(crs_store.store(record.to_json()), force=True)
    with pytest.raises(TaskError, match="record generation 1 is unreadable: it is gone"):
        board.get(record.task_id)


def test_the_repr_of_a_record_leaves_out_the_task_text(board: TaskBoard) -> None:
    record = board.create(f"deploy with token {KEY}")
    assert KEY not in repr(record)
    assert record.task_id in repr(record)


def test_a_board_without_a_store_owns_one(crs_clock: VirtualClock) -> None:
    board = TaskBoard()
    task_id = board.create("t").task_id
    assert board.get(task_id).status is TaskStatus.QUEUED
    board.close()


def test_bad_arguments_are_refused(crs_store: ContextReferenceStore) -> None:
    with pytest.raises(TypeError, match="store must be a ContextReferenceStore"):
        TaskBoard({})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        TaskBoard(crs_store, name=" ")
    with pytest.raises(TypeError, match="task must be a str"):
        TaskBoard(crs_store).create(3)  # type: ignore[arg-type]

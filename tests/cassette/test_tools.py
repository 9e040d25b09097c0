"""Users' own Python tools recorded and replayed at the adapter seam."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from crs import ContextReferenceStore
from crs.cassette._cassette import Cassette
from crs.cassette._tools import RecordedToolError, ToolRecorder
from crs.errors import CassetteError, CassetteMismatchError
from crs.resilience import Classification, ErrorType, classify
from crs.tools import CallableBackend, ComposioAdapter, ToolResult
from crs.tools._seam import installed_tool_seam


class Shop:
    def __init__(self) -> None:
        self.calls = 0

    def lookup(self, order_id: int) -> dict[str, Any]:
        self.calls += 1
        if order_id < 0:
            raise TimeoutError("warehouse timed out")
        return {"id": order_id, "status": "paid", "token": "tok_live_123"}


def run_session(path: Path, mode: str, shop: Shop, crs_store: ContextReferenceStore) -> list[Any]:
    cassette = Cassette(path, mode=mode)
    adapter = ComposioAdapter(crs_store, CallableBackend({"lookup": shop.lookup}))
    with installed_tool_seam(ToolRecorder(cassette)):
        found = adapter.execute_tool_with_context("shop", "lookup", {"order_id": 7}, "u1")
        failed = adapter.execute_tool_with_context("shop", "lookup", {"order_id": -1}, "u1")
        later = asyncio.run(
            adapter.aexecute_tool_with_context("shop", "lookup", {"order_id": 8}, "u1")
        )
    cassette.save()
    assert cassette.unplayed() == []
    return [found.data, (failed.successful, failed.error_type), later.data]


def test_record_then_replay_without_the_tool(
    tmp_path: Path, crs_store: ContextReferenceStore, crs_clock: Any
) -> None:
    live_shop, offline_shop = Shop(), Shop()
    path = tmp_path / "shop.yaml"

    recorded = run_session(path, "once", live_shop, crs_store)
    replayed = run_session(path, "none", offline_shop, crs_store)

    assert offline_shop.calls == 0
    assert live_shop.calls == 1 + 3 + 1  # the timeout is retried (a read), as it will be again
    assert replayed[1] == (False, ErrorType.TIMEOUT)
    assert replayed[0] == {"id": 7, "status": "paid", "token": "[REDACTED]"}
    assert recorded[0]["token"] == "tok_live_123"  # the live caller saw the real value
    text = path.read_text()
    assert "kind: tool" in text
    assert "shop lookup: failed: warehouse timed out" in text
    assert "tok_live_123" not in text


def test_an_unrecorded_call_is_refused_and_remembered(
    tmp_path: Path, crs_store: ContextReferenceStore
) -> None:
    cassette = Cassette(tmp_path / "none.yaml")
    adapter = ComposioAdapter(crs_store, CallableBackend({"lookup": Shop().lookup}))

    with (
        installed_tool_seam(ToolRecorder(cassette)),
        pytest.raises(CassetteMismatchError) as caught,
    ):
        adapter.execute_tool_with_context("shop", "lookup", {"order_id": 1}, "u1")

    assert cassette.mismatches == [caught.value]  # the plugin also fails the test at teardown
    (recorded,) = adapter.get_execution_history()  # and the adapter's journal says what happened
    assert recorded.error_type is ErrorType.UNKNOWN
    assert "tool call shop lookup for user 'u1'" in str(cassette.mismatches[0])


def test_replayed_exceptions_carry_their_classification() -> None:
    error = RecordedToolError(
        "TimeoutError", "slow", classification=Classification(ErrorType.TIMEOUT, retryable=True)
    )

    assert classify(error).kind is ErrorType.TIMEOUT


def test_data_a_cassette_cannot_hold_is_a_clear_error(tmp_path: Path) -> None:
    recorder = ToolRecorder(Cassette(tmp_path / "c.yaml", mode="once"))

    with pytest.raises(CassetteError, match="cannot hold exactly"):
        recorder.execute("py", "make", {}, "u", lambda: ToolResult(True, {1, 2}))

"""Faults on top of a cassette: a cassette recorded without faults replays unchanged with faults
added, because a faulted attempt consumes no recording and records nothing.

Replies and failures are answered above vcrpy, so the cassette never sees them; a cut stream
must reach the cassette (its first events come from somewhere), so it is answered from the
recording without consuming it, and while recording it goes live without being kept.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import httpx2
import pytest
import requests
from test_transport import FLAVOURS, Script, Server, fetch, sse

from crs.cassette._cassette import Cassette
from crs.cassette._http import VcrBridge, intercepting
from crs.errors import CassetteMismatchError
from pytest_crs.faults._transport import faulty_transports
from pytest_crs.faults._wire import Cut, Fail, Failure, Reply


def record(path: Path, flavour: str, *paths: str) -> str:
    """Record ``paths`` from a loopback server that is gone afterwards; returns its URL."""
    with Server() as server:
        cassette = Cassette(path, mode="once")
        with intercepting(VcrBridge(cassette)):
            for each in paths:
                assert fetch(flavour, server.url + each).error is None
        assert cassette.save()
        return server.url


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_faulted_attempts_leave_the_recordings_for_the_retry(flavour: str, tmp_path: Path) -> None:
    path = tmp_path / "session.yaml"
    url = record(path, flavour, "/plain", "/events?n=3")
    cassette = Cassette(path)  # replay only, and nothing listens at ``url`` any more
    bridge = VcrBridge(cassette)
    gate = Script(Reply(503), Fail(Failure.RESET_AFTER_SEND), None, Cut(1), None)

    with intercepting(bridge), faulty_transports(gate, bridge=bridge):
        assert fetch(flavour, url + "/plain").status == 503
        assert cassette.unplayed() == [0, 1]
        with pytest.raises(
            (httpx.TransportError, httpx2.TransportError, requests.RequestException)
        ):
            fetch(flavour, url + "/plain")
        assert cassette.unplayed() == [0, 1]
        assert fetch(flavour, url + "/plain").status == 200  # the retry gets the recording
        assert cassette.unplayed() == [1]

        cut = fetch(flavour, url + "/events?n=3")
        assert cut.error is not None
        assert cut.body == sse(3)[0]  # the first event came from the recording...
        assert cassette.unplayed() == [1]  # ...which is still there for the retry
        whole = fetch(flavour, url + "/events?n=3")
        assert whole.error is None
        assert whole.body == b"".join(sse(3))

    assert cassette.unplayed() == []
    assert cassette.mismatches == []
    assert cassette.play_counts == [1, 1]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_cut_while_recording_goes_live_and_is_not_kept(flavour: str, tmp_path: Path) -> None:
    path = tmp_path / "session.yaml"
    cassette = Cassette(path, mode="once")
    bridge = VcrBridge(cassette)
    with Server() as server, intercepting(bridge), faulty_transports(Script(Cut(2)), bridge=bridge):
        cut = fetch(flavour, server.url + "/events?n=4")
        assert cut.error is not None
        assert cut.body == b"".join(sse(4)[:2])
        assert cassette.new == []
        assert len(server.hits) == 1  # it did go out
        assert fetch(flavour, server.url + "/events?n=4").error is None
        assert len(cassette.new) == 1
    assert cassette.save()

    replay = Cassette(path)
    with intercepting(VcrBridge(replay)):
        assert fetch(flavour, server.url + "/events?n=4").body == b"".join(sse(4))
    assert replay.unplayed() == []


@pytest.mark.parametrize("flavour", ["httpx2", "requests"])
def test_a_cut_with_no_recording_fails_as_any_unrecorded_request(
    flavour: str, tmp_path: Path
) -> None:
    cassette = Cassette(tmp_path / "missing.yaml")
    bridge = VcrBridge(cassette)
    with (
        intercepting(bridge),
        faulty_transports(Script(Cut(1)), bridge=bridge),
        pytest.raises(CassetteMismatchError, match="the cassette does not exist"),
    ):
        fetch(flavour, "http://127.0.0.1:9/events")
    assert len(cassette.mismatches) == 1


def test_the_cassette_is_untouched_only_in_the_faulted_context(tmp_path: Path) -> None:
    cassette = Cassette(tmp_path / "session.yaml", mode="once")
    bridge = VcrBridge(cassette)
    with Server() as server, intercepting(bridge), bridge.unrecorded():
        fetch("httpx2", server.url + "/here")
        other = threading.Thread(target=fetch, args=("httpx2", server.url + "/elsewhere"))
        other.start()
        other.join()
    assert [item["request"]["url"] for item in cassette.new] == ["http://loopback/elsewhere"]


def test_peek_finds_what_find_would_without_playing_it(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    with Server() as server:
        cassette = Cassette(path, mode="once")
        with intercepting(VcrBridge(cassette)):
            fetch("httpx2", server.url + "/same")
            fetch("httpx2", server.url + "/same")
        cassette.save()

    for repeats in (False, True):
        replay = Cassette(path, allow_repeats=repeats)
        args = ("GET", "http://127.0.0.1:1/same", {}, b"")
        first = replay.peek_live(*args)
        assert first is replay.recorded[0]
        assert replay.peek_live(*args) is first
        assert replay.unplayed() == [0, 1]
        assert replay.find_live(*args) is first
        assert replay.peek_live(*args) is replay.recorded[1]
        assert replay.find_live(*args) is replay.recorded[1]
        expected = replay.recorded[1] if repeats else None
        assert replay.peek_live(*args) is expected
        assert replay.find_live(*args) is expected
        assert replay.play_counts == ([1, 2] if repeats else [1, 1])
        assert Cassette(path, mode="all").peek_live(*args) is None  # nothing is replayed


def transport_patches() -> list[object]:
    return [
        httpx.HTTPTransport.__dict__["handle_request"],
        httpx.AsyncHTTPTransport.__dict__["handle_async_request"],
        httpx2.HTTPTransport.__dict__["handle_request"],
        httpx2.AsyncHTTPTransport.__dict__["handle_async_request"],
        httpx.Client.__dict__["_send_single_request"],
        httpx2.AsyncClient.__dict__["_send_single_request"],
        requests.adapters.HTTPAdapter.__dict__["send"],
    ]


def test_faults_stack_on_vcrpy_and_both_come_off_exactly(tmp_path: Path) -> None:
    import vcr.patch

    before = transport_patches()
    bridge = VcrBridge(Cassette(tmp_path / "x.yaml"))
    with intercepting(bridge):
        under_vcr = transport_patches()
        with faulty_transports(Script(), bridge=bridge):
            faulted = transport_patches()
            assert faulted[:4] == under_vcr[:4]  # vcrpy's stubs stay below
            assert all(a is not b for a, b in zip(faulted[4:], under_vcr[4:], strict=True))
        assert all(a is b for a, b in zip(transport_patches(), under_vcr, strict=True))
    assert all(a is b for a, b in zip(transport_patches(), before, strict=True))
    assert vcr.patch._HttpxHttpTransport_handle_request is before[0]  # vcrpy kept the real one

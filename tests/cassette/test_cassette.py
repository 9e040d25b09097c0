"""Record modes, ordered replay, repeats, strictness and merging, without any HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crs.cassette._cassette import Cassette, RecordMode
from crs.cassette._file import read_cassette
from crs.errors import CassetteMismatchError


def call(n: int, *, user: str = "u") -> dict[str, Any]:
    return {"app": "shop", "action": "lookup", "user_id": user, "params": {"n": n}}


def interaction(n: int, answer: Any, **kw: Any) -> dict[str, Any]:
    return {
        "kind": "tool",
        "summary": f"shop lookup {n}",
        "request": call(n, **kw),
        "response": {"successful": True, "data": answer, "error": None},
    }


def recorded(path: Path, *items: dict[str, Any]) -> Path:
    session = Cassette(path, mode="rewrite")
    for item in items:
        session.record(item)
    assert session.save()
    return path


def test_identical_requests_replay_in_recorded_order(tmp_path: Path) -> None:
    path = recorded(tmp_path / "c.yaml", interaction(1, "first"), interaction(1, "second"))
    session = Cassette(path)

    answers = [
        session.find("tool", call(1)),
        session.find("tool", call(1)),
        session.find("tool", call(1)),
    ]

    assert [a and a["response"]["data"] for a in answers] == ["first", "second", None]
    assert session.unplayed() == []


def test_repeats_are_opt_in(tmp_path: Path) -> None:
    path = recorded(tmp_path / "c.yaml", interaction(1, "only"))
    session = Cassette(path, allow_repeats=True)

    assert [session.find("tool", call(1))["response"]["data"] for _ in range(3)] == ["only"] * 3  # type: ignore[index]
    assert session.play_counts == [3]


def test_unplayed_recordings_are_reported(tmp_path: Path) -> None:
    path = recorded(tmp_path / "c.yaml", interaction(1, "a"), interaction(2, "b"))
    session = Cassette(path)
    session.find("tool", call(2))
    assert session.unplayed() == [0]


def test_none_never_records_and_explains_how_to(tmp_path: Path) -> None:
    session = Cassette(tmp_path / "missing.yaml")

    assert not session.can_record
    error = session.unmatched("tool shop lookup {'n': 1}")
    assert isinstance(error, CassetteMismatchError)
    assert "does not exist" in str(error)
    assert "--crs-record-mode=once" in str(error)
    assert not session.save()
    assert not (tmp_path / "missing.yaml").exists()


def test_once_records_a_new_cassette_but_never_extends_one(tmp_path: Path) -> None:
    fresh = Cassette(tmp_path / "c.yaml", mode="once")
    assert fresh.can_record
    fresh.record(interaction(1, "a"))
    assert fresh.save()

    again = Cassette(tmp_path / "c.yaml", mode="once")
    assert not again.can_record
    assert "new_episodes" in str(again.unmatched("x"))


def test_new_episodes_appends_and_keeps_what_others_appended(tmp_path: Path) -> None:
    path = recorded(tmp_path / "c.yaml", interaction(1, "a"))
    mine, theirs = Cassette(path, mode="new_episodes"), Cassette(path, mode="new_episodes")
    theirs.record(interaction(3, "c"))
    theirs.save()  # another xdist worker, same cassette

    assert mine.find("tool", call(1)) is not None
    assert mine.find("tool", call(2)) is None
    mine.record(interaction(2, "b"))
    mine.save()

    data = [i["response"]["data"] for i in read_cassette(path)["interactions"]]
    assert data == ["a", "c", "b"]


def test_all_rerecords_matching_interactions_in_place(tmp_path: Path) -> None:
    path = recorded(tmp_path / "c.yaml", interaction(1, "old"), interaction(2, "kept"))
    session = Cassette(path, mode=RecordMode.ALL)

    assert session.find("tool", call(1)) is None  # everything goes live
    session.record(interaction(1, "new"))
    session.record(interaction(5, "extra"))
    session.save()

    data = [i["response"]["data"] for i in read_cassette(path)["interactions"]]
    assert data == ["new", "kept", "extra"]


def test_rewrite_replaces_the_file_with_this_run(tmp_path: Path) -> None:
    path = recorded(tmp_path / "c.yaml", interaction(1, "old"), interaction(2, "gone"))
    session = Cassette(path, mode="rewrite")
    session.record(interaction(1, "new"))
    session.save()

    assert [i["response"]["data"] for i in read_cassette(path)["interactions"]] == ["new"]


def test_recordings_are_redacted_before_they_are_kept(tmp_path: Path) -> None:
    session = Cassette(tmp_path / "c.yaml", mode="once")
    item = interaction(1, {"access_token": "ya29.live-token-value"})
    session.record(item)
    session.save()

    assert "ya29" not in (tmp_path / "c.yaml").read_text()
    assert item["response"]["data"]["access_token"] == "ya29.live-token-value"  # caller's copy


def test_bad_modes_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="record mode"):
        Cassette(tmp_path / "c.yaml", mode="sometimes")


def test_a_refused_request_never_shows_its_credentials(tmp_path: Path) -> None:
    session = Cassette(tmp_path / "missing.yaml")

    error = session.unmatched(
        "POST http://loopback/v1/x?api_key=k-123456 {'token': 'tok-98765', 'q': 'Bearer abcdefgh'}"
    )

    for secret in ("k-123456", "tok-98765", "abcdefgh"):
        assert secret not in str(error)
    assert "'q'" in str(error)

"""Cassette files: readable YAML, safe loading, precise errors, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from crs.cassette._file import dump_text, load_text, read_cassette, write_cassette
from crs.errors import CassetteFormatError


def document(*interactions: dict[str, Any]) -> dict[str, Any]:
    return {"format": "crs-cassette", "version": 1, "interactions": list(interactions)}


HTTP = {
    "kind": "llm",
    "summary": "gpt-4o: create_issue(title)",
    "request": {
        "method": "POST",
        "url": "http://loopback/v1/chat/completions",
        "headers": {"content-type": "application/json"},
        "body": {"json": {"model": "gpt-4o", "messages": []}, "style": "compact"},
    },
    "response": {"status": 200, "headers": {}, "body": {"text": "line one\nline two\n"}},
}
TOOL = {
    "kind": "tool",
    "summary": "shop lookup_order: ok",
    "request": {"app": "shop", "action": "lookup_order", "user_id": "u", "params": {"id": 7}},
    "response": {"successful": True, "data": {"id": 7}, "error": None},
}


def test_round_trip_with_block_scalars_and_key_order(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "test_x.yaml"

    write_cassette(path, document(HTTP, TOOL))

    text = path.read_text()
    assert "text: |\n" in text  # multi-line text is a block scalar
    assert text.index("model") < text.index("messages")  # JSON keys keep their order
    assert read_cassette(path) == document(HTTP, TOOL)


def test_compressed_cassettes(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml.lz4"
    write_cassette(path, document(HTTP))
    assert not path.read_bytes().startswith(b"format")
    assert read_cassette(path)["interactions"][0]["summary"] == HTTP["summary"]


def test_loading_never_constructs_objects() -> None:
    with pytest.raises(CassetteFormatError, match="not valid YAML at line 1"):
        load_text("!!python/object/apply:os.system ['echo hacked']\n", path="evil.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("interactions: [\n", "not valid YAML at line 2"),
        ("- 1\n", "top level: expected a mapping"),
        ("format: vcr\nversion: 1\ninteractions: []\n", "format: expected 'crs-cassette'"),
        ("format: crs-cassette\nversion: 9\ninteractions: []\n", "version 9 is not supported"),
        ("format: crs-cassette\nversion: 1\ninteractions: {}\n", "interactions: expected a list"),
    ],
)
def test_malformed_files_name_the_file_and_the_place(text: str, message: str) -> None:
    with pytest.raises(CassetteFormatError, match=message) as caught:
        load_text(text, path="cassettes/test_a.yaml")
    assert caught.value.path == "cassettes/test_a.yaml"
    assert "cassettes/test_a.yaml" in str(caught.value)


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda i: i.update(kind="grpc"), r"interactions\[1\]\.kind"),
        (lambda i: i["response"].update(status=700), r"interactions\[1\]\.response\.status"),
        (lambda i: i["request"].pop("url"), r"interactions\[1\]\.request\.url"),
        (lambda i: i["request"].update(headers={"a": 1}), r"interactions\[1\]\.request\.headers"),
        (lambda i: i["response"].update(body={"base64": "%%"}), r"\.response\.body"),
    ],
)
def test_a_bad_interaction_is_located(edit: Any, where: str) -> None:
    import copy

    broken = copy.deepcopy(HTTP)
    edit(broken)
    with pytest.raises(CassetteFormatError, match=where):
        load_text(dump_text(document(TOOL, broken)), path="c.yaml")


def test_a_newer_version_says_to_upgrade() -> None:
    with pytest.raises(CassetteFormatError) as caught:
        load_text("format: crs-cassette\nversion: 2\ninteractions: []\n", path="c.yaml")
    assert caught.value.hint is not None
    assert "upgrade" in caught.value.hint


def test_an_interrupted_write_leaves_the_old_cassette_and_no_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "test_x.yaml"
    write_cassette(path, document(TOOL))
    before = path.read_bytes()

    def crash(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        write_cassette(path, document(TOOL, HTTP))

    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["test_x.yaml"]


def test_an_invalid_document_is_never_written(tmp_path: Path) -> None:
    with pytest.raises(CassetteFormatError):
        write_cassette(tmp_path / "x.yaml", document({"kind": "tool"}))
    assert list(tmp_path.iterdir()) == []

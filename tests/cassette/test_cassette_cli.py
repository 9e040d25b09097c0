"""`crs cassette show / audit / prune` on real cassettes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from crs.cassette._cassette import Cassette
from crs.cassette._cli import PLAYS_KEY, file_digest
from crs.cassette._file import read_cassette, write_cassette
from crs.cli import main


def tool(n: int, data: Any = None) -> dict[str, Any]:
    return {
        "kind": "tool",
        "summary": f"shop lookup {n}: ok",
        "duration_ms": 1.5,
        "request": {"app": "shop", "action": "lookup", "user_id": "u", "params": {"n": n}},
        "response": {"successful": True, "data": data or {"n": n}, "error": None},
    }


CHAT = {
    "kind": "llm",
    "summary": "gpt-4o chat -> text: hi",
    "request": {
        "method": "POST",
        "url": "http://loopback/v1/chat/completions",
        "headers": {"authorization": "[REDACTED]"},
        "body": {
            "json": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello?"}]},
            "style": "compact",
        },
    },
    "response": {
        "status": 200,
        "headers": {},
        "body": {"json": {"choices": []}, "style": "compact"},
    },
}


@pytest.fixture
def cassette_file(tmp_path: Path) -> Path:
    session = Cassette(tmp_path / "cassettes" / "session.yaml", mode="rewrite")
    for item in (CHAT, tool(1), tool(2)):
        session.record(item)
    session.save()
    return session.path


def test_show_renders_a_transcript(cassette_file: Path) -> None:
    result = CliRunner().invoke(main, ["cassette", "show", str(cassette_file)])

    assert result.exit_code == 0, result.output
    assert "3 interaction(s)" in result.output
    assert "gpt-4o chat -> text: hi" in result.output
    assert "user: hello?" in result.output
    assert "shop lookup for 'u'" in result.output


def test_audit_passes_a_redacted_cassette_and_fails_a_leaky_one(cassette_file: Path) -> None:
    clean = CliRunner().invoke(main, ["cassette", "audit", str(cassette_file.parent)])
    leaky = cassette_file.with_name("leaky.yaml")
    document = read_cassette(cassette_file)
    document["interactions"][1]["response"]["data"] = {"note": "ghp_" + "a1B2" * 9, "token": "x9"}
    text = cassette_file.read_text()
    write_cassette(leaky, document)  # written directly: nothing redacts on this path

    dirty = CliRunner().invoke(main, ["cassette", "audit", str(leaky)])

    assert clean.exit_code == 0, clean.output
    assert "no secrets found; 1 cassette(s) scanned" in clean.output
    assert dirty.exit_code == 1
    assert "looks like a credential (crs patterns)" in dirty.output  # the ghp_ token, and token: x9
    assert "GitHub Token (detect-secrets)" in dirty.output
    assert "3 possible secret(s)" in dirty.output
    assert "ghp_" not in text


def test_prune_drops_what_the_last_replay_did_not_play(cassette_file: Path) -> None:
    root = cassette_file.parent.parent
    entry = root / ".pytest_cache" / "v" / PLAYS_KEY / "cassettes" / "session.yaml"
    entry.parent.mkdir(parents=True)
    entry.write_text(json.dumps({"sha256": file_digest(cassette_file), "played": [0, 2]}))

    dry = CliRunner().invoke(main, ["cassette", "prune", "--dry-run", str(cassette_file)])
    pruned = CliRunner().invoke(main, ["cassette", "prune", str(cassette_file)])
    stale = CliRunner().invoke(main, ["cassette", "prune", str(cassette_file)])

    assert "1 interaction(s) would be dropped" in dry.output
    assert "dropped 1 unplayed interaction(s); 2 kept" in pruned.output
    summaries = [i["summary"] for i in read_cassette(cassette_file)["interactions"]]
    assert summaries == ["gpt-4o chat -> text: hi", "shop lookup 2: ok"]
    assert stale.exit_code == 1
    assert "changed since its last replay" in stale.output


def test_prune_without_a_replay_on_record(cassette_file: Path) -> None:
    result = CliRunner().invoke(main, ["cassette", "prune", str(cassette_file)])
    assert result.exit_code == 1
    assert "no replay of" in result.output

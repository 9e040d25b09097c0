"""The composio-core offline recipe: what it writes and which environment it sets.

That the recipe really keeps ``import composio`` off the network is shown with the real package
in tests/sandbox/test_composio_core.py; these pin the recipe itself, in any environment.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

from crs._composio_offline import OFFLINE_ENV, configure_offline

SWITCHES = ["COMPOSIO_CACHE_DIR", *OFFLINE_ENV, "COMPOSIO_NO_REMOTE_ENUM_FETCHING"]


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that has not imported composio and has none of its switches set."""
    for name in list(sys.modules):
        if name == "composio" or name.startswith("composio."):
            monkeypatch.delitem(sys.modules, name)
    for name in SWITCHES:
        monkeypatch.delenv(name, raising=False)


def user_data(directory: Path) -> object:
    return json.loads((directory / "user_data.json").read_text(encoding="utf-8"))


def test_a_fresh_process_gets_a_private_cache_and_every_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    directory = configure_offline()
    assert directory.parent == tmp_path
    assert directory.name.startswith("crs-composio-")
    assert user_data(directory) == {"sentry": {"dsn": ""}}
    assert [os_value(name) for name in SWITCHES] == [
        str(directory),
        "true",
        "true",
        "true",
        None,  # left off: it would stop composio-core resolving any action at all
    ]


def test_a_given_directory_is_created(tmp_path: Path) -> None:
    wanted = tmp_path / "deep" / "cache"
    assert configure_offline(wanted) == wanted
    assert user_data(wanted) == {"sentry": {"dsn": ""}}


def test_values_the_user_set_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "user_data.json").write_text('{"api_key": "kept"}', encoding="utf-8")
    monkeypatch.setenv("COMPOSIO_CACHE_DIR", str(mine))
    monkeypatch.setenv("COMPOSIO_DISABLE_VERSION_CHECK", "false")
    assert configure_offline(tmp_path / "ignored") == mine
    assert user_data(mine) == {"api_key": "kept", "sentry": {"dsn": ""}}
    assert os_value("COMPOSIO_DISABLE_VERSION_CHECK") == "false"
    assert not (tmp_path / "ignored").exists()


def test_an_existing_dsn_and_an_unreadable_file_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "user_data.json").write_text('{"sentry": {"dsn": "https://x"}}', encoding="utf-8")
    configure_offline(tmp_path)
    assert user_data(tmp_path) == {"sentry": {"dsn": "https://x"}}
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "user_data.json").write_text("{not json", encoding="utf-8")
    configure_offline(damaged)
    assert (damaged / "user_data.json").read_text(encoding="utf-8") == "{not json"


def test_after_the_import_it_only_reports_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    constants = ModuleType("composio.constants")
    constants.LOCAL_CACHE_DIRECTORY = tmp_path / "in-use"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "composio", ModuleType("composio"))
    monkeypatch.setitem(sys.modules, "composio.constants", constants)
    assert configure_offline(tmp_path / "too-late") == tmp_path / "in-use"
    assert [os_value(name) for name in SWITCHES] == [None] * len(SWITCHES)
    assert list(tmp_path.iterdir()) == []


def os_value(name: str) -> str | None:
    return os.environ.get(name)

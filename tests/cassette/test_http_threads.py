"""Requests sent from several threads at once are all recorded, and all replayed.

vcrpy puts the real connection classes back, process-wide, while it builds a real connection;
without crs's lock a request another thread started in that moment missed the cassette.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from crs._composio_offline import reset_core_caches
from crs.cassette._cassette import Cassette
from crs.cassette._http import VcrBridge, intercepting
from crs.sandbox import Sandbox
from crs.sandbox._composio_clients import installed_sdk

pytestmark = pytest.mark.skipif(
    installed_sdk() != "composio-core", reason="two threads on one composio-core toolset"
)

ACTIONS = [
    ("GITHUB_CREATE_AN_ISSUE", {"owner": "acme", "repo": "web-app", "title": "Login fails"}),
    ("SLACK_SEND_MESSAGE", {"channel": "general", "text": "Filed it"}),
    ("GITHUB_LIST_REPOSITORY_ISSUES", {"owner": "acme", "repo": "web-app"}),
]


def run_concurrently(toolset: Any) -> list[bool]:
    with ThreadPoolExecutor(len(ACTIONS)) as pool:
        futures = [pool.submit(toolset.execute_action, slug, args) for slug, args in ACTIONS]
        return [bool(future.result()["successful"]) for future in futures]


def test_concurrent_requests_are_all_recorded(tmp_path: Path) -> None:
    path = tmp_path / "threads.yaml"
    with Sandbox() as sandbox:
        for attempt in range(3):  # the race was timing-dependent: give it several chances
            path.unlink(missing_ok=True)
            sandbox.reset()
            reset_core_caches()
            cassette = Cassette(path, mode="once")
            with intercepting(VcrBridge(cassette)):
                assert run_concurrently(sandbox.composio_toolset()) == [True] * len(ACTIONS)
            assert len(cassette.new) == len(sandbox.requests), f"attempt {attempt}"
        cassette.save()
        address = (sandbox.composio_core_base_url, sandbox.api_key)
    # Replay with the sandbox gone: every request the threads make must find its recording.
    reset_core_caches()
    replay = Cassette(path, mode="none", allow_repeats=True)
    from crs.sandbox._composio_clients import core_toolset

    with intercepting(VcrBridge(replay)):
        toolset = core_toolset(base_url=address[0], api_key=address[1])
        assert run_concurrently(toolset) == [True] * len(ACTIONS)

"""Record a tool-agent session from the sandbox through the real SDKs, replay it with the
sandbox gone: the same answers, streams event by event, nothing unplayed.

composio-core lives in the main test environment; the current SDK's HTTP goes through httpx,
the same interception as openai's legacy client, exercised here too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from crs._composio_offline import reset_core_caches
from crs.cassette._cassette import Cassette
from crs.cassette._http import VcrBridge, intercepting
from crs.errors import CassetteMismatchError
from crs.sandbox import Sandbox

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "create_issue",
            "parameters": {
                "type": "object",
                "properties": {"title": {"type": "string"}},
                "required": ["title"],
            },
        },
    }
]


def has(distribution: str) -> bool:
    try:
        metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


class Session:
    """The code under test: an agent turn with tools, a streamed answer, a tool execution."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self.api_key = api_key

    def client(self, **kwargs: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url + "/v1", api_key=self.api_key, **kwargs)

    def run(self) -> dict[str, Any]:
        with self.client() as client:
            planned = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "file it"}], tools=TOOLS
            )
            chunks = [
                c.choices[0].delta.content
                for c in client.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
                )
                if c.choices and c.choices[0].delta.content
            ]
        with self.client(http_client=httpx.Client()) as legacy:  # legacy httpx, not httpx2
            models = [m.id for m in legacy.models.list()]
        return {
            "tool": planned.choices[0].message.tool_calls[0].function.arguments,
            "chunks": chunks,
            "models": models,
            "async": asyncio.run(self.async_stream()),
        }

    async def async_stream(self) -> list[str]:
        async with openai.AsyncOpenAI(base_url=self.base_url + "/v1", api_key=self.api_key) as c:
            stream = await c.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "stream"}], stream=True
            )
            return [
                ch.choices[0].delta.content
                async for ch in stream
                if ch.choices and ch.choices[0].delta.content
            ]


def record_and_replay(
    tmp_path: Path, session: Callable[[Session], Any]
) -> tuple[Any, Any, Cassette]:
    path = tmp_path / "session.yaml"
    with Sandbox() as sandbox:
        live = Session(sandbox.url, sandbox.api_key)
        cassette = Cassette(path, mode="once")
        reset_core_caches()
        with intercepting(VcrBridge(cassette)):
            recorded = session(live)
        assert cassette.save()
        url = sandbox.url
    offline = Session(url, "sk-fake-0000000000000000")  # nothing listens there any more
    replay = Cassette(path)
    reset_core_caches()
    with intercepting(VcrBridge(replay)):
        replayed = session(offline)
    return recorded, replayed, replay


def test_openai_session_replays_identically_without_the_server(tmp_path: Path) -> None:
    recorded, replayed, cassette = record_and_replay(tmp_path, Session.run)

    assert replayed == recorded
    assert len(recorded["chunks"]) > 3  # streamed event by event on replay too
    assert cassette.unplayed() == []
    text = cassette.path.read_text()
    assert "sk-fake" not in text
    assert "data_style" in text  # SSE stored as events
    assert "x-stainless" not in text  # volatile request headers are not kept
    assert "user-agent" not in text


@pytest.mark.skipif(not has("composio-core"), reason="composio-core lives in the main environment")
def test_composio_core_execution_replays(tmp_path: Path) -> None:
    from crs.sandbox._composio_clients import core_toolset

    def execute(s: Session) -> Any:
        toolset = core_toolset(base_url=s.base_url + "/api", api_key=s.api_key)
        return toolset.execute_action(
            "GITHUB_CREATE_AN_ISSUE", {"owner": "a", "repo": "b", "title": "x"}, entity_id="default"
        )

    recorded, replayed, cassette = record_and_replay(tmp_path, execute)

    assert replayed == recorded
    assert cassette.unplayed() == []
    assert "composio GITHUB_CREATE_AN_ISSUE: ok" in cassette.path.read_text()


def test_an_unrecorded_request_names_itself_and_the_fix(tmp_path: Path) -> None:
    cassette = Cassette(tmp_path / "empty.yaml")
    with intercepting(VcrBridge(cassette)), pytest.raises(CassetteMismatchError) as caught:
        openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="k", max_retries=0).models.list()

    assert "GET http://loopback/v1/models" in str(caught.value)
    assert "--crs-record-mode=once" in str(caught.value)
    assert cassette.mismatches == [caught.value]


@pytest.mark.skipif(not has("composio"), reason="the current composio SDK has its own environment")
def test_current_composio_sdk_execution_replays(tmp_path: Path) -> None:
    from crs.sandbox._composio_catalog import TOOLKIT_VERSION
    from crs.sandbox._composio_clients import composio_client
    from crs.tools import ComposioBackend

    def execute(s: Session) -> Any:
        with httpx.Client() as http:
            client = composio_client(base_url=s.base_url, api_key=s.api_key, http_client=http)
            backend = ComposioBackend(client, version=TOOLKIT_VERSION)
            result = backend.execute(
                "SLACK_SEND_MESSAGE", {"channel": "general", "text": "hi"}, user_id="default"
            )
            return (result.successful, result.data)

    recorded, replayed, cassette = record_and_replay(tmp_path, execute)

    assert replayed == recorded
    assert recorded[0] is True
    assert cassette.unplayed() == []
    assert "composio SLACK_SEND_MESSAGE: ok" in cassette.path.read_text()


def test_aiohttp_traffic_replays(tmp_path: Path) -> None:
    aiohttp = pytest.importorskip("aiohttp")

    async def fetch(s: Session) -> Any:
        headers = {"Authorization": f"Bearer {s.api_key}"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(s.base_url + "/v1/models", headers=headers) as reply,
        ):
            return reply.status, await reply.json()

    recorded, replayed, cassette = record_and_replay(tmp_path, lambda s: asyncio.run(fetch(s)))

    assert replayed == recorded
    assert recorded[0] == 200
    assert cassette.unplayed() == []

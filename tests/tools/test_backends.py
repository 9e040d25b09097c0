"""Tool backends against the sandbox through the real SDKs, and plain Python tools."""

from __future__ import annotations

import asyncio
from importlib import metadata
from typing import Any

import pytest

from crs import ConfigError
from crs.resilience import ErrorType
from crs.sandbox import Sandbox
from crs.tools import CallableBackend, ComposioBackend, ComposioCoreBackend, ToolResult

REPO = {"owner": "acme", "repo": "api"}


def installed(distribution: str) -> bool:
    try:
        metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


needs_core = pytest.mark.skipif(
    not installed("composio-core"), reason="composio-core lives in the main test environment"
)
needs_current = pytest.mark.skipif(
    not installed("composio"), reason="the current composio SDK lives in its own environment"
)


class TestToolResult:
    def test_both_spellings_of_successful(self) -> None:
        core = ToolResult.from_composio({"data": {"n": 1}, "error": None, "successfull": True})
        current = ToolResult.from_composio({"data": {}, "error": "bad", "successful": False})

        assert (core.successful, core.data, core.failure) == (True, {"n": 1}, None)
        assert (current.successful, current.error) == (False, "bad")
        assert current.failure is not None

    def test_a_401_inside_a_200_is_an_auth_failure(self) -> None:
        result = ToolResult.from_composio(
            {"data": {"status_code": 401}, "error": '{"error":{"code":401}}', "successful": False}
        )

        assert result.failure is not None
        assert result.failure.kind is ErrorType.AUTH

    def test_anything_else_is_refused_naming_its_keys(self) -> None:
        with pytest.raises(TypeError, match="keys: data, status"):
            ToolResult.from_composio({"data": 1, "status": "ok"})


@needs_core
class TestComposioCoreBackend:
    def test_executes_and_normalises(self, crs_sandbox: Sandbox) -> None:
        backend = ComposioCoreBackend(crs_sandbox.composio_toolset())

        created = backend.execute(
            "GITHUB_CREATE_AN_ISSUE", {**REPO, "title": "Flaky"}, user_id="default"
        )
        invalid = backend.execute("GITHUB_CREATE_AN_ISSUE", REPO, user_id="default")
        listed = asyncio.run(
            backend.aexecute("GITHUB_LIST_REPOSITORY_ISSUES", REPO, user_id="default")
        )

        assert created.successful
        assert created.data["title"] == "Flaky"
        assert not invalid.successful
        assert "title" in (invalid.error or "")
        assert [issue["title"] for issue in listed.data["issues"]] == ["Flaky"]

    def test_auth_envelope_becomes_an_auth_failure(self, crs_sandbox: Sandbox) -> None:
        crs_sandbox.fault("auth_envelope", api="composio-core", tool="GMAIL_SEND_EMAIL")
        backend = ComposioCoreBackend(crs_sandbox.composio_toolset())

        result = backend.execute(
            "GMAIL_SEND_EMAIL", {"recipient_email": "a@example.com", "body": "x"},
            user_id="default",
        )

        assert not result.successful
        assert result.failure is not None
        assert result.failure.kind is ErrorType.AUTH

    def test_transport_errors_are_raised_as_the_sdk_raised_them(
        self, crs_sandbox: Sandbox
    ) -> None:
        crs_sandbox.fault("rate_limit", api="composio-core", tool="SLACK_SEND_MESSAGE")
        backend = ComposioCoreBackend(crs_sandbox.composio_toolset())

        with pytest.raises(Exception) as caught:  # noqa: PT011 - asserting on its type below
            backend.execute(
                "SLACK_SEND_MESSAGE", {"channel": "general", "text": "x"}, user_id="default"
            )

        assert type(caught.value).__name__ == "HTTPError"


@needs_current
class TestComposioBackend:
    def test_executes_with_per_toolkit_versions(self, crs_sandbox: Sandbox) -> None:
        from crs.sandbox._composio_catalog import TOOLKIT_VERSION

        backend = ComposioBackend(
            crs_sandbox.composio_client(), version=TOOLKIT_VERSION, versions={"github": "bogus"}
        )

        sent = backend.execute(
            "SLACK_SEND_MESSAGE", {"channel": "general", "text": "hi"}, user_id="default"
        )
        with pytest.raises(Exception, match="bogus"):
            backend.execute("GITHUB_CREATE_AN_ISSUE", {**REPO, "title": "x"}, user_id="default")

        assert sent.successful
        assert backend.version_for("GITHUB_GET_AN_ISSUE") == "bogus"
        assert backend.version_for("SLACK_SEND_MESSAGE") == TOOLKIT_VERSION
        assert ComposioBackend(crs_sandbox.composio_client()).version_for("SLACK_X") is None
        assert crs_sandbox.composio.messages("general")[-1]["text"] == "hi"


def test_wrong_sdk_objects_are_refused() -> None:
    with pytest.raises(ConfigError, match="needs a composio-core ComposioToolSet"):
        ComposioCoreBackend(object())
    with pytest.raises(ConfigError, match=r"needs a composio.Composio client"):
        ComposioBackend(object())


class TestCallableBackend:
    def test_sync_and_async_tools(self) -> None:
        async def fetch(url: str) -> dict[str, Any]:
            return {"url": url, "status": 200}

        def whoami(user_id: str) -> str:
            return user_id

        def refuse() -> ToolResult:
            return ToolResult(False, error="quota exceeded")

        backend = CallableBackend({"fetch": fetch, "whoami": whoami, "refuse": refuse})

        assert backend.execute("whoami", {}, user_id="ada").data == "ada"
        assert backend.execute("refuse", {}, user_id="ada").error == "quota exceeded"
        fetched = asyncio.run(backend.aexecute("fetch", {"url": "u"}, user_id="ada"))
        assert fetched.data == {"url": "u", "status": 200}
        assert asyncio.run(backend.aexecute("whoami", {}, user_id="bo")).data == "bo"

    def test_errors_name_the_tool(self) -> None:
        async def later() -> None:
            return None

        backend = CallableBackend({"later": later})

        with pytest.raises(ConfigError, match="no tool named 'nope'"):
            backend.execute("nope", {}, user_id="u")
        with pytest.raises(ConfigError, match="'later' is async"):
            backend.execute("later", {}, user_id="u")
        with pytest.raises(ConfigError, match="not callable"):
            CallableBackend({"x": 42})  # type: ignore[dict-item]

    def test_exceptions_from_the_tool_propagate(self) -> None:
        def boom() -> None:
            raise TimeoutError("upstream")

        with pytest.raises(TimeoutError, match="upstream"):
            CallableBackend({"boom": boom}).execute("boom", {}, user_id="u")

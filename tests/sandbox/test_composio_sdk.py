"""The real current ``composio`` SDK (>= 0.8) against the running sandbox.

Runs only in the environment that has the current SDK (see the README's second test command);
composio-core, which owns the same import name, is tested by test_composio_core.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from typing import Any

import pytest

try:
    SDK_VERSION = metadata.version("composio")
except metadata.PackageNotFoundError:
    pytest.skip(
        "the current composio SDK is not installed here; it needs its own environment "
        "(composio-core, tested by test_composio_core.py, owns the same import name)",
        allow_module_level=True,
    )

from composio.exceptions import ComposioError, ToolNotFoundError, ToolVersionRequiredError
from composio_client import AuthenticationError, BadRequestError, RateLimitError

from crs.sandbox import Sandbox
from crs.sandbox._composio_catalog import TOOLKIT_VERSION

REPO = {"owner": "octocat", "repo": "hello-world"}


@pytest.fixture
def composio(crs_sandbox: Sandbox) -> Any:
    # The sandbox lends the SDK an HTTP client and the fixture closes it after the test.
    return crs_sandbox.composio_client()


def execute(client: Any, slug: str, arguments: dict[str, Any], **options: Any) -> Any:
    options.setdefault("user_id", "default")
    options.setdefault("version", TOOLKIT_VERSION)
    return client.tools.execute(slug, arguments, **options)


def test_an_issue_created_can_be_listed_and_fetched(crs_sandbox: Sandbox, composio: Any) -> None:
    created = execute(composio, "GITHUB_CREATE_AN_ISSUE", {**REPO, "title": "Login fails"})
    assert (created["successful"], created["error"]) == (True, None)
    number = created["data"]["number"]
    listed = execute(composio, "GITHUB_LIST_REPOSITORY_ISSUES", REPO)
    assert [i["number"] for i in listed["data"]["issues"]] == [number]
    fetched = execute(composio, "GITHUB_GET_AN_ISSUE", {**REPO, "issue_number": number})
    assert fetched["data"] == created["data"]
    runs = crs_sandbox.composio.executions()
    assert [(r.slug, r.api, r.outcome) for r in runs] == [
        ("GITHUB_CREATE_AN_ISSUE", "composio", "success"),
        ("GITHUB_LIST_REPOSITORY_ISSUES", "composio", "success"),
        ("GITHUB_GET_AN_ISSUE", "composio", "success"),
    ]


def test_execute_sends_what_the_sdk_sends(crs_sandbox: Sandbox, composio: Any) -> None:
    execute(composio, "SLACK_SEND_MESSAGE", {"channel": "general", "text": "hi"})
    composio.tools.get(user_id="default", tools=["SLACK_SEND_MESSAGE"])  # logs the POST surely
    sent = [(r.method, r.path, r.body) for r in crs_sandbox.requests]
    assert sent[:2] == [
        ("GET", "/api/v3.1/tools/SLACK_SEND_MESSAGE", None),
        (
            "POST",
            "/api/v3.1/tools/execute/SLACK_SEND_MESSAGE",
            {
                "user_id": "default",
                "version": TOOLKIT_VERSION,
                "arguments": {"channel": "general", "text": "hi"},
            },
        ),
    ]


def test_a_slack_message_can_be_read_back(crs_sandbox: Sandbox, composio: Any) -> None:
    sent = execute(composio, "SLACK_SEND_MESSAGE", {"channel": "#alerts", "markdown_text": "up"})
    history = execute(composio, "SLACK_FETCH_CONVERSATION_HISTORY", {"channel": "alerts"})
    (message,) = history["data"]["messages"]
    assert (message["text"], message["ts"]) == ("up", sent["data"]["ts"])


def test_a_sent_email_is_listed(crs_sandbox: Sandbox, composio: Any) -> None:
    email = {"recipient_email": "jo@example.org", "subject": "Report", "body": "attached"}
    sent = execute(composio, "GMAIL_SEND_EMAIL", email)
    listed = execute(composio, "GMAIL_FETCH_EMAILS", {"label_ids": ["SENT"]})
    assert [m["messageId"] for m in listed["data"]["messages"]] == [
        sent["data"]["response_data"]["id"]
    ]
    assert [e["to"] for e in crs_sandbox.composio.sent_emails()] == ["jo@example.org"]


def test_schema_invalid_arguments_come_back_unsuccessful(
    crs_sandbox: Sandbox, composio: Any
) -> None:
    result = execute(composio, "GMAIL_SEND_EMAIL", {"subject": "no recipient"})
    assert (result["successful"], result["data"]) == (False, {})
    assert "Following fields are missing: {'body', 'recipient_email'}" in result["error"]
    assert crs_sandbox.composio.sent_emails() == []


def test_an_expired_account_is_a_bad_request(crs_sandbox: Sandbox, composio: Any) -> None:
    crs_sandbox.expire_account("gmail")
    with pytest.raises(BadRequestError) as caught:
        execute(composio, "GMAIL_SEND_EMAIL", {"recipient_email": "jo@example.org", "body": "x"})
    assert isinstance(caught.value, ComposioError)
    assert caught.value.status_code == 400
    assert caught.value.body["error"]["slug"] == "ActionExecute_ConnectedAccountNotActive"
    assert "EXPIRED" in str(caught.value)
    assert crs_sandbox.composio.sent_emails() == []


def test_a_wrong_api_key_is_an_authentication_error(crs_sandbox: Sandbox) -> None:
    stranger = crs_sandbox.composio_client(api_key="sk-wrong")
    with pytest.raises(AuthenticationError) as caught:
        execute(stranger, "SLACK_SEND_MESSAGE", {"channel": "general", "text": "x"})
    assert isinstance(caught.value, ComposioError)
    assert caught.value.status_code == 401
    assert "sk-wrong" not in str(caught.value)
    assert crs_sandbox.composio.executions() == []


def test_a_missing_version_is_refused_before_sending(crs_sandbox: Sandbox, composio: Any) -> None:
    with pytest.raises(ToolVersionRequiredError):
        composio.tools.execute("SLACK_SEND_MESSAGE", {"channel": "general"}, user_id="default")
    assert crs_sandbox.composio.executions() == []


def test_an_unknown_tool_is_not_found(composio: Any) -> None:
    with pytest.raises(ToolNotFoundError, match="JIRA_CREATE_ISSUE"):
        execute(composio, "JIRA_CREATE_ISSUE", {})


def test_a_rate_limited_execute_is_not_retried(crs_sandbox: Sandbox, composio: Any) -> None:
    crs_sandbox.fault("rate_limit", api="composio", tool="GMAIL_SEND_EMAIL", retry_after=1)
    with pytest.raises(RateLimitError) as caught:
        execute(composio, "GMAIL_SEND_EMAIL", {"recipient_email": "jo@example.org", "body": "x"})
    assert caught.value.response.headers["retry-after"] == "1"
    execute(composio, "SLACK_SEND_MESSAGE", {"channel": "general", "text": "later"})
    posts = [r for r in crs_sandbox.requests if r.path.endswith("/GMAIL_SEND_EMAIL")]
    assert [(r.method, r.status, r.fault) for r in posts] == [
        ("GET", 200, None),
        ("POST", 429, "rate_limit"),
    ]
    assert crs_sandbox.composio.sent_emails() == []


def test_tools_get_turns_sandbox_schemas_into_openai_tools(composio: Any) -> None:
    tools = composio.tools.get(user_id="default", toolkits=["github"])
    names = [tool["function"]["name"] for tool in tools]
    assert names == [
        "GITHUB_CREATE_AN_ISSUE",
        "GITHUB_LIST_REPOSITORY_ISSUES",
        "GITHUB_GET_AN_ISSUE",
    ]
    parameters = tools[0]["function"]["parameters"]
    assert parameters["required"] == ["owner", "repo", "title"]


# Runs the sandbox client, then one built with the SDK's default tracking, recording (and
# refusing) every non-loopback host each one resolves or connects to.
_TELEMETRY_PROBE = """
import json, sys
from crs.sandbox import Sandbox
from crs.sandbox._composio_clients import composio_client
hosts = []
def hook(event, args):
    host = None
    if event == "socket.getaddrinfo":
        host = str(args[0])
    elif event == "socket.connect" and isinstance(args[1], tuple):
        host = str(args[1][0])
    if host is not None and host not in ("127.0.0.1", "localhost", "::1"):
        hosts.append(host)
        raise OSError("network blocked by the test: " + host)
sys.addaudithook(hook)
import composio.core.models._telemetry as telemetry
contacted = {}
with Sandbox() as sandbox:
    for name, options in (("sandbox", {}), ("default", {"allow_tracking": True})):
        client = composio_client(
            base_url=sandbox.composio_base_url, api_key=sandbox.api_key, **options
        )
        client.tools.execute(
            "SLACK_SEND_MESSAGE", {"channel": "general", "text": name},
            user_id="default", version=sys.argv[1],
        )
        if telemetry._queue is not None:  # wait for the background thread to send
            telemetry._teardown(telemetry._queue, telemetry._event, telemetry._thread)
        contacted[name], hosts[:] = list(hosts), []
print(json.dumps(contacted))
"""


def test_the_sandbox_client_sends_no_telemetry() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _TELEMETRY_PROBE, TOOLKIT_VERSION],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    contacted = json.loads(done.stdout.strip().splitlines()[-1])
    assert contacted["sandbox"] == []
    # The SDK's default posts to Composio's telemetry host from a background thread.
    assert "telemetry.composio.dev" in contacted["default"]

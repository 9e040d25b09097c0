"""The real composio-core 0.7 ``ComposioToolSet`` against the running sandbox.

Runs only where composio-core is installed (the main environment); the current ``composio`` SDK,
which owns the same import name, is tested by test_composio_sdk.py in its own environment.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

try:
    CORE_VERSION = metadata.version("composio-core")
except metadata.PackageNotFoundError:
    pytest.skip(
        "composio-core is not installed here; the current composio SDK is covered by "
        "test_composio_sdk.py in its own environment",
        allow_module_level=True,
    )

# The crs plugin has already run the offline recipe (at configure time), so this import stays
# off the network.
from composio.client.exceptions import HTTPError, NoItemsFound
from composio.exceptions import ApiKeyError

from crs.sandbox import Sandbox
from crs.sandbox._composio_clients import core_toolset

REPO = {"owner": "octocat", "repo": "hello-world"}


@pytest.fixture
def toolset(crs_sandbox: Sandbox) -> Any:
    return crs_sandbox.composio_toolset()


def test_an_issue_created_can_be_listed_and_fetched(crs_sandbox: Sandbox, toolset: Any) -> None:
    created = toolset.execute_action(
        "GITHUB_CREATE_AN_ISSUE", {**REPO, "title": "Login fails", "labels": ["bug"]}
    )
    assert (created["successfull"], created["successful"], created["error"]) == (True, True, None)
    number = created["data"]["number"]
    listed = toolset.execute_action("GITHUB_LIST_REPOSITORY_ISSUES", {**REPO, "labels": "bug"})
    assert [i["title"] for i in listed["data"]["issues"]] == ["Login fails"]
    fetched = toolset.execute_action("GITHUB_GET_AN_ISSUE", {**REPO, "issue_number": number})
    assert fetched["data"] == created["data"]
    assert [i["number"] for i in crs_sandbox.composio.issues("octocat", "hello-world")] == [number]
    runs = crs_sandbox.composio.executions()
    assert [(r.slug, r.api, r.outcome) for r in runs] == [
        ("GITHUB_CREATE_AN_ISSUE", "composio-core", "success"),
        ("GITHUB_LIST_REPOSITORY_ISSUES", "composio-core", "success"),
        ("GITHUB_GET_AN_ISSUE", "composio-core", "success"),
    ]
    github = crs_sandbox.composio.accounts(apps=["github"])[0]
    assert {r.account_id for r in runs} == {github["id"]}


def test_execute_sends_what_composio_core_sends(crs_sandbox: Sandbox, toolset: Any) -> None:
    toolset.execute_action("SLACK_SEND_MESSAGE", {"channel": "general", "text": "hi"})
    toolset.client.connected_accounts.get()  # a later request, so the POST is surely logged
    paths = [(r.method, r.path.split("?")[0]) for r in crs_sandbox.requests]
    post = ("POST", "/api/v2/actions/SLACK_SEND_MESSAGE/execute")
    assert paths[paths.index(post) - 1] == ("GET", "/api/v1/connectedAccounts")
    assert ("GET", "/api/v2/actions") in paths[: paths.index(post)]
    body = next(r.body for r in crs_sandbox.requests if r.path == post[1])
    slack = crs_sandbox.composio.accounts(apps=["slack"])[0]
    assert body["connectedAccountId"] == slack["uuid"]
    assert (body["entityId"], body["appName"]) == ("default", "SLACK")
    assert body["input"] == {"channel": "general", "text": "hi"}
    assert body["sessionInfo"]["sessionId"]


def test_a_slack_message_can_be_read_back(crs_sandbox: Sandbox, toolset: Any) -> None:
    sent = toolset.execute_action(
        "SLACK_SEND_MESSAGE", {"channel": "#engineering", "markdown_text": "deploy done"}
    )
    history = toolset.execute_action("SLACK_FETCH_CONVERSATION_HISTORY", {"channel": "engineering"})
    (message,) = history["data"]["messages"]
    assert (message["text"], message["ts"]) == ("deploy done", sent["data"]["ts"])
    assert [m["text"] for m in crs_sandbox.composio.messages("engineering")] == ["deploy done"]


def test_a_sent_email_is_listed(crs_sandbox: Sandbox, toolset: Any) -> None:
    toolset.execute_action(
        "GMAIL_SEND_EMAIL",
        {"recipient_email": "jo@example.org", "subject": "Report", "body": "attached"},
    )
    listed = toolset.execute_action("GMAIL_FETCH_EMAILS", {"query": "subject:report"})
    assert [(m["to"], m["labelIds"]) for m in listed["data"]["messages"]] == [
        ("jo@example.org", ["SENT"])
    ]
    assert [e["subject"] for e in crs_sandbox.composio.sent_emails()] == ["Report"]


def test_schema_invalid_arguments_come_back_unsuccessful(
    crs_sandbox: Sandbox, toolset: Any
) -> None:
    result = toolset.execute_action("GITHUB_GET_AN_ISSUE", {**REPO, "issue_number": "seven"})
    assert (result["successfull"], result["data"]) == (False, {})
    assert "issue_number: 'seven' is not of type 'integer'" in result["error"]
    assert crs_sandbox.composio.executions()[0].outcome == "invalid_arguments"


def test_an_expired_account_fails_as_composio_core_does(crs_sandbox: Sandbox, toolset: Any) -> None:
    crs_sandbox.expire_account("gmail")
    email = {"recipient_email": "jo@example.org", "body": "x"}
    # The SDK asks for the entity's ACTIVE accounts and finds none: it gives up itself.
    with pytest.raises(NoItemsFound, match="Could not find a connection with app='gmail'"):
        toolset.execute_action("GMAIL_SEND_EMAIL", email)
    # Naming the expired account gets as far as the server, which refuses it.
    account = crs_sandbox.composio.accounts(apps=["gmail"])[0]
    with pytest.raises(HTTPError) as caught:
        toolset.execute_action("GMAIL_SEND_EMAIL", email, connected_account_id=account["uuid"])
    assert caught.value.status_code == 400
    assert json.loads(caught.value.message)["slug"] == "ActionExecute_ConnectedAccountNotActive"
    assert crs_sandbox.composio.sent_emails() == []
    assert [r.outcome for r in crs_sandbox.composio.executions()] == ["account_inactive"]


def test_a_wrong_api_key_is_refused(crs_sandbox: Sandbox, toolset: Any) -> None:
    stranger = core_toolset(base_url=crs_sandbox.composio_core_base_url, api_key="sk-wrong")
    with pytest.raises(ApiKeyError, match="API Key is not valid"):
        stranger.execute_action("SLACK_SEND_MESSAGE", {"channel": "general", "text": "x"})
    toolset.client.connected_accounts.get()  # a later request, so the refusal is surely logged
    checks = [r for r in crs_sandbox.requests if r.path == "/api/v1/client/auth/client_info"]
    assert [(r.api, r.status) for r in checks if r.status != 200] == [("composio-core", 401)]
    assert crs_sandbox.composio.messages("general") == []


def test_a_401_after_the_key_check_is_an_http_error(crs_sandbox: Sandbox, toolset: Any) -> None:
    crs_sandbox.fault("unauthorized", api="composio-core", tool="SLACK_SEND_MESSAGE")
    with pytest.raises(HTTPError) as caught:
        toolset.execute_action("SLACK_SEND_MESSAGE", {"channel": "general", "text": "x"})
    assert caught.value.status_code == 401
    assert json.loads(caught.value.message)["slug"] == "HTTP_Unauthorized"
    assert crs_sandbox.composio.messages("general") == []


def test_action_schemas_parse_into_composio_models(toolset: Any) -> None:
    (schema,) = toolset.get_action_schemas(actions=["GMAIL_SEND_EMAIL"])
    assert schema.name == "GMAIL_SEND_EMAIL"
    assert schema.parameters.required == ["recipient_email", "body"]
    assert "recipient_email" in schema.parameters.properties
    assert set(schema.response.properties) == {"data", "error", "successful"}


# Records every host the interpreter resolves or connects to, and refuses the non-loopback
# ones, so the probe itself never reaches the internet even on a connected machine.
_NETWORK_PROBE = """
import atexit, json, sys
events = []
atexit.register(lambda: print(json.dumps(events)))  # first registered: runs after composio's
def hook(event, args):
    host = None
    if event == "socket.getaddrinfo":
        host = str(args[0])
    elif event == "socket.connect" and isinstance(args[1], tuple):
        host = str(args[1][0])
    if host is not None:
        events.append(host)
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise OSError(f"network blocked by the test: {{host}}")
sys.addaudithook(hook)
{setup}
import composio
"""


def _hosts_contacted(setup: str, home: Path) -> list[str]:
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    probe = _NETWORK_PROBE.format(setup=textwrap.dedent(setup))
    done = subprocess.run(
        [sys.executable, "-c", probe],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    hosts: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return [h for h in hosts if h not in ("127.0.0.1", "localhost", "::1")]


def test_the_offline_recipe_keeps_the_import_off_the_network(tmp_path: Path) -> None:
    recipe = f"""
    from pathlib import Path
    from crs._composio_offline import configure_offline
    configure_offline(Path({str(tmp_path / "cache")!r}))
    """
    assert _hosts_contacted(recipe, tmp_path) == []
    # Without it, the same import looks up Composio's backend (the Sentry DSN fetch).
    assert "backend.composio.dev" in _hosts_contacted("", tmp_path)

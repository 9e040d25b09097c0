"""Both Composio wire generations at the HTTP level, without an SDK: paths, shapes and errors.

The real-SDK tests (test_composio_core.py, test_composio_sdk.py) each run in only one of the two
environments; these pin the wire contract in both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

pytest.importorskip("starlette", reason="the sandbox extra is not installed")

from starlette.testclient import TestClient

from crs.sandbox import _composio_api, _composio_core_api
from crs.sandbox._app import build_app
from crs.sandbox._composio_catalog import TOOLKIT_VERSION
from crs.sandbox._state import SandboxState

KEY = "sk-test-key-0123456789"
GOOD = {"x-api-key": KEY}
ISSUE = {"owner": "octocat", "repo": "hello", "title": "Bug"}


@pytest.fixture
def state() -> SandboxState:
    return SandboxState(api_key=KEY)


@pytest.fixture
def client(state: SandboxState) -> Iterator[TestClient]:
    # The whole app, as served: malformed bodies are answered by its dialect-aware handler.
    with TestClient(build_app(state)) as test_client:
        yield test_client


CORE_GETS = [
    "/api/v1/client/auth/client_info",
    "/api/v1/apps",
    "/api/v1/apps/github",
    "/api/v2/actions?apps=GITHUB",
    "/api/v2/actions/GITHUB_CREATE_AN_ISSUE",
    "/api/v1/connectedAccounts",
]
CURRENT_GETS = ["/api/v3.1/tools/GITHUB_GET_AN_ISSUE", "/api/v3/tools?toolkit_slug=slack"]


@pytest.mark.parametrize("path", CORE_GETS)
@pytest.mark.parametrize("headers", [{}, {"x-api-key": "sk-wrong"}], ids=["missing", "wrong"])
def test_core_refuses_a_bad_key_in_its_flat_shape(
    client: TestClient, path: str, headers: dict[str, str]
) -> None:
    response = client.get(path, headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == 401
    assert (body["code"], body["slug"]) == (10401, "HTTP_Unauthorized")
    assert "x-api-key" in body["message"]
    assert "sk-wrong" not in response.text
    assert KEY not in response.text


@pytest.mark.parametrize("path", CURRENT_GETS)
def test_current_refuses_a_bad_key_in_its_nested_shape(client: TestClient, path: str) -> None:
    response = client.get(path, headers={"x-api-key": "sk-wrong"})
    assert response.status_code == 401
    assert response.json()["error"]["slug"] == "HTTP_Unauthorized"
    assert set(response.json()["error"]) == {"message", "code", "slug", "status"}
    assert "sk-wrong" not in response.text


# --- composio-core (/api/v1, /api/v2) ---------------------------------------------------------


def test_core_actions_are_what_action_model_needs(client: TestClient) -> None:
    items = client.get("/api/v2/actions?apps=GITHUB", headers=GOOD).json()["items"]
    assert [item["name"] for item in items] == [
        "GITHUB_CREATE_AN_ISSUE",
        "GITHUB_LIST_REPOSITORY_ISSUES",
        "GITHUB_GET_AN_ISSUE",
    ]
    for item in items:
        assert item["appName"] == "github"
        for schema in (item["parameters"], item["response"]):
            assert {"properties", "title", "type"} <= set(schema)
        assert item["response"]["properties"]["data"]["type"] == "object"
    one = client.get("/api/v2/actions/gmail_send_email", headers=GOOD).json()
    assert one["parameters"]["required"] == ["recipient_email", "body"]
    missing = client.get("/api/v2/actions/NOPE", headers=GOOD)
    assert (missing.status_code, missing.json()["slug"]) == (404, "HTTP_NotFound")


def test_core_app_bodies_have_no_top_level_message(client: TestClient) -> None:
    # composio-core's App enum treats a body with "message" as "not found".
    app = client.get("/api/v1/apps/GITHUB", headers=GOOD).json()
    assert "message" not in app
    assert (app["key"], app["meta"]["actionsCount"]) == ("github", 3)
    assert client.get("/api/v1/apps/jira", headers=GOOD).status_code == 404


def test_core_connected_accounts_honour_the_sdk_filters(
    client: TestClient, state: SandboxState
) -> None:
    state.composio.connect("alice", "slack")
    state.composio.expire("default", "gmail")
    everyone = client.get("/api/v1/connectedAccounts?pageSize=99999999", headers=GOOD).json()
    assert len(everyone["items"]) == 4
    active = client.get(
        "/api/v1/connectedAccounts?pageSize=99999999&user_uuid=default&showActiveOnly=true",
        headers=GOOD,
    ).json()["items"]
    assert sorted(a["appUniqueId"] for a in active) == ["github", "slack"]
    assert {a["clientUniqueUserId"] for a in active} == {"default"}
    page = client.get("/api/v1/connectedAccounts?pageSize=3&page=2", headers=GOOD).json()
    assert (len(page["items"]), page["page"], page["totalPages"]) == (1, 2, 2)
    alice = client.get("/api/v1/connectedAccounts?user_uuid=alice", headers=GOOD).json()
    (account,) = alice["items"]
    fetched = client.get(f"/api/v1/connectedAccounts/{account['id']}", headers=GOOD).json()
    assert fetched == account
    gone = client.get("/api/v1/connectedAccounts/nope", headers=GOOD)
    assert (gone.status_code, gone.json()["code"]) == (404, 606)


def test_core_execute_answers_with_both_spellings(client: TestClient) -> None:
    url = "/api/v2/actions/GITHUB_CREATE_AN_ISSUE/execute"
    body = {"entityId": "default", "input": ISSUE, "version": "latest:base"}
    done = client.post(url, headers=GOOD, json=body).json()
    assert (done["successfull"], done["successful"], done["error"]) == (True, True, None)
    assert done["data"]["number"] == 1
    invalid = client.post(url, headers=GOOD, json={**body, "input": {"title": "t"}})
    assert invalid.status_code == 200
    assert invalid.json()["successfull"] is False
    assert "Following fields are missing: {'owner', 'repo'}" in invalid.json()["error"]


def test_core_execute_errors(client: TestClient, state: SandboxState) -> None:
    url = "/api/v2/actions/GITHUB_CREATE_AN_ISSUE/execute"
    not_object = client.post(url, headers=GOOD, json={"entityId": "default", "input": [1]})
    assert (not_object.status_code, not_object.json()["slug"]) == (400, "HTTP_BadRequest")
    assert "'input' must be a JSON object, got list" in not_object.json()["message"]
    version = client.post(url, headers=GOOD, json={"input": ISSUE, "version": "9_9"})
    assert version.json()["slug"] == "ActionExecute_VersionNotFound"
    (expired,) = state.composio.expire("default", "github")
    stale = client.post(
        url, headers=GOOD, json={"connectedAccountId": expired["uuid"], "input": ISSUE}
    )
    assert stale.status_code == 400
    assert (stale.json()["code"], stale.json()["slug"]) == (
        1804,
        "ActionExecute_ConnectedAccountNotActive",
    )
    nobody = client.post(url, headers=GOOD, json={"entityId": "nobody", "input": ISSUE})
    assert (nobody.json()["code"], nobody.json()["slug"]) == (
        1803,
        "ActionExecute_ConnectedAccountNotFound",
    )
    unknown = client.post("/api/v2/actions/NOPE/execute", headers=GOOD, json={"input": {}})
    assert unknown.status_code == 404
    broken = client.post(url, headers={**GOOD, "content-type": "application/json"}, content=b"{")
    assert broken.status_code == 400
    assert "not valid JSON" in broken.json()["message"]
    assert state.composio.issues("octocat", "hello") == []


def test_core_family() -> None:
    family = _composio_core_api.FAMILY
    assert family.owns("/api/v1/apps")
    assert family.owns("/api/v2/actions")
    assert not family.owns("/api/v3.1/tools")
    assert not family.owns("/v1/chat/completions")
    assert family.tool_slug("/api/v2/actions/gmail_send_email/execute") == "GMAIL_SEND_EMAIL"
    assert family.tool_slug("/api/v2/actions/GMAIL_SEND_EMAIL") is None
    limited = family.error(
        429, "slow down", code="rate_limit_exceeded", headers={"retry-after": "2"}
    )
    assert limited.headers["retry-after"] == "2"
    assert limited.body == (
        b'{"message":"slow down","code":10429,"slug":"HTTP_TooManyRequests","status":429}'
    )
    envelope = family.unauthorized_envelope()
    assert envelope.status_code == 200
    body = json.loads(bytes(envelope.body))
    assert (body["successfull"], body["successful"]) == (False, False)
    assert json.loads(body["error"])["error"]["code"] == 401


# --- current SDK (/api/v3, /api/v3.1) --------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/api/v3", "/api/v3.1"])
def test_current_tool_schema_and_listing(client: TestClient, prefix: str) -> None:
    tool = client.get(f"{prefix}/tools/GITHUB_CREATE_AN_ISSUE", headers=GOOD).json()
    assert (tool["slug"], tool["version"], tool["toolkit"]["slug"]) == (
        "GITHUB_CREATE_AN_ISSUE",
        TOOLKIT_VERSION,
        "github",
    )
    assert tool["input_parameters"]["required"] == ["owner", "repo", "title"]
    assert set(tool["output_parameters"]["properties"]) == {"data", "error", "successful"}
    listed = client.get(
        f"{prefix}/tools?tool_slugs=GMAIL_SEND_EMAIL,SLACK_SEND_MESSAGE", headers=GOOD
    ).json()
    assert [t["slug"] for t in listed["items"]] == ["SLACK_SEND_MESSAGE", "GMAIL_SEND_EMAIL"]
    searched = client.get(f"{prefix}/tools?toolkit_slug=github&query=issue&limit=2", headers=GOOD)
    assert [t["slug"] for t in searched.json()["items"]] == [
        "GITHUB_CREATE_AN_ISSUE",
        "GITHUB_LIST_REPOSITORY_ISSUES",
    ]
    missing = client.get(f"{prefix}/tools/NOPE", headers=GOOD)
    assert (missing.status_code, missing.json()["error"]["slug"]) == (404, "Tool_NotFound")


def test_current_execute_envelope_and_versions(client: TestClient) -> None:
    url = "/api/v3.1/tools/execute/GITHUB_CREATE_AN_ISSUE"
    body = {"user_id": "default", "version": TOOLKIT_VERSION, "arguments": ISSUE}
    done = client.post(url, headers=GOOD, json=body).json()
    assert set(done) == {"data", "error", "successful", "log_id", "session_info"}
    assert (done["successful"], done["data"]["number"]) == (True, 1)
    assert done["log_id"] == "log_000000000001"
    latest = client.post(url, headers=GOOD, json={"user_id": "default", "arguments": ISSUE})
    assert latest.json()["data"]["number"] == 2
    wrong = client.post(url, headers=GOOD, json={**body, "version": "20990101_00"})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["slug"] == "ActionExecute_VersionNotFound"
    assert "'20990101_00'" in wrong.json()["error"]["message"]


def test_current_execute_errors(client: TestClient, state: SandboxState) -> None:
    url = "/api/v3.1/tools/execute/GMAIL_SEND_EMAIL"
    email = {"recipient_email": "jo@example.org", "body": "x"}
    bad_args = client.post(url, headers=GOOD, json={"user_id": "default", "arguments": "x"})
    assert bad_args.status_code == 400
    assert bad_args.json()["error"]["slug"] == "ActionExecute_InvalidRequest"
    bad_user = client.post(url, headers=GOOD, json={"user_id": 7, "arguments": email})
    assert "'user_id' must be a string, got int" in bad_user.json()["error"]["message"]
    state.composio.expire("default", "gmail")
    expired = client.post(url, headers=GOOD, json={"user_id": "default", "arguments": email})
    assert expired.status_code == 400
    assert expired.json()["error"]["code"] == 1804
    assert "EXPIRED" in expired.json()["error"]["message"]
    assert state.composio.sent_emails() == []


def test_current_family() -> None:
    family = _composio_api.FAMILY
    assert family.owns("/api/v3/tools")
    assert family.owns("/api/v3.1/tools/x")
    assert not family.owns("/api/v2/actions")
    assert not family.owns("/api/v30/x")
    assert family.tool_slug("/api/v3.1/tools/execute/slack_send_message") == "SLACK_SEND_MESSAGE"
    assert family.tool_slug("/api/v3.1/tools/execute/proxy") is None
    assert family.tool_slug("/api/v3.1/tools/SLACK_SEND_MESSAGE") is None
    failed = family.error(503, "down", code="server_error")
    assert failed.body == (
        b'{"error":{"message":"down","code":10503,"slug":"HTTP_ServiceUnavailable","status":503}}'
    )
    envelope = family.unauthorized_envelope()
    assert envelope.status_code == 200
    body = json.loads(bytes(envelope.body))
    assert (body["successful"], body["data"]["status_code"]) == (False, 401)
    assert "successfull" not in body

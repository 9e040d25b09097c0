"""The sandbox's Composio world on its own: apps, accounts, validation and the execution log."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("jsonschema", reason="the sandbox extra is not installed")

from crs.clock import VirtualClock
from crs.errors import ConfigError
from crs.sandbox._composio_apps import iso_time
from crs.sandbox._composio_world import AccountUnavailable, ComposioWorld, UnknownTool

Race = Callable[[Callable[[], None]], None]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def world(clock: VirtualClock) -> ComposioWorld:
    return ComposioWorld(clock=clock)


def run(world: ComposioWorld, slug: str, user: str = "default", **arguments: Any) -> Any:
    result = world.execute(slug, arguments, user_id=user)
    assert result.successful, result.error
    return result.data


def issue(world: ComposioWorld, title: str, repo: str = "hello", **extra: Any) -> Any:
    return run(world, "GITHUB_CREATE_AN_ISSUE", owner="octocat", repo=repo, title=title, **extra)


# --- accounts --------------------------------------------------------------------------------


def test_default_user_starts_with_an_active_account_on_every_app(world: ComposioWorld) -> None:
    accounts = world.accounts(user_ids=["default"])
    assert sorted(a["app"] for a in accounts) == ["github", "gmail", "slack"]
    for account in accounts:
        assert account["status"] == "ACTIVE"
        assert re.fullmatch(r"ca_[0-9A-Za-z]{12}", account["id"])
        assert uuid.UUID(account["uuid"]).version == 4
        assert world.account(account["id"]) == world.account(account["uuid"]) == account


def test_ids_and_timestamps_depend_only_on_call_order_and_clock() -> None:
    first, second = ComposioWorld(clock=VirtualClock()), ComposioWorld(clock=VirtualClock())
    for world in (first, second):
        world.connect("alice", "SLACK")
        issue(world, "Bug")
    assert first.accounts() == second.accounts()
    assert first.issues("octocat", "hello") == second.issues("octocat", "hello")
    assert first.accounts()[0]["created_at"] == iso_time(VirtualClock.DEFAULT_START)


def test_expired_account_refuses_to_execute_and_leaves_no_side_effect(
    world: ComposioWorld,
) -> None:
    world.expire("default", "GMAIL")
    with pytest.raises(AccountUnavailable) as caught:
        world.execute(
            "GMAIL_SEND_EMAIL", {"recipient_email": "a@b.co", "body": "x"}, user_id="default"
        )
    assert caught.value.reason == "inactive"
    assert "EXPIRED" in caught.value.message
    assert world.sent_emails() == []
    (record,) = world.executions()
    assert (record.outcome, record.successful) == ("account_inactive", False)
    assert record.account_id == world.accounts(apps=["gmail"])[0]["id"]


def test_a_new_active_account_is_used_over_an_expired_one(world: ComposioWorld) -> None:
    world.expire("default", "slack")
    fresh = world.connect("default", "slack")
    result = world.execute(
        "SLACK_SEND_MESSAGE", {"channel": "general", "text": "back"}, user_id="default"
    )
    assert result.successful
    assert result.execution.account_id == fresh["id"]


def test_set_account_status_round_trips_and_names_bad_input(world: ComposioWorld) -> None:
    (account,) = world.set_account_status("default", "github", "inactive")
    assert account["status"] == "INACTIVE"
    assert world.accounts(apps=["github"], active_only=True) == []
    world.set_account_status("default", "github", "ACTIVE")
    assert len(world.accounts(apps=["github"], active_only=True)) == 1
    with pytest.raises(ConfigError, match=r"user 'bob' has no connected account on 'gmail'"):
        world.expire("bob", "gmail")
    with pytest.raises(ConfigError, match=r"status 'GONE' is not a connected-account status"):
        world.set_account_status("default", "gmail", "GONE")
    with pytest.raises(ConfigError, match=r"app 'jira' is not served") as caught:
        world.connect("default", "jira")
    assert "github, gmail, slack" in str(caught.value)


def test_account_of_another_user_or_app_is_not_found(world: ComposioWorld) -> None:
    alice = world.connect("alice", "github")
    slack = world.accounts(apps=["slack"])[0]
    args = {"owner": "o", "repo": "r", "title": "t"}
    with pytest.raises(AccountUnavailable, match="does not belong to user 'default'"):
        world.execute("GITHUB_CREATE_AN_ISSUE", args, user_id="default", account_id=alice["id"])
    with pytest.raises(AccountUnavailable, match=r"on 'slack' not found for app 'github'"):
        world.execute("GITHUB_CREATE_AN_ISSUE", args, account_id=slack["id"])
    with pytest.raises(AccountUnavailable, match="No connected account found for user 'carol'"):
        world.execute("GITHUB_CREATE_AN_ISSUE", args, user_id="carol")
    assert [r.outcome for r in world.executions()] == ["no_account"] * 3
    assert world.issues("o", "r") == []


def test_unknown_tool_lists_what_is_served(world: ComposioWorld) -> None:
    with pytest.raises(UnknownTool, match=r"'JIRA_CREATE_ISSUE' not found.*GITHUB_CREATE_AN_ISSUE"):
        world.execute("JIRA_CREATE_ISSUE", {}, user_id="default")


# --- validation ------------------------------------------------------------------------------


def test_missing_required_fields_are_named(world: ComposioWorld) -> None:
    result = world.execute("GITHUB_CREATE_AN_ISSUE", {"title": "t"}, user_id="default")
    assert not result.successful
    assert result.error == (
        "Invalid request data provided\n- Following fields are missing: {'owner', 'repo'}"
    )
    assert result.execution.outcome == "invalid_arguments"


def test_wrong_types_name_the_field_and_the_value(world: ComposioWorld) -> None:
    result = world.execute(
        "GITHUB_CREATE_AN_ISSUE",
        {"owner": "o", "repo": "r", "title": "t", "labels": ["bug", 7]},
        user_id="default",
    )
    assert result.error == "Invalid request data provided\n- labels[1]: 7 is not of type 'string'"
    email = world.execute(
        "GMAIL_SEND_EMAIL", {"recipient_email": "not-an-address", "body": "x"}, user_id="default"
    )
    assert "recipient_email: 'not-an-address' is not a 'email'" in str(email.error)
    assert world.issues("o", "r") == []
    assert world.sent_emails() == []


# --- GitHub ----------------------------------------------------------------------------------


def test_issue_numbers_count_up_per_repository(world: ComposioWorld) -> None:
    assert [issue(world, t)["number"] for t in ("a", "b")] == [1, 2]
    assert issue(world, "c", repo="other")["number"] == 1
    created = issue(world, "d", labels=["bug", "bug"], assignees=["octocat"])
    assert [label["name"] for label in created["labels"]] == ["bug"]
    assert created["assignee"]["login"] == "octocat"
    assert created["user"]["login"] == "default"
    assert created["html_url"] == "https://github.com/octocat/hello/issues/3"


def test_list_filters_sorts_and_pages(world: ComposioWorld) -> None:
    for n in range(5):
        issue(world, f"issue {n}", labels=["bug"] if n % 2 else [])
    listing = run(world, "GITHUB_LIST_REPOSITORY_ISSUES", owner="OctoCat", repo="HELLO")
    assert [i["number"] for i in listing["issues"]] == [5, 4, 3, 2, 1]
    bugs = run(world, "GITHUB_LIST_REPOSITORY_ISSUES", owner="octocat", repo="hello", labels="bug")
    assert [i["number"] for i in bugs["issues"]] == [4, 2]
    page = run(
        world,
        "GITHUB_LIST_REPOSITORY_ISSUES",
        owner="octocat",
        repo="hello",
        direction="asc",
        per_page=2,
        page=2,
    )
    assert [i["number"] for i in page["issues"]] == [3, 4]
    closed = run(
        world, "GITHUB_LIST_REPOSITORY_ISSUES", owner="octocat", repo="hello", state="closed"
    )
    assert closed == {"issues": []}


def test_get_an_issue_and_github_404(world: ComposioWorld) -> None:
    issue(world, "first")
    got = run(world, "GITHUB_GET_AN_ISSUE", owner="octocat", repo="hello", issue_number=1)
    assert got["title"] == "first"
    missing = world.execute(
        "GITHUB_GET_AN_ISSUE",
        {"owner": "octocat", "repo": "hello", "issue_number": 9},
        user_id="default",
    )
    assert not missing.successful
    assert '"message":"Not Found"' in str(missing.error)
    assert missing.execution.outcome == "tool_failure"


def test_issue_numbers_stay_unique_under_concurrency(world: ComposioWorld, race: Race) -> None:
    def create_many() -> None:
        for _ in range(25):
            issue(world, "parallel")

    race(create_many)
    numbers = [i["number"] for i in world.issues("octocat", "hello")]
    assert sorted(numbers) == list(range(1, 201))
    assert len(world.executions()) == 200


# --- Slack -----------------------------------------------------------------------------------


def test_messages_can_be_read_back_newest_first(world: ComposioWorld, clock: VirtualClock) -> None:
    first = run(world, "SLACK_SEND_MESSAGE", channel="#general", markdown_text="one")
    clock.advance(5)
    run(world, "SLACK_SEND_MESSAGE", channel="C0SANDBOX01", text="two")
    assert first["channel"] == "C0SANDBOX01"
    assert first["ts"] == f"{int(VirtualClock.DEFAULT_START)}.000001"
    history = run(world, "SLACK_FETCH_CONVERSATION_HISTORY", channel="general")
    assert [m["text"] for m in history["messages"]] == ["two", "one"]
    assert history["has_more"] is False
    page = run(world, "SLACK_FETCH_CONVERSATION_HISTORY", channel="general", limit=1)
    assert [m["text"] for m in page["messages"]] == ["two"]
    rest = run(
        world,
        "SLACK_FETCH_CONVERSATION_HISTORY",
        channel="general",
        cursor=page["response_metadata"]["next_cursor"],
    )
    assert [m["text"] for m in rest["messages"]] == ["one"]
    later = run(world, "SLACK_FETCH_CONVERSATION_HISTORY", channel="general", oldest=first["ts"])
    assert [m["text"] for m in later["messages"]] == ["two"]


def test_thread_replies_stay_out_of_history_unless_broadcast(world: ComposioWorld) -> None:
    parent = run(world, "SLACK_SEND_MESSAGE", channel="random", text="parent")
    run(world, "SLACK_SEND_MESSAGE", channel="random", text="quiet", thread_ts=parent["ts"])
    run(
        world,
        "SLACK_SEND_MESSAGE",
        channel="random",
        text="loud",
        thread_ts=parent["ts"],
        reply_broadcast=True,
    )
    history = run(world, "SLACK_FETCH_CONVERSATION_HISTORY", channel="random")
    assert [m["text"] for m in history["messages"]] == ["loud", "parent"]
    assert history["messages"][1]["reply_count"] == 2
    assert [m["text"] for m in world.messages("#random")] == ["parent", "quiet", "loud"]


def test_slack_errors_are_slacks_own(world: ComposioWorld) -> None:
    nowhere = world.execute(
        "SLACK_SEND_MESSAGE", {"channel": "ops", "text": "x"}, user_id="default"
    )
    assert nowhere.error == '{"ok":false,"error":"channel_not_found"}'
    silent = world.execute("SLACK_SEND_MESSAGE", {"channel": "general"}, user_id="default")
    assert silent.error == '{"ok":false,"error":"no_text"}'
    world.add_channel("#ops")
    assert "ops" in world.channels()
    assert run(world, "SLACK_SEND_MESSAGE", channel="ops", text="x")["ok"] is True


# --- Gmail -----------------------------------------------------------------------------------


def test_sent_email_is_listed_and_searchable(world: ComposioWorld) -> None:
    sent = run(
        world, "GMAIL_SEND_EMAIL", recipient_email="jo@example.org", subject="Invoice", body="Hi"
    )
    run(world, "GMAIL_SEND_EMAIL", recipient_email="al@example.org", subject="Lunch", body="Yo")
    message_id = sent["response_data"]["id"]
    assert re.fullmatch(r"[0-9a-f]{16}", message_id)
    listing = run(world, "GMAIL_FETCH_EMAILS", label_ids=["SENT"])
    assert [m["subject"] for m in listing["messages"]] == ["Lunch", "Invoice"]
    assert listing["resultSizeEstimate"] == 2
    found = run(world, "GMAIL_FETCH_EMAILS", query="to:jo@example.org subject:invoice")
    assert [m["messageId"] for m in found["messages"]] == [message_id]
    headers = {h["name"]: h["value"] for h in found["messages"][0]["payload"]["headers"]}
    assert headers["From"] == world.email_address() == "default@example.com"
    assert [e["subject"] for e in world.sent_emails()] == ["Invoice", "Lunch"]


def test_mail_to_a_sandbox_user_arrives_unread_in_their_inbox(world: ComposioWorld) -> None:
    world.connect("alice@corp.test", "gmail")
    run(world, "GMAIL_SEND_EMAIL", recipient_email="alice@corp.test", subject="Hello", body="x")
    inbox = run(world, "GMAIL_FETCH_EMAILS", user="alice@corp.test", query="is:unread")
    assert [(m["subject"], m["labelIds"]) for m in inbox["messages"]] == [
        ("Hello", ["INBOX", "UNREAD"])
    ]
    assert run(world, "GMAIL_FETCH_EMAILS", query="label:inbox") == {
        "messages": [],
        "nextPageToken": "",
        "resultSizeEstimate": 0,
    }


def test_a_duplicated_send_is_visible_in_the_execution_log(world: ComposioWorld) -> None:
    arguments = {"recipient_email": "jo@example.org", "body": "pay me"}
    for _ in range(2):
        world.execute("GMAIL_SEND_EMAIL", arguments, user_id="default", api="composio")
    arguments["body"] = "changed after the call"
    sends = world.executions("gmail_send_email")
    assert [(r.seq, r.arguments["body"], r.api) for r in sends] == [
        (1, "pay me", "composio"),
        (2, "pay me", "composio"),
    ]
    assert len(world.sent_emails()) == 2


# --- reset -----------------------------------------------------------------------------------


def test_reset_forgets_everything_and_reseeds_accounts(world: ComposioWorld) -> None:
    issue(world, "gone")
    run(world, "SLACK_SEND_MESSAGE", channel="general", text="gone")
    run(world, "GMAIL_SEND_EMAIL", recipient_email="a@b.co", body="gone")
    world.add_channel("ops")
    world.expire("default", "github")
    world.connect("alice", "slack")
    world.reset()
    assert world.issues("octocat", "hello") == []
    assert world.messages("general") == []
    assert world.sent_emails() == []
    assert world.executions() == []
    assert "ops" not in world.channels()
    assert {(a["user_id"], a["status"]) for a in world.accounts()} == {("default", "ACTIVE")}
    assert issue(world, "again")["number"] == 1

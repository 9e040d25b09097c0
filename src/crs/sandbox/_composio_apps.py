"""The behaviour behind the sandbox's Composio tools: a tiny GitHub, Slack and Gmail.

Agents are multi-step: create an issue, then list the repository to confirm it; post to Slack,
then read the channel back. A fake that answers each call in isolation cannot test that, so the
three apps keep state for the life of the world (issue numbers count up per repository, Slack
timestamps and Gmail ids are unique and ordered) and answer reads from what earlier writes did.

Failures the providers themselves report (an unknown issue number, a Slack channel that does not
exist) raise :class:`ToolFailure` with the provider's own error payload, because that is what
Composio passes back in ``error`` with ``successful: false``.

Everything here runs under the world's lock and takes its time from the caller, so ids and
timestamps depend only on the order of calls and the clock: same calls, same results.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["AppStates", "Caller", "ToolFailure", "address_of", "iso_time"]

#: Channels every sandbox Slack workspace starts with (id, name).
SEED_CHANNELS = (
    ("C0SANDBOX01", "general"),
    ("C0SANDBOX02", "random"),
    ("C0SANDBOX03", "engineering"),
    ("C0SANDBOX04", "alerts"),
)
_GMAIL_ID_BASE = 0x18F0_0000_0000_0000


class ToolFailure(Exception):
    """The provider refused the call; Composio reports that as ``successful: false``."""

    def __init__(self, error: object, data: dict[str, Any] | None = None) -> None:
        text = error if isinstance(error, str) else json.dumps(error, separators=(",", ":"))
        super().__init__(text)
        self.error = text
        self.data = data or {}


@dataclass(frozen=True)
class Caller:
    """Who is executing: the Composio user and the connected account acting for them."""

    user_id: str
    account_id: str
    now: float


def iso_time(seconds: float) -> str:
    """An ISO 8601 UTC timestamp with milliseconds, the form both APIs and providers use."""
    stamp = datetime.fromtimestamp(seconds, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str | None, *, error: object) -> int:
    if not cursor:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == "offset" and number.isdigit():
            return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ToolFailure(error)


@dataclass
class _Repo:
    owner: str
    name: str
    issues: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Channel:
    id: str
    name: str
    messages: list[dict[str, Any]] = field(default_factory=list)


class AppStates:
    """The state of the three apps, and the tool handlers that read and change it."""

    def __init__(self) -> None:
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._github_ids: dict[str, int] = {}
        self._label_ids: dict[str, int] = {}
        self._issue_seq = 0
        self._channels: dict[str, _Channel] = {}
        self._slack_ids: dict[str, str] = {}
        self._slack_seq = 0
        self._mailboxes: dict[str, list[dict[str, Any]]] = {}
        self._gmail_seq = 0
        self._handlers: dict[str, Callable[[dict[str, Any], Caller], dict[str, Any]]] = {
            "GITHUB_CREATE_AN_ISSUE": self._create_issue,
            "GITHUB_LIST_REPOSITORY_ISSUES": self._list_issues,
            "GITHUB_GET_AN_ISSUE": self._get_issue,
            "SLACK_SEND_MESSAGE": self._send_message,
            "SLACK_FETCH_CONVERSATION_HISTORY": self._history,
            "GMAIL_SEND_EMAIL": self._send_email,
            "GMAIL_FETCH_EMAILS": self._fetch_emails,
        }
        self.reset()

    def reset(self) -> None:
        """Back to an empty GitHub, the seeded Slack channels and empty mailboxes."""
        self._repos.clear()
        self._github_ids.clear()
        self._label_ids.clear()
        self._issue_seq = 0
        self._channels = {cid: _Channel(cid, name) for cid, name in SEED_CHANNELS}
        self._slack_ids.clear()
        self._slack_seq = 0
        self._mailboxes.clear()
        self._gmail_seq = 0

    def run(self, slug: str, arguments: dict[str, Any], caller: Caller) -> dict[str, Any]:
        """Execute one tool; the result is a fresh copy the caller may keep."""
        return copy.deepcopy(self._handlers[slug](arguments, caller))

    # --- inspection --------------------------------------------------------------------------

    def issues(self, owner: str, repo: str) -> list[dict[str, Any]]:
        """The repository's issues, oldest first."""
        found = self._repos.get((owner.lower(), repo.lower()))
        return copy.deepcopy(found.issues) if found else []

    def channel_messages(self, channel: str) -> list[dict[str, Any]]:
        """Every message in a channel, thread replies included, in posting order."""
        return copy.deepcopy(self._channel(channel).messages)

    def channel_names(self) -> list[str]:
        """Names of the channels that exist."""
        return [found.name for found in self._channels.values()]

    def add_channel(self, name: str) -> str:
        """Create a channel (idempotent); returns its id."""
        wanted = name.lstrip("#").lower()
        for found in self._channels.values():
            if found.name == wanted:
                return found.id
        cid = f"C0SANDBOX{len(self._channels) + 1:02d}"
        self._channels[cid] = _Channel(cid, wanted)
        return cid

    def sent_emails(self) -> list[dict[str, Any]]:
        """Every email sent, by any user, in sending order."""
        sent = [
            message
            for mailbox in self._mailboxes.values()
            for message in mailbox
            if "SENT" in message["labelIds"]
        ]
        return copy.deepcopy(sorted(sent, key=lambda message: message["seq"]))

    def mailbox(self, user_id: str) -> list[dict[str, Any]]:
        """A user's mailbox (sent and received), in arrival order."""
        return copy.deepcopy(self._mailboxes.get(user_id, []))

    def open_mailbox(self, user_id: str) -> None:
        """Give a user a mailbox, so mail to their address is delivered from now on."""
        self._mailboxes.setdefault(user_id, [])

    # --- GitHub ------------------------------------------------------------------------------

    def _github_user(self, login: str) -> dict[str, Any]:
        uid = self._github_ids.setdefault(login.lower(), 9_000_000 + len(self._github_ids) + 1)
        return {"login": login, "id": uid, "type": "User"}

    def _repo(self, arguments: dict[str, Any]) -> _Repo:
        owner, name = arguments["owner"], arguments["repo"]
        return self._repos.setdefault((owner.lower(), name.lower()), _Repo(owner, name))

    def _create_issue(self, arguments: dict[str, Any], caller: Caller) -> dict[str, Any]:
        repo = self._repo(arguments)
        self._issue_seq += 1
        number = len(repo.issues) + 1
        stamp = iso_time(caller.now)
        api = f"https://api.github.com/repos/{repo.owner}/{repo.name}"
        assignees = [self._github_user(login) for login in dict.fromkeys(arguments["assignees"])]
        labels = [
            {
                "id": self._label_ids.setdefault(name, 5_000_000 + len(self._label_ids) + 1),
                "name": name,
                "color": "ededed",
                "default": False,
            }
            for name in dict.fromkeys(arguments["labels"])
        ]
        issue = {
            "id": 1_000_000_000 + self._issue_seq,
            "node_id": f"I_kwDOSBX{self._issue_seq:08d}",
            "number": number,
            "title": arguments["title"],
            "body": arguments["body"],
            "state": "open",
            "state_reason": None,
            "locked": False,
            "user": self._github_user(_login(caller.user_id)),
            "labels": labels,
            "assignee": assignees[0] if assignees else None,
            "assignees": assignees,
            "comments": 0,
            "created_at": stamp,
            "updated_at": stamp,
            "closed_at": None,
            "url": f"{api}/issues/{number}",
            "html_url": f"https://github.com/{repo.owner}/{repo.name}/issues/{number}",
            "repository_url": api,
        }
        repo.issues.append(issue)
        return issue

    def _list_issues(self, arguments: dict[str, Any], _caller: Caller) -> dict[str, Any]:
        found = self._repos.get((arguments["owner"].lower(), arguments["repo"].lower()))
        issues = list(found.issues) if found else []
        if arguments["state"] != "all":
            issues = [issue for issue in issues if issue["state"] == arguments["state"]]
        if arguments["labels"]:
            wanted = {name.strip().lower() for name in arguments["labels"].split(",") if name}
            issues = [
                issue
                for issue in issues
                if wanted <= {label["name"].lower() for label in issue["labels"]}
            ]
        assignee = arguments["assignee"]
        if assignee == "none":
            issues = [issue for issue in issues if not issue["assignees"]]
        elif assignee == "*":
            issues = [issue for issue in issues if issue["assignees"]]
        elif assignee:
            issues = [
                issue
                for issue in issues
                if assignee.lower() in {user["login"].lower() for user in issue["assignees"]}
            ]
        if arguments["creator"]:
            creator = arguments["creator"].lower()
            issues = [issue for issue in issues if issue["user"]["login"].lower() == creator]
        key = {"created": "id", "updated": "updated_at", "comments": "comments"}[arguments["sort"]]
        issues.sort(key=lambda issue: (issue[key], issue["id"]))
        if arguments["direction"] == "desc":
            issues.reverse()
        start = (arguments["page"] - 1) * arguments["per_page"]
        return {"issues": issues[start : start + arguments["per_page"]]}

    def _get_issue(self, arguments: dict[str, Any], _caller: Caller) -> dict[str, Any]:
        found = self._repos.get((arguments["owner"].lower(), arguments["repo"].lower()))
        for issue in found.issues if found else []:
            if issue["number"] == arguments["issue_number"]:
                return issue
        raise ToolFailure(
            {
                "message": "Not Found",
                "documentation_url": "https://docs.github.com/rest/issues/issues#get-an-issue",
                "status": "404",
            }
        )

    # --- Slack -------------------------------------------------------------------------------

    def _channel(self, channel: str) -> _Channel:
        wanted = channel.strip().lstrip("#")
        found = self._channels.get(wanted.upper()) or next(
            (each for each in self._channels.values() if each.name == wanted.lower()), None
        )
        if found is None:
            raise ToolFailure({"ok": False, "error": "channel_not_found"})
        return found

    def _slack_user(self, user_id: str) -> str:
        return self._slack_ids.setdefault(user_id, f"U{len(self._slack_ids) + 1:010d}")

    def _send_message(self, arguments: dict[str, Any], caller: Caller) -> dict[str, Any]:
        found = self._channel(arguments["channel"])
        text = arguments["markdown_text"] or arguments["text"]
        if not text:
            raise ToolFailure({"ok": False, "error": "no_text"})
        parent = None
        if arguments["thread_ts"]:
            parent = next((m for m in found.messages if m["ts"] == arguments["thread_ts"]), None)
            if parent is None:
                raise ToolFailure({"ok": False, "error": "thread_not_found"})
        self._slack_seq += 1
        ts = f"{int(caller.now)}.{self._slack_seq:06d}"
        message: dict[str, Any] = {
            "type": "message",
            "user": self._slack_user(caller.user_id),
            "text": text,
            "ts": ts,
        }
        if parent is not None:
            message["thread_ts"] = parent["ts"]
            message["_broadcast"] = arguments["reply_broadcast"]
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = parent.get("reply_count", 0) + 1
        found.messages.append(message)
        return {"ok": True, "channel": found.id, "ts": ts, "message": _public(message)}

    def _history(self, arguments: dict[str, Any], _caller: Caller) -> dict[str, Any]:
        found = self._channel(arguments["channel"])
        visible = [
            m for m in found.messages if m.get("thread_ts", m["ts"]) == m["ts"] or m["_broadcast"]
        ]
        oldest = _slack_time(arguments["oldest"], "oldest", default=float("-inf"))
        latest = _slack_time(arguments["latest"], "latest", default=float("inf"))
        inclusive = arguments["inclusive"]
        visible = [
            m
            for m in visible
            if (
                oldest <= float(m["ts"]) <= latest
                if inclusive
                else oldest < float(m["ts"]) < latest
            )
        ]
        visible.reverse()
        start = _offset(arguments["cursor"], error={"ok": False, "error": "invalid_cursor"})
        page = visible[start : start + arguments["limit"]]
        more = start + len(page) < len(visible)
        return {
            "ok": True,
            "messages": [_public(message) for message in page],
            "has_more": more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": _cursor(start + len(page)) if more else ""},
        }

    # --- Gmail -------------------------------------------------------------------------------

    def _send_email(self, arguments: dict[str, Any], caller: Caller) -> dict[str, Any]:
        self._gmail_seq += 1
        message_id = f"{_GMAIL_ID_BASE + self._gmail_seq:016x}"
        to = [arguments["recipient_email"], *arguments["extra_recipients"]]
        message = {
            "seq": self._gmail_seq,
            "user_id": caller.user_id,
            "messageId": message_id,
            "threadId": message_id,
            "sender": address_of(caller.user_id),
            "to": ", ".join(to),
            "cc": ", ".join(arguments["cc"]),
            "bcc": ", ".join(arguments["bcc"]),
            "subject": arguments["subject"],
            "messageText": arguments["body"],
            "is_html": arguments["is_html"],
            "messageTimestamp": iso_time(caller.now),
            "labelIds": ["SENT"],
        }
        self._mailboxes.setdefault(caller.user_id, []).append(message)
        recipients = {a.lower() for a in (*to, *arguments["cc"], *arguments["bcc"])}
        for user_id, mailbox in self._mailboxes.items():
            if address_of(user_id).lower() in recipients:
                received = {**message, "user_id": user_id, "labelIds": ["INBOX", "UNREAD"]}
                mailbox.append(received)
        return {"response_data": {"id": message_id, "threadId": message_id, "labelIds": ["SENT"]}}

    def _fetch_emails(self, arguments: dict[str, Any], caller: Caller) -> dict[str, Any]:
        mailbox = self._mailboxes.get(caller.user_id, [])
        wanted = {label.upper() for label in arguments["label_ids"]}
        matches = _query_filter(arguments["query"] or "")
        found = [
            message
            for message in reversed(mailbox)
            if wanted <= set(message["labelIds"]) and matches(message)
        ]
        error = {
            "error": {"code": 400, "message": "Invalid pageToken", "status": "INVALID_ARGUMENT"}
        }
        start = _offset(arguments["page_token"], error=error)
        page = found[start : start + arguments["max_results"]]
        more = start + len(page) < len(found)
        return {
            "messages": [_email_view(m, arguments["include_payload"]) for m in page],
            "nextPageToken": _cursor(start + len(page)) if more else "",
            "resultSizeEstimate": len(found),
        }


def _login(user_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "-", user_id).strip("-") or "sandbox-user"


def address_of(user_id: str) -> str:
    """The Gmail address of a sandbox user: the id itself when it is an address."""
    if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", user_id):
        return user_id
    return f"{_login(user_id).lower()}@example.com"


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in message.items() if not key.startswith("_")}


def _slack_time(value: str | None, name: str, *, default: float) -> float:
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ToolFailure({"ok": False, "error": f"invalid_{name}"}) from None


def _query_filter(query: str) -> Callable[[dict[str, Any]], bool]:
    """Gmail's search operators that the sandbox understands; other words match as text."""
    try:
        terms = shlex.split(query)
    except ValueError:
        terms = query.split()
    fields = {"from": "sender", "to": "to", "subject": "subject"}

    def matches(message: dict[str, Any]) -> bool:
        for term in terms:
            key, sep, value = term.partition(":")
            key, value = key.lower(), value.lower()
            if sep and key in fields:
                ok = value in str(message[fields[key]] or "").lower()
            elif sep and key == "label":
                ok = value.upper() in message["labelIds"]
            elif sep and key == "is" and value in ("read", "unread"):
                ok = ("UNREAD" in message["labelIds"]) == (value == "unread")
            elif sep and key == "has":
                ok = False
            else:
                text = " ".join(
                    str(message[name] or "") for name in ("subject", "messageText", "sender", "to")
                )
                ok = term.lower() in text.lower()
            if not ok:
                return False
        return True

    return matches


def _email_view(message: dict[str, Any], include_payload: bool) -> dict[str, Any]:
    subject = message["subject"] or ""
    view = {
        "messageId": message["messageId"],
        "threadId": message["threadId"],
        "subject": message["subject"],
        "sender": message["sender"],
        "to": message["to"],
        "messageText": message["messageText"],
        "messageTimestamp": message["messageTimestamp"],
        "labelIds": list(message["labelIds"]),
        "attachmentList": [],
        "preview": {"subject": subject, "body": message["messageText"][:100]},
        "payload": None,
    }
    if include_payload:
        headers = [
            ("From", message["sender"]),
            ("To", message["to"]),
            ("Cc", message["cc"]),
            ("Subject", subject),
            ("Date", message["messageTimestamp"]),
        ]
        body = message["messageText"].encode()
        view["payload"] = {
            "mimeType": "text/html" if message["is_html"] else "text/plain",
            "headers": [{"name": name, "value": value} for name, value in headers if value],
            "body": {"size": len(body), "data": base64.urlsafe_b64encode(body).decode()},
        }
    return view

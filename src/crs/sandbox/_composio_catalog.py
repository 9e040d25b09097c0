"""The tools the sandbox's Composio serves, with JSON schemas shaped like Composio's own.

Agents are built against Composio's real schemas: an OpenAI tool definition is generated from
``input_parameters``, and code reads results by the field names in ``output_parameters``. So
the sandbox serves the real slugs (``GITHUB_CREATE_AN_ISSUE``, ``SLACK_SEND_MESSAGE``,
``GMAIL_SEND_EMAIL``, ...) with inputs modelled on Composio's published schemas (pydantic-style
``title``/``description``/``default``/``examples``, nullable fields as ``anyOf`` with ``null``),
and outputs wrapped the way every Composio action's are: ``{"data", "error", "successful"}``.
Data fields follow the providers' REST payloads (GitHub issues, Slack ``chat.postMessage`` and
``conversations.history``, Gmail messages as Composio flattens them).

Attachments are not modelled: composio-core would try to upload a local file for any field
marked ``file_uploadable``, which has no meaning against a loopback server.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["APPS", "CORE_VERSION", "TOOLKIT_VERSION", "TOOLS", "AppSpec", "ToolSpec"]

#: The one toolkit version every sandbox tool has, in Composio's ``YYYYMMDD_NN`` form. The
#: current SDK refuses to execute without an explicit version, so tests pass this one.
TOOLKIT_VERSION = "20250909_00"

#: composio-core 0.7 names versions ``MAJOR_MINOR``; it sends ``latest:base`` unless pinned.
CORE_VERSION = "1_0"


@dataclass(frozen=True)
class AppSpec:
    """One Composio app (a *toolkit* in the current API)."""

    slug: str
    name: str
    display_name: str
    app_id: str
    description: str
    categories: tuple[str, ...]
    logo: str
    auth_scheme: str
    base_url: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class ToolSpec:
    """One Composio tool (an *action* in composio-core's words)."""

    slug: str
    app: str
    name: str
    description: str
    tags: tuple[str, ...]
    input_schema: Mapping[str, Any]
    data_schema: Mapping[str, Any]
    scopes: tuple[str, ...] = field(default=())

    @property
    def output_schema(self) -> dict[str, Any]:
        """The result envelope every Composio action declares, around this tool's data."""
        return copy.deepcopy(_response_wrapper(self.slug, self.data_schema))

    @property
    def input_parameters(self) -> dict[str, Any]:
        """A copy of the input schema that callers may change."""
        return copy.deepcopy(dict(self.input_schema))


def _response_wrapper(slug: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "properties": {
            "data": {"description": "Data from the action execution", **data, "title": "Data"},
            "error": {
                "anyOf": [{"type": "string"}, {"type": "null"}],
                "default": None,
                "description": "Error if any occurred during the execution of the action",
                "title": "Error",
            },
            "successful": {
                "description": "Whether or not the action execution was successful or not",
                "title": "Successful",
                "type": "boolean",
            },
        },
        "required": ["data", "successful"],
        "title": f"{_camel(slug)}ResponseWrapper",
        "type": "object",
    }


def _camel(slug: str) -> str:
    app, _, rest = slug.partition("_")
    return "".join(word.capitalize() for word in rest.split("_")) or app.capitalize()


def _text(title: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"title": title, "description": description, "type": "string", **extra}


def _nullable(title: str, description: str, kind: str = "string", **extra: Any) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "anyOf": [{"type": kind, **extra}, {"type": "null"}],
        "default": None,
    }


def _strings(title: str, description: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        **extra,
    }


def _request(slug: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "title": f"{_camel(slug)}Request",
        "type": "object",
        "properties": properties,
        "required": required,
    }


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


# --- GitHub ----------------------------------------------------------------------------------

_OWNER = _text(
    "Owner",
    "The account owner of the repository. The name is not case sensitive.",
    examples=["octocat"],
)
_REPO = _text(
    "Repo",
    "The name of the repository without the `.git` extension. The name is not case sensitive.",
    examples=["hello-world"],
)
_GITHUB_USER = _object(
    {"login": {"type": "string"}, "id": {"type": "integer"}, "type": {"type": "string"}},
    ["login", "id"],
)
_ISSUE = _object(
    {
        "id": {"type": "integer"},
        "node_id": {"type": "string"},
        "number": {"type": "integer", "description": "Number of the issue in its repository"},
        "title": {"type": "string"},
        "body": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "state": {"type": "string", "enum": ["open", "closed"]},
        "state_reason": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "locked": {"type": "boolean"},
        "user": _GITHUB_USER,
        "labels": {
            "type": "array",
            "items": _object(
                {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "color": {"type": "string"},
                    "default": {"type": "boolean"},
                },
                ["id", "name"],
            ),
        },
        "assignee": {"anyOf": [_GITHUB_USER, {"type": "null"}]},
        "assignees": {"type": "array", "items": _GITHUB_USER},
        "comments": {"type": "integer"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "closed_at": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "url": {"type": "string"},
        "html_url": {"type": "string"},
        "repository_url": {"type": "string"},
    },
    ["id", "number", "title", "state", "user", "html_url"],
)

_GITHUB_TOOLS = (
    ToolSpec(
        slug="GITHUB_CREATE_AN_ISSUE",
        app="github",
        name="Create an issue",
        description=(
            "Creates a new issue in a GitHub repository. Any user with pull access to a "
            "repository can create an issue; labels and assignees are applied as given."
        ),
        tags=("issues", "important"),
        scopes=("repo",),
        input_schema=_request(
            "GITHUB_CREATE_AN_ISSUE",
            {
                "owner": _OWNER,
                "repo": _REPO,
                "title": _text(
                    "Title", "The title of the issue.", examples=["Found a bug"], minLength=1
                ),
                "body": _text("Body", "The contents of the issue (Markdown).", default=""),
                "assignees": _strings(
                    "Assignees", "Logins for users to assign to this issue.", examples=[["octocat"]]
                ),
                "labels": _strings(
                    "Labels", "Labels to associate with this issue.", examples=[["bug"]]
                ),
            },
            ["owner", "repo", "title"],
        ),
        data_schema=_ISSUE,
    ),
    ToolSpec(
        slug="GITHUB_LIST_REPOSITORY_ISSUES",
        app="github",
        name="List repository issues",
        description=(
            "Lists issues in a repository, newest first by default, filtered by state, labels, "
            "assignee or creator, one page at a time."
        ),
        tags=("issues", "important"),
        scopes=("repo",),
        input_schema=_request(
            "GITHUB_LIST_REPOSITORY_ISSUES",
            {
                "owner": _OWNER,
                "repo": _REPO,
                "state": _text(
                    "State",
                    "Indicates the state of the issues to return.",
                    enum=["open", "closed", "all"],
                    default="open",
                ),
                "labels": _nullable(
                    "Labels", "A list of comma separated label names. Example: `bug,ui,@high`"
                ),
                "assignee": _nullable(
                    "Assignee", "Login of an assigned user, `none` for no assignee, `*` for any."
                ),
                "creator": _nullable("Creator", "The user that created the issue."),
                "sort": _text(
                    "Sort",
                    "What to sort results by.",
                    enum=["created", "updated", "comments"],
                    default="created",
                ),
                "direction": _text(
                    "Direction",
                    "The direction to sort the results by.",
                    enum=["asc", "desc"],
                    default="desc",
                ),
                "per_page": {
                    "title": "Per Page",
                    "description": "The number of results per page (max 100).",
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 100,
                    "default": 30,
                },
                "page": {
                    "title": "Page",
                    "description": "The page number of the results to fetch.",
                    "type": "integer",
                    "minimum": 1,
                    "default": 1,
                },
            },
            ["owner", "repo"],
        ),
        data_schema=_object(
            {"issues": {"type": "array", "items": _ISSUE, "description": "Issues on this page"}},
            ["issues"],
        ),
    ),
    ToolSpec(
        slug="GITHUB_GET_AN_ISSUE",
        app="github",
        name="Get an issue",
        description="Gets one issue of a repository by its number.",
        tags=("issues",),
        scopes=("repo",),
        input_schema=_request(
            "GITHUB_GET_AN_ISSUE",
            {
                "owner": _OWNER,
                "repo": _REPO,
                "issue_number": {
                    "title": "Issue Number",
                    "description": "The number that identifies the issue.",
                    "type": "integer",
                    "minimum": 1,
                    "examples": [1],
                },
            },
            ["owner", "repo", "issue_number"],
        ),
        data_schema=_ISSUE,
    ),
)

# --- Slack -----------------------------------------------------------------------------------

_CHANNEL = _text(
    "Channel",
    "ID or name of the channel to use (for example `C0123456789` or `general`).",
    examples=["general"],
)
_SLACK_MESSAGE = _object(
    {
        "type": {"type": "string"},
        "user": {"type": "string"},
        "text": {"type": "string"},
        "ts": {"type": "string", "description": "Unique timestamp of the message in its channel"},
        "thread_ts": {"type": "string"},
        "reply_count": {"type": "integer"},
    },
    ["type", "text", "ts"],
)

_SLACK_TOOLS = (
    ToolSpec(
        slug="SLACK_SEND_MESSAGE",
        app="slack",
        name="Send message",
        description=(
            "Posts a message to a Slack channel, private group or direct message, optionally "
            "as a threaded reply. Give `markdown_text` (preferred) or `text`."
        ),
        tags=("chat", "important"),
        scopes=("chat:write",),
        input_schema=_request(
            "SLACK_SEND_MESSAGE",
            {
                "channel": _CHANNEL,
                "markdown_text": _nullable(
                    "Markdown Text", "The message in Markdown; preferred over `text`."
                ),
                "text": _nullable("Text", "Plain text of the message (deprecated, use markdown)."),
                "thread_ts": _nullable(
                    "Thread Ts", "Timestamp of the parent message to reply in its thread."
                ),
                "reply_broadcast": {
                    "title": "Reply Broadcast",
                    "description": "With `thread_ts`, also show the reply in the channel.",
                    "type": "boolean",
                    "default": False,
                },
                "username": _nullable("Username", "The bot's display name for this message."),
            },
            ["channel"],
        ),
        data_schema=_object(
            {
                "ok": {"type": "boolean"},
                "channel": {"type": "string", "description": "ID of the channel posted to"},
                "ts": {"type": "string", "description": "Timestamp of the new message"},
                "message": _SLACK_MESSAGE,
            },
            ["ok", "channel", "ts", "message"],
        ),
    ),
    ToolSpec(
        slug="SLACK_FETCH_CONVERSATION_HISTORY",
        app="slack",
        name="Fetch conversation history",
        description=(
            "Fetches a channel's messages, newest first, optionally bounded by `oldest` and "
            "`latest` timestamps; page with `cursor`."
        ),
        tags=("chat", "important"),
        scopes=("channels:history",),
        input_schema=_request(
            "SLACK_FETCH_CONVERSATION_HISTORY",
            {
                "channel": _CHANNEL,
                "limit": {
                    "title": "Limit",
                    "description": "Maximum number of messages to return (1 to 1000).",
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 1000,
                    "default": 100,
                },
                "cursor": _nullable("Cursor", "`next_cursor` from a previous call's metadata."),
                "oldest": _nullable("Oldest", "Only messages after this Unix timestamp."),
                "latest": _nullable("Latest", "Only messages before this Unix timestamp."),
                "inclusive": {
                    "title": "Inclusive",
                    "description": "Include messages exactly at `oldest` or `latest`.",
                    "type": "boolean",
                    "default": False,
                },
            },
            ["channel"],
        ),
        data_schema=_object(
            {
                "ok": {"type": "boolean"},
                "messages": {"type": "array", "items": _SLACK_MESSAGE},
                "has_more": {"type": "boolean"},
                "pin_count": {"type": "integer"},
                "response_metadata": _object({"next_cursor": {"type": "string"}}),
            },
            ["ok", "messages", "has_more"],
        ),
    ),
)

# --- Gmail -----------------------------------------------------------------------------------

_USER_ID = _text(
    "User Id",
    "User's email address; the literal 'me' refers to the authenticated user.",
    default="me",
)
_GMAIL_MESSAGE = _object(
    {
        "messageId": {"type": "string"},
        "threadId": {"type": "string"},
        "subject": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "sender": {"type": "string"},
        "to": {"type": "string"},
        "messageText": {"type": "string"},
        "messageTimestamp": {"type": "string", "format": "date-time"},
        "labelIds": {"type": "array", "items": {"type": "string"}},
        "attachmentList": {"type": "array"},
        "preview": _object({"subject": {"type": "string"}, "body": {"type": "string"}}),
        "payload": {"anyOf": [{"type": "object"}, {"type": "null"}]},
    },
    ["messageId", "threadId", "labelIds"],
)

_GMAIL_TOOLS = (
    ToolSpec(
        slug="GMAIL_SEND_EMAIL",
        app="gmail",
        name="Send Email",
        description=(
            "Sends an email via the Gmail API from the authenticated user's address; set "
            "`is_html` when the body is HTML."
        ),
        tags=("email", "important"),
        scopes=("https://www.googleapis.com/auth/gmail.send",),
        input_schema=_request(
            "GMAIL_SEND_EMAIL",
            {
                "recipient_email": _text(
                    "Recipient Email",
                    "Primary recipient's email address.",
                    format="email",
                    examples=["john@doe.com"],
                ),
                "subject": _nullable("Subject", "Subject line of the email."),
                "body": _text(
                    "Body", "Email content (plain text or HTML); if HTML, `is_html` must be True."
                ),
                "cc": _strings("Cc", "Carbon Copy (CC) recipients' email addresses."),
                "bcc": _strings("Bcc", "Blind Carbon Copy (BCC) recipients' email addresses."),
                "extra_recipients": _strings(
                    "Extra Recipients", "Additional 'To' recipients' email addresses."
                ),
                "is_html": {
                    "title": "Is Html",
                    "description": "Set to True if the email body contains HTML tags.",
                    "type": "boolean",
                    "default": False,
                },
                "user_id": _USER_ID,
            },
            ["recipient_email", "body"],
        ),
        data_schema=_object(
            {
                "response_data": _object(
                    {
                        "id": {"type": "string"},
                        "threadId": {"type": "string"},
                        "labelIds": {"type": "array", "items": {"type": "string"}},
                    },
                    ["id", "threadId"],
                )
            },
            ["response_data"],
        ),
    ),
    ToolSpec(
        slug="GMAIL_FETCH_EMAILS",
        app="gmail",
        name="Fetch emails",
        description=(
            "Fetches a list of email messages from a Gmail account, newest first, supporting "
            "Gmail search queries (`from:`, `to:`, `subject:`, `label:`, `is:unread`), label "
            "filters and pagination."
        ),
        tags=("email", "important"),
        scopes=("https://www.googleapis.com/auth/gmail.readonly",),
        input_schema=_request(
            "GMAIL_FETCH_EMAILS",
            {
                "query": _nullable(
                    "Query", "Gmail advanced search query (e.g., 'from:user subject:meeting')."
                ),
                "label_ids": _strings(
                    "Label Ids", "Only messages with all of these labels, e.g. 'INBOX', 'SENT'."
                ),
                "max_results": {
                    "title": "Max Results",
                    "description": "Maximum number of messages to retrieve per page.",
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 500,
                    "default": 10,
                },
                "page_token": _nullable("Page Token", "`nextPageToken` from a previous call."),
                "include_payload": {
                    "title": "Include Payload",
                    "description": "Include the full message payload (headers and body).",
                    "type": "boolean",
                    "default": True,
                },
                "include_spam_trash": {
                    "title": "Include Spam Trash",
                    "description": "Include messages from SPAM and TRASH.",
                    "type": "boolean",
                    "default": False,
                },
                "user_id": _USER_ID,
            },
            [],
        ),
        data_schema=_object(
            {
                "messages": {"type": "array", "items": _GMAIL_MESSAGE},
                "nextPageToken": {"type": "string"},
                "resultSizeEstimate": {"type": "integer"},
            },
            ["messages", "resultSizeEstimate"],
        ),
    ),
)

APPS: Mapping[str, AppSpec] = {
    app.slug: app
    for app in (
        AppSpec(
            slug="github",
            name="github",
            display_name="GitHub",
            app_id="01e22f33-dc3f-46ae-b58d-050e4d2d1909",
            description="GitHub is a code hosting platform for version control and collaboration.",
            categories=("developer-tools",),
            logo="https://logos.composio.dev/api/github",
            auth_scheme="OAUTH2",
            base_url="https://api.github.com",
            scopes=("repo", "user"),
        ),
        AppSpec(
            slug="slack",
            name="slack",
            display_name="Slack",
            app_id="3d1d1e1a-7e57-4a3f-9d0e-5c3fa8a2f6b1",
            description="Slack is a channel-based messaging platform for teams.",
            categories=("communication",),
            logo="https://logos.composio.dev/api/slack",
            auth_scheme="OAUTH2",
            base_url="https://slack.com/api",
            scopes=("chat:write", "channels:history", "channels:read"),
        ),
        AppSpec(
            slug="gmail",
            name="gmail",
            display_name="Gmail",
            app_id="a1b2c3d4-0b5e-4c6f-8a9b-7d6e5f4a3b2c",
            description="Gmail is Google's email service.",
            categories=("communication", "email"),
            logo="https://logos.composio.dev/api/gmail",
            auth_scheme="OAUTH2",
            base_url="https://gmail.googleapis.com",
            scopes=(
                "https://www.googleapis.com/auth/gmail.send",
                "https://www.googleapis.com/auth/gmail.readonly",
            ),
        ),
    )
}

TOOLS: Mapping[str, ToolSpec] = {
    tool.slug: tool for tool in (*_GITHUB_TOOLS, *_SLACK_TOOLS, *_GMAIL_TOOLS)
}

"""The sandbox's Composio: connected accounts, tool execution and a log of every execution.

Both wire generations (composio-core's ``/api/v2`` and the current SDK's ``/api/v3.1``) execute
tools against this one world, so an issue created through one client is listed through the
other. The world decides everything that is Composio's business rather than the wire's: which
connected account acts for a user, whether it is usable, whether the arguments fit the tool's
JSON schema, and what the app did. The route modules only translate requests and outcomes into
their generation's shapes.

Tests need to see side effects an agent could not see for itself, such as an email sent twice
because an SDK retried a timed-out request; :meth:`ComposioWorld.executions` is that record.

Determinism: ids derive from counters and timestamps from the clock, so the same sequence of
calls yields the same responses, which keeps recordings stable.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from crs.clock import Clock, resolve_clock
from crs.errors import ConfigError
from crs.sandbox._composio_apps import AppStates, Caller, ToolFailure, address_of, iso_time
from crs.sandbox._composio_arguments import ArgumentChecker, with_defaults
from crs.sandbox._composio_catalog import APPS, TOOLS, AppSpec, ToolSpec

__all__ = [
    "ACCOUNT_STATUSES",
    "AccountUnavailable",
    "ComposioWorld",
    "Execution",
    "ExecutionResult",
    "UnknownTool",
]

#: Statuses a sandbox connected account can have; only ``ACTIVE`` accounts execute tools.
ACCOUNT_STATUSES = ("ACTIVE", "EXPIRED", "INACTIVE", "FAILED")

#: The user (composio-core: *entity*) that has an ACTIVE account on every app from the start.
DEFAULT_USER = "default"

_NANO_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class UnknownTool(LookupError):
    """A tool slug the sandbox does not serve."""

    def __init__(self, slug: str) -> None:
        known = ", ".join(sorted(TOOLS))
        super().__init__(f"Tool {slug!r} not found; the sandbox serves: {known}")
        self.slug = slug


class AccountUnavailable(Exception):
    """No connected account can execute this tool for this caller.

    ``reason`` is ``"not_found"`` (no account, or one of another user or app) or
    ``"inactive"`` (the account exists but is EXPIRED, INACTIVE or FAILED).
    """

    def __init__(self, reason: str, message: str, account: dict[str, Any] | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.account = account

    @property
    def slug(self) -> str:
        """The Composio error slug both wire generations answer with."""
        if self.reason == "not_found":
            return "ActionExecute_ConnectedAccountNotFound"
        return "ActionExecute_ConnectedAccountNotActive"


@dataclass(frozen=True)
class Execution:
    """One tool execution the world saw, for tests to assert on side effects.

    ``outcome`` is ``"success"``, ``"invalid_arguments"``, ``"tool_failure"`` (the app refused),
    ``"no_account"`` or ``"account_inactive"``; ``api`` names the wire generation that asked.
    """

    seq: int
    slug: str
    app: str
    user_id: str | None
    account_id: str | None
    arguments: dict[str, Any]
    outcome: str
    error: str | None
    data: dict[str, Any]
    api: str
    at: float

    @property
    def successful(self) -> bool:
        """Whether the tool ran and did what it was asked."""
        return self.outcome == "success"


@dataclass(frozen=True)
class ExecutionResult:
    """What an execute endpoint reports: Composio's ``data``/``error``/``successful`` triple."""

    successful: bool
    data: dict[str, Any]
    error: str | None
    execution: Execution


class ComposioWorld:
    """Fake Composio apps, connected accounts and an execution log, behind one lock."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self.lock = threading.RLock()
        self._clock = clock
        self._apps = AppStates()
        self._accounts: list[dict[str, Any]] = []
        self._executions: list[Execution] = []
        self._arguments = ArgumentChecker(TOOLS.values())
        self.reset()

    def now(self) -> float:
        """Wall-clock seconds on the world's clock."""
        return resolve_clock(self._clock).now()

    def reset(self) -> None:
        """Forget everything, then seed ACTIVE accounts for ``"default"`` on every app."""
        with self.lock:
            self._apps.reset()
            self._accounts.clear()
            self._executions.clear()
            for app in APPS:
                self.connect(DEFAULT_USER, app)

    # --- catalogue ---------------------------------------------------------------------------

    @staticmethod
    def tool(slug: str) -> ToolSpec:
        """The tool with this slug (case-insensitive), or :class:`UnknownTool`."""
        found = TOOLS.get(slug.upper())
        if found is None:
            raise UnknownTool(slug)
        return found

    @staticmethod
    def tools(apps: Iterable[str] | None = None) -> list[ToolSpec]:
        """All tools, or those of the given apps (case-insensitive)."""
        wanted = None if apps is None else {app.lower() for app in apps}
        return [tool for tool in TOOLS.values() if wanted is None or tool.app in wanted]

    @staticmethod
    def app(name: str) -> AppSpec:
        """The app with this name (case-insensitive), or :class:`ConfigError` listing them."""
        found = APPS.get(name.lower())
        if found is None:
            raise ConfigError(
                f"app {name!r} is not served by the sandbox",
                hint=f"use one of: {', '.join(sorted(APPS))}",
            )
        return found

    # --- connected accounts ------------------------------------------------------------------

    def connect(self, user_id: str, app: str, status: str = "ACTIVE") -> dict[str, Any]:
        """Add a connected account for ``user_id`` on ``app``; returns a copy of it.

        A user may hold several accounts per app; execution by user picks the newest ACTIVE one.
        """
        spec = self.app(app)
        state = _status(status)
        if not isinstance(user_id, str) or not user_id:
            raise ConfigError(f"user_id must be a non-empty string, got {user_id!r}")
        with self.lock:
            seq = len(self._accounts) + 1
            stamp = iso_time(self.now())
            account = {
                "id": "ca_" + _nano(f"account:{seq}", 12),
                "uuid": _uuid(f"account:{seq}"),
                "seq": seq,
                "user_id": user_id,
                "app": spec.slug,
                "status": state,
                "auth_config_id": "ac_" + _nano(f"auth-config:{spec.slug}", 12),
                "integration_id": _uuid(f"integration:{spec.slug}"),
                "created_at": stamp,
                "updated_at": stamp,
            }
            self._accounts.append(account)
            if spec.slug == "gmail":
                self._apps.open_mailbox(user_id)
            return dict(account)

    def set_account_status(self, user_id: str, app: str, status: str) -> list[dict[str, Any]]:
        """Set the status of every account ``user_id`` holds on ``app``; returns copies."""
        spec = self.app(app)
        state = _status(status)
        with self.lock:
            mine = [a for a in self._accounts if a["user_id"] == user_id and a["app"] == spec.slug]
            if not mine:
                held = sorted({(a["user_id"], a["app"]) for a in self._accounts})
                raise ConfigError(
                    f"user {user_id!r} has no connected account on {spec.slug!r}",
                    hint="accounts exist for: "
                    + ", ".join(f"{user}/{name}" for user, name in held)
                    + "; add one with connect(user_id, app)",
                )
            stamp = iso_time(self.now())
            for account in mine:
                account["status"] = state
                account["updated_at"] = stamp
            return [dict(account) for account in mine]

    def expire(self, user_id: str, app: str) -> list[dict[str, Any]]:
        """Mark ``user_id``'s accounts on ``app`` EXPIRED, as when an OAuth grant lapses."""
        return self.set_account_status(user_id, app, "EXPIRED")

    def accounts(
        self,
        *,
        user_ids: Iterable[str] | None = None,
        apps: Iterable[str] | None = None,
        active_only: bool = False,
    ) -> list[dict[str, Any]]:
        """Copies of the accounts matching every given filter, oldest first."""
        users = None if user_ids is None else set(user_ids)
        names = None if apps is None else {name.lower() for name in apps}
        with self.lock:
            return [
                dict(account)
                for account in self._accounts
                if (users is None or account["user_id"] in users)
                and (names is None or account["app"] in names)
                and (not active_only or account["status"] == "ACTIVE")
            ]

    def account(self, account_id: str) -> dict[str, Any] | None:
        """A copy of the account with this id (``ca_...``) or composio-core uuid, if any."""
        with self.lock:
            found = self._find(account_id)
            return None if found is None else dict(found)

    def _find(self, account_id: str) -> dict[str, Any] | None:
        return next(
            (a for a in self._accounts if account_id in (a["id"], a["uuid"])),
            None,
        )

    def _acting_account(
        self, tool: ToolSpec, user_id: str | None, account_id: str | None
    ) -> dict[str, Any]:
        if account_id:
            found = self._find(account_id)
            if found is None or found["app"] != tool.app:
                where = "" if found is None else f" on {found['app']!r}"
                raise AccountUnavailable(
                    "not_found",
                    f"Connected account {account_id!r}{where} not found for app {tool.app!r}",
                )
            if user_id and found["user_id"] != user_id:
                raise AccountUnavailable(
                    "not_found",
                    f"Connected account {account_id!r} does not belong to user {user_id!r}",
                )
        elif user_id:
            mine = [a for a in self._accounts if a["user_id"] == user_id and a["app"] == tool.app]
            active = [a for a in mine if a["status"] == "ACTIVE"]
            if not mine:
                raise AccountUnavailable(
                    "not_found",
                    f"No connected account found for user {user_id!r} and app {tool.app!r}",
                )
            found = (active or mine)[-1]
        else:
            raise AccountUnavailable(
                "not_found", "Neither a user id nor a connected account id was given"
            )
        if found["status"] != "ACTIVE":
            raise AccountUnavailable(
                "inactive",
                f"Connected account {found['id']!r} of user {found['user_id']!r} on app "
                f"{tool.app!r} is {found['status']}; reconnect it before executing "
                f"{tool.slug}",
                dict(found),
            )
        return found

    # --- execution ---------------------------------------------------------------------------

    def execute(
        self,
        slug: str,
        arguments: dict[str, Any],
        *,
        user_id: str | None = None,
        account_id: str | None = None,
        api: str = "direct",
    ) -> ExecutionResult:
        """Run a tool as Composio would: resolve the account, validate, act, and log it.

        Raises :class:`UnknownTool` for an unknown slug (nothing is logged: no tool ran) and
        :class:`AccountUnavailable` when no ACTIVE account can act (logged, so a test sees the
        attempt); invalid arguments and app refusals come back as an unsuccessful
        :class:`ExecutionResult`, as Composio reports them.
        """
        tool = self.tool(slug)
        with self.lock:
            now = self.now()
            given = copy.deepcopy(arguments)
            try:
                account = self._acting_account(tool, user_id, account_id)
            except AccountUnavailable as exc:
                outcome = "no_account" if exc.reason == "not_found" else "account_inactive"
                held = exc.account or {}
                who = user_id or held.get("user_id")
                self._log(tool, who, held.get("id"), given, outcome, exc.message, {}, api, now)
                raise
            caller = Caller(user_id=account["user_id"], account_id=account["id"], now=now)
            problem = self._arguments.problem(tool, given)
            if problem is not None:
                data: dict[str, Any] = {}
                outcome, error = "invalid_arguments", problem
            else:
                try:
                    data = self._apps.run(tool.slug, with_defaults(tool, given), caller)
                    outcome, error = "success", None
                except ToolFailure as failure:
                    data, outcome, error = failure.data, "tool_failure", failure.error
            record = self._log(
                tool, caller.user_id, caller.account_id, given, outcome, error, data, api, now
            )
            return ExecutionResult(outcome == "success", copy.deepcopy(data), error, record)

    def _log(
        self,
        tool: ToolSpec,
        user_id: str | None,
        account_id: str | None,
        arguments: dict[str, Any],
        outcome: str,
        error: str | None,
        data: dict[str, Any],
        api: str,
        now: float,
    ) -> Execution:
        record = Execution(
            seq=len(self._executions) + 1,
            slug=tool.slug,
            app=tool.app,
            user_id=user_id,
            account_id=account_id,
            arguments=arguments,
            outcome=outcome,
            error=error,
            data=copy.deepcopy(data),
            api=api,
            at=now,
        )
        self._executions.append(record)
        return record

    # --- inspection --------------------------------------------------------------------------

    def executions(self, slug: str | None = None) -> list[Execution]:
        """Every execution so far (of one tool, if given), in order; arguments as sent."""
        with self.lock:
            return [
                copy.deepcopy(record)
                for record in self._executions
                if slug is None or record.slug == slug.upper()
            ]

    def issues(self, owner: str, repo: str) -> list[dict[str, Any]]:
        """A GitHub repository's issues, oldest first."""
        with self.lock:
            return self._apps.issues(owner, repo)

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """A Slack channel's messages (by id, name or ``#name``), thread replies included."""
        with self.lock:
            return self._apps.channel_messages(channel)

    def add_channel(self, name: str) -> str:
        """Create a Slack channel, so agents can post to it; returns its id."""
        with self.lock:
            return self._apps.add_channel(name)

    def channels(self) -> list[str]:
        """Names of the Slack channels that exist."""
        with self.lock:
            return self._apps.channel_names()

    def sent_emails(self) -> list[dict[str, Any]]:
        """Every email sent through GMAIL_SEND_EMAIL, by any user, in sending order."""
        with self.lock:
            return self._apps.sent_emails()

    def mailbox(self, user_id: str = DEFAULT_USER) -> list[dict[str, Any]]:
        """A user's Gmail mailbox (sent and received), in arrival order."""
        with self.lock:
            return self._apps.mailbox(user_id)

    @staticmethod
    def email_address(user_id: str = DEFAULT_USER) -> str:
        """The Gmail address a sandbox user sends from and receives at."""
        return address_of(user_id)


def _status(status: str) -> str:
    state = status.upper() if isinstance(status, str) else status
    if state not in ACCOUNT_STATUSES:
        raise ConfigError(
            f"status {status!r} is not a connected-account status",
            hint=f"use one of: {', '.join(ACCOUNT_STATUSES)}",
        )
    return str(state)


def _digest(label: str, size: int) -> bytes:
    return hashlib.blake2b(label.encode(), digest_size=size, person=b"crs-sandbox").digest()


def _nano(label: str, length: int) -> str:
    number = int.from_bytes(_digest(label, 16), "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(_NANO_ALPHABET))
        chars.append(_NANO_ALPHABET[index])
    return "".join(chars)


def _uuid(label: str) -> str:
    return str(uuid.UUID(bytes=_digest(label, 16), version=4))

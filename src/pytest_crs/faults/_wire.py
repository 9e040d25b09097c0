"""The contract between fault plans and the HTTP clients they break.

The transports (:mod:`pytest_crs.faults._transport`) see every request an httpx, httpx2 or
requests client sends, describe it as a :class:`WireCall`, and ask a :class:`WireGate` what to
do. The gate answers with a :class:`Decision`, or ``None`` to let the request go on as usual
(to the network, or to the cassette). Decisions are library-neutral on purpose: *which*
exception a read timeout is depends on the client library, and that is the transport's job;
*what* a 429 looks like depends on the API, and that is the renderer's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Protocol, TypeAlias
from urllib.parse import urlsplit

__all__ = [
    "INJECTED",
    "Cut",
    "Decision",
    "Delay",
    "Fail",
    "Failure",
    "Reply",
    "WireCall",
    "WireGate",
    "injected",
]

#: Ends the message of every error crs_faults injects, so nobody mistakes one for a real outage.
INJECTED = "(injected by crs_faults)"


@dataclass(frozen=True)
class WireCall:
    """One HTTP request as a client library is about to send it.

    ``headers`` have lower-case names. ``library`` is ``"httpx"``, ``"httpx2"`` or
    ``"requests"``; ``is_async`` tells the two httpx client flavours apart.
    """

    library: str
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    is_async: bool = False

    @cached_property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @cached_property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"

    @cached_property
    def json(self) -> object:
        """The body parsed as JSON, or ``None`` when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None

    def describe(self) -> str:
        return f"{self.method} {self.url}"


@dataclass(frozen=True)
class Reply:
    """Answer the request with this response; it never reaches the network or the cassette."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    @property
    def reason(self) -> str:
        from http import HTTPStatus

        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return ""


class Failure(StrEnum):
    """Transport failures, as each client library raises them."""

    #: The connection could not be set up in time (httpx ``ConnectTimeout``, requests
    #: ``ConnectTimeout``). Nothing was sent.
    CONNECT_TIMEOUT = "connect_timeout"
    #: The request was sent but no answer came in time (httpx ``ReadTimeout``, requests
    #: ``ReadTimeout``). The server may have acted on it.
    READ_TIMEOUT = "read_timeout"
    #: The connection was refused or reset before the request went out (httpx ``ConnectError``,
    #: requests ``ConnectionError``). Nothing was sent.
    CONNECT_ERROR = "connect_error"
    #: The connection was reset after the request went out (httpx ``RemoteProtocolError`` /
    #: ``ReadError``, requests ``ConnectionError``). The server may have acted on it.
    RESET_AFTER_SEND = "reset_after_send"


@dataclass(frozen=True)
class Fail:
    """Raise the client library's own exception for ``failure``."""

    failure: Failure
    message: str = ""


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` of virtual time, then let the request go on.

    If the wait reaches the client's read timeout, the transport waits exactly that long and
    then fails with a read timeout, as a slow server would make it.
    """

    seconds: float


@dataclass(frozen=True)
class Cut:
    """Let the request go on, deliver the first ``after_events`` events of the streamed
    (``text/event-stream``) response, then break the connection as a dropped stream does."""

    after_events: int


Decision: TypeAlias = Reply | Fail | Delay | Cut


class WireGate(Protocol):
    def decide(self, call: WireCall) -> Decision | None:
        """What happens to ``call``: a decision, or ``None`` to send it as usual."""
        ...


def injected(decision: Fail | None, default: str) -> str:
    """An injected error's message: the decision's own words, or the library's ``default``."""
    text = decision.message if decision is not None and decision.message else default
    return f"{text} {INJECTED}"

"""Only loopback while replaying: a test that claims to run offline really does.

A replayed test must not reach the internet — not through a library the recorder does not
intercept, not through a DNS lookup, not through a raw socket. While the guard is on, connecting
to (or resolving) anything but a loopback address raises :class:`~crs.errors.NetworkBlockedError`;
the sandbox and other local servers keep working. Every refusal is also remembered, so a test
fails even when the code under test swallows the error (an SDK retry loop, a broad ``except``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from collections.abc import Iterator
from typing import Any

from crs.errors import NetworkBlockedError

__all__ = ["loopback_only"]

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_lock = threading.Lock()


def _is_loopback(host: object) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port): the local wildcard
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _refuse(host: object, refused: list[str]) -> NetworkBlockedError:
    name = host.decode() if isinstance(host, bytes) else str(host)
    refused.append(name)
    return NetworkBlockedError(
        f"network access to {name!r} is blocked while replaying a cassette",
        host=name,
        hint="the request was not recorded; record it (--crs-record-mode=once or "
        "new_episodes), or make the code under test talk to a loopback server",
    )


@contextlib.contextmanager
def loopback_only() -> Iterator[list[str]]:
    """Block non-loopback connections and lookups for the block; yields the refused hosts."""
    refused: list[str] = []
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex
    getaddrinfo = socket.getaddrinfo

    def guard(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise _refuse(address[0], refused)

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        guard(sock, address)
        connect(sock, address)

    def guarded_connect_ex(sock: socket.socket, address: Any) -> int:
        guard(sock, address)
        return connect_ex(sock, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise _refuse(host, refused)
        return getaddrinfo(host, *args, **kwargs)

    with _lock:
        socket.socket.connect = guarded_connect  # type: ignore[method-assign, assignment]
        socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign, assignment]
        socket.getaddrinfo = guarded_getaddrinfo
    try:
        yield refused
    finally:
        with _lock:
            socket.socket.connect = connect  # type: ignore[method-assign]
            socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
            socket.getaddrinfo = getaddrinfo

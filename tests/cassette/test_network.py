"""While replaying, nothing but loopback is reachable; loopback servers keep working."""

from __future__ import annotations

import socket

import httpx
import pytest

from crs.cassette._network import loopback_only
from crs.errors import NetworkBlockedError
from crs.sandbox import Sandbox


def test_other_hosts_are_refused_before_any_packet() -> None:
    with loopback_only() as refused:
        with pytest.raises(NetworkBlockedError, match=r"'example\.com' is blocked"):
            socket.getaddrinfo("example.com", 443)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            with pytest.raises(NetworkBlockedError):
                sock.connect(("192.0.2.1", 80))  # TEST-NET-1: never actually dialled
            with pytest.raises(ConnectionError):  # what HTTP libraries see
                sock.connect_ex(("198.51.100.7", 80))
        finally:
            sock.close()

    assert refused == ["example.com", "192.0.2.1", "198.51.100.7"]


def test_loopback_still_works_and_everything_is_restored() -> None:
    original = socket.socket.connect
    with Sandbox() as sandbox, loopback_only() as refused, httpx.Client() as client:
        auth = {"Authorization": f"Bearer {sandbox.api_key}"}
        assert client.get(sandbox.url + "/v1/models", headers=auth).status_code == 200
        assert socket.getaddrinfo("localhost", 80)
    assert refused == []
    assert socket.socket.connect is original

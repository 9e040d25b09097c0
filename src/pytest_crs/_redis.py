"""A real ``redis-server`` for the tests of the store's Redis tier: ``crs_redis_url``.

A fake Redis would test our idea of Redis; transactions, key expiry and WATCH are exactly where
fakes differ from the server, so the fixtures start the real one: one throw-away, loopback-only,
persistence-free server per session (per xdist worker), and a database emptied before and after
each test. Without the binary (or redis-py) the tests that ask for it skip and say how to enable
them, so a laptop without Redis still runs the rest of the suite.

Starting a process is real I/O, so waiting for it to answer is a bounded real wait (polling with
``Popen.wait`` timeouts), not a sleep on the crs clock.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

__all__ = ["crs_redis_server", "crs_redis_url"]

START_TIMEOUT: Final = 10.0
_POLL: Final = 0.02
_ATTEMPTS: Final = 3
NOT_INSTALLED: Final = (
    "redis-server is not installed; apt-get install redis-server to run these tests"
)
NO_CLIENT: Final = "redis-py is not installed; pip install 'pytest-crs[redis]' to run these tests"


@pytest.fixture(scope="session")
def crs_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:<port>``: a private ``redis-server`` for the whole session.

    Bound to 127.0.0.1 on a free port, with no RDB snapshots and no append-only file, running in
    a temporary directory; stopped (and waited for) at the end of the session. Skips when
    ``redis-server`` is not on ``PATH`` or redis-py is missing.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(NOT_INSTALLED)
    try:
        import redis  # noqa: F401  # only to skip early with a useful reason
    except ImportError:
        pytest.skip(NO_CLIENT)
    folder = tmp_path_factory.mktemp("redis-server")
    problems: list[str] = []
    for _attempt in range(_ATTEMPTS):  # another process may take the free port before we bind it
        port = _free_port()
        proc = _start(binary, port, folder)
        try:
            problem = _wait_until_ready(proc, port)
        except BaseException:
            _stop(proc)
            raise
        if problem is None:
            try:
                yield f"redis://127.0.0.1:{port}"
            finally:
                _stop(proc)
            return
        _stop(proc)
        problems.append(problem)
    log = folder / "redis.log"
    pytest.fail(
        f"redis-server did not start ({'; '.join(problems)}); its log: "
        f"{log.read_text(errors='replace')[-2000:] if log.exists() else '(none)'}"
    )


@pytest.fixture
def crs_redis_url(crs_redis_server: str) -> Iterator[str]:
    """``redis://127.0.0.1:<port>/0`` on ``crs_redis_server``, empty at the start of the test.

    Every database of the private server is flushed before and after the test, so stores on any
    prefix or db start from nothing and nothing leaks into the next test.
    """
    import redis

    with redis.Redis.from_url(crs_redis_server) as client:
        client.flushall()
        try:
            yield f"{crs_redis_server}/0"
        finally:
            client.flushall()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(binary: str, port: int, folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--logfile",
            str(folder / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_until_ready(proc: subprocess.Popen[bytes], port: int) -> str | None:
    """Poll until the server answers PING; the problem if it exits or times out first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if _answers_ping(port):
            return None
        try:
            code = proc.wait(timeout=_POLL)
        except subprocess.TimeoutExpired:
            continue
        return f"it exited with status {code} on port {port}"
    return f"no PONG on port {port} within {START_TIMEOUT:g} s"


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

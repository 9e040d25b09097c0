"""Real loopback I/O under virtual time: waited for, never timed out spuriously, never hung on.

The servers here answer after a few real milliseconds, which is exactly the window in which a
loop that jumps to its next timer would fire the client's read timeout.
"""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest

from crs._virtual_loop import VirtualTimeLoop
from crs._virtual_time import virtual_time
from crs.clock import VirtualClock, get_clock, set_clock
from crs.sandbox import Sandbox


@pytest.fixture(autouse=True)
def _restore_default_clock() -> Iterator[None]:
    before = get_clock()
    yield
    set_clock(before)


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: idle pooled connections keep readers registered

    def do_GET(self) -> None:
        threading.Event().wait(0.02)  # the server's own work, in real time
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def slow_server() -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 that answers every GET after 20 real ms."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback socket that accepts connections (the kernel does) and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        listener.close()


def test_a_real_request_is_not_timed_out_while_a_sibling_sleeps_virtually(
    slow_server: str,
) -> None:
    clock = VirtualClock()

    async def main() -> list[object]:
        results: list[object] = []
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(3):  # the later rounds reuse an idle keep-alive connection
                sibling = asyncio.create_task(asyncio.sleep(100))
                response = await client.get(slow_server)
                results += [response.status_code, response.text]
                await sibling
            loop = asyncio.get_running_loop()
            assert isinstance(loop, VirtualTimeLoop)
            assert loop.real_io_in_flight == 0  # the response streams were closed
        return results

    with virtual_time(clock):
        assert asyncio.run(main()) == [200, "ok"] * 3
    assert clock.sleeps == [100.0] * 3
    assert clock.monotonic() == 300.0  # the requests themselves moved virtual time not at all


def test_httpx2_requests_count_as_real_io_too(slow_server: str) -> None:
    clock = VirtualClock()

    async def main() -> int:
        async with httpx2.AsyncClient(timeout=5) as client:
            sibling = asyncio.create_task(asyncio.sleep(100))
            response = await client.get(slow_server)
            await sibling
            return response.status_code

    with virtual_time(clock):
        assert asyncio.run(main()) == 200
    assert clock.sleeps == [100.0]


def test_a_streamed_body_keeps_the_request_in_flight_until_closed(slow_server: str) -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        async with httpx.AsyncClient(timeout=5) as client:
            async with client.stream("GET", slow_server) as response:
                assert loop.real_io_in_flight == 1
                body = await response.aread()
            assert loop.real_io_in_flight == 0
        return body

    with virtual_time():
        assert asyncio.run(main()) == b"ok"


def test_a_server_that_never_answers_still_times_out_after_the_grace_period(
    silent_server: str,
) -> None:
    clock = VirtualClock()

    async def main() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(silent_server)

    with virtual_time(clock, io_grace=0.05):
        asyncio.run(main())
    assert clock.monotonic() == 30.0  # the client's own read timeout, reached virtually


def test_openai_async_retries_against_the_sandbox_sleep_virtually(crs_sandbox: Sandbox) -> None:
    """Real loopback requests with real 429s, and 30 s Retry-After waits that take no time."""
    rule = crs_sandbox.fault("rate_limit", api="openai", retry_after=30, times=2)
    clock = VirtualClock()

    async def main() -> Any:
        async with crs_sandbox.async_openai_client(max_retries=3, timeout=5) as client:
            sibling = asyncio.create_task(asyncio.sleep(1000))
            reply = await client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hello"}]
            )
            await sibling
            return reply.choices[0].message.content

    with virtual_time(clock):
        assert asyncio.run(main())
    assert rule.hits == 2
    assert clock.sleeps == [30.0, 30.0, 1000.0]


def test_a_sandbox_started_under_virtual_time_serves_on_real_time() -> None:
    """The server thread's loop is not virtual; its 0.1 s housekeeping sleeps stay real."""
    clock = VirtualClock()
    with virtual_time(clock), Sandbox() as sandbox:
        response = httpx.get(f"{sandbox.openai_base_url}/models",
                             headers={"authorization": f"Bearer {sandbox.api_key}"})
        assert response.status_code == 200
    assert clock.sleeps == []

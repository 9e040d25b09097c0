"""Fault decisions inside httpx, httpx2 and requests: what each client sends to the gate, and
that what comes back is exactly what the library itself produces, so the SDKs above react as in
production.

Requests that must not be sent go to a loopback server that counts what it receives; nothing
here waits in real time (delays run on a virtual clock, or on an event loop whose clock jumps).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import openai
import pytest
import requests
import urllib3

from crs._virtual_loop import VirtualTimeLoop
from crs.clock import VirtualClock, use_clock
from crs.sandbox import Sandbox
from pytest_crs.faults._sse import Events
from pytest_crs.faults._transport import faulty_transports
from pytest_crs.faults._wire import Cut, Decision, Delay, Fail, Failure, Reply, WireCall

Race = Callable[[Callable[[], None]], None]
FLAVOURS = ["httpx", "httpx-async", "httpx2", "httpx2-async", "requests"]
HTTPX = {"httpx": httpx, "httpx2": httpx2}


# -- the pieces ------------------------------------------------------------------------------


class Script:
    """A gate answering from a script (``None`` once it runs out), keeping every call."""

    def __init__(self, *decisions: Decision | None) -> None:
        self.decisions = list(decisions)
        self.calls: list[WireCall] = []
        self._lock = threading.Lock()

    def decide(self, call: WireCall) -> Decision | None:
        with self._lock:
            self.calls.append(call)
            return self.decisions.pop(0) if self.decisions else None


def sse(count: int) -> list[bytes]:
    return [f'data: {{"n": {i}}}\n\n'.encode() for i in range(count)]


class Server(ThreadingHTTPServer):
    """A loopback HTTP server: ``/events?n=4`` streams server-sent events (chunked), anything
    else echoes the request as JSON. ``hits`` is every request it received."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hits: list[tuple[str, str, bytes]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that cut its stream short leaves a broken pipe behind; that is the point."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.hits.append((self.command, self.path, body))
        url = urlsplit(self.path)
        if url.path == "/events":
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for event in sse(int(parse_qs(url.query).get("n", ["4"])[0])):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            return
        payload = json.dumps({"path": self.path, "body": body.decode()}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server() as running:
        yield running


@dataclass
class Got:
    """What a client received: the response, and the error that broke its body off, if any."""

    status: int
    headers: dict[str, str]
    body: bytes
    response: Any
    error: BaseException | None = None
    chunks: list[bytes] = field(default_factory=list)


def fetch(
    flavour: str,
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float | None = None,
) -> Got:
    """One request through ``flavour``, its body read as a stream (errors before the response
    propagate; an error while reading the body is kept in ``Got.error``)."""
    if flavour == "requests":
        return _fetch_requests(url, method, body, headers, timeout)
    module = HTTPX[flavour.removesuffix("-async")]
    if flavour.endswith("-async"):
        return asyncio.run(_fetch_httpx_async(module, url, method, body, headers, timeout))
    chunks: list[bytes] = []
    with (
        module.Client(timeout=timeout) as client,
        client.stream(method, url, content=body, headers=headers) as response,
    ):
        try:
            for chunk in response.iter_bytes():
                chunks.append(chunk)
        except module.TransportError as error:
            return _got(response, chunks, error)
    return _got(response, chunks)


async def _fetch_httpx_async(
    module: Any,
    url: str,
    method: str,
    body: bytes | None,
    headers: dict[str, str] | None,
    timeout: float | None,
) -> Got:
    chunks: list[bytes] = []
    async with (
        module.AsyncClient(timeout=timeout) as client,
        client.stream(method, url, content=body, headers=headers) as response,
    ):
        try:
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
        except module.TransportError as error:
            return _got(response, chunks, error)
    return _got(response, chunks)


def _fetch_requests(
    url: str,
    method: str,
    body: bytes | None,
    headers: dict[str, str] | None,
    timeout: float | None,
) -> Got:
    chunks: list[bytes] = []
    with (
        requests.Session() as session,
        session.request(
            method, url, data=body, headers=headers, timeout=timeout, stream=True
        ) as response,
    ):
        try:
            for chunk in response.iter_content(chunk_size=None):
                chunks.append(chunk)
        except requests.exceptions.ChunkedEncodingError as error:
            return _got(response, chunks, error)
    return _got(response, chunks)


def _got(response: Any, chunks: list[bytes], error: BaseException | None = None) -> Got:
    status = response.status_code
    headers = {name.lower(): value for name, value in response.headers.items()}
    return Got(status, headers, b"".join(chunks), response, error, chunks)


def library_of(flavour: str) -> str:
    return flavour.removesuffix("-async")


# -- what the gate is told ---------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_gate_sees_the_request_as_sent(flavour: str, server: Server) -> None:
    gate = Script()
    with faulty_transports(gate):
        got = fetch(
            flavour,
            server.url + "/echo?q=1",
            method="POST",
            body=b'{"a": 1}',
            headers={"X-Custom-Thing": "Yes", "Content-Type": "application/json"},
        )

    (call,) = gate.calls
    assert call.library == library_of(flavour)
    assert call.is_async is flavour.endswith("-async")
    assert call.method == "POST"
    assert call.url == server.url + "/echo?q=1"
    assert call.headers["x-custom-thing"] == "Yes"
    assert call.headers["content-type"] == "application/json"
    assert all(name == name.lower() for name in call.headers)
    assert call.body == b'{"a": 1}'
    assert call.json == {"a": 1}
    # let through: the request went on, body intact
    assert got.status == 200
    assert json.loads(got.body)["body"] == '{"a": 1}'


# -- Reply ------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_reply_is_the_librarys_own_response_and_is_never_sent(
    flavour: str, server: Server
) -> None:
    before = len(server.hits)
    reply = Reply(
        429,
        (
            ("Content-Type", "application/json"),
            ("Retry-After", "2"),
            ("X-Two", "a"),
            ("X-Two", "b"),
        ),
        b'{"error": "slow down"}',
    )
    with faulty_transports(Script(reply)):
        got = fetch(flavour, server.url + "/limited")

    assert len(server.hits) == before
    assert got.status == 429
    assert got.body == b'{"error": "slow down"}'
    assert got.headers["retry-after"] == "2"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-two"] == "a, b"
    response = got.response
    if flavour == "requests":
        assert isinstance(response, requests.Response)
        assert response.reason == "Too Many Requests"
        assert response.url == server.url + "/limited"
        assert response.request.url == server.url + "/limited"
        assert isinstance(response.raw, urllib3.HTTPResponse)
        assert response.elapsed.total_seconds() >= 0
        with pytest.raises(requests.HTTPError, match="429 Client Error: Too Many Requests"):
            response.raise_for_status()
    else:
        module = HTTPX[library_of(flavour)]
        assert isinstance(response, module.Response)
        assert response.reason_phrase == "Too Many Requests"
        assert str(response.request.url) == server.url + "/limited"
        assert response.elapsed.total_seconds() == 0
        with pytest.raises(module.HTTPStatusError, match="429 Too Many Requests") as caught:
            response.raise_for_status()
        assert caught.value.request is response.request


def test_a_reply_reads_like_a_response_without_streaming(server: Server) -> None:
    with faulty_transports(Script(Reply(200, (), b"ok"), Reply(404, (), b"gone"))):
        with httpx2.Client() as client:
            assert client.get(server.url + "/a").text == "ok"
        assert requests.get(server.url + "/b", timeout=5).text == "gone"


# -- Fail -------------------------------------------------------------------------------------


def expected_error(flavour: str, failure: Failure) -> type[BaseException]:
    if flavour == "requests":
        return {
            Failure.CONNECT_TIMEOUT: requests.exceptions.ConnectTimeout,
            Failure.READ_TIMEOUT: requests.exceptions.ReadTimeout,
            Failure.CONNECT_ERROR: requests.exceptions.ConnectionError,
            Failure.RESET_AFTER_SEND: requests.exceptions.ConnectionError,
        }[failure]
    module = HTTPX[library_of(flavour)]
    return {
        Failure.CONNECT_TIMEOUT: module.ConnectTimeout,
        Failure.READ_TIMEOUT: module.ReadTimeout,
        Failure.CONNECT_ERROR: module.ConnectError,
        Failure.RESET_AFTER_SEND: module.RemoteProtocolError,
    }[failure]


@pytest.mark.parametrize("failure", list(Failure))
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_failure_is_the_librarys_own_exception(
    flavour: str, failure: Failure, server: Server
) -> None:
    before = len(server.hits)
    with (
        faulty_transports(Script(Fail(failure))),
        pytest.raises(expected_error(flavour, failure)) as caught,
    ):
        fetch(flavour, server.url + "/x", timeout=30)

    assert len(server.hits) == before
    error = caught.value
    assert "injected by crs_faults" in str(error)
    if flavour == "requests":
        assert isinstance(error, requests.RequestException)
        assert error.request is not None
        assert error.request.url == server.url + "/x"
    else:
        assert isinstance(error, HTTPX[library_of(flavour)].TransportError)
        assert str(error.request.url) == server.url + "/x"


def test_requests_failures_wrap_what_urllib3_raises(server: Server) -> None:
    decisions = [Fail(f) for f in Failure]
    errors: dict[Failure, BaseException] = {}
    with faulty_transports(Script(*decisions)), requests.Session() as session:
        for failure in Failure:
            with pytest.raises(requests.RequestException) as caught:
                session.get(server.url + "/x", timeout=(3, 7))
            errors[failure] = caught.value

    port = server.server_address[1]
    # a connect timeout: retries exhausted, caused by urllib3's ConnectTimeoutError
    reason = errors[Failure.CONNECT_TIMEOUT].args[0]
    assert isinstance(reason, urllib3.exceptions.MaxRetryError)
    assert type(reason.reason) is urllib3.exceptions.ConnectTimeoutError
    assert "Connection to 127.0.0.1 timed out. (connect timeout=3)" in str(reason)
    assert f"HTTPConnectionPool(host='127.0.0.1', port={port})" in str(reason)
    # a read timeout: urllib3's ReadTimeoutError, not retried
    reason = errors[Failure.READ_TIMEOUT].args[0]
    assert isinstance(reason, urllib3.exceptions.ReadTimeoutError)
    assert "Read timed out. (read timeout=7)" in str(reason)
    # refused: a NewConnectionError caused by ConnectionRefusedError
    reason = errors[Failure.CONNECT_ERROR].args[0]
    assert isinstance(reason, urllib3.exceptions.MaxRetryError)
    assert isinstance(reason.reason, urllib3.exceptions.NewConnectionError)
    assert isinstance(reason.reason.__cause__, ConnectionRefusedError)
    assert "Failed to establish a new connection: [Errno 111] Connection refused" in str(reason)
    assert not isinstance(errors[Failure.CONNECT_ERROR], requests.exceptions.Timeout)
    # dropped after sending: http.client's RemoteDisconnected in urllib3's ProtocolError
    reason = errors[Failure.RESET_AFTER_SEND].args[0]
    assert isinstance(reason, urllib3.exceptions.ProtocolError)
    assert reason.args[0] == "Connection aborted."
    assert type(reason.args[1]).__name__ == "RemoteDisconnected"


def test_httpx_reset_after_send_reads_as_httpcore_words_it(server: Server) -> None:
    with (
        faulty_transports(Script(Fail(Failure.RESET_AFTER_SEND, message="Bye."))),
        httpx.Client() as client,
        pytest.raises(httpx.RemoteProtocolError) as caught,
    ):
        client.get(server.url + "/x")
    assert str(caught.value) == "Bye. (injected by crs_faults)"

    with (
        faulty_transports(Script(Fail(Failure.RESET_AFTER_SEND))),
        httpx.Client() as client,
        pytest.raises(httpx.RemoteProtocolError) as caught,
    ):
        client.get(server.url + "/x")
    assert str(caught.value).startswith("Server disconnected without sending a response.")


# -- the SDKs on top ------------------------------------------------------------------------


RATE_LIMITED = Reply(
    429,
    (("content-type", "application/json"),),
    b'{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit"}}',
)
OPENAI_ERRORS: list[tuple[Decision, type[Exception]]] = [
    (RATE_LIMITED, openai.RateLimitError),
    (Fail(Failure.READ_TIMEOUT), openai.APITimeoutError),
    (Fail(Failure.CONNECT_TIMEOUT), openai.APITimeoutError),
    (Fail(Failure.CONNECT_ERROR), openai.APIConnectionError),
    (Fail(Failure.RESET_AFTER_SEND), openai.APIConnectionError),
]


@pytest.mark.parametrize(("decision", "error"), OPENAI_ERRORS)
def test_openai_maps_injected_faults_as_it_maps_real_ones(
    decision: Decision, error: type[Exception]
) -> None:
    gate = Script(decision)
    with (
        faulty_transports(gate),
        openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="sk-test", max_retries=0) as client,
        pytest.raises(error) as caught,
    ):
        client.models.list()
    assert type(caught.value) is error or decision == RATE_LIMITED
    assert [call.library for call in gate.calls] == ["httpx2"]


@pytest.mark.parametrize(("decision", "error"), OPENAI_ERRORS)
def test_async_openai_maps_them_too(decision: Decision, error: type[Exception]) -> None:
    gate = Script(decision)

    async def call() -> None:
        async with openai.AsyncOpenAI(
            base_url="http://127.0.0.1:9/v1", api_key="sk-test", max_retries=0
        ) as client:
            await client.models.list()

    with faulty_transports(gate), pytest.raises(error):
        asyncio.run(call())
    assert [(call.library, call.is_async) for call in gate.calls] == [("httpx2", True)]


def test_openai_on_a_legacy_httpx_client_is_faulted_as_httpx() -> None:
    gate = Script(Fail(Failure.READ_TIMEOUT))
    with (
        faulty_transports(gate),
        httpx.Client() as http_client,
        openai.OpenAI(
            base_url="http://127.0.0.1:9/v1",
            api_key="sk-test",
            max_retries=0,
            http_client=http_client,
        ) as client,
        pytest.raises(openai.APITimeoutError),
    ):
        client.models.list()
    assert [call.library for call in gate.calls] == ["httpx"]


def test_composio_core_retries_an_injected_read_timeout_as_a_real_one() -> None:
    pytest.importorskip("composio")
    from composio.client.http import HttpClient
    from composio.exceptions import SDKTimeoutError

    gate = Script(*[Fail(Failure.READ_TIMEOUT)] * 3)
    client = HttpClient(base_url="http://127.0.0.1:9/api", api_key="test-key")
    with faulty_transports(gate), client, pytest.raises(SDKTimeoutError):
        client.get("/v1/apps")
    assert len(gate.calls) == 3  # it retried twice, as on a slow server
    assert gate.calls[0].headers["x-api-key"] == "test-key"


# -- Delay ------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["httpx", "httpx2", "requests"])
def test_a_delay_advances_the_virtual_clock_without_a_sleep(flavour: str, server: Server) -> None:
    clock = VirtualClock()
    before = len(server.hits)
    with use_clock(clock), faulty_transports(Script(Delay(42.5))):
        got = fetch(flavour, server.url + "/slow", timeout=60)

    assert got.status == 200
    assert len(server.hits) == before + 1  # then it went on as usual
    assert clock.monotonic() == 42.5
    assert clock.sleeps == []  # the server was slow; the code under test slept nothing


@pytest.mark.parametrize("flavour", ["httpx", "httpx2", "requests"])
def test_a_delay_past_the_read_timeout_times_out_exactly_then(flavour: str, server: Server) -> None:
    clock = VirtualClock()
    before = len(server.hits)
    with (
        use_clock(clock),
        faulty_transports(Script(Delay(120))),
        pytest.raises(expected_error(flavour, Failure.READ_TIMEOUT)),
    ):
        fetch(flavour, server.url + "/slow", timeout=7.5)

    assert clock.monotonic() == 7.5
    assert clock.sleeps == []
    assert len(server.hits) == before  # it never went out


def test_requests_delay_reads_the_read_half_of_a_timeout_pair(server: Server) -> None:
    clock = VirtualClock()
    with (
        use_clock(clock),
        faulty_transports(Script(Delay(10), Delay(10))),
        requests.Session() as session,
    ):
        assert session.get(server.url + "/a", timeout=(1, 30)).status_code == 200
        with pytest.raises(requests.exceptions.ReadTimeout, match=r"read timeout=4\)"):
            session.get(server.url + "/b", timeout=(30, 4))
    assert clock.monotonic() == 14


def test_a_delay_with_no_timeout_always_goes_on(server: Server) -> None:
    clock = VirtualClock()
    with use_clock(clock), faulty_transports(Script(Delay(10_000))):
        assert fetch("httpx2", server.url + "/a", timeout=None).status == 200
    assert clock.monotonic() == 10_000


def run_jumping(clock: VirtualClock, coroutine: Any) -> Any:
    """Run on crs's virtual-time loop: it jumps to its next timer when nothing else can run."""
    with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(clock)) as runner:
        return runner.run(coroutine)


def mock_client(module: Any, sent: list[str], **kwargs: Any) -> Any:
    async def handler(request: Any) -> Any:
        sent.append(str(request.url))
        return module.Response(200, json={"ok": True})

    return module.AsyncClient(transport=module.MockTransport(handler), **kwargs)


@pytest.mark.parametrize("library", ["httpx", "httpx2"])
def test_an_async_delay_waits_on_the_loop_and_is_no_sleep(library: str) -> None:
    module = HTTPX[library]
    clock = VirtualClock()
    sent: list[str] = []

    async def call() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with mock_client(module, sent, timeout=60) as client:
            response = await client.get("http://127.0.0.1:9/slow")
        return response.status_code, loop.time() - start

    with use_clock(clock), faulty_transports(Script(Delay(42))):
        status, waited = run_jumping(clock, call())

    assert status == 200
    assert sent == ["http://127.0.0.1:9/slow"]
    assert waited == pytest.approx(42, abs=0.05)
    assert clock.monotonic() == pytest.approx(42, abs=0.05)
    assert clock.sleeps == []  # the wait's timer is not asyncio's sleep callback


@pytest.mark.parametrize("library", ["httpx", "httpx2"])
def test_an_async_delay_past_the_read_timeout_times_out_then(library: str) -> None:
    module = HTTPX[library]
    clock = VirtualClock()
    sent: list[str] = []

    async def call() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with mock_client(module, sent, timeout=module.Timeout(60, read=5)) as client:
            with pytest.raises(module.ReadTimeout, match="injected by crs_faults"):
                await client.get("http://127.0.0.1:9/slow")
        return loop.time() - start

    with use_clock(clock), faulty_transports(Script(Delay(300))):
        waited = run_jumping(clock, call())

    assert waited == pytest.approx(5, abs=0.05)
    assert sent == []
    assert clock.sleeps == []


def test_a_timeout_around_an_async_delay_cancels_its_wait() -> None:
    clock = VirtualClock()
    sent: list[str] = []

    async def call() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with mock_client(httpx2, sent, timeout=None) as client:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(client.get("http://127.0.0.1:9/slow"), 3)
        return loop.time() - start

    with use_clock(clock), faulty_transports(Script(Delay(30))):
        waited = run_jumping(clock, call())

    assert waited == pytest.approx(3, abs=0.05)  # as with a server slower than the timeout
    assert sent == []
    assert clock.sleeps == []  # the wait's timer is not asyncio's sleep callback


# -- Cut ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("after", [0, 1, 3])
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_cut_stream_delivers_the_first_events_then_breaks(
    flavour: str, after: int, server: Server
) -> None:
    before = len(server.hits)
    with faulty_transports(Script(Cut(after))):
        got = fetch(flavour, server.url + "/events?n=5")

    assert len(server.hits) == before + 1  # the request did go out
    assert got.status == 200
    assert got.body == b"".join(sse(5)[:after])
    if flavour == "requests":
        assert isinstance(got.error, requests.exceptions.ChunkedEncodingError)
        (reason,) = got.error.args
        assert isinstance(reason, urllib3.exceptions.ProtocolError)
        assert str(reason) == "Response ended prematurely (injected by crs_faults)"
    else:
        module = HTTPX[library_of(flavour)]
        assert isinstance(got.error, module.RemoteProtocolError)
        assert str(got.error) == (
            "peer closed connection without sending complete message body "
            "(incomplete chunked read) (injected by crs_faults)"
        )
        assert got.error.request is got.response.request


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_cut_past_the_end_or_of_a_plain_answer_changes_nothing(
    flavour: str, server: Server
) -> None:
    with faulty_transports(Script(Cut(10), Cut(1))):
        short = fetch(flavour, server.url + "/events?n=2")
        plain = fetch(flavour, server.url + "/plain")

    assert short.error is None
    assert short.body == b"".join(sse(2))
    assert plain.error is None
    assert json.loads(plain.body)["path"] == "/plain"


def test_a_cut_breaks_a_non_streaming_read_too(server: Server) -> None:
    with faulty_transports(Script(Cut(2), Cut(2))):
        with httpx.Client() as client, pytest.raises(httpx.RemoteProtocolError):
            client.get(server.url + "/events")
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.get(server.url + "/events", timeout=5)


def test_requests_raw_read_is_cut_too(server: Server) -> None:
    with (
        faulty_transports(Script(Cut(2))),
        requests.get(server.url + "/events", stream=True, timeout=5) as response,
    ):
        assert response.raw.read(5) == b"data:"
        with pytest.raises(urllib3.exceptions.ProtocolError):
            response.raw.read()


def test_openai_streaming_breaks_off_after_the_cut(crs_sandbox: Sandbox) -> None:
    gate = Script(Cut(2))
    received: list[Any] = []
    with faulty_transports(gate), crs_sandbox.openai_client(max_retries=0) as client:
        stream = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "tell me more"}], stream=True
        )
        with pytest.raises(openai.APIConnectionError) as caught:  # openai wraps it, as live
            received.extend(stream)
    assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)
    assert "incomplete chunked read" in str(caught.value.__cause__)
    assert len(received) == 2
    assert gate.calls[0].json["stream"] is True  # type: ignore[index]


def test_async_openai_streaming_breaks_off_after_the_cut(crs_sandbox: Sandbox) -> None:
    received: list[Any] = []

    async def consume() -> None:
        async with crs_sandbox.async_openai_client(max_retries=0) as client:
            stream = await client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "tell me more"}], stream=True
            )
            async for chunk in stream:
                received.append(chunk)

    with faulty_transports(Script(Cut(1))), pytest.raises(openai.APIConnectionError) as caught:
        asyncio.run(consume())
    assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)
    assert len(received) == 1


@pytest.mark.parametrize(
    ("chunks", "after", "kept"),
    [
        ([b"data: a\n\ndata: b\n\n"], 1, b"data: a\n\n"),
        ([b"data: a\r\n\r\ndata: b\r\n\r\n"], 1, b"data: a\r\n\r\n"),
        ([b"data: a\r\rdata: b\r\r"], 1, b"data: a\r\r"),
        ([b"data: a\n", b"\ndata: b\n\n"], 1, b"data: a\n\n"),
        ([b"data: a\r\n\r", b"\ndata: b\r\n\r\n"], 2, b"data: a\r\n\r\ndata: b\r\n\r\n"),
        ([b"\n\n: ping\n\nevent: x\ndata: 1\n\n"], 2, b"\n\n: ping\n\nevent: x\ndata: 1\n\n"),
        ([b"data: a\n\n", b"data: b\n\n"], 0, b""),
    ],
)
def test_events_are_counted_as_the_sse_spec_splits_them(
    chunks: list[bytes], after: int, kept: bytes
) -> None:
    events = Events(after)
    out = b""
    for chunk in chunks:
        end = events.cut_at(chunk)
        if end is not None:
            out += chunk[:end]
            break
        out += chunk
    else:
        pytest.fail("the cut never came")
    assert out == kept


# -- patching ---------------------------------------------------------------------------------


def patched_now() -> list[object]:
    return [
        httpx.Client.__dict__["_send_single_request"],
        httpx.AsyncClient.__dict__["_send_single_request"],
        httpx2.Client.__dict__["_send_single_request"],
        httpx2.AsyncClient.__dict__["_send_single_request"],
        requests.adapters.HTTPAdapter.__dict__["send"],
    ]


def test_everything_is_put_back_exactly_even_after_an_error() -> None:
    before = patched_now()

    def fail_inside() -> None:
        with faulty_transports(Script()):
            assert all(a is not b for a, b in zip(patched_now(), before, strict=True))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside()
    assert all(a is b for a, b in zip(patched_now(), before, strict=True))


def test_nested_gates_stack_innermost_first(server: Server) -> None:
    before = patched_now()
    outer = Script(Reply(503), None)
    inner = Script(None, Reply(201))
    with faulty_transports(outer), httpx2.Client() as client:
        with faulty_transports(inner):
            first = client.get(server.url + "/a")  # inner lets it through; outer answers
            second = client.get(server.url + "/b")  # inner answers; outer never sees it
        third = client.get(server.url + "/c")  # inner is gone; outer lets it through
    assert [first.status_code, second.status_code, third.status_code] == [503, 201, 200]
    assert [c.path for c in inner.calls] == ["/a", "/b"]
    assert [c.path for c in outer.calls] == ["/a", "/c"]
    assert all(a is b for a, b in zip(patched_now(), before, strict=True))


def test_blocks_left_out_of_order_still_restore_everything(server: Server) -> None:
    before = patched_now()
    first = faulty_transports(Script(Reply(500), Reply(500)))
    second = faulty_transports(Script())
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # out of order: ``second`` still sits on top of it
    with httpx2.Client() as client:
        assert client.get(server.url + "/a").status_code == 200  # nothing of `first` remains
    second.__exit__(None, None, None)
    assert all(a is b for a, b in zip(patched_now(), before, strict=True))


def test_requests_from_worker_threads_are_all_seen(race: Race, server: Server) -> None:
    class RepliesToRequests(Script):
        def decide(self, call: WireCall) -> Decision | None:
            super().decide(call)
            return Reply(202, (), b"threaded") if call.library == "requests" else None

    gate = RepliesToRequests()

    def worker() -> None:
        with requests.Session() as session:
            assert session.get(server.url + "/t", timeout=5).text == "threaded"
        with httpx.Client() as client:
            assert client.get(server.url + "/t").status_code == 200

    with faulty_transports(gate):
        race(worker)
    assert sorted(call.library for call in gate.calls) == ["httpx"] * 8 + ["requests"] * 8

"""Fault decisions applied inside httpx, httpx2 and requests, where their own errors come from.

While :func:`faulty_transports` is active, every request an ``httpx``/``httpx2``
``Client``/``AsyncClient`` or a ``requests`` adapter sends is described as a
:class:`~pytest_crs.faults._wire.WireCall` and the gate decides what happens to it. The answer
takes the exact form the library produces in production, so the SDK code above it (openai's
retry loop and its error mapping, composio-core's ``ReadTimeout`` retries) reacts as it would
to a real failure:

=================== ============================================ ===============================
decision            httpx / httpx2                               requests
=================== ============================================ ===============================
``Reply``           an ``httpx.Response`` with the request       a ``requests.Response`` built by
                    attached (``raise_for_status`` works)        the adapter's ``build_response``
CONNECT_TIMEOUT     ``ConnectTimeout``                           ``ConnectTimeout(MaxRetryError(
                                                                 ConnectTimeoutError))``
READ_TIMEOUT        ``ReadTimeout``                              ``ReadTimeout(ReadTimeoutError)``
CONNECT_ERROR       ``ConnectError``                             ``ConnectionError(MaxRetryError(
                                                                 NewConnectionError))``
RESET_AFTER_SEND    ``RemoteProtocolError("Server disconnected   ``ConnectionError(ProtocolError(
                    without sending a response.")``              'Connection aborted.',
                                                                 RemoteDisconnected))``
``Cut``             ``RemoteProtocolError("peer closed           ``ChunkedEncodingError(
                    connection ... (incomplete chunked read)")`` ProtocolError('Response ended
                    after the first events                       prematurely'))`` after them
=================== ============================================ ===============================

Where: httpx and httpx2 are patched at ``Client._send_single_request`` (and the async twin),
the one call per request *above* the transport, so a faulted attempt never reaches the
transport, the network, or vcrpy (which patches the transports' ``handle_request``); redirects
and auth retries are separate attempts, as on the wire. requests is patched at
``HTTPAdapter.send``, above urllib3, which is where vcrpy steps in for requests; ``Session``
still runs its hooks, cookies and redirects on what the adapter returns.

``Delay`` passes time on crs's clock without recording a sleep of the code under test: a sync
client advances a :class:`~crs.clock.VirtualClock` (or sleeps on any other clock); an async one
waits on a timer of its running event loop, so ``asyncio.wait_for`` around the request behaves
as with a slow server (under crs's virtual-time loop that wait is free; under a plain loop it is
real time). A delay that reaches the request's read timeout waits exactly that long and then
fails with the library's read timeout, without sending.

``Cut`` sends the request as usual and lets the client see only the first events of a
``text/event-stream`` answer; any other answer (and a compressed event stream, whose events
cannot be told apart before decoding, on httpx) is delivered unchanged. With a cassette bridge,
the cut attempt is answered without consuming its recording and records nothing
(:meth:`~crs.cassette._http.VcrBridge.unrecorded`), so the retry after it replays the recording.

Nesting stacks: an inner ``faulty_transports`` sees a request first, and what it lets through
goes on to the enclosing one. Blocks should exit in reverse order of entry (``with`` does that);
one that exits early stops deciding at once, and the patches are all undone once the last block
has exited, whatever the order.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import functools
import importlib
import importlib.util
import io
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from http.client import RemoteDisconnected
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pytest_crs.faults._latency import await_time, pass_time
from pytest_crs.faults._wire import Cut, Decision, Delay, Fail, Failure, Reply, WireCall, WireGate

if TYPE_CHECKING:
    from crs.cassette._http import VcrBridge

__all__ = ["faulty_transports"]

_INJECTED = "(injected by crs_faults)"
_LF, _CR = 0x0A, 0x0D
_MISSING: Any = object()
_lock = threading.Lock()  # patching and unpatching class attributes is one thread at a time


@contextlib.contextmanager
def faulty_transports(gate: WireGate, *, bridge: VcrBridge | None = None) -> Iterator[None]:
    """Ask ``gate`` about every httpx, httpx2 and requests request for the block (module doc).

    ``bridge`` is the active cassette's, if any: cut attempts then consume and record nothing.
    """
    _let_vcr_capture_originals()
    state = _State(gate, bridge)
    patches: list[_Patch] = []
    try:
        with _lock:
            for owner, name, wrap in _targets():
                patch = _Patch(owner, name, state)
                patch.apply(wrap(patch.original, state))
                patches.append(patch)
        yield
    finally:
        state.active = False  # a wrapper left behind (out-of-order exit) now passes through
        with _lock:
            for patch in reversed(patches):
                patch.restore()


# -- patching --------------------------------------------------------------------------------


@dataclass
class _State:
    """What one block's wrappers share; ``active`` goes off at exit, so a wrapper that cannot be
    removed yet (out-of-order exit) stops deciding at once."""

    gate: WireGate
    bridge: VcrBridge | None
    active: bool = True

    def unrecorded(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext() if self.bridge is None else self.bridge.unrecorded()


class _Patch:
    """One class attribute replaced, and put back exactly as it was (``mock.patch.object``).

    Out-of-order exits are survived: a block whose wrapper is covered by a later one leaves it
    in place as a pass-through, and the later one, restoring, skips any such wrapper, so once
    every block has exited the attribute is what it was before the first.
    """

    def __init__(self, owner: type, name: str, state: _State) -> None:
        self.owner = owner
        self.name = name
        self.state = state
        self.saved = owner.__dict__.get(name, _MISSING)
        self.original: Any = getattr(owner, name)
        self.replacement: Any = None

    def apply(self, replacement: Any) -> None:
        replacement._crs_fault_patch = self
        self.replacement = replacement
        setattr(self.owner, self.name, replacement)

    def restore(self) -> None:
        if self.owner.__dict__.get(self.name, _MISSING) is not self.replacement:
            return  # covered by a later patch: ours stays, as a pass-through, until that goes
        saved = self.saved
        left: _Patch | None = getattr(saved, "_crs_fault_patch", None)
        while left is not None and not left.state.active:  # a wrapper left behind: skip it
            saved = left.saved
            left = getattr(saved, "_crs_fault_patch", None)
        if saved is _MISSING:
            delattr(self.owner, self.name)
        else:
            setattr(self.owner, self.name, saved)


_Wrap = Callable[[Any, _State], Any]


def _targets() -> list[tuple[type, str, _Wrap]]:
    """What to patch, for the libraries installed: (class, attribute, wrapper factory)."""
    targets: list[tuple[type, str, _Wrap]] = []
    seen: set[int] = set()
    for name in ("httpx", "httpx2"):
        module = _import(name)
        if module is None or id(module) in seen:  # httpx2 can alias itself as httpx
            continue
        seen.add(id(module))
        library = module.__name__
        targets.append(
            (module.Client, "_send_single_request", functools.partial(_httpx_sync, module, library))
        )
        targets.append(
            (
                module.AsyncClient,
                "_send_single_request",
                functools.partial(_httpx_async, module, library),
            )
        )
    requests = _import("requests.adapters")
    if requests is not None:
        targets.append((requests.HTTPAdapter, "send", _requests_send))
    return targets


def _import(name: str) -> ModuleType | None:
    try:
        if importlib.util.find_spec(name.partition(".")[0]) is None:
            return None
        return importlib.import_module(name)
    except ImportError:
        return None


def _let_vcr_capture_originals() -> None:
    """Import ``vcr.patch`` before patching anything.

    vcrpy saves the functions it restores when ``vcr.patch`` is first imported; imported while
    our wrappers are in place, it would save (and later put back) a wrapper.
    """
    _import("vcr.patch")


def _injected(decision: Fail | None, default: str) -> str:
    text = decision.message if decision is not None and decision.message else default
    return f"{text} {_INJECTED}"


# -- httpx and httpx2 ------------------------------------------------------------------------


def _httpx_call(library: str, request: Any, body: bytes, is_async: bool) -> WireCall:
    headers = {str(name).lower(): str(value) for name, value in request.headers.items()}
    return WireCall(library, str(request.method), str(request.url), headers, body, is_async)


def _httpx_read_timeout(request: Any) -> float | None:
    timeout = request.extensions.get("timeout")
    read = timeout.get("read") if isinstance(timeout, dict) else None
    return None if read is None else float(read)


def _httpx_sync(module: ModuleType, library: str, original: Any, state: _State) -> Any:
    @functools.wraps(original)
    def _send_single_request(client: Any, request: Any) -> Any:
        if not state.active:
            return original(client, request)
        body = request.read() if isinstance(request.stream, module.SyncByteStream) else b""
        decision = state.gate.decide(_httpx_call(library, request, body, is_async=False))
        if decision is None:
            return original(client, request)
        if isinstance(decision, Delay):
            read = _httpx_read_timeout(request)
            if read is not None and decision.seconds >= read:
                pass_time(read)
                raise module.ReadTimeout(_injected(None, "timed out"), request=request)
            pass_time(decision.seconds)
            return original(client, request)
        if isinstance(decision, Cut):
            with state.unrecorded():
                response = original(client, request)
            return _cut_httpx(module, response, decision.after_events)
        return _httpx_answer(module, client, request, decision)

    return _send_single_request


def _httpx_async(module: ModuleType, library: str, original: Any, state: _State) -> Any:
    @functools.wraps(original)
    async def _send_single_request(client: Any, request: Any) -> Any:
        if not state.active:
            return await original(client, request)
        is_async_stream = isinstance(request.stream, module.AsyncByteStream)
        body = await request.aread() if is_async_stream else b""
        decision = state.gate.decide(_httpx_call(library, request, body, is_async=True))
        if decision is None:
            return await original(client, request)
        if isinstance(decision, Delay):
            read = _httpx_read_timeout(request)
            if read is not None and decision.seconds >= read:
                await await_time(read)
                raise module.ReadTimeout(_injected(None, "timed out"), request=request)
            await await_time(decision.seconds)
            return await original(client, request)
        if isinstance(decision, Cut):
            with state.unrecorded():
                response = await original(client, request)
            return _cut_httpx(module, response, decision.after_events)
        return _httpx_answer(module, client, request, decision)

    return _send_single_request


def _httpx_answer(module: ModuleType, client: Any, request: Any, decision: Decision) -> Any:
    """A ``Reply`` as the client's own response, or a ``Fail`` raised as the client raises it."""
    if isinstance(decision, Reply):
        response = module.Response(
            decision.status,
            headers=list(decision.headers),
            stream=module.ByteStream(decision.body),
            request=request,
            extensions={"reason_phrase": decision.reason.encode("ascii", "replace")},
        )
        response.elapsed = datetime.timedelta(0)  # as a transport answer does once it is closed
        client.cookies.extract_cookies(response)
        response.default_encoding = client._default_encoding
        return response
    if isinstance(decision, Fail):
        raise _httpx_failure(module, request, decision)
    raise TypeError(f"a WireGate answered {decision!r}; expected Reply, Fail, Delay, Cut or None")


def _httpx_failure(module: ModuleType, request: Any, decision: Fail) -> Exception:
    """The exception httpx (through httpcore) raises for ``decision.failure``."""
    kinds: dict[Failure, tuple[str, str]] = {
        Failure.CONNECT_TIMEOUT: ("ConnectTimeout", "timed out"),
        Failure.READ_TIMEOUT: ("ReadTimeout", "timed out"),
        Failure.CONNECT_ERROR: ("ConnectError", "[Errno 111] Connection refused"),
        # httpcore's words when the server closes the connection after reading the request
        Failure.RESET_AFTER_SEND: (
            "RemoteProtocolError",
            "Server disconnected without sending a response.",
        ),
    }
    name, default = kinds[decision.failure]
    error: Exception = getattr(module, name)(_injected(decision, default), request=request)
    return error


def _is_event_stream(headers: Any) -> bool:
    content_type = str(headers.get("content-type") or "")
    return content_type.split(";", 1)[0].strip().lower() == "text/event-stream"


def _cut_httpx(module: ModuleType, response: Any, after_events: int) -> Any:
    encoding = str(response.headers.get("content-encoding") or "identity").strip().lower()
    if not _is_event_stream(response.headers) or encoding != "identity":
        return response  # not an event stream (or not countable before decoding): as it came
    message = (
        "peer closed connection without sending complete message body "
        f"(incomplete chunked read) {_INJECTED}"
    )
    cut = _cut_stream_class(module)
    response.stream = cut(response.stream, after_events, response.request, message)
    return response


@functools.cache
def _cut_stream_class(module: ModuleType) -> type:
    """A byte stream of ``module`` (httpx or httpx2), sync and async, that breaks after so many
    events (one class for both, as httpx's own streams are)."""

    class CutStream(module.SyncByteStream, module.AsyncByteStream):  # type: ignore[misc,name-defined]
        """The wrapped stream up to the end of an event, then httpx's dropped-connection error."""

        def __init__(self, inner: Any, after_events: int, request: Any, message: str) -> None:
            self._inner = inner
            self._after = after_events
            self._request = request
            self._message = message
            self._closed = False

        @property
        def elapsed(self) -> Any:  # httpx2 reads the response's elapsed time from its stream
            return getattr(self._inner, "elapsed", None)

        def _dropped(self) -> Exception:
            return module.RemoteProtocolError(self._message, request=self._request)  # type: ignore[no-any-return]

        def __iter__(self) -> Iterator[bytes]:
            chunks = iter(self._inner)
            if not (yield from _up_to_cut(chunks, self._after)):
                return  # the stream ended before the cut: delivered whole
            with contextlib.suppress(Exception):
                getattr(chunks, "close", lambda: None)()
            with contextlib.suppress(Exception):
                self.close()  # the connection is gone: it is not returned to the pool
            raise self._dropped()

        async def __aiter__(self) -> AsyncIterator[bytes]:
            events = _Events(self._after)
            chunks = aiter(self._inner)
            if self._after > 0:
                async for chunk in chunks:
                    end = events.cut_at(chunk)
                    if end is None:
                        yield chunk
                        continue
                    if end:
                        yield chunk[:end]
                    break
                else:
                    return
            closing: Callable[[], Awaitable[None]] | None = getattr(chunks, "aclose", None)
            if closing is not None:
                with contextlib.suppress(Exception):
                    await closing()
            with contextlib.suppress(Exception):
                await self.aclose()
            raise self._dropped()

        def close(self) -> None:
            if not self._closed:
                self._closed = True
                self._inner.close()

        async def aclose(self) -> None:
            if not self._closed:
                self._closed = True
                await self._inner.aclose()

    return CutStream


def _up_to_cut(chunks: Iterable[bytes], after_events: int) -> Generator[bytes, None, bool]:
    """Yield ``chunks`` up to the end of event ``after_events``; return whether the stream was
    cut there (``False``: it ended before that many events, and was delivered whole)."""
    if after_events <= 0:
        return True
    events = _Events(after_events)
    for chunk in chunks:
        end = events.cut_at(chunk)
        if end is None:
            yield chunk
            continue
        if end:
            yield chunk[:end]
        return True
    return False


class _Events:
    """Counts the server-sent events in a byte stream, to find where the n-th one ends.

    An event is one or more lines ended by a blank line; lines end in LF, CRLF or CR, as the
    SSE specification allows, and a CRLF split across two chunks is one line ending.
    """

    def __init__(self, limit: int) -> None:
        self._left = limit
        self._line_empty = True  # nothing on the current line yet
        self._in_event = False  # the current event has at least one line
        self._after_cr = False  # the last byte was a CR: an LF now belongs to it

    def cut_at(self, chunk: bytes) -> int | None:
        """Where in ``chunk`` the last event allowed ends (just after its blank line), or
        ``None`` when it does not end in this chunk."""
        if self._left <= 0:
            return 0
        for position, byte in enumerate(chunk):
            if self._after_cr:
                self._after_cr = False
                if byte == _LF:
                    continue
            if byte not in (_LF, _CR):
                self._line_empty = False
                self._in_event = True
                continue
            self._after_cr = byte == _CR
            if not self._line_empty:
                self._line_empty = True
                continue
            if not self._in_event:
                continue  # a blank line with no event before it ends nothing
            self._in_event = False
            self._left -= 1
            if self._left == 0:
                end = position + 1
                if byte == _CR and chunk[end : end + 1] == b"\n":
                    end += 1
                return end
        return None


# -- requests --------------------------------------------------------------------------------


def _requests_send(original: Any, state: _State) -> Any:
    @functools.wraps(original)
    def send(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        if not state.active:
            return original(adapter, request, *args, **kwargs)
        options = _send_options(args, kwargs)
        decision = state.gate.decide(_requests_call(request))
        if decision is None:
            return original(adapter, request, *args, **kwargs)
        if isinstance(decision, Delay):
            read = _requests_timeouts(options["timeout"])[1]
            if read is not None and decision.seconds >= read:
                pass_time(read)
                raise _requests_failure(adapter, request, options, Fail(Failure.READ_TIMEOUT))
            pass_time(decision.seconds)
            return original(adapter, request, *args, **kwargs)
        if isinstance(decision, Cut):
            with state.unrecorded():
                response = original(adapter, request, *args, **kwargs)
            return _cut_requests(response, decision.after_events)
        if isinstance(decision, Reply):
            return adapter.build_response(request, _urllib3_response(request, decision))
        if isinstance(decision, Fail):
            raise _requests_failure(adapter, request, options, decision)
        raise TypeError(
            f"a WireGate answered {decision!r}; expected Reply, Fail, Delay, Cut or None"
        )

    return send


_SEND_PARAMETERS = ("stream", "timeout", "verify", "cert", "proxies")
_SEND_DEFAULTS: dict[str, Any] = {
    "stream": False,
    "timeout": None,
    "verify": True,
    "cert": None,
    "proxies": None,
}


def _send_options(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """``HTTPAdapter.send``'s arguments after the request, by name (``Session`` passes names)."""
    options = dict(_SEND_DEFAULTS)
    options.update(zip(_SEND_PARAMETERS, args, strict=False))
    options.update({k: v for k, v in kwargs.items() if k in _SEND_DEFAULTS})
    return options


def _requests_call(request: Any) -> WireCall:
    body = request.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, bytes):
        body = b""  # none, or a file or generator that reading here would use up
    headers = {str(name).lower(): str(value) for name, value in request.headers.items()}
    return WireCall("requests", str(request.method), str(request.url), headers, body, False)


def _requests_timeouts(timeout: Any) -> tuple[float | None, float | None]:
    """(connect, read) from what ``send`` accepts: a number, a pair, or a urllib3 ``Timeout``.

    Numbers are kept as given: urllib3's messages print them that way (``read timeout=7``).
    """
    if isinstance(timeout, tuple):
        connect, read = timeout
        return _seconds(connect), _seconds(read)
    if _seconds(timeout) is not None:
        return timeout, timeout
    return _seconds(getattr(timeout, "connect_timeout", None)), _seconds(
        getattr(timeout, "read_timeout", None)
    )


def _seconds(value: Any) -> float | None:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return value if number else None


def _urllib3_response(request: Any, reply: Reply) -> Any:
    """The urllib3 response ``HTTPAdapter.build_response`` turns into a ``requests.Response``."""
    from urllib3 import HTTPResponse
    from urllib3._collections import HTTPHeaderDict

    headers = HTTPHeaderDict()
    for name, value in reply.headers:
        headers.add(name, value)
    return HTTPResponse(
        body=_Body(reply.body),
        headers=headers,
        status=reply.status,
        version=11,
        version_string="HTTP/1.1",
        reason=reply.reason,
        preload_content=False,
        decode_content=False,
        request_method=str(request.method),
        request_url=str(request.url),
    )


class _Body(io.BytesIO):
    """A reply's body that says it is closed once read to the end, as http.client's responses
    do: urllib3 streams an unchunked body until its file says so."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self._size = len(data)

    def isclosed(self) -> bool:
        return self.closed or self.tell() >= self._size


def _requests_failure(
    adapter: Any, request: Any, options: dict[str, Any], decision: Fail
) -> Exception:
    """The exception requests raises for ``decision.failure``, wrapping what urllib3 raised."""
    from requests import exceptions
    from urllib3.exceptions import (
        ConnectTimeoutError,
        MaxRetryError,
        NewConnectionError,
        ProtocolError,
        ReadTimeoutError,
    )

    connect, read = _requests_timeouts(options["timeout"])
    pool = _pool(adapter, request, options)
    url = str(getattr(request, "path_url", "") or request.url)
    failure = decision.failure
    error: Exception
    if failure is Failure.READ_TIMEOUT:
        reason = ReadTimeoutError(
            pool, url, _injected(decision, f"Read timed out. (read timeout={read})")
        )
        error = exceptions.ReadTimeout(reason, request=request)
    elif failure is Failure.CONNECT_TIMEOUT:
        host = getattr(pool, "host", None) or "the server"
        cause = ConnectTimeoutError(
            _connection(pool),
            _injected(decision, f"Connection to {host} timed out. (connect timeout={connect})"),
        )
        error = exceptions.ConnectTimeout(MaxRetryError(pool, url, cause), request=request)
    elif failure is Failure.CONNECT_ERROR:
        refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        cause = NewConnectionError(
            _connection(pool),
            _injected(decision, f"Failed to establish a new connection: {refused}"),
        )
        cause.__cause__ = refused
        error = exceptions.ConnectionError(MaxRetryError(pool, url, cause), request=request)
    else:  # RESET_AFTER_SEND: http.client gave up waiting for the status line
        dropped = RemoteDisconnected(
            _injected(decision, "Remote end closed connection without response")
        )
        error = exceptions.ConnectionError(
            ProtocolError("Connection aborted.", dropped), request=request
        )
    return error


def _pool(adapter: Any, request: Any, options: dict[str, Any]) -> Any:
    """The connection pool the adapter would have used (no connection is made)."""
    try:
        return adapter.get_connection_with_tls_context(
            request, options["verify"], proxies=options["proxies"], cert=options["cert"]
        )
    except Exception:
        from urllib3.connectionpool import connection_from_url

        with contextlib.suppress(Exception):
            return connection_from_url(str(request.url))
    return None


def _connection(pool: Any) -> Any:
    """An unconnected urllib3 connection for ``pool``'s host, as urllib3's errors carry one.

    vcrpy swaps the pool's connection class for its stub; the stub's real class is used.
    """
    cls = getattr(pool, "ConnectionCls", None)
    cls = getattr(cls, "_baseclass", cls)
    if cls is None:
        return None
    try:
        return cls(host=pool.host, port=pool.port)
    except Exception:
        return None


def _cut_requests(response: Any, after_events: int) -> Any:
    """Make ``response.raw`` stop after ``after_events`` events, as a dropped stream does."""
    if _is_event_stream(response.headers):
        response.raw = _CutRaw(response.raw, after_events)
    return response


class _CutRaw:
    """A urllib3 response (or vcrpy's stand-in) whose body breaks off after so many events.

    requests reads bodies through ``raw.stream`` (``content``, ``iter_content``,
    ``iter_lines``); ``raw.read`` is cut too; everything else is the wrapped response's. urllib3
    calls a body that stops between chunks "Response ended prematurely", and requests raises
    that as ``ChunkedEncodingError``.
    """

    def __init__(self, raw: Any, after_events: int) -> None:
        self._raw = raw
        self._after = after_events
        self._pending: Iterator[bytes] | None = None
        self._buffer = bytearray()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def stream(
        self, amt: int | None = 2**16, decode_content: bool | None = None
    ) -> Iterator[bytes]:
        from urllib3.exceptions import ProtocolError

        chunks = self._raw.stream(amt, decode_content=decode_content)
        if not (yield from _up_to_cut(chunks, self._after)):
            return  # the stream ended before the cut: delivered whole
        with contextlib.suppress(Exception):
            self._raw.close()  # the connection is gone: it is not returned to the pool
        raise ProtocolError(f"Response ended prematurely {_INJECTED}")

    def read(
        self,
        amt: int | None = None,
        decode_content: bool | None = None,
        cache_content: bool = False,
    ) -> bytes:
        del cache_content
        if self._pending is None:
            self._pending = self.stream(2**16, decode_content=decode_content)
        for chunk in self._pending:
            self._buffer.extend(chunk)
            if amt is not None and len(self._buffer) >= amt:
                break
        size = len(self._buffer) if amt is None else min(amt, len(self._buffer))
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

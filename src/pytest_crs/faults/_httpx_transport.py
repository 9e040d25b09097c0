"""Decisions as httpx and httpx2 produce them: responses, exceptions, delays and cut streams,
at ``Client._send_single_request`` (see :mod:`pytest_crs.faults._transport`).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pytest_crs.faults._latency import await_time, pass_time
from pytest_crs.faults._sse import Events, is_event_stream, up_to_cut
from pytest_crs.faults._wire import (
    INJECTED,
    Cut,
    Decision,
    Delay,
    Fail,
    Failure,
    Reply,
    WireCall,
    injected,
)

if TYPE_CHECKING:
    from pytest_crs.faults._transport import State


def _httpx_call(library: str, request: Any, body: bytes, is_async: bool) -> WireCall:
    headers = {str(name).lower(): str(value) for name, value in request.headers.items()}
    return WireCall(library, str(request.method), str(request.url), headers, body, is_async)


def _httpx_read_timeout(request: Any) -> float | None:
    timeout = request.extensions.get("timeout")
    read = timeout.get("read") if isinstance(timeout, dict) else None
    return None if read is None else float(read)


def httpx_sync(module: ModuleType, library: str, original: Any, state: State) -> Any:
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
                raise module.ReadTimeout(injected(None, "timed out"), request=request)
            pass_time(decision.seconds)
            return original(client, request)
        if isinstance(decision, Cut):
            with state.unrecorded():
                response = original(client, request)
            return _cut_httpx(module, response, decision.after_events)
        return _httpx_answer(module, client, request, decision)

    return _send_single_request


def httpx_async(module: ModuleType, library: str, original: Any, state: State) -> Any:
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
                raise module.ReadTimeout(injected(None, "timed out"), request=request)
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
        raise httpx_failure(module, request, decision)
    raise TypeError(f"a WireGate answered {decision!r}; expected Reply, Fail, Delay, Cut or None")


def httpx_failure(module: ModuleType, request: Any, decision: Fail) -> Exception:
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
    error: Exception = getattr(module, name)(injected(decision, default), request=request)
    return error


def _cut_httpx(module: ModuleType, response: Any, after_events: int) -> Any:
    encoding = str(response.headers.get("content-encoding") or "identity").strip().lower()
    if not is_event_stream(response.headers) or encoding != "identity":
        return response  # not an event stream (or not countable before decoding): as it came
    message = (
        "peer closed connection without sending complete message body "
        f"(incomplete chunked read) {INJECTED}"
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
            if not (yield from up_to_cut(chunks, self._after)):
                return  # the stream ended before the cut: delivered whole
            with contextlib.suppress(Exception):
                getattr(chunks, "close", lambda: None)()
            with contextlib.suppress(Exception):
                self.close()  # the connection is gone: it is not returned to the pool
            raise self._dropped()

        async def __aiter__(self) -> AsyncIterator[bytes]:
            events = Events(self._after)
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

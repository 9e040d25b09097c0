"""Decisions as requests (and urllib3 below it) produce them, at ``HTTPAdapter.send`` (see
:mod:`pytest_crs.faults._transport`).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
from collections.abc import Iterator
from http.client import RemoteDisconnected
from typing import TYPE_CHECKING, Any

from pytest_crs.faults._latency import pass_time
from pytest_crs.faults._sse import is_event_stream, up_to_cut
from pytest_crs.faults._wire import INJECTED, Cut, Delay, Fail, Failure, Reply, WireCall, injected

if TYPE_CHECKING:
    from pytest_crs.faults._transport import State


def requests_send(original: Any, state: State) -> Any:
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
            pool, url, injected(decision, f"Read timed out. (read timeout={read})")
        )
        error = exceptions.ReadTimeout(reason, request=request)
    elif failure is Failure.CONNECT_TIMEOUT:
        host = getattr(pool, "host", None) or "the server"
        cause = ConnectTimeoutError(
            _connection(pool),
            injected(decision, f"Connection to {host} timed out. (connect timeout={connect})"),
        )
        error = exceptions.ConnectTimeout(MaxRetryError(pool, url, cause), request=request)
    elif failure is Failure.CONNECT_ERROR:
        refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        cause = NewConnectionError(
            _connection(pool),
            injected(decision, f"Failed to establish a new connection: {refused}"),
        )
        cause.__cause__ = refused
        error = exceptions.ConnectionError(MaxRetryError(pool, url, cause), request=request)
    else:  # RESET_AFTER_SEND: http.client gave up waiting for the status line
        dropped = RemoteDisconnected(
            injected(decision, "Remote end closed connection without response")
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
    if is_event_stream(response.headers):
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
        if not (yield from up_to_cut(chunks, self._after)):
            return  # the stream ended before the cut: delivered whole
        with contextlib.suppress(Exception):
            self._raw.close()  # the connection is gone: it is not returned to the pool
        raise ProtocolError(f"Response ended prematurely {INJECTED}")

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

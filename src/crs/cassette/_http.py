"""HTTP record/replay on top of vcrpy's interception, with our cassette behind it.

vcrpy knows how to step into httpx2 (openai 3.x's default client), httpx, requests/urllib3
(composio-core) and aiohttp; it does that well, so we use its patchers and stubs as they are.
Everything *behind* the interception is ours: vcrpy's stubs talk to a :class:`VcrBridge`, which
answers from a :class:`~crs.cassette.Cassette` — agent-aware matching through an index instead
of a scan of every recording with every matcher, redaction before anything is kept, bodies in
the readable format, atomic writes — and raises our own error, naming the request and saying
how to record it, when a request has no recording and may not get one.

One thing vcrpy cannot do is replay a stream as a stream: its httpx stubs hand the client the
whole body at once. While a bridge is active, the function that builds replayed httpx/httpx2
responses is wrapped so that a recorded ``text/event-stream`` body is delivered one event per
chunk, in order — code that consumes a stream incrementally behaves as it did live. (Requests
and aiohttp replay a stream's bytes in one piece; none of the SDKs we target stream through
them.)

Fault injection needs one more thing from the bridge: to break an attempt (cut a stream) without
it counting. Under :meth:`VcrBridge.unrecorded` a request is answered from its recording without
consuming it, and one that goes live is not recorded, so a cassette recorded without faults
replays unchanged with faults added: the retry after the fault consumes the one recording.
"""

from __future__ import annotations

import contextlib
import functools
import http
import json
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from crs.cassette._body import decode_body, encode_body, sse_chunks
from crs.cassette._cassette import Cassette
from crs.cassette._match import normalise_url
from crs.cassette._summary import label
from crs.clock import resolve_clock

__all__ = ["VcrBridge", "intercepting"]

# Headers that describe the transfer, not the content: recomputed on replay, never stored.
_TRANSFER_HEADERS = frozenset({"content-length", "transfer-encoding", "content-encoding"})
_VOLATILE_REQUEST_HEADERS = frozenset(
    {
        "user-agent", "host", "connection", "accept-encoding", "content-length", "x-request-id",
        "traceparent", "tracestate",
    }
)  # fmt: skip


# The bridges whose traffic in this context is answered without consuming and never recorded.
# A context variable, not a flag on the bridge: other threads and tasks keep recording as usual.
_unrecorded: ContextVar[tuple[VcrBridge, ...]] = ContextVar("crs_unrecorded_bridges", default=())


def _volatile(name: str) -> bool:
    return name in _VOLATILE_REQUEST_HEADERS or name.startswith("x-stainless-")


class VcrBridge:
    """The cassette interface vcrpy's stubs call (``can_play_response_for`` and friends)."""

    skip_patchers: tuple[str, ...] = ("httplib", "boto3", "httplib2", "tornado")
    custom_patches: tuple[Any, ...] = ()
    write_protected = False  # refusals are raised by can_play_response_for, with our message
    allow_playback_repeats = False

    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette
        self._path = "CrsCassette"
        self._answers: dict[int, dict[str, Any]] = {}
        self._started: dict[int, float] = {}

    @contextlib.contextmanager
    def unrecorded(self) -> Iterator[None]:
        """Requests made in this context (thread, task) leave the cassette as they found it.

        A request with a recording is answered from it without consuming it; one without goes
        live when the mode allows recording, and is not recorded; otherwise it fails with the
        usual mismatch error. Fault injection breaks attempts this way (see the module doc).
        """
        token = _unrecorded.set((*_unrecorded.get(), self))
        try:
            yield
        finally:
            _unrecorded.reset(token)

    def _recording(self) -> bool:
        return self not in _unrecorded.get()

    # -- what the stubs call -----------------------------------------------------------------

    def can_play_response_for(self, request: Any) -> bool:
        lookup = self.cassette.find_live if self._recording() else self.cassette.peek_live
        found = lookup(str(request.method), str(request.uri), request.headers, _raw_body(request))
        if found is not None:
            self._answers[id(request)] = found
            return True
        if not self.cassette.can_record:
            raise self.cassette.unmatched(describe(request))
        self._started[id(request)] = resolve_clock(None).monotonic()
        return False

    def play_response(self, request: Any) -> dict[str, Any]:
        interaction = self._answers.pop(id(request), None)
        if interaction is None:  # aiohttp's redirect path asks without asking first
            if not self.can_play_response_for(request):
                raise self.cassette.unmatched(describe(request))
            interaction = self._answers.pop(id(request))
        return to_vcr_response(interaction["response"])

    def append(self, request: Any, response: Mapping[str, Any]) -> None:
        if not self._recording():
            self._started.pop(id(request), None)
            return
        keep = frozenset(h.lower() for h in self.cassette.rules.match_headers)
        ours = {"request": to_request(request, keep), "response": from_vcr_response(response)}
        kind, summary = label(ours["request"], ours["response"])
        started = self._started.pop(id(request), None)
        elapsed = None if started is None else resolve_clock(None).monotonic() - started
        timing = {} if elapsed is None else {"duration_ms": round(elapsed * 1000, 3)}
        self.cassette.record({"kind": kind, "summary": summary, **timing, **ours})

    def filter_request(self, request: Any) -> Any:
        return request

    def find_requests_with_most_matches(
        self, request: Any
    ) -> list[tuple[Any, list[Any], list[Any]]]:
        return [(request, [], [])]


@contextlib.contextmanager
def intercepting(bridge: VcrBridge) -> Iterator[VcrBridge]:
    """Route httpx2, httpx, requests and aiohttp through ``bridge`` for the block."""
    from vcr import patch as vcr_patch
    from vcr.stubs import httpx_stubs

    original = httpx_stubs._deserialize_response
    with contextlib.ExitStack() as stack:
        for patcher in vcr_patch.CassettePatcherBuilder(bridge).build():
            stack.enter_context(patcher)
        httpx_stubs._deserialize_response = _streaming(original)
        stack.callback(setattr, httpx_stubs, "_deserialize_response", original)
        stack.enter_context(_serialised_connections(vcr_patch))
        yield bridge


#: Held while vcrpy has the real connection classes back in, and while a pool makes or hands out
#: a connection (see _serialised_connections).
_CONNECTIONS = threading.RLock()


@contextlib.contextmanager
def _serialised_connections(vcr_patch: Any) -> Iterator[None]:
    """Close vcrpy's window in which a request from another thread escapes the cassette.

    To build or connect the real connection behind an intercepted one, vcrpy's
    ``force_reset()`` puts the real classes back — process-wide — for that moment. A thread
    whose urllib3 pool makes a connection meanwhile gets a real ``HTTPConnection``, and its
    request is neither recorded nor replayed (seen with two threads on one composio-core
    toolset). Holding one lock around ``force_reset`` and around the pools' connection
    creation and checkout serialises exactly those moments; the requests themselves still run
    in parallel.
    """
    saved: list[tuple[Any, str, Any]] = [(vcr_patch, "force_reset", vcr_patch.force_reset)]
    real_reset = vcr_patch.force_reset

    @contextlib.contextmanager
    def force_reset() -> Iterator[None]:
        with _CONNECTIONS, real_reset():
            yield

    vcr_patch.force_reset = force_reset
    cpool = sys.modules.get("urllib3.connectionpool")  # vcrpy imported it if it is installed
    if cpool is not None:
        for pool_class in (cpool.HTTPConnectionPool, cpool.HTTPSConnectionPool):
            for name in ("_new_conn", "_get_conn"):
                current = pool_class.__dict__.get(name)
                if current is not None:
                    saved.append((pool_class, name, current))
                    setattr(pool_class, name, _locked(current))
    try:
        yield
    finally:
        for owner, name, value in reversed(saved):
            setattr(owner, name, value)


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def serialised(*args: Any, **kwargs: Any) -> Any:
        with _CONNECTIONS:
            return method(*args, **kwargs)

    return serialised


# -- conversions -----------------------------------------------------------------------------


def _raw_body(request: Any) -> bytes | None:
    body = request.body
    if isinstance(body, (dict, list)):  # aiohttp's json= arrives unserialised
        return json.dumps(body).encode()
    if isinstance(body, str):
        return body.encode()
    return body  # type: ignore[no-any-return]


def to_request(request: Any, keep: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A vcrpy request in cassette form (URL normalised, body readable).

    Headers that change from machine to machine and run to run (``user-agent``,
    ``x-stainless-*``, request ids, ``host`` with its port) are left out unless ``keep`` names
    them: matching ignores them, and stored they would only make every re-recording a diff.
    """
    headers = {
        name: str(value)
        for name, value in ((str(k).lower(), v) for k, v in request.headers.items())
        if name in keep or not _volatile(name)
    }
    body = _raw_body(request)
    return {
        "method": str(request.method).upper(),
        "url": normalise_url(str(request.uri)),
        "headers": headers,
        "body": encode_body(body or None, headers.get("content-type")),
    }


def from_vcr_response(response: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded vcrpy response in cassette form: decompressed, readable, transfer headers gone."""
    from vcr.filters import decode_response

    decoded = decode_response(dict(response))
    headers: dict[str, Any] = {}
    for name, value in (decoded.get("headers") or {}).items():
        if name.lower() in _TRANSFER_HEADERS:
            continue
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        headers[name.lower()] = values[0] if len(values) == 1 else values
    status = decoded["status"]
    raw = (decoded.get("body") or {}).get("string")
    if isinstance(raw, str):
        raw = raw.encode()
    content_type = headers.get("content-type")
    return {
        "status": int(status["code"]),
        "reason": status.get("message") or "",
        "headers": headers,
        "body": encode_body(raw, content_type if isinstance(content_type, str) else None),
    }


def to_vcr_response(response: Mapping[str, Any]) -> dict[str, Any]:
    """A cassette response as vcrpy's stubs build replies from (plus its SSE events)."""
    body = response.get("body")
    raw = decode_body(body)
    headers = {
        name: list(value) if isinstance(value, list) else [value]
        for name, value in (response.get("headers") or {}).items()
    }
    headers["content-length"] = [str(len(raw))]
    status = int(response["status"])
    reason = response.get("reason") or _phrase(status)
    reply: dict[str, Any] = {
        "status": {"code": status, "message": reason},
        "headers": headers,
        "body": {"string": raw},
    }
    if isinstance(body, Mapping) and "sse" in body:
        reply["crs_chunks"] = sse_chunks(body)
    return reply


def describe(request: Any) -> str:
    """A request as an error message shows it: method, URL and the start of the body."""
    ours = to_request(request)
    body = ours["body"]
    shown = ""
    if isinstance(body, Mapping) and "json" in body:
        shown = " " + json.dumps(body["json"], sort_keys=True)[:200]
    return f"{ours['method']} {ours['url']}{shown}"


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


# -- streams ---------------------------------------------------------------------------------


def _streaming(build: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Wrap vcrpy's httpx response builder so recorded event streams replay event by event."""

    def build_streaming(vcr_response: Mapping[str, Any], httpx_module: Any) -> Any:
        response = build(vcr_response, httpx_module)
        chunks = vcr_response.get("crs_chunks")
        if chunks:
            response.stream = _chunk_stream(httpx_module, list(chunks))
        return response

    return build_streaming


def _chunk_stream(httpx_module: Any, chunks: list[bytes]) -> Any:
    class ChunkStream(httpx_module.SyncByteStream, httpx_module.AsyncByteStream):  # type: ignore[misc]
        """One recorded event per chunk, for sync and async clients alike."""

        def __iter__(self) -> Iterator[bytes]:
            yield from chunks

        async def __aiter__(self) -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

    return ChunkStream()

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
import functools
import importlib
import importlib.util
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pytest_crs.faults._httpx_transport import httpx_async, httpx_sync
from pytest_crs.faults._requests_transport import requests_send
from pytest_crs.faults._wire import WireGate

if TYPE_CHECKING:
    from crs.cassette._http import VcrBridge

__all__ = ["faulty_transports"]

_MISSING: Any = object()
_lock = threading.Lock()  # patching and unpatching class attributes is one thread at a time


@contextlib.contextmanager
def faulty_transports(gate: WireGate, *, bridge: VcrBridge | None = None) -> Iterator[None]:
    """Ask ``gate`` about every httpx, httpx2 and requests request for the block (module doc).

    ``bridge`` is the active cassette's, if any: cut attempts then consume and record nothing.
    """
    _let_vcr_capture_originals()
    state = State(gate, bridge)
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
class State:
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

    def __init__(self, owner: type, name: str, state: State) -> None:
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


_Wrap = Callable[[Any, State], Any]


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
            (module.Client, "_send_single_request", functools.partial(httpx_sync, module, library))
        )
        targets.append(
            (
                module.AsyncClient,
                "_send_single_request",
                functools.partial(httpx_async, module, library),
            )
        )
    requests = _import("requests.adapters")
    if requests is not None:
        targets.append((requests.HTTPAdapter, "send", requests_send))
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

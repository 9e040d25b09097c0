"""``virtual_time()``: one ``with`` block that puts a whole test on a :class:`VirtualClock`.

:func:`crs.clock.use_clock` already makes ``crs``'s own waits virtual. Third-party retry code
sleeps for real, and a test of "ten retries, sixty seconds apart" must not take ten minutes.
Patching ``time.sleep`` globally is not an option: the sandbox's uvicorn thread lives in the
same process and polls with real 0.1 s sleeps, and pytest, logging and the SDKs' own latency
measurements read the real clocks. So the change is made where the sleeping happens:

* **Module-local ``time``.** In each target module the global ``time`` (and any ``sleep``,
  ``time``, ``monotonic``... imported from it by name) is replaced by a stand-in module whose
  sleeps go through :meth:`VirtualClock.sleep` (advanced and recorded) and whose readings are
  the clock's: ``time``/``time_ns`` and the no-argument forms of ``gmtime``/``localtime``/
  ``ctime``/``asctime``/``strftime`` read :meth:`~VirtualClock.now`; ``monotonic`` and
  ``perf_counter`` (and their ``_ns`` forms) read :meth:`~VirtualClock.monotonic`, so a duration
  measured around a virtual sleep comes out as the sleep. CPU clocks (``process_time``,
  ``thread_time``) and everything else are the real ``time`` module's.
  The targets, each checked in its source:

  - ``openai._base_client``: the sync retry is ``time.sleep(timeout)``, and an HTTP-date
    ``Retry-After`` is turned into a delay with ``retry_date - time.time()``, which must be the
    virtual wall clock for a date computed from ``clock.now()`` to mean what it says.
  - ``composio_client._base_client`` (the Stainless client under the current ``composio``
    SDK): the same two lines. composio-core 0.7 has no retry loop of its own.
  - ``tenacity.nap``: ``tenacity.sleep``, the default ``sleep=`` of ``Retrying`` and
    ``@retry``, is bound at definition time but looks ``time.sleep`` up at each call.
  - ``tenacity``: ``time.monotonic`` stamps each attempt, which is what ``stop_after_delay``
    and ``RetryCallState.seconds_since_start`` measure.

  stamina needs nothing of its own: sync retries sleep through ``tenacity.nap``, async ones
  through ``asyncio.sleep`` (below), and its ``timeout=`` is tenacity's ``stop_after_delay``.
  Its testing mode is left alone, so real backoff values are slept, virtually.

* **Asyncio.** New event loops made in the thread that entered the block are
  :class:`~crs.VirtualTimeLoop`\\ s on the clock (an event-loop policy; ``asyncio.run`` and
  ``asyncio.Runner`` use it), which is how openai's ``anyio.sleep``, tenacity's and stamina's
  async sleeps and every asyncio/anyio timeout become virtual. Loops made in other threads stay
  real: the sandbox runs its own. A loop already running when the block is entered keeps its
  real time.

* **Real I/O.** ``AsyncConnectionPool.handle_async_request`` of httpcore and httpcore2 is
  wrapped so the virtual loop knows a real request is in flight and does not jump past its read
  timeout (see :mod:`crs._virtual_loop`).

Modules are never imported for this. A target already in ``sys.modules`` is patched on entry;
one imported later, while the block is active, is patched as its import finishes (a
``sys.meta_path`` finder wraps its loader). That matters for composio, whose import must not be
triggered by a test helper. Everything is put back on exit, including modules patched on import.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import importlib.machinery
import sys
import threading
import time as _real_time
import traceback
import types
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from crs._virtual_loop import _TRACKED, VirtualTimeLoop, track_pool_requests
from crs.clock import VirtualClock, set_clock

__all__ = ["TIME_TARGETS", "virtual_time"]

#: Modules whose ``time`` is made virtual, in the order they are patched (see the docstring).
TIME_TARGETS: tuple[str, ...] = (
    "openai._base_client",
    "composio_client._base_client",
    "tenacity",
    "tenacity.nap",
)

#: Packages whose ``AsyncConnectionPool`` requests count as real I/O for the virtual loop.
POOL_TARGETS: tuple[str, ...] = ("httpcore", "httpcore2")

_Undo = Callable[[], None]


# -- the stand-in time module ----------------------------------------------------------------------


class _VirtualTimeModule(types.ModuleType):
    """``time``, with the clock's readings and sleeps; everything else is the real module's."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__("time", _real_time.__doc__)
        for name, value in vars(_real_time).items():
            if not name.startswith("__"):
                setattr(self, name, value)
        self.crs_clock = clock

        def ns(seconds: float) -> int:
            return round(seconds * 1_000_000_000)

        def when(secs: float | None) -> float:
            return clock.now() if secs is None else secs

        def struct(t: Any) -> Any:
            return _real_time.localtime(clock.now()) if t is None else t

        self.sleep = clock.sleep
        self.time = clock.now
        self.time_ns = lambda: ns(clock.now())
        self.monotonic = clock.monotonic
        self.monotonic_ns = lambda: ns(clock.monotonic())
        self.perf_counter = clock.monotonic
        self.perf_counter_ns = lambda: ns(clock.monotonic())
        self.gmtime = lambda secs=None: _real_time.gmtime(when(secs))
        self.localtime = lambda secs=None: _real_time.localtime(when(secs))
        self.ctime = lambda secs=None: _real_time.ctime(when(secs))
        self.asctime = lambda t=None: _real_time.asctime(struct(t))
        self.strftime = lambda format, t=None: _real_time.strftime(format, struct(t))

    def __repr__(self) -> str:
        return f"<virtual time module on {self.crs_clock!r}>"


def _patch_time(module: types.ModuleType, proxy: _VirtualTimeModule) -> _Undo:
    """Point ``module``'s references to ``time`` (and to its virtualized functions) at ``proxy``.

    Identity decides, so ``import time``, ``import time as t`` and ``from time import sleep``
    are all caught, and nothing that merely shares a name is touched.
    """
    stand_ins: dict[int, object] = {id(_real_time): proxy}
    for name in (
        "sleep", "time", "time_ns", "monotonic", "monotonic_ns", "perf_counter",
        "perf_counter_ns", "gmtime", "localtime", "ctime", "asctime", "strftime",
    ):
        stand_ins[id(getattr(_real_time, name))] = getattr(proxy, name)
    namespace = vars(module)
    swapped: list[tuple[str, object, object]] = []
    for name, value in list(namespace.items()):
        replacement = stand_ins.get(id(value))
        if replacement is not None:
            namespace[name] = replacement
            swapped.append((name, value, replacement))

    def undo() -> None:
        for name, original, replacement in swapped:
            if namespace.get(name) is replacement:  # leave alone what someone changed since
                namespace[name] = original

    return undo


def _patch_pool(module: types.ModuleType) -> _Undo:
    pool = getattr(module, "AsyncConnectionPool", None)
    original = None if pool is None else pool.__dict__.get("handle_async_request")
    if pool is None or original is None or hasattr(original, _TRACKED):
        return lambda: None
    wrapper = track_pool_requests(original)
    pool.handle_async_request = wrapper

    def undo() -> None:
        if pool.__dict__.get("handle_async_request") is wrapper:
            pool.handle_async_request = original

    return undo


# -- patching modules as they are imported --------------------------------------------------------


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then the patch; puts the real loader back on the module."""

    def __init__(self, loader: importlib.abc.Loader, patch: Callable[[types.ModuleType], None]):
        self._loader = loader
        self._patch = patch

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        try:
            self._loader.exec_module(module)
        finally:
            spec = getattr(module, "__spec__", None)
            if spec is not None and spec.loader is self:
                spec.loader = self._loader
            if getattr(module, "__loader__", None) is self:
                module.__loader__ = self._loader
        self._patch(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader that the other finders return for a target."""

    def __init__(self, patches: dict[str, Callable[[types.ModuleType], None]]) -> None:
        self._patches = patches

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        patch = self._patches.get(fullname)
        if patch is None:
            return None
        for finder in list(sys.meta_path):
            find = None if finder is self else getattr(finder, "find_spec", None)
            found = None if find is None else find(fullname, path, target)
            if isinstance(found, importlib.machinery.ModuleSpec):
                spec = found
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        spec.loader = _PatchingLoader(loader, patch)
        return spec


# -- the event-loop policy -------------------------------------------------------------------------

if sys.version_info >= (3, 14):
    _PolicyBase: Any = asyncio.events._AbstractEventLoopPolicy

    def _get_policy() -> Any:
        return asyncio.events._get_event_loop_policy()

    def _set_policy(policy: Any) -> None:
        asyncio.events._set_event_loop_policy(policy)

else:
    _PolicyBase = asyncio.AbstractEventLoopPolicy

    def _get_policy() -> Any:
        return asyncio.get_event_loop_policy()

    def _set_policy(policy: Any) -> None:
        asyncio.set_event_loop_policy(policy)


class _VirtualPolicy(_PolicyBase):
    """The previous policy, except that new loops in the owner thread are virtual."""

    def __init__(self, previous: Any, clock: VirtualClock, io_grace: float) -> None:
        self._previous = previous
        self._clock = clock
        self._io_grace = io_grace
        self._owner = threading.get_ident()

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        if threading.get_ident() != self._owner:
            loop: asyncio.AbstractEventLoop = self._previous.new_event_loop()
            return loop
        return VirtualTimeLoop(self._clock, io_grace=self._io_grace)

    def get_event_loop(self) -> asyncio.AbstractEventLoop:
        loop: asyncio.AbstractEventLoop = self._previous.get_event_loop()
        return loop

    def set_event_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._previous.set_event_loop(loop)

    if sys.version_info < (3, 14):  # pragma: no branch - the child-watcher API went in 3.14

        def get_child_watcher(self) -> Any:
            return self._previous.get_child_watcher()

        def set_child_watcher(self, watcher: Any) -> None:
            self._previous.set_child_watcher(watcher)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._previous, name)


def _install_policy(clock: VirtualClock, io_grace: float) -> _Undo:
    with warnings.catch_warnings():  # 3.14 deprecates the policy system; 3.16 removes it
        warnings.simplefilter("ignore", DeprecationWarning)
        previous = _get_policy()
        policy = _VirtualPolicy(previous, clock, io_grace)
        _set_policy(policy)

    def undo() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            if _get_policy() is policy:
                _set_policy(previous)

    return undo


# -- the session -----------------------------------------------------------------------------------

_active_lock = threading.Lock()
_active: list[str] = []  # where the active block was entered, for the nesting error


def _module_name(module: types.ModuleType | str) -> str:
    if isinstance(module, types.ModuleType):
        return module.__name__
    if isinstance(module, str) and all(part.isidentifier() for part in module.split(".")):
        return module
    raise TypeError(
        f"modules= takes modules or dotted module names, got {module!r}"
    )


class _Session:
    """Everything one ``virtual_time`` block changed, undone in reverse order."""

    def __init__(self, clock: VirtualClock, io_grace: float) -> None:
        self.clock = clock
        self.proxy = _VirtualTimeModule(clock)
        self.io_grace = io_grace
        self.undo: list[_Undo] = []
        self.patched: set[int] = set()
        self.open = True

    def patch_time(self, module: types.ModuleType) -> None:
        if self.open and id(module) not in self.patched:
            self.patched.add(id(module))
            self.undo.append(_patch_time(module, self.proxy))

    def patch_pool(self, module: types.ModuleType) -> None:
        if self.open and id(module) not in self.patched:
            self.patched.add(id(module))
            self.undo.append(_patch_pool(module))

    def start(self, extra: Iterable[types.ModuleType | str]) -> None:
        on_import: dict[str, Callable[[types.ModuleType], None]] = {}
        for name in POOL_TARGETS:
            on_import[name] = self.patch_pool
        for name in TIME_TARGETS:
            on_import[name] = self.patch_time
        given: list[types.ModuleType] = []
        for module in extra:
            on_import[_module_name(module)] = self.patch_time
            if isinstance(module, types.ModuleType):
                given.append(module)
        previous = set_clock(self.clock)

        def restore_clock() -> None:
            set_clock(previous)

        self.undo.append(restore_clock)
        for module in given:
            self.patch_time(module)
        for name, patch in on_import.items():
            loaded = sys.modules.get(name)
            if loaded is not None:
                patch(loaded)
        finder = _PatchOnImport(on_import)
        sys.meta_path.insert(0, finder)
        self.undo.append(lambda: sys.meta_path.remove(finder) if finder in sys.meta_path else None)
        self.undo.append(_install_policy(self.clock, self.io_grace))

    def stop(self) -> None:
        self.open = False
        with ExitStack() as stack:  # every undo runs, even if one raises
            for undo in self.undo:
                stack.callback(undo)
            self.undo = []


@contextmanager
def virtual_time(
    clock: VirtualClock | None = None,
    *,
    modules: Iterable[types.ModuleType | str] = (),
    io_grace: float = 5.0,
) -> Iterator[VirtualClock]:
    """Run the block on ``clock`` (a fresh :class:`VirtualClock` by default), third parties too.

    While it is active: ``clock`` is ``crs``'s default (:func:`crs.clock.use_clock`); the retry
    sleeps and clock readings of openai, composio's Stainless client and tenacity (so stamina)
    go to the clock and are recorded in ``clock.sleeps``; new event loops made in this thread
    are :class:`~crs.VirtualTimeLoop`\\ s on the clock, so asyncio and anyio sleeps and timeouts
    are virtual too; and the modules in ``modules`` (objects, or dotted names that are patched
    when imported) get the virtual ``time`` as well. ``io_grace`` is how long the loop waits on
    real I/O that shows no sign of life before moving on (see :mod:`crs._virtual_loop`).

    Nothing is patched globally: ``time.sleep`` itself, other modules and other threads' event
    loops keep real time. One block at a time per process; entering a second raises
    ``RuntimeError``.
    """
    if clock is None:
        clock = VirtualClock()
    elif not isinstance(clock, VirtualClock):
        raise TypeError(f"virtual_time() needs a VirtualClock, got {clock!r}")
    grace = float(io_grace)
    if not grace > 0:
        raise ValueError(f"io_grace must be a positive number of seconds, got {io_grace!r}")
    extra = list(modules) if not isinstance(modules, str | types.ModuleType) else [modules]
    for module in extra:
        _module_name(module)
    caller = "".join(traceback.format_stack(limit=3)[:1]).strip()
    with _active_lock:
        if _active:
            raise RuntimeError(
                "virtual_time() is already active; blocks do not nest (one clock per process). "
                f"The active one was entered at:\n{_active[0]}"
            )
        _active.append(caller)
    session = _Session(clock, grace)
    try:
        session.start(extra)
        yield clock
    finally:
        try:
            session.stop()
        finally:
            with _active_lock:
                _active.clear()

"""What ``virtual_time()`` patches, where, and that every bit of it is put back.

Nothing global may change: ``time.sleep`` itself stays real (the sandbox's server thread sleeps
with it), only the ``time`` seen by the target modules is the virtual one.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import textwrap
import time
import types
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpcore
import httpcore2
import openai._base_client
import pytest
import tenacity
import tenacity.nap

from crs._virtual_time import TIME_TARGETS, virtual_time
from crs.clock import VirtualClock, get_clock, set_clock

USER_MODULE = textwrap.dedent(
    """
    import time
    import time as clock_module
    from time import monotonic, sleep as nap

    DEFAULT_TIMER = time.perf_counter
    sleep = "not time.sleep, just a name"


    def wait_and_measure(seconds):
        start = monotonic()
        time.sleep(seconds)
        nap(seconds)
        return monotonic() - start


    def stamp():
        return clock_module.time(), time.strftime("%Y"), DEFAULT_TIMER()
    """
)


def time_of(module: types.ModuleType) -> types.ModuleType:
    """The ``time`` a module sees (read through ``vars`` so it type-checks on any module)."""
    seen: types.ModuleType = vars(module)["time"]
    return seen


def current_policy() -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return asyncio.get_event_loop_policy()


@pytest.fixture(autouse=True)
def _restore_default_clock() -> Iterator[None]:
    before = get_clock()
    yield
    set_clock(before)


@pytest.fixture
def package_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path for modules written by the test; imports are forgotten after."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]
    importlib.invalidate_caches()


def _user_module(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(USER_MODULE, f"<{name}>", "exec"), module.__dict__)
    return module


def test_only_the_target_modules_see_virtual_time() -> None:
    real_sleep, real_monotonic = time.sleep, time.monotonic
    with virtual_time() as clock:
        assert time.sleep is real_sleep  # nothing global
        assert time.monotonic is real_monotonic
        assert time_of(openai._base_client) is not time
        assert time_of(openai._base_client).sleep == clock.sleep
        assert time_of(tenacity.nap).sleep == clock.sleep
        assert time_of(tenacity).monotonic == clock.monotonic
        assert "virtual time module" in repr(time_of(tenacity.nap))
        # Everything not virtualized is the real module's.
        assert time_of(tenacity.nap).process_time is time.process_time
        assert time_of(tenacity.nap).struct_time is time.struct_time
        tenacity.nap.sleep(90)
    assert clock.sleeps == [90.0]


def test_user_modules_get_the_virtual_time_module_and_functions() -> None:
    module = _user_module("crs_vt_user_objects")
    clock = VirtualClock()
    with virtual_time(clock, modules=[module]):
        assert module.wait_and_measure(30) == 60.0  # monotonic() around two virtual sleeps
        assert module.stamp() == (clock.now(), "2023", 60.0)
        assert module.sleep == "not time.sleep, just a name"
    assert clock.sleeps == [30.0, 30.0]
    assert module.time is time
    assert module.clock_module is time
    assert module.nap is time.sleep
    assert module.monotonic is time.monotonic
    assert module.DEFAULT_TIMER is time.perf_counter


def test_a_module_named_by_string_is_patched_when_imported_inside_the_block(
    package_dir: Path,
) -> None:
    (package_dir / "crs_vt_user_late.py").write_text(USER_MODULE)
    with virtual_time(modules=["crs_vt_user_late"]) as clock:
        late = importlib.import_module("crs_vt_user_late")
        assert late.wait_and_measure(5) == 10.0
        assert late.__loader__.__class__.__name__ != "_PatchingLoader"  # real loader put back
    assert clock.sleeps == [5.0, 5.0]
    assert late.time is time
    assert late.nap is time.sleep


def test_a_single_module_name_is_accepted_as_well(package_dir: Path) -> None:
    (package_dir / "crs_vt_user_single.py").write_text(USER_MODULE)
    single = importlib.import_module("crs_vt_user_single")
    with virtual_time(modules="crs_vt_user_single") as clock:
        single.wait_and_measure(1)
    assert clock.sleeps == [1.0, 1.0]


def test_composio_client_is_patched_on_import_and_never_imported_by_us(
    package_dir: Path,
) -> None:
    """A stand-in with the Stainless client's two time-dependent lines, under the real name."""
    if "composio_client" in sys.modules:
        pytest.skip("a real composio_client is already imported here")
    assert "composio_client._base_client" in TIME_TARGETS
    package = package_dir / "composio_client"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_base_client.py").write_text(
        textwrap.dedent(
            """
            import time

            def retry_after_from_date(retry_date):
                return float(retry_date - time.time())

            def sleep_for_retry(timeout):
                time.sleep(timeout)
            """
        )
    )
    with virtual_time() as clock:
        assert "composio_client._base_client" not in sys.modules  # entering imported nothing
        from composio_client import _base_client

        assert _base_client.retry_after_from_date(clock.now() + 12) == 12.0
        _base_client.sleep_for_retry(12)
    assert clock.sleeps == [12.0]
    assert _base_client.time is time


def test_everything_is_restored_on_exit() -> None:
    pools = {
        pool: pool.__dict__["handle_async_request"]
        for pool in (httpcore.AsyncConnectionPool, httpcore2.AsyncConnectionPool)
    }
    meta_path = list(sys.meta_path)
    policy = current_policy()
    default = get_clock()
    with virtual_time() as clock:
        assert get_clock() is clock
        assert len(sys.meta_path) == len(meta_path) + 1
        for pool, original in pools.items():
            assert pool.__dict__["handle_async_request"] is not original
        assert current_policy() is not policy
    assert get_clock() is default
    assert sys.meta_path == meta_path
    assert current_policy() is policy
    for pool, original in pools.items():
        assert pool.__dict__["handle_async_request"] is original
    for name in TIME_TARGETS:
        module = sys.modules.get(name)
        if module is not None:
            assert time_of(module) is time, name


def test_everything_is_restored_when_the_block_raises() -> None:
    default = get_clock()
    with pytest.raises(ZeroDivisionError), virtual_time():
        1 / 0  # noqa: B018
    assert get_clock() is default
    assert time_of(tenacity.nap) is time
    assert time_of(openai._base_client) is time


def test_a_reference_changed_inside_the_block_is_left_alone() -> None:
    module = _user_module("crs_vt_user_changed")
    replacement = types.SimpleNamespace(sleep=lambda seconds: None)
    with virtual_time(modules=[module]):
        vars(module)["time"] = replacement
    assert vars(module)["time"] is replacement  # someone else's patch is not undone by us
    assert module.nap is time.sleep

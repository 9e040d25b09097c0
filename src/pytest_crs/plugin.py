"""The pytest plugin: virtual time, a store, and the loopback sandbox, as fixtures.

Only fixtures backed by working ``crs`` components are registered here; markers, cassettes and
client-side fault plans arrive with the layers they drive.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from crs._composio_offline import configure_offline
from crs.auth import CredentialVault
from crs.clock import VirtualClock, use_clock
from crs.store import ContextReferenceStore
from crs.tools import ComposioAdapter, ToolBackend

if TYPE_CHECKING:
    from crs.sandbox import Sandbox

__all__ = [
    "crs_adapter",
    "crs_clock",
    "crs_sandbox",
    "crs_sandbox_server",
    "crs_store",
    "crs_tool_backend",
    "crs_vault",
    "pytest_configure",
]


def pytest_configure(config: pytest.Config) -> None:
    """Keep composio-core offline in every test run, before any test module imports it.

    Importing composio-core fetches a Sentry DSN, checks PyPI for updates and refreshes its
    action cache over the network; its switches are read at import, so they must be set now.
    The cache directory is per user and reused across runs (composio's exit hooks write to it
    after pytest is done, so it must outlive the session). Settings the user made win.
    """
    del config
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    configure_offline(Path(tempfile.gettempdir()) / f"pytest-crs-composio-{uid}")


@pytest.fixture
def crs_clock() -> Iterator[VirtualClock]:
    """A fresh :class:`~crs.VirtualClock`, installed as ``crs``'s process-wide default clock.

    Everything in ``crs`` that waits or expires resolves the default clock at each use, so inside
    the test sleeps return at once (and are recorded in ``crs_clock.sleeps``) and TTLs expire only
    when the test calls ``crs_clock.advance()``. The previous default is restored at teardown,
    even when the test fails.

    That covers the resilience kit too: retry backoff, rate-limiter waits, breaker cool-downs and
    ``crs.resilience.timeout`` deadlines all run in virtual time.

    Only ``crs`` follows this clock for now: ``time.sleep`` and ``asyncio.sleep`` called by
    third-party code (SDK retry loops, for instance) still take real time. Making those virtual
    comes later.
    """
    clock = VirtualClock()
    with use_clock(clock):
        yield clock


@pytest.fixture
def crs_store(crs_clock: VirtualClock, tmp_path: Path) -> Iterator[ContextReferenceStore]:
    """A fresh :class:`~crs.ContextReferenceStore` on a temporary disk path, on ``crs_clock``.

    The disk tier makes it behave like a production store (nothing is lost to eviction, and a
    second store opened on ``crs_store_path`` sees everything — how restarts are tested). TTLs
    run on ``crs_clock``. The store is closed at teardown, so code that holds on to it after the
    test gets ``StoreClosedError`` instead of quietly working against a store nobody owns.
    """
    store = ContextReferenceStore(
        use_disk_storage=True, disk_path=tmp_path / "crs-store", clock=crs_clock
    )
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def crs_vault(crs_store: ContextReferenceStore) -> CredentialVault:
    """A :class:`~crs.CredentialVault` in ``crs_store`` with a throw-away random key.

    Expiry runs on ``crs_clock``: ``crs_clock.advance(25 * 3600)`` expires a 24-hour credential.
    """
    return CredentialVault(crs_store, key=CredentialVault.generate_key())


@pytest.fixture
def crs_tool_backend(request: pytest.FixtureRequest) -> ToolBackend:
    """The backend ``crs_adapter`` runs tools with; override it to test your own tools.

    By default: the sandbox (``crs_sandbox``) through whichever Composio SDK is installed —
    composio-core's ``ComposioToolSet`` or the current ``Composio`` client. Override it in a
    ``conftest.py`` to use your own, e.g. ``return CallableBackend({"lookup": lookup})``.
    """
    sandbox: Sandbox = request.getfixturevalue("crs_sandbox")
    return sandbox.tool_backend()


@pytest.fixture
def crs_adapter(
    crs_store: ContextReferenceStore, crs_tool_backend: ToolBackend
) -> ComposioAdapter:
    """A :class:`~crs.tools.ComposioAdapter` over ``crs_store`` and ``crs_tool_backend``.

    Default retry policy, no vault, no cache, no rate limits: build your own adapter from the
    same fixtures for those (``ComposioAdapter(crs_store, crs_tool_backend, vault=crs_vault)``).
    Retry backoff runs on ``crs_clock``, so it costs no real time.
    """
    return ComposioAdapter(crs_store, crs_tool_backend)


@pytest.fixture(scope="session")
def crs_sandbox_server() -> Iterator[Sandbox]:
    """The session's one sandbox server (one per xdist worker); tests use ``crs_sandbox``.

    Starting a server per test would cost a port and a thread each time; sharing one and
    resetting its state between tests gives the same isolation for a fraction of the cost.
    """
    try:
        from crs.sandbox import Sandbox
    except ImportError as exc:
        raise pytest.UsageError(
            f"the crs_sandbox fixture needs the sandbox extra ({exc}); "
            "install it with: pip install 'pytest-crs[sandbox]'"
        ) from exc
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def crs_sandbox(crs_sandbox_server: Sandbox) -> Iterator[Sandbox]:
    """A running :class:`~crs.sandbox.Sandbox`, reset to a fresh world for this test.

    It speaks the OpenAI and Composio APIs on a loopback port: point real SDK clients at
    ``crs_sandbox.openai_base_url`` / ``composio_core_base_url`` / ``composio_base_url`` with
    ``crs_sandbox.api_key``, or take ready-made ones from ``crs_sandbox.openai_client()``,
    ``async_openai_client()``, ``composio_toolset()`` and ``composio_client()``.

    Strict, like pytest-httpx: a test that scripts model turns it never uses, or sets up a
    fault that never fires, fails at teardown, because it did not test what it says it tests.
    Pass ``strict=False`` to ``script()`` / ``fault()`` for the ones that are optional.
    """
    crs_sandbox_server.reset()
    yield crs_sandbox_server
    problems = [*crs_sandbox_server.unused_script_turns()]
    problems += [
        f"the fault {rule.describe()} never fired"
        for rule in crs_sandbox_server.unfired_faults()
    ]
    crs_sandbox_server.reset()
    crs_sandbox_server.close_clients()
    if problems:
        pytest.fail(
            "crs_sandbox: " + "; ".join(problems) + " (pass strict=False to allow this)",
            pytrace=False,
        )

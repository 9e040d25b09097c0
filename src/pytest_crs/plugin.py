"""The pytest plugin: virtual time, a store, a vault, the sandbox, the adapter, and cassettes.

Fixtures for the ``crs`` components live here; record/replay (the ``crs_cassette`` marker and
fixture, options, teardown, the session summary) lives in :mod:`pytest_crs._cassettes`, fault
injection (the ``crs_faults`` marker and fixture) in :mod:`pytest_crs._faults`.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from crs._composio_offline import configure_offline
from crs._virtual_time import virtual_time
from crs.auth import CredentialVault
from crs.cassette._cassette import RecordMode
from crs.clock import VirtualClock
from crs.store import ContextReferenceStore
from crs.tools import ComposioAdapter, ToolBackend
from pytest_crs._cassettes import CALL_REPORT, STATS, CassetteStats, crs_cassette, crs_config
from pytest_crs._faults import MARKER_HELP, crs_faults
from pytest_crs._redis import crs_redis_server, crs_redis_url
from pytest_crs._telemetry import crs_spans

if TYPE_CHECKING:
    from crs.sandbox import Sandbox

OFFLINE_DIR: pytest.StashKey[str] = pytest.StashKey()

__all__ = [
    "crs_adapter",
    "crs_cassette",
    "crs_clock",
    "crs_config",
    "crs_faults",
    "crs_redis_server",
    "crs_redis_url",
    "crs_sandbox",
    "crs_sandbox_server",
    "crs_spans",
    "crs_store",
    "crs_tool_backend",
    "crs_vault",
    "pytest_addoption",
    "pytest_configure",
    "pytest_runtest_makereport",
    "pytest_sessionfinish",
    "pytest_terminal_summary",
    "pytest_testnodedown",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("crs", "pytest-crs")
    group.addoption(
        "--crs-record-mode",
        dest="crs_record_mode",
        choices=[mode.value for mode in RecordMode],
        default=None,
        help="what crs cassettes do with requests: none (replay only, the default), once, "
        "new_episodes, all, rewrite",
    )
    group.addoption(
        "--crs-hypothesis-profile",
        dest="crs_hypothesis_profile",
        default=None,
        metavar="NAME",
        help="load this Hypothesis settings profile: crs (no deadline under virtual time) or "
        "crs-ci (that, derandomized, no example database), or one the suite registered",
    )
    parser.addini("crs_record_mode", "default cassette record mode (none)", default="none")
    parser.addini(
        "crs_cassette_dir", "directory of cassettes, relative to the rootdir", default="cassettes"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Keep composio-core offline, and make crs's Hypothesis profiles available.

    Importing composio-core fetches a Sentry DSN, checks PyPI for updates and refreshes its
    action cache over the network; its switches are read at import, so they must be set now.
    The cache directory is per user and reused across runs (composio's exit hooks write to it
    after pytest is done, so it must outlive the session). Settings the user made win.

    The Hypothesis profiles are registered first thing (``tryfirst``), before Hypothesis's own
    plugin loads the one its ``--hypothesis-profile`` names, so either option can pick them.
    """
    _hypothesis_profiles(config)
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    directory = configure_offline(Path(tempfile.gettempdir()) / f"pytest-crs-composio-{uid}")
    config.stash[OFFLINE_DIR] = str(directory)
    config.addinivalue_line(
        "markers",
        "crs_cassette(name=None, **options): record/replay this test's LLM, tool and HTTP calls "
        "in cassettes/<module>/<test>.yaml (options: see the crs_config fixture)",
    )
    config.addinivalue_line("markers", MARKER_HELP)


def _hypothesis_profiles(config: pytest.Config) -> None:
    if importlib.util.find_spec("hypothesis") is None:  # an optional dependency of the plugin
        if config.getoption("crs_hypothesis_profile"):
            raise pytest.UsageError(
                "--crs-hypothesis-profile needs Hypothesis: pip install hypothesis"
            )
        return
    from pytest_crs._hypothesis_profiles import load_profile, register_profiles

    register_profiles()
    load_profile(config.getoption("crs_hypothesis_profile"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Any:
    """Keep the call phase's report, so a cassette knows whether its test passed."""
    report = yield
    if report.when == "call":
        item.stash[CALL_REPORT] = report
    return report


@pytest.fixture(autouse=True)
def _crs_markers(request: pytest.FixtureRequest) -> None:
    """Tests marked ``crs_cassette`` / ``crs_faults`` get them without asking for the fixture."""
    if request.node.get_closest_marker("crs_cassette") is not None:
        request.getfixturevalue("crs_cassette")
    if request.node.get_closest_marker("crs_faults") is not None:
        request.getfixturevalue("crs_faults")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker, hand this worker's cassette counts to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    stats = session.config.stash.get(STATS, None)
    if workeroutput is not None and stats is not None:
        workeroutput["crs_cassettes"] = stats.to_worker_output()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller, add up what each worker's cassettes did."""
    del error
    counts = getattr(node, "workeroutput", {}).get("crs_cassettes")
    if counts:
        node.config.stash.setdefault(STATS, CassetteStats()).add(counts)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """What the cassettes did (when any ran), and the composio-core offline setup in use."""
    stats = config.stash.get(STATS, None)
    offline = f"composio-core kept offline: COMPOSIO_CACHE_DIR={config.stash.get(OFFLINE_DIR, '?')}"
    if stats is not None and any(stats.as_dict().values()):
        terminalreporter.write_sep("-", "crs cassettes")
        terminalreporter.write_line(
            f"{stats.replayed} replayed, {stats.recorded} recorded, {stats.rewritten} rewritten; "
            f"interactions: {stats.played} played, {stats.new} new, {stats.unused} unused"
        )
        for path in stats.files:
            terminalreporter.write_line(f"  wrote {path}")
        terminalreporter.write_line(offline)
    elif config.getoption("verbose") > 0:
        terminalreporter.write_line(f"crs: {offline}")


@pytest.fixture
def crs_clock() -> Iterator[VirtualClock]:
    """A fresh :class:`~crs.VirtualClock` that the whole test runs on (:func:`crs.virtual_time`).

    Everything in ``crs`` that waits or expires follows it, and so does third-party retry code:
    the openai SDK's and composio's retry sleeps, tenacity and stamina, and asyncio itself —
    event loops made during the test are :class:`~crs.VirtualTimeLoop`\\ s, so
    ``asyncio.sleep``, ``asyncio.wait_for`` / ``asyncio.timeout`` deadlines and httpx timeouts
    run in virtual time. Sleeps return at once and are recorded in ``crs_clock.sleeps``; TTLs
    and credentials expire when the test calls ``crs_clock.advance()``. Everything is restored
    at teardown, even when the test fails.

    Your own modules can follow it too: ``crs.virtual_time``'s ``modules=`` has the recipe, or
    have the code under test sleep through :func:`crs.clock.get_clock`.
    """
    with virtual_time(VirtualClock()) as clock:
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
def crs_adapter(crs_store: ContextReferenceStore, crs_tool_backend: ToolBackend) -> ComposioAdapter:
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
        f"the fault {rule.describe()} never fired" for rule in crs_sandbox_server.unfired_faults()
    ]
    crs_sandbox_server.reset()
    crs_sandbox_server.close_clients()
    if problems:
        pytest.fail(
            "crs_sandbox: " + "; ".join(problems) + " (pass strict=False to allow this)",
            pytrace=False,
        )

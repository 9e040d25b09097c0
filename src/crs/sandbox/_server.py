"""Running the sandbox: a uvicorn server on a loopback port, in a background thread.

The socket is bound and listening before the server thread starts, so the port is known at
once and connections made before uvicorn is accepting simply queue; :meth:`Sandbox.start` then
waits (on an event, not a sleep) until uvicorn reports it is serving, and re-raises anything
that stopped it from doing so.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import uvicorn

from crs.clock import Clock
from crs.errors import ConfigError, CrsError
from crs.sandbox._app import build_app
from crs.sandbox._composio_catalog import TOOLKIT_VERSION
from crs.sandbox._composio_clients import composio_client, core_toolset, installed_sdk
from crs.sandbox._composio_world import ComposioWorld
from crs.sandbox._faults import FaultKind, FaultRule, build_rule
from crs.sandbox._model import TurnSource
from crs.sandbox._openai_common import SESSION_HEADER
from crs.sandbox._state import RecordedRequest, SandboxState
from crs.tools import ComposioBackend, ComposioCoreBackend, ToolBackend

__all__ = ["DEFAULT_API_KEY", "SESSION_HEADER", "Sandbox"]

#: The key the sandbox accepts unless given another. Not a secret: it opens nothing but the
#: sandbox, and a fixed default keeps ``crs sandbox`` instructions copy-pasteable.
DEFAULT_API_KEY = "sk-crs-sandbox"


_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


class _Server(uvicorn.Server):
    """A uvicorn server that signals when it is accepting connections."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    def install_signal_handlers(self) -> None:
        """The sandbox runs inside someone else's process; their signals are not ours."""


class Sandbox:
    """A loopback HTTP server that speaks the OpenAI and Composio APIs.

    >>> with Sandbox() as sandbox:
    ...     client = sandbox.openai_client()

    Requests must carry :attr:`api_key` (``Authorization: Bearer`` for OpenAI, ``x-api-key``
    for Composio). ``seed`` varies what the default model invents; ``clock`` is what ``delay``
    faults wait on and what timestamps read (the ``crs`` default clock unless given).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        seed: int = 0,
        clock: Clock | None = None,
    ) -> None:
        _require_loopback(host)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"port must be an int from 0 to 65535, got {port!r}")
        if not isinstance(api_key, str) or not api_key.strip():
            raise ConfigError("api_key must be a non-empty string")
        self._host = host
        self._requested_port = port
        self.state = SandboxState(api_key=api_key, clock=clock, seed=seed)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._failure: BaseException | None = None
        self._lent: list[Any] = []

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Bind, start serving, and return once the server accepts requests."""
        if self._thread is not None:
            raise CrsError("the sandbox is already running", hint="call stop() first")
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto
        # says TCP, and without it every JSON response waits ~40 ms on Nagle + delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._requested_port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"cannot listen on {self._host}:{self._requested_port}: {exc.strerror}",
                hint="pick another --port, or 0 for any free one",
            ) from exc
        config = uvicorn.Config(
            build_app(self.state),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=1,
        )
        self._server = _Server(config)
        self._socket = sock
        self._thread = threading.Thread(target=self._serve, name="crs-sandbox", daemon=True)
        self._thread.start()
        if not self._server.ready.wait(_START_TIMEOUT) or self._failure is not None:
            failure = self._failure
            self.stop()
            raise CrsError(f"the sandbox did not start: {failure!r}") from failure
        return self

    def _serve(self) -> None:
        assert self._server is not None
        assert self._socket is not None
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # reported by start(); the thread must not die silently
            self._failure = exc
        finally:
            self._server.ready.set()

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        self.close_clients()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(_STOP_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- addresses -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._socket is None:
            raise CrsError("the sandbox is not running", hint="use it as `with Sandbox() as sb:`")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:53124``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """For ``openai.OpenAI(base_url=...)`` and ``OPENAI_BASE_URL``."""
        return f"{self.url}/v1"

    @property
    def composio_core_base_url(self) -> str:
        """For composio-core 0.7 (``COMPOSIO_BASE_URL``), which expects the ``/api`` prefix."""
        return f"{self.url}/api"

    @property
    def composio_base_url(self) -> str:
        """For the current ``composio`` SDK, which expects the host root."""
        return self.url

    @property
    def api_key(self) -> str:
        return self.state.api_key

    def __repr__(self) -> str:
        where = self.url if self._socket is not None else "stopped"
        return f"Sandbox({where}, api_key=[REDACTED])"

    # -- state ---------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything tests did: Composio data, scripts, faults and the request log."""
        self.state.reset()

    @property
    def composio(self) -> ComposioWorld:
        """The fake Composio apps and connected accounts, for setup and assertions."""
        return self.state.composio

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every API request answered since the last reset, oldest first."""
        with self.state.lock:
            return list(self.state.requests)

    # -- model scripts -------------------------------------------------------------------------

    def script(
        self,
        turns: Sequence[TurnSource],
        *,
        model: str | None = None,
        session: str | None = None,
        strict: bool = True,
    ) -> None:
        """Play ``turns`` as the assistant's replies to requests for ``model`` (or session).

        Each turn is text, a :class:`ToolCall`, a list of them (parallel calls), an
        :class:`AssistantTurn`, or a function of the conversation returning one of those.
        A session script (requests sent with the ``X-CRS-Session`` header, see
        :meth:`openai_client`) wins over a model script. With ``strict`` (the default) the
        pytest fixture fails a test that leaves turns unused.
        """
        self.state.scripts.add(turns, model=model, session=session, strict=strict)

    def unused_script_turns(self) -> list[str]:
        return self.state.scripts.pending()

    # -- faults --------------------------------------------------------------------------------

    def fault(self, kind: FaultKind | str, **options: Any) -> FaultRule:
        """Make the next matching request(s) fail; see :class:`FaultKind` for the kinds.

        Options: ``api`` (``"openai"``, ``"composio"`` or ``"composio-core"``), ``method``,
        ``path`` (a glob), ``tool`` (a Composio slug), ``times`` (default 1), ``after`` (let
        that many matches through first), ``strict`` (default True: the pytest fixture fails a
        test whose fault never fired), plus the kind's own options.
        """
        return self.state.faults.add(build_rule(kind, **options))

    def expire_account(self, app: str, user_id: str = "default") -> None:
        """Flip ``user_id``'s connected account on ``app`` to EXPIRED, now."""
        self.state.composio.expire(user_id, app)

    def unfired_faults(self) -> list[FaultRule]:
        return self.state.faults.unfired()

    # -- ready-configured clients ---------------------------------------------------------------

    def openai_client(self, *, session: str | None = None, **kwargs: Any) -> Any:
        """An ``openai.OpenAI`` pointed at the sandbox (``kwargs`` go to its constructor).

        The sandbox closes it in :meth:`close_clients` (the pytest fixture calls that after each
        test), so its pooled connections never outlive the test as unclosed sockets.
        """
        client = self._openai("OpenAI", session, kwargs)
        self._lent.append(client)
        return client

    def async_openai_client(self, *, session: str | None = None, **kwargs: Any) -> Any:
        """An ``openai.AsyncOpenAI`` pointed at the sandbox.

        Its connections belong to the event loop that used them, so close it there:
        ``async with sandbox.async_openai_client() as client: ...``.
        """
        return self._openai("AsyncOpenAI", session, kwargs)

    def _openai(self, name: str, session: str | None, kwargs: dict[str, Any]) -> Any:
        try:
            import openai
        except ImportError as exc:
            raise ConfigError(
                "the openai package is not installed", hint="pip install 'pytest-crs[openai]'"
            ) from exc
        headers = dict(kwargs.pop("default_headers", None) or {})
        if session is not None:
            headers[SESSION_HEADER] = session
        kwargs.setdefault("api_key", self.api_key)
        kwargs.setdefault("base_url", self.openai_base_url)
        return getattr(openai, name)(default_headers=headers, **kwargs)

    def composio_toolset(self, **kwargs: Any) -> Any:
        """A composio-core 0.7 ``ComposioToolSet`` pointed at the sandbox."""
        kwargs.setdefault("api_key", self.api_key)
        kwargs.setdefault("base_url", self.composio_core_base_url)
        return core_toolset(**kwargs)

    def composio_client(self, **kwargs: Any) -> Any:
        """A current-SDK ``composio.Composio`` pointed at the sandbox.

        The SDK never closes the connections of an HTTP client it makes itself, so unless
        ``http_client`` is given the sandbox lends one and closes it in :meth:`close_clients`
        (the pytest fixture calls that after each test).
        """
        kwargs.setdefault("api_key", self.api_key)
        kwargs.setdefault("base_url", self.composio_base_url)
        if "http_client" not in kwargs:
            import httpx

            kwargs["http_client"] = httpx.Client()
            self._lent.append(kwargs["http_client"])
        return composio_client(**kwargs)

    def tool_backend(self, **kwargs: Any) -> ToolBackend:
        """A :class:`~crs.tools.ToolBackend` on whichever Composio SDK is installed here.

        composio-core gets a ``ComposioCoreBackend``; the current SDK a ``ComposioBackend``
        pinned to the sandbox's toolkit version. ``kwargs`` go to the SDK client.
        """
        sdk = installed_sdk()
        if sdk == "composio-core":
            return ComposioCoreBackend(self.composio_toolset(**kwargs))
        if sdk == "composio":
            return ComposioBackend(self.composio_client(**kwargs), version=TOOLKIT_VERSION)
        raise ConfigError(
            "neither Composio SDK is installed",
            hint="pip install 'pytest-crs[composio-core]' or 'pytest-crs[composio]'; "
            "for tools written in Python use crs.tools.CallableBackend",
        )

    def close_clients(self) -> None:
        """Close the sync clients this sandbox made, and the HTTP clients it lent to SDKs."""
        while self._lent:
            self._lent.pop().close()


def _require_loopback(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"host={host!r} is not a loopback address",
            hint="the sandbox only listens on loopback (127.0.0.1, ::1 or localhost)",
        )

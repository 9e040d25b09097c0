"""What ``crs serve`` puts together: a store, an LLM runner, the app — and, offline, a sandbox.

Kept apart from the click command so it can be built and exercised without starting a
blocking server: :func:`serve_setup` yields the ready app, and everything it started (the
sandbox, the store, the OpenAI client) is stopped when the block exits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crs.errors import ConfigError
from crs.llm import AsyncLLMClient, LLMClient, LLMConfig
from crs.service._service import AgentRunner
from crs.store import ContextReferenceStore

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["ServeSetup", "llm_runner", "serve_setup"]


def llm_runner(client: LLMClient | AsyncLLMClient) -> AgentRunner:
    """An agent runner answering each task with one model call: ``client.run(task)``.

    The session id is not sent to the model (a single call has no conversation to continue);
    it stays on the task's record. An :class:`~crs.AsyncLLMClient` gives an async runner.
    """
    if isinstance(client, AsyncLLMClient):
        async_client = client

        async def run_async(task: str, _session_id: str) -> Mapping[str, Any]:
            return await async_client.run(task)

        return run_async
    if not isinstance(client, LLMClient):
        raise TypeError(f"client must be an LLMClient or AsyncLLMClient, got {client!r}")
    sync_client = client

    def run(task: str, _session_id: str) -> Mapping[str, Any]:
        return sync_client.run(task)

    return run


@dataclass(frozen=True)
class ServeSetup:
    """The app ``crs serve`` runs and what its runner talks to (for the startup banner)."""

    app: FastAPI
    model: str
    backend: str
    store: str


@contextmanager
def serve_setup(
    *,
    model: str,
    sandbox: bool,
    store_path: str | Path | None = None,
    redis_url: str | None = None,
    environ: Mapping[str, str],
    max_concurrency: int = 4,
) -> Iterator[ServeSetup]:
    """Build the service ``crs serve`` runs; everything started is stopped on exit.

    Args:
        model: the model each task is sent to.
        sandbox: start a :class:`~crs.sandbox.Sandbox` and send the model calls there (works
            offline, no key); otherwise OpenAI (or ``OPENAI_BASE_URL``) with
            ``OPENAI_API_KEY`` from ``environ``.
        store_path: keep tasks in a disk-backed store there (they survive restarts).
        redis_url: keep tasks in Redis (shared by every process serving the same URL).

    Raises:
        ConfigError: no ``OPENAI_API_KEY`` without ``sandbox``; both stores given; a missing
            extra.
    """
    if store_path is not None and redis_url is not None:
        raise ConfigError(
            "--store-path and --redis-url were both given",
            hint="tasks live in one store: pick a directory or a Redis URL",
        )
    with ExitStack() as stack:
        config = LLMConfig(model=model)
        if sandbox:
            try:
                from crs.sandbox import Sandbox
            except ImportError as exc:
                raise ConfigError(
                    f"--sandbox needs the sandbox extra ({exc})",
                    hint="pip install 'pytest-crs[sandbox]'",
                ) from exc
            server = stack.enter_context(Sandbox())
            client = LLMClient(config, client=server.openai_client())
            backend = f"the crs sandbox at {server.openai_base_url}"
        else:
            key = environ.get("OPENAI_API_KEY", "").strip()
            if not key:
                raise ConfigError(
                    "OPENAI_API_KEY is not set, so the service cannot call OpenAI",
                    hint="export OPENAI_API_KEY=..., or pass --sandbox to serve offline "
                    "against a local sandbox model",
                )
            client = LLMClient(config, api_key=key)
            backend = environ.get("OPENAI_BASE_URL") or "OpenAI"
        stack.callback(client.close)
        if redis_url is not None:
            store = ContextReferenceStore(redis_url=redis_url)
            where = "Redis (shared by every process on that URL)"
        elif store_path is not None:
            store = ContextReferenceStore(use_disk_storage=True, disk_path=store_path)
            where = f"{store_path} (kept across restarts)"
        else:
            store = ContextReferenceStore()
            where = "memory (lost when the service stops)"
        stack.callback(store.close)
        try:
            from crs.service._app import create_app
        except ImportError as exc:
            raise ConfigError(
                f"crs serve needs the service extra ({exc})",
                hint="pip install 'pytest-crs[service]'",
            ) from exc
        app = create_app(llm_runner(client), store=store, max_concurrency=max_concurrency)
        yield ServeSetup(app=app, model=model, backend=backend, store=where)

"""The ``crs`` command line.

``crs demo`` is the README's first command: a tool agent run live against the sandbox,
recorded, replayed with the sandbox stopped, and replayed again under injected 429s and a read
timeout — retried on virtual time. It needs the ``demo`` extra, and it is the one place ``crs``
reaches into :mod:`pytest_crs` (its fault injection, which does not need pytest), lazily.

``crs tour`` shows the store's behaviour (references, dedup, expiry, eviction, exact
round-trips) on a :class:`~crs.clock.VirtualClock`, so a 61-second TTL expires instantly and the
output is the same on every run. ``crs sandbox`` and ``crs serve`` run the loopback sandbox and
the agent service.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import socket
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from crs.cassette._cli import cassette
from crs.clock import VirtualClock
from crs.errors import ContextEvictedError, ContextExpiredError
from crs.store import ContextReferenceStore

__all__ = ["main"]

_WORDS = (
    "agent",
    "tool",
    "call",
    "retry",
    "backoff",
    "timeout",
    "context",
    "reference",
    "store",
    "cache",
    "eviction",
    "token",
    "prompt",
    "response",
    "latency",
    "budget",
    "request",
    "payload",
    "schema",
    "webhook",
    "queue",
    "worker",
    "session",
    "credential",
    "refresh",
    "expiry",
    "replay",
    "cassette",
    "fault",
    "sandbox",
    "trace",
    "span",
    "metric",
)
_LABELS = ("bug", "enhancement", "flaky", "needs-triage", "performance", "docs", "good first")
_USERS = ("octocat", "hubot", "monalisa", "defunkt", "mojombo", "pjhyett")


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[:1].upper() + text[1:] + "."


def _issue(number: int) -> dict[str, Any]:
    """A GitHub-issue-shaped tool result of roughly 2 KB, the same for the same ``number``.

    Seeding per issue keeps the demo's output stable across runs and across ``--items`` values.
    """
    rng = random.Random(number)
    return {
        "tool": "GITHUB_GET_ISSUE",
        "successful": True,
        "data": {
            "number": number,
            "title": _sentence(rng, 6),
            "state": rng.choice(("open", "closed")),
            "user": {"login": rng.choice(_USERS), "id": rng.randrange(1_000, 99_999)},
            "labels": sorted(rng.sample(_LABELS, k=2)),
            "created_at": f"2024-05-{1 + number % 28:02d}T{number % 24:02d}:00:00Z",
            "body": " ".join(_sentence(rng, 12) for _ in range(8)),
            "comments": [
                {
                    "user": rng.choice(_USERS),
                    "body": _sentence(rng, 15),
                    "reactions": rng.randrange(9),
                }
                for _ in range(6)
            ],
        },
    }


def _short(ref: str) -> str:
    return ref if len(ref) <= 28 else f"{ref[:25]}..."


def _stats_rows(stats: Mapping[str, object], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in stats.items():
        if isinstance(value, Mapping):
            rows.extend(_stats_rows(value, prefix=f"{prefix}{key}."))
        elif isinstance(value, float):
            rows.append((f"{prefix}{key}", f"{value:.3f}"))
        else:
            rows.append((f"{prefix}{key}", str(value)))
    return rows


@click.group(name="crs", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pytest-crs", prog_name="crs")
def main() -> None:
    """pytest-crs: a Context Reference Store and test harness for tool-using AI agents."""


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("crs-demo"),
    show_default=True,
    help="Directory the recorded cassette is written to.",
)
def demo(out: Path) -> None:
    """An agent live, recorded, replayed offline, then replayed under faults on virtual time."""
    try:
        from pytest_crs._demo import render, run_demo
    except ImportError as exc:
        raise click.ClickException(
            f"the demo needs the sandbox, openai, vcrpy and composio-core ({exc}); "
            "install them with: pip install 'pytest-crs[demo]'"
        ) from None
    from rich.console import Console

    console = Console()
    report = run_demo(out, progress=lambda message: console.print(f"[bold]{message}[/bold]"))
    render(report, console)
    if not report.consistent:
        raise click.ClickException("the three runs did not reach the same answer")


@main.command()
@click.option(
    "--items",
    type=click.IntRange(min=2, max=10_000),
    default=6,
    show_default=True,
    help="How many tool results to store; the cache holds one more.",
)
def tour(items: int) -> None:
    """Tour the store on a virtual clock: dedup, expiry, eviction, stats."""
    clock = VirtualClock()
    cache_size = items + 1
    with ContextReferenceStore(cache_size=cache_size, eviction_policy="LRU", clock=clock) as store:
        click.echo(f"1. Store {items} GitHub-issue tool results (cache_size={cache_size}, LRU):")
        issues = [_issue(1000 + i) for i in range(items)]
        refs = [_store_issue(store, issue) for issue in issues]
        _show_dedup(store, issues[0], refs[0])
        _show_round_trip(store, issues[1], refs[1])
        _show_expiry(store, clock)
        _show_eviction(store, refs, cache_size)
        click.echo("\n6. get_cache_stats():")
        rows = _stats_rows(store.get_cache_stats())
        width = max(len(key) for key, _ in rows)
        for key, value in rows:
            click.echo(f"   {key:<{width}}  {value}")


def _store_issue(store: ContextReferenceStore, issue: dict[str, Any]) -> str:
    ref = store.store(issue, metadata={"tags": ["github"]})
    size = len(json.dumps(issue))
    click.echo(f"   #{issue['data']['number']}  {size:>5} bytes of JSON -> {_short(ref)}")
    return ref


def _show_dedup(store: ContextReferenceStore, issue: dict[str, Any], ref: str) -> None:
    click.echo("\n2. Dedup: storing the same content again returns the same reference.")
    again = store.store(issue, metadata={"tags": ["again"]})
    meta = store.get_metadata(again)
    click.echo(
        f"   same reference: {again == ref}; holders: {meta.holders}; "
        f"tags merged: {sorted(meta.tags)}"
    )


def _show_round_trip(store: ContextReferenceStore, issue: dict[str, Any], ref: str) -> None:
    click.echo("\n3. Round-trip: retrieve() gives back an equal, fresh object.")
    back = store.retrieve(ref)
    click.echo(f"   equal: {back == issue}; same object: {back is issue}")


def _show_expiry(store: ContextReferenceStore, clock: VirtualClock) -> None:
    click.echo("\n4. Expiry: a note stored with ttl=60 s, then the virtual clock moves 61 s.")
    note = {"note": "GITHUB rate limit hit; retry after 30 s", "attempt": 3}
    ref = store.store(note, metadata={"ttl": 60, "tags": ["session", "scratch"]})
    clock.advance(61)
    try:
        store.retrieve(ref)
    except ContextExpiredError as exc:
        click.echo(f"   retrieve() raised ContextExpiredError (expired): {exc.message}")
    else:
        raise click.ClickException("the note should have expired")


def _show_eviction(store: ContextReferenceStore, refs: list[str], cache_size: int) -> None:
    click.echo(f"\n5. Eviction: past cache_size={cache_size}, the least recently used item goes.")
    number = 1000 + len(refs)
    while _capacity_evictions(store) == 0 and number < 1000 + 2 * cache_size:
        store.store(_issue(number), metadata={"tags": ["github"]})
        number += 1
    click.echo(f"   stored {number - 1000 - len(refs)} more issue(s)")
    for issue_number, ref in enumerate(refs, start=1000):
        try:
            store.retrieve(ref)
        except ContextEvictedError as exc:
            click.echo(
                f"   #{issue_number}: retrieve() raised ContextEvictedError (evicted): "
                f"{exc.message}"
            )


def _capacity_evictions(store: ContextReferenceStore) -> int:
    evictions = store.get_cache_stats()["evictions"]
    return int(evictions["capacity"])


main.add_command(cassette)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="A loopback address.")
@click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    default=8765,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option("--api-key", default=None, help="Key clients must send (default: sk-crs-sandbox).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the default model.")
def sandbox(host: str, port: int, api_key: str | None, seed: int) -> None:
    """Serve the OpenAI and Composio APIs on loopback until interrupted (Ctrl-C)."""
    try:
        from crs.sandbox import DEFAULT_API_KEY, Sandbox
    except ImportError as exc:
        raise click.ClickException(
            f"the sandbox needs the sandbox extra ({exc}): pip install 'pytest-crs[sandbox]'"
        ) from exc
    from crs.errors import CrsError

    try:
        server = Sandbox(host=host, port=port, api_key=api_key or DEFAULT_API_KEY, seed=seed)
        server.start()
    except CrsError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        click.echo(f"crs sandbox listening on {server.url}")
        click.echo(f"  OPENAI_BASE_URL={server.openai_base_url}")
        click.echo(f"  COMPOSIO_BASE_URL={server.composio_core_base_url}   (composio-core 0.7)")
        click.echo(f"  COMPOSIO_BASE_URL={server.composio_base_url}   (composio >= 0.8)")
        shown = server.api_key if api_key is None else "the one given with --api-key"
        click.echo(f"  API key: {shown}")
        click.echo(f"  control API: {server.url}/_sandbox/  (faults, scripts, accounts, reset)")
        click.echo("Press Ctrl-C to stop.", nl=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        server.stop()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    default=8000,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option("--model", default="gpt-4o-mini", show_default=True, help="Model each task goes to.")
@click.option(
    "--sandbox",
    "use_sandbox",
    is_flag=True,
    help="Start a crs sandbox and send model calls there: offline, no API key needed.",
)
@click.option(
    "--store-path",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep tasks in a disk-backed store in this directory (they survive restarts).",
)
@click.option(
    "--redis-url",
    envvar="CRS_REDIS_URL",
    default=None,
    help="Keep tasks in Redis, shared by every process on the URL [env: CRS_REDIS_URL].",
)
@click.option(
    "--max-concurrency",
    type=click.IntRange(min=1, max=256),
    default=4,
    show_default=True,
    help="Tasks running at once.",
)
def serve(
    host: str,
    port: int,
    model: str,
    use_sandbox: bool,
    store_path: Path | None,
    redis_url: str | None,
    max_concurrency: int,
) -> None:
    """Serve the agent API (POST /agent/run, /agent/run-async, GET /agent/status/ID).

    Without --sandbox, tasks go to OpenAI with OPENAI_API_KEY (and OPENAI_BASE_URL if set).
    Stop with Ctrl-C; background tasks still pending are then recorded as failed.
    """
    try:
        import uvicorn

        from crs.service._serve import serve_setup
    except ImportError as exc:
        raise click.ClickException(
            f"crs serve needs the service extra ({exc}): pip install 'pytest-crs[service]'"
        ) from exc
    from crs.errors import CrsError

    try:
        with serve_setup(
            model=model,
            sandbox=use_sandbox,
            store_path=store_path,
            redis_url=redis_url,
            environ=os.environ,
            max_concurrency=max_concurrency,
        ) as setup:
            sock = _listen(host, port)
            try:
                url = _url(host, sock.getsockname()[1])
                click.echo(f"crs agent service listening on {url}")
                click.echo(f"  model: {setup.model} via {setup.backend}")
                click.echo(f"  tasks kept in: {setup.store}")
                click.echo(
                    f"  try: curl -s {url}/agent/run -H 'content-type: application/json' "
                    """-d '{"task": "Say hello"}'"""
                )
                click.echo(f"  API docs: {url}/docs")
                if not _is_loopback(host):
                    click.echo(
                        "  warning: the service has no authentication and is reachable beyond "
                        "this machine",
                        err=True,
                    )
                click.echo("Press Ctrl-C to stop.")
                config = uvicorn.Config(
                    setup.app, log_level="warning", access_log=False, lifespan="on"
                )
                # uvicorn shuts down gracefully on Ctrl-C, then raises it again.
                with contextlib.suppress(KeyboardInterrupt):
                    uvicorn.Server(config).run(sockets=[sock])
            finally:
                sock.close()
            click.echo("stopped")
    except CrsError as exc:
        raise click.ClickException(str(exc)) from exc


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound before uvicorn starts so the banner can name the real port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror} (pick another --port, or 0)"
        ) from exc
    return sock


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"

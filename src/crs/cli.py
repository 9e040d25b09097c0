"""The ``crs`` command line.

``crs demo`` exists so that someone who has just installed the package can see the store's
behaviour (references, dedup, expiry, eviction, exact round-trips) in one run, without writing
code or waiting: the demo runs on a :class:`~crs.clock.VirtualClock`, so a 61-second TTL expires
instantly and the output is the same on every run.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Mapping
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
    "--items",
    type=click.IntRange(min=2, max=10_000),
    default=6,
    show_default=True,
    help="How many tool results to store; the cache holds one more.",
)
def demo(items: int) -> None:
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

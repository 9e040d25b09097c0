"""What the Composio adapter's bookkeeping costs per tool call, against calling the backend bare.

Every execution through the adapter stores an intent and a record (chained behind head
slots), resolves a retry policy and builds an ``Execution``. This measures that cost three ways,
each against a floor measured in the same run:

* a no-op Python tool (``CallableBackend``): the adapter's whole overhead, on a memory-only store
  and on a disk-backed one (the journal is written through to SQLite);
* a real tool call through the installed Composio SDK against the sandbox (``--sdk``), where the
  HTTP round trips dominate and the overhead should nearly vanish;
* a response-cache hit against a backend call.

    python benchmarks/adapter_bench.py                 # 2000 calls per case
    python benchmarks/adapter_bench.py --sdk           # also through the Composio SDK
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from crs import ContextReferenceStore
from crs.tools import CallableBackend, ComposioAdapter, ResponseCache, ToolBackend


def per_call_us(fn: Callable[[], object], calls: int, repeats: int) -> float:
    """Median over ``repeats`` of the mean microseconds per call."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(samples)


def report(label: str, measured: float, floor: float) -> None:
    print(f"{label}: {measured:8.1f} us/call vs {floor:8.1f} us floor  ({measured / floor:5.1f}x)")


def python_tool(calls: int, repeats: int) -> None:
    backend = CallableBackend({"get_item": lambda item: {"item": item}})
    floor = per_call_us(
        lambda: backend.execute("get_item", {"item": 1}, user_id="u"), calls, repeats
    )

    def through(store: ContextReferenceStore, cache: ResponseCache | None = None) -> float:
        adapter = ComposioAdapter(store, backend, cache=cache)
        adapter.execute_tool_with_context("py", "get_item", {"item": 1}, "u")  # warm a cache
        return per_call_us(
            lambda: adapter.execute_tool_with_context("py", "get_item", {"item": 1}, "u"),
            calls,
            repeats,
        )

    with ContextReferenceStore() as store:
        report("python tool, memory store", through(store), floor)
    with (
        tempfile.TemporaryDirectory() as tmp,
        ContextReferenceStore(use_disk_storage=True, disk_path=Path(tmp)) as store,
    ):
        report("python tool, disk store  ", through(store), floor)
    with ContextReferenceStore() as store:
        report("cache hit                ", through(store, ResponseCache(["get_item"])), floor)


def composio_sdk(calls: int, repeats: int) -> None:
    from crs.sandbox import Sandbox

    with Sandbox() as sandbox, ContextReferenceStore() as store:
        backend: ToolBackend = sandbox.tool_backend()
        params = {"owner": "acme", "repo": "api"}
        slug = "GITHUB_LIST_REPOSITORY_ISSUES"
        backend.execute(slug, params, user_id="default")  # warm the SDK's schema caches
        floor = per_call_us(
            lambda: backend.execute(slug, params, user_id="default"), calls, repeats
        )
        adapter = ComposioAdapter(store, backend)
        run = per_call_us(
            lambda: adapter.execute_tool_with_context("github", slug, params, "default"),
            calls,
            repeats,
        )
        report(f"{backend.name} via sandbox", run, floor)
        sandbox.close_clients()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--sdk-calls", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sdk", action="store_true", help="also measure through the Composio SDK")
    args = parser.parse_args(argv)
    python_tool(args.calls, args.repeats)
    if args.sdk:
        composio_sdk(args.sdk_calls, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())

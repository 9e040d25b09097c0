"""Throughput and memory of ContextReferenceStore against the floor it cannot go below.

For each N, the store is filled with N distinct ~2 KB nested-JSON tool results and then every
reference is retrieved in random order. The *floor* is the work any exact, deduplicating,
compressing store must do, timed in the same run on the same documents: JSON encode + UTF-8 +
BLAKE2b + lz4 + a dict insert to store; a dict lookup + lz4 + UTF-8 + JSON decode to retrieve.

Targets (issue 2): store per-op cost at 20k <= 1.3x at 1k; store <= 3x floor; retrieve <= 2x floor;
memory <= compressed size + 250 B per entry.

    python benchmarks/store_bench.py            # 1k, 5k, 20k
    python benchmarks/store_bench.py --check    # exit 1 if a target is missed
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import logging
import random
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import lz4.block

from crs import ContextReferenceStore

_APPS = ("github", "slack", "gmail", "linear", "notion", "jira")
_WORDS = [
    "agent",
    "tool",
    "retry",
    "backoff",
    "context",
    "store",
    "cache",
    "token",
    "prompt",
    "latency",
    "budget",
    "schema",
]


def tool_result(i: int, rng: random.Random) -> dict[str, Any]:
    """A GitHub-search-like tool result of about 2 KB, unique per ``i``."""
    items = [
        {
            "id": i * 100 + k,
            "number": rng.randint(1, 99_999),
            "title": " ".join(rng.choice(_WORDS) for _ in range(6)),
            "state": rng.choice(("open", "closed")),
            "labels": [{"name": rng.choice(_WORDS), "color": f"{rng.randrange(16**6):06x}"}],
            "user": {"login": f"user{rng.randint(1, 500)}", "site_admin": False},
            "comments": rng.randint(0, 40),
            "score": round(rng.random(), 6),
            "url": f"https://api.example.invalid/repos/acme/{rng.choice(_WORDS)}/issues/{k}",
        }
        for k in range(6)
    ]
    return {
        "successful": True,
        "error": None,
        "data": {"app": rng.choice(_APPS), "request_id": f"req-{i:08d}", "items": items},
    }


@dataclass
class Row:
    n: int
    store_us: float
    retrieve_us: float
    floor_store_us: float
    floor_retrieve_us: float


def _best(fn: Callable[[], float], repeats: int) -> float:
    return min(fn() for _ in range(repeats))


def _fill(docs: Sequence[dict[str, Any]]) -> tuple[float, ContextReferenceStore, list[str]]:
    store = ContextReferenceStore(cache_size=len(docs))
    refs: list[str] = []
    append, put = refs.append, store.store
    gc.collect()
    start = time.perf_counter()
    for doc in docs:
        append(put(doc))
    return time.perf_counter() - start, store, refs


def _time_retrieve(store: ContextReferenceStore, refs: list[str], order: list[int]) -> float:
    get = store.retrieve
    start = time.perf_counter()
    for index in order:
        get(refs[index])
    return time.perf_counter() - start


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _floor_store(docs: Sequence[dict[str, Any]]) -> tuple[float, dict[bytes, bytes]]:
    table: dict[bytes, bytes] = {}
    encode, blake2b, compress = _ENCODER.encode, hashlib.blake2b, lz4.block.compress
    gc.collect()
    start = time.perf_counter()
    for doc in docs:
        raw = encode(doc).encode("utf-8", "surrogatepass")
        table[blake2b(raw, digest_size=16).digest()] = compress(raw)
    return time.perf_counter() - start, table


def _floor_retrieve(table: dict[bytes, bytes], keys: list[bytes]) -> float:
    loads, decompress = json.loads, lz4.block.decompress
    start = time.perf_counter()
    for key in keys:
        loads(decompress(table[key]).decode("utf-8"))
    return time.perf_counter() - start


def measure(n: int, rng: random.Random, repeats: int) -> Row:
    docs = [tool_result(i, rng) for i in range(n)]
    order = list(range(n))
    rng.shuffle(order)

    fills = [_fill(docs) for _ in range(repeats)]
    store_s = min(elapsed for elapsed, _, _ in fills)
    for _, spare, _ in fills[1:]:
        spare.close()
    _, store, refs = fills[0]
    del fills
    retrieve_s = _best(lambda: _time_retrieve(store, refs, order), repeats)
    store.close()

    floor_store_s = _best(lambda: _floor_store(docs)[0], repeats)
    _, table = _floor_store(docs)
    keys = list(table)
    shuffled = [keys[i] for i in order]
    floor_retrieve_s = _best(lambda: _floor_retrieve(table, shuffled), repeats)
    micro = 1e6 / n
    return Row(
        n,
        store_s * micro,
        retrieve_s * micro,
        floor_store_s * micro,
        floor_retrieve_s * micro,
    )


def eviction_cost(n: int, cache: int, rng: random.Random) -> dict[str, float]:
    """Microseconds per store() while every insert evicts, for each policy."""
    docs = [tool_result(i, rng) for i in range(n)]
    costs = {}
    for policy in ("LRU", "LFU", "TTL", "memory_pressure"):
        with ContextReferenceStore(cache_size=cache, eviction_policy=policy) as store:
            start = time.perf_counter()
            for doc in docs:
                store.store(doc, {"ttl": 3600} if policy == "TTL" else None)
            costs[policy] = (time.perf_counter() - start) * 1e6 / n
    return costs


def memory_per_entry(n: int, rng: random.Random) -> tuple[float, float, float]:
    """(bytes held per entry, compressed bytes per entry, raw bytes per entry)."""
    docs = [tool_result(i, rng) for i in range(n)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    store = ContextReferenceStore(cache_size=n)
    for doc in docs:
        store.store(doc)  # the returned reference belongs to the caller, not the store
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    stats = store.get_cache_stats()
    store.close()
    return held / n, stats["bytes_stored"] / n, stats["bytes_raw"] / n


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 5_000, 20_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    rng = random.Random(20261122)

    rows = [measure(n, rng, args.repeats) for n in args.sizes]
    print(
        f"{'N':>7} {'store ops/s':>12} {'us/op':>7} {'floor us':>8} {'x floor':>7} "
        f"{'retrieve ops/s':>14} {'us/op':>7} {'floor us':>8} {'x floor':>7}"
    )
    for row in rows:
        print(
            f"{row.n:>7} {1e6 / row.store_us:>12,.0f} {row.store_us:>7.2f} "
            f"{row.floor_store_us:>8.2f} {row.store_us / row.floor_store_us:>7.2f} "
            f"{1e6 / row.retrieve_us:>14,.0f} {row.retrieve_us:>7.2f} "
            f"{row.floor_retrieve_us:>8.2f} {row.retrieve_us / row.floor_retrieve_us:>7.2f}"
        )
    first, last = rows[0], rows[-1]
    growth = last.store_us / first.store_us
    store_x = max(r.store_us / r.floor_store_us for r in rows)
    retrieve_x = max(r.retrieve_us / r.floor_retrieve_us for r in rows)

    held, compressed, raw = memory_per_entry(last.n, rng)
    overhead = held - compressed
    print(
        f"\nmemory at N={last.n}: {held:,.0f} B/entry held, {compressed:,.0f} B compressed "
        f"({raw:,.0f} B raw) -> overhead {overhead:,.0f} B/entry"
    )

    cache = max(1, last.n // 20)
    logging.getLogger("crs.store").setLevel(logging.ERROR)  # the eviction warning is expected
    costs = eviction_cost(last.n, cache, rng)
    print(f"\nstore while evicting (N={last.n}, cache_size={cache}), us/op and x floor:")
    for policy, cost in costs.items():
        print(f"  {policy:<16} {cost:>7.2f}  {cost / last.floor_store_us:>5.2f}x")

    checks = [
        (f"store cost at {last.n} vs {first.n}", growth, 1.3),
        ("store vs floor (worst N)", store_x, 3.0),
        ("retrieve vs floor (worst N)", retrieve_x, 2.0),
    ]
    print()
    failed = False
    for label, value, limit in checks:
        ok = value <= limit
        failed |= not ok
        print(f"{'PASS' if ok else 'FAIL'}  {label}: {value:.2f}x (target <= {limit}x)")
    ok = overhead <= 250
    failed |= not ok
    print(f"{'PASS' if ok else 'FAIL'}  memory overhead: {overhead:.0f} B/entry (target <= 250 B)")
    return 1 if failed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())

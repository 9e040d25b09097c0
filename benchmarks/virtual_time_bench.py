"""What a virtual-time retry scenario costs, against the same code retrying with no wait at all.

Each scenario is one full retry sequence: ``attempts`` calls ``backoff`` seconds apart (ten
calls, sixty seconds: 540 s of sleeping) through a third-party retry loop, run inside
``crs.virtual_time()`` (entering and leaving the block included). Its *floor* is the same code
in the same run with the wait set to zero and no virtual time: the retry loop's own work, which
no way of skipping sleeps can go below. The floor still makes its zero-length real sleeps (each
a syscall, tens of microseconds), so a virtual run can come out *below* 1x its floor.

* tenacity sync: ``@retry(stop=stop_after_attempt(n), wait=wait_fixed(backoff))``
* tenacity async: the same on a coroutine, under ``asyncio.run``
* openai sync / async: the SDK's built-in retries against an ``httpx2.MockTransport`` answering
  429 with ``retry-after: <backoff>`` (floor: ``retry-after-ms: 0.001``, the smallest wait the
  SDK honours), ``max_retries = attempts - 1``

Target (issue 7): every scenario well under 0.2 s of wall time.

    python benchmarks/virtual_time_bench.py            # 10 attempts, 60 s apart
    python benchmarks/virtual_time_bench.py --check    # exit 1 if a target is missed
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
import openai
import tenacity

from crs import VirtualClock
from crs._virtual_time import virtual_time

TARGET_S = 0.2


class _AlwaysFails(Exception):
    pass


def _tenacity_sync(attempts: int, backoff: float) -> Callable[[], None]:
    @tenacity.retry(stop=tenacity.stop_after_attempt(attempts), wait=tenacity.wait_fixed(backoff))
    def call() -> None:
        raise _AlwaysFails

    def scenario() -> None:
        with contextlib.suppress(tenacity.RetryError):
            call()

    return scenario


def _tenacity_async(attempts: int, backoff: float) -> Callable[[], None]:
    @tenacity.retry(stop=tenacity.stop_after_attempt(attempts), wait=tenacity.wait_fixed(backoff))
    async def call() -> None:
        raise _AlwaysFails

    async def main() -> None:
        with contextlib.suppress(tenacity.RetryError):
            await call()

    return lambda: asyncio.run(main())


def _rate_limited(attempts: int, headers: dict[str, str]) -> Callable[[httpx2.Request], Any]:
    calls = [0]

    def handler(_request: httpx2.Request) -> httpx2.Response:
        calls[0] += 1
        if calls[0] % attempts:
            return httpx2.Response(429, headers=headers, json={"error": {"message": "slow"}})
        return httpx2.Response(200, json={"object": "list", "data": []})

    return handler


def _retry_headers(backoff: float) -> dict[str, str]:
    return {"retry-after": f"{backoff:g}"} if backoff else {"retry-after-ms": "0.001"}


def _openai_sync(attempts: int, backoff: float) -> Callable[[], None]:
    client = openai.OpenAI(
        base_url="http://127.0.0.1:9/v1",
        api_key="sk-test",
        max_retries=attempts - 1,
        http_client=httpx2.Client(
            transport=httpx2.MockTransport(_rate_limited(attempts, _retry_headers(backoff)))
        ),
    )

    def scenario() -> None:
        client.models.list()

    return scenario


def _openai_async(attempts: int, backoff: float) -> Callable[[], None]:
    handler = _rate_limited(attempts, _retry_headers(backoff))

    async def main() -> None:
        async with openai.AsyncOpenAI(
            base_url="http://127.0.0.1:9/v1",
            api_key="sk-test",
            max_retries=attempts - 1,
            http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
        ) as client:
            await client.models.list()

    return lambda: asyncio.run(main())


SCENARIOS: dict[str, Callable[[int, float], Callable[[], None]]] = {
    "tenacity sync": _tenacity_sync,
    "tenacity async": _tenacity_async,
    "openai sync (429 retry-after)": _openai_sync,
    "openai async (429 retry-after)": _openai_async,
}


@dataclass
class Row:
    label: str
    wall_s: float
    floor_s: float
    slept_s: float
    sleeps: int


def _virtual_run(scenario: Callable[[], None]) -> tuple[float, VirtualClock]:
    clock = VirtualClock()
    start = time.perf_counter()
    with virtual_time(clock):
        scenario()
    return time.perf_counter() - start, clock


def _floor_run(scenario: Callable[[], None]) -> float:
    start = time.perf_counter()
    scenario()
    return time.perf_counter() - start


def measure(label: str, attempts: int, backoff: float, repeats: int) -> Row:
    build = SCENARIOS[label]
    virtual, floor = build(attempts, backoff), build(attempts, 0.0)
    _virtual_run(virtual)  # warm up (pydantic models, the SDK's platform probe), on virtual time:
    _floor_run(floor)  # outside the block its 60 s sleeps would be real
    runs = [_virtual_run(virtual) for _ in range(repeats)]
    wall, clock = min(runs, key=lambda run: run[0])
    floor_s = min(_floor_run(floor) for _ in range(repeats))
    return Row(label, wall, floor_s, clock.total_slept, len(clock.sleeps))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=10)
    parser.add_argument("--backoff", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    rows = [measure(label, args.attempts, args.backoff, args.repeats) for label in SCENARIOS]
    print(
        f"{args.attempts} attempts, {args.backoff:g} s backoff; best of {args.repeats}\n"
        f"{'scenario':<32} {'virtual':>9} {'wall ms':>9} {'floor ms':>9} {'x floor':>8} "
        f"{'speed-up':>10}"
    )
    failed = False
    for row in rows:
        print(
            f"{row.label:<32} {row.slept_s:>7.0f} s {row.wall_s * 1e3:>9.2f} "
            f"{row.floor_s * 1e3:>9.2f} {row.wall_s / row.floor_s:>8.2f} "
            f"{row.slept_s / row.wall_s:>9,.0f}x"
        )
    print()
    for row in rows:
        ok = row.wall_s < TARGET_S and row.sleeps == args.attempts - 1
        failed |= not ok
        print(
            f"{'PASS' if ok else 'FAIL'}  {row.label}: {row.wall_s * 1e3:.2f} ms wall for "
            f"{row.sleeps} virtual sleeps (target < {TARGET_S * 1e3:.0f} ms)"
        )
    return 1 if failed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())

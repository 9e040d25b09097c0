"""How fast the sandbox starts, stops and answers, against the server stack it runs on.

* start / stop: wall time from ``Sandbox().start()`` until it serves, and for ``stop()``.
  Target (issue 4): start well under a second (<= 0.5 s), stop <= 0.5 s.
* per-request cost of a chat completion with tools, a streamed completion and a Composio tool
  execution, over one keep-alive ``httpx.Client``. The *floor* is the same uvicorn + Starlette
  stack in the same run answering a canned chat completion from a constant: the cost of HTTP
  itself, which the sandbox cannot go below. Target: every endpoint <= 4x floor.

    python benchmarks/sandbox_bench.py            # 300 requests per endpoint
    python benchmarks/sandbox_bench.py --check    # exit 1 if a target is missed
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crs.sandbox import Sandbox
from crs.sandbox import _server as server_module

_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "create_issue",
            "parameters": {
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "labels": {"type": "array", "items": {"type": "string"}},
                    "priority": {"type": "integer", "minimum": 1, "maximum": 5},
                },
                "required": ["title"],
            },
        },
    }
]
_CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "file it"}], "tools": _TOOLS}
_CANNED = {
    "id": "chatcmpl-0",
    "object": "chat.completion",
    "created": 0,
    "model": "gpt-4o",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


def _floor_app(_state: Any) -> Starlette:
    async def canned(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse(_CANNED)

    return Starlette(routes=[Route("/v1/chat/completions", canned, methods=["POST"])])


def _per_request_us(send: Callable[[], object], count: int) -> float:
    for _ in range(min(20, count)):
        send()
    started = time.perf_counter()
    for _ in range(count):
        send()
    return (time.perf_counter() - started) / count * 1e6


def _lifecycle(repeats: int) -> tuple[float, float]:
    starts, stops = [], []
    for _ in range(repeats):
        sandbox = Sandbox()
        began = time.perf_counter()
        sandbox.start()
        starts.append(time.perf_counter() - began)
        began = time.perf_counter()
        sandbox.stop()
        stops.append(time.perf_counter() - began)
    return statistics.median(starts), statistics.median(stops)


def _floor_us(count: int) -> float:
    original = server_module.build_app
    server_module.build_app = _floor_app  # type: ignore[assignment]
    try:
        with Sandbox() as floor, httpx.Client(base_url=floor.url) as client:
            return _per_request_us(lambda: client.post("/v1/chat/completions", json=_CHAT), count)
    finally:
        server_module.build_app = original


def _endpoints_us(count: int) -> dict[str, float]:
    with Sandbox() as sandbox, httpx.Client(base_url=sandbox.url) as client:
        bearer = {"authorization": f"Bearer {sandbox.api_key}"}
        key = {"x-api-key": sandbox.api_key}
        execute = {
            "user_id": "default",
            "version": "latest",
            "arguments": {"channel": "general", "markdown_text": "deploy finished"},
        }

        def chat() -> None:
            client.post("/v1/chat/completions", json=_CHAT, headers=bearer).raise_for_status()

        def stream() -> None:
            with client.stream(
                "POST", "/v1/chat/completions", json={**_CHAT, "stream": True}, headers=bearer
            ) as response:
                response.raise_for_status()
                for _ in response.iter_lines():
                    pass

        def tool() -> None:
            response = client.post(
                "/api/v3.1/tools/execute/SLACK_SEND_MESSAGE", json=execute, headers=key
            )
            response.raise_for_status()
            sandbox.state.requests.clear()

        results = {}
        for label, send in (("chat completion", chat), ("streamed completion", stream),
                            ("composio execute", tool)):
            results[label] = _per_request_us(send, count)
            sandbox.reset()
        return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per endpoint")
    parser.add_argument("--repeats", type=int, default=5, help="start/stop cycles")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    start, stop = _lifecycle(args.repeats)
    floor = _floor_us(args.requests)
    endpoints = _endpoints_us(args.requests)

    print(f"start  {start * 1000:7.1f} ms (median of {args.repeats})")
    print(f"stop   {stop * 1000:7.1f} ms")
    print(f"\nper request, us and x floor ({floor:.0f} us: same server stack, canned answer):")
    for label, cost in endpoints.items():
        print(f"  {label:<20} {cost:8.0f}  {cost / floor:5.2f}x")
    checks = [
        ("start", start, 0.5, "s"),
        ("stop", stop, 0.5, "s"),
        *((f"{label} vs floor", cost / floor, 4.0, "x") for label, cost in endpoints.items()),
    ]
    print()
    ok = True
    for label, value, limit, unit in checks:
        passed = value <= limit
        ok &= passed
        verdict = "PASS" if passed else "FAIL"
        print(f"{verdict}  {label}: {value:.2f}{unit} (target <= {limit}{unit})")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())

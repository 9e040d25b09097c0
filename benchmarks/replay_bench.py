"""Replaying a 200-interaction cassette: our layer vs vcrpy as pytest-recording drives it.

The traffic is what an agent sends: chat-completion POSTs to one URL, each with its own body, and
their JSON answers. Three ways to serve it to an ``httpx2.Client`` (openai 3.x's transport), all
measured in this run; each replay includes loading its cassette file:

* **crs** — ``crs.cassette``: load the YAML cassette, match each request through the index;
* **vcrpy** — vcrpy 9.4 with pytest-recording's defaults (``record_mode="none"``, default
  ``match_on``), loading an equivalent vcrpy cassette;
* **floor** — an in-memory ``httpx2.MockTransport`` answering from a dict: the cost of the
  HTTP client itself, which no replayer can go below.

Target (issue 6): crs at least 3x faster than vcrpy/pytest-recording. Parsing YAML dominates a
first run; later runs read the parsed cassette from the parse cache (``.pytest_cache`` under
pytest), so both are reported.

    python benchmarks/replay_bench.py               # 200 interactions, 5 repeats
    python benchmarks/replay_bench.py --check       # exit 1 if the target is missed
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx2
import vcr
import vcr.serialize
import vcr.serializers.yamlserializer
from vcr.request import Request as VcrRequest

from crs.cassette._body import encode_body
from crs.cassette._cassette import Cassette
from crs.cassette._file import write_cassette
from crs.cassette._http import VcrBridge, intercepting

URL = "http://127.0.0.1:9/v1/chat/completions"  # nothing listens there: replay or fail


def traffic(n: int) -> list[tuple[bytes, bytes]]:
    """``n`` (request body, response body) pairs of chat-completion traffic."""
    pairs = []
    for i in range(n):
        request = {"model": "gpt-4o", "messages": [{"role": "user", "content": f"question {i}"}]}
        response = {
            "id": f"chatcmpl-{i}",
            "object": "chat.completion",
            "model": "gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": f"answer {i}"}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        }
        pairs.append(
            (
                json.dumps(request, separators=(",", ":")).encode(),
                json.dumps(response, separators=(",", ":")).encode(),
            )
        )
    return pairs


def write_crs(path: Path, pairs: list[tuple[bytes, bytes]]) -> None:
    interactions = [
        {
            "kind": "llm",
            "summary": f"gpt-4o chat #{i}",
            "request": {
                "method": "POST",
                "url": "http://loopback/v1/chat/completions",
                "headers": {"content-type": "application/json"},
                "body": encode_body(sent),
            },
            "response": {
                "status": 200,
                "headers": {"content-type": "application/json"},
                "body": encode_body(answer),
            },
        }
        for i, (sent, answer) in enumerate(pairs)
    ]
    write_cassette(path, {"format": "crs-cassette", "version": 1, "interactions": interactions})


def write_vcr(path: Path, pairs: list[tuple[bytes, bytes]]) -> None:
    requests = [
        VcrRequest("POST", URL, sent, {"content-type": "application/json"}) for sent, _ in pairs
    ]
    responses = [
        {
            "status": {"code": 200, "message": "OK"},
            "headers": {"content-type": ["application/json"]},
            "body": {"string": answer},
        }
        for _, answer in pairs
    ]
    text = vcr.serialize.serialize(
        {"requests": requests, "responses": responses}, vcr.serializers.yamlserializer
    )
    path.write_text(text)


def send_all(client: httpx2.Client, pairs: list[tuple[bytes, bytes]]) -> None:
    for sent, answer in pairs:
        reply = client.post(URL, content=sent, headers={"content-type": "application/json"})
        if reply.content != answer:
            raise AssertionError("replayed the wrong answer")


def replay_crs(
    client: httpx2.Client, path: Path, pairs: list[tuple[bytes, bytes]], cache: Path | None
) -> None:
    cassette = Cassette(path, parsed_cache=cache)
    with intercepting(VcrBridge(cassette)):
        send_all(client, pairs)
    if cassette.unplayed():
        raise AssertionError("crs left interactions unplayed")


def replay_vcr(client: httpx2.Client, path: Path, pairs: list[tuple[bytes, bytes]]) -> None:
    recorder = vcr.VCR(record_mode="none")  # pytest-recording's default configuration
    with recorder.use_cassette(str(path)) as cassette:
        send_all(client, pairs)
    if not cassette.all_played:
        raise AssertionError("vcrpy left interactions unplayed")


def replay_floor(client: httpx2.Client, pairs: list[tuple[bytes, bytes]]) -> None:
    send_all(client, pairs)


def seconds(run: Callable[[], Any], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if crs (parse cache warm) is < 3x vcrpy"
    )
    args = parser.parse_args(argv)
    pairs = traffic(args.interactions)
    answers = dict(pairs)
    mock = httpx2.MockTransport(
        lambda request: httpx2.Response(200, content=answers[request.content])
    )
    # One client per path, built before timing: creating an httpx2 client loads the system's CA
    # certificates (tens of ms), which is not replay work. Interception patches the transport
    # class, so a client built beforehand is intercepted all the same.
    with (
        tempfile.TemporaryDirectory() as tmp,
        httpx2.Client() as client,
        httpx2.Client(transport=mock) as mocked,
    ):
        ours, theirs = Path(tmp) / "crs.yaml", Path(tmp) / "vcr.yaml"
        write_crs(ours, pairs)
        write_vcr(theirs, pairs)
        cache = Path(tmp) / "parsed"
        cold = seconds(lambda: replay_crs(client, ours, pairs, None), args.repeats)
        replay_crs(client, ours, pairs, cache)  # fills the parse cache, as a first test run does
        warm = seconds(lambda: replay_crs(client, ours, pairs, cache), args.repeats)
        vcr_time = seconds(lambda: replay_vcr(client, theirs, pairs), args.repeats)
        floor_time = seconds(lambda: replay_floor(mocked, pairs), args.repeats)
    n = len(pairs)
    print(f"replay of {n} interactions, cassette loading included (median of {args.repeats}):")
    rows = (
        ("crs, YAML parsed (first run)", cold),
        ("crs, parse cache warm (later runs)", warm),
        ("vcrpy as pytest-recording runs it", vcr_time),
        ("in-memory mock transport (floor)", floor_time),
    )
    for label, took in rows:
        print(f"  {label:<36}: {took * 1000:7.1f} ms  ({took / n * 1e6:7.1f} us/request)")
    speedup, cold_speedup = vcr_time / warm, vcr_time / cold
    print(
        f"crs vs vcrpy: {cold_speedup:.1f}x faster on a first run, {speedup:.1f}x on later runs "
        "(target >= 3x)"
    )
    overhead = (warm - floor_time) / n * 1e6
    print(f"crs overhead over the mock transport: {overhead:.1f} us/request")
    return 1 if args.check and speedup < 3 else 0


if __name__ == "__main__":
    sys.exit(main())

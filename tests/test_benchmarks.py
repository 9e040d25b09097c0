"""The benchmark scripts keep working (tiny sizes; timing targets live in the scripts, not here)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def run_bench(name: str, argv: Sequence[str]) -> int:
    """Load ``benchmarks/<name>.py`` as a module and call its ``main(argv)``."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        return int(module.main(list(argv)))
    finally:
        del sys.modules[name]


def test_store_bench_runs_and_reports_every_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench("store_bench", ["--sizes", "50", "200", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for label in ("store cost at 200 vs 50", "store vs floor", "retrieve vs floor", "memory"):
        assert label in out
    assert "store while evicting" in out


def test_sandbox_bench_runs_and_reports_every_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench("sandbox_bench", ["--requests", "5", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for label in ("start:", "stop:", "chat completion vs floor", "streamed completion vs floor",
                  "composio execute vs floor"):
        assert label in out


def test_adapter_bench_runs_and_reports_every_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench("adapter_bench", ["--calls", "20", "--sdk-calls", "2", "--repeats", "1",
                                       "--sdk"]) == 0
    out = capsys.readouterr().out
    for label in ("python tool, memory store", "python tool, disk store", "cache hit",
                  "via sandbox"):
        assert label in out


def test_replay_bench_runs_and_reports_every_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench("replay_bench", ["--interactions", "10", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for label in ("YAML parsed", "parse cache warm", "vcrpy as pytest-recording", "floor",
                  "crs vs vcrpy"):
        assert label in out


def test_virtual_time_bench_runs_and_reports_every_scenario(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_bench("virtual_time_bench", ["--attempts", "3", "--backoff", "60",
                                            "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for label in ("tenacity sync", "tenacity async", "openai sync (429 retry-after)",
                  "openai async (429 retry-after)", "x floor", "target < 200 ms"):
        assert label in out

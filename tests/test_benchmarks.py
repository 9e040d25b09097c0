"""The benchmark scripts keep working (tiny sizes; timing targets live in the scripts, not here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def test_store_bench_runs_and_reports_every_target(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("store_bench", BENCHMARKS / "store_bench.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["store_bench"] = module
    try:
        spec.loader.exec_module(module)
        assert module.main(["--sizes", "50", "200", "--repeats", "1"]) == 0
    finally:
        del sys.modules["store_bench"]
    out = capsys.readouterr().out
    for label in ("store cost at 200 vs 50", "store vs floor", "retrieve vs floor", "memory"):
        assert label in out
    assert "store while evicting" in out

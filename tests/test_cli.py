"""The ``crs`` command line: version, help, and the store tour (the demo has tests/test_demo.py)."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
from click.testing import CliRunner

from crs.cli import main

STATS_KEYS = [
    "entries",
    "memory_entries",
    "disk_entries",
    "stores",
    "dedup_hits",
    "hits",
    "disk_hits",
    "misses",
    "hit_rate",
    "evictions",
    "dropped",
    "bytes_raw",
    "bytes_stored",
    "memory_bytes",
    "compression_ratio",
    "eviction_policy",
    "compression_algorithm",
]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_version_names_program_and_installed_version(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"crs, version {version('pytest-crs')}"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_demo_and_tour(runner: CliRunner, flag: str) -> None:
    result = runner.invoke(main, [flag])
    assert result.exit_code == 0
    assert "Usage: crs" in result.output
    assert "tour" in result.output
    assert "demo" in result.output


def test_tour_runs_and_reports(runner: CliRunner) -> None:
    result = runner.invoke(main, ["tour"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "same reference: True" in out
    assert "holders: 2" in out
    assert "equal: True; same object: False" in out
    assert "ContextExpiredError (expired)" in out
    assert "ContextEvictedError (evicted)" in out
    for word in ("dedup", "expired", "evicted"):
        assert word in out.lower()
    stats = out.split("get_cache_stats():", 1)[1]
    for key in STATS_KEYS:
        assert f"   {key}" in stats, key
    assert "evictions.capacity" in stats
    assert "LRU" in stats


def test_tour_output_is_deterministic(runner: CliRunner) -> None:
    first = runner.invoke(main, ["tour", "--items", "4"])
    second = runner.invoke(main, ["tour", "--items", "4"])
    assert first.exit_code == second.exit_code == 0
    assert first.output == second.output
    assert "Store 4 GitHub-issue tool results (cache_size=5, LRU)" in first.output


def test_tour_stats_table_is_aligned(runner: CliRunner) -> None:
    out = runner.invoke(main, ["tour"]).output
    rows = out.split("get_cache_stats():\n", 1)[1].splitlines()
    assert rows
    starts = set()
    for row in rows:
        match = re.fullmatch(r"   [a-z_.]+ +(\S.*)", row)
        assert match, row
        starts.add(match.start(1))
    assert len(starts) == 1


@pytest.mark.parametrize("items", ["0", "1", "many"])
def test_tour_rejects_bad_item_counts(runner: CliRunner, items: str) -> None:
    result = runner.invoke(main, ["tour", "--items", items])
    assert result.exit_code == 2
    assert "--items" in result.output

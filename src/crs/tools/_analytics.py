"""Performance figures computed from the execution history.

Latency figures (average and p95) cover executions that reached the backend: a cache hit takes
no time and would flatter the tool, so hits count towards totals, success rates and the cache
hit rate but not towards latency. The p95 is the nearest-rank percentile — an observed latency,
never an interpolation between two.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from crs.tools._execution import Execution
from crs.tools._selection import AppPerformance

__all__ = ["app_patterns", "app_performance", "performance", "summarise"]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of ``values`` (0.0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summarise(executions: Iterable[Execution]) -> dict[str, Any]:
    """Counts, success rate, latency and failure kinds of ``executions``."""
    items = list(executions)
    successful = sum(1 for e in items if e.successful)
    latencies = [e.latency_ms for e in items if not e.cached]
    failures = Counter(e.failure.kind.value for e in items if e.failure is not None)
    return {
        "total_executions": len(items),
        "successful_executions": successful,
        "failed_executions": len(items) - successful,
        "success_rate": successful / len(items) if items else 0.0,
        "avg_execution_time_ms": sum(latencies) / len(latencies) if latencies else 0.0,
        "p95_execution_time_ms": percentile(latencies, 0.95),
        "cached_executions": sum(1 for e in items if e.cached),
        "retries": sum(max(0, e.attempts - 1) for e in items),
        "error_types": dict(sorted(failures.items())),
    }


def performance(executions: Iterable[Execution]) -> dict[str, Any]:
    """The adapter-wide figures plus one summary per app and the most used app."""
    items = list(executions)
    by_app: dict[str, list[Execution]] = {}
    for execution in items:
        by_app.setdefault(execution.app, []).append(execution)
    usage = {app: len(runs) for app, runs in by_app.items()}
    return {
        **summarise(items),
        "app_usage_distribution": usage,
        "most_used_app": _most_used(usage),
        "apps": {app: summarise(runs) for app, runs in sorted(by_app.items())},
    }


def app_patterns(executions: Iterable[Execution]) -> dict[str, dict[str, Any]]:
    """How one user uses each app: count, share, success rate, last use; most used first."""
    items = list(executions)
    by_app: dict[str, list[Execution]] = {}
    for execution in items:
        by_app.setdefault(execution.app, []).append(execution)
    patterns: dict[str, dict[str, Any]] = {
        app: {
            "executions": len(runs),
            "share": len(runs) / len(items),
            "success_rate": sum(1 for e in runs if e.successful) / len(runs),
            "last_used_at": max(e.started_at for e in runs),
            "actions": dict(Counter(e.action for e in runs).most_common()),
        }
        for app, runs in by_app.items()
    }
    return dict(sorted(patterns.items(), key=lambda kv: (-kv[1]["executions"], kv[0])))


def _most_used(usage: dict[str, int]) -> str | None:
    if not usage:
        return None
    return min(usage, key=lambda app: (-usage[app], app))  # ties: alphabetical, deterministic


def app_performance(executions: Iterable[Execution]) -> dict[str, AppPerformance]:
    """Per app, what tool selection weighs: runs that reached the backend, success, latency."""
    by_app: dict[str, list[Execution]] = {}
    for execution in executions:
        if not execution.cached:
            by_app.setdefault(execution.app, []).append(execution)
    return {
        app: AppPerformance(
            executions=len(runs),
            success_rate=sum(1 for e in runs if e.successful) / len(runs),
            avg_latency_ms=sum(e.latency_ms for e in runs) / len(runs),
        )
        for app, runs in by_app.items()
    }

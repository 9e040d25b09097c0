"""pytest_crs: the pytest plugin for pytest-crs.

pytest loads :mod:`pytest_crs.plugin` through the ``pytest11`` entry point named ``crs``, so
installing the package is enough to get the fixtures (``crs_clock``, ``crs_store``,
``crs_vault``, ``crs_sandbox``, ``crs_tool_backend``, ``crs_adapter``, ``crs_cassette``,
``crs_faults``). Disable the plugin for one run with ``pytest -p no:crs``.

What tests import from here is the vocabulary of fault plans — targets (``llm``, ``tool``,
``http``), faults (``rate_limit``, ``timeout``, ...) and schedules (``fail``, ``succeed``) —
re-exported from :mod:`pytest_crs.faults`. Hypothesis strategies and ready-made properties live
in :mod:`pytest_crs.strategies` and :mod:`pytest_crs.properties`, imported on demand so that a
suite without Hypothesis does not pay for it.

This package imports :mod:`crs`; :mod:`crs` never imports this package or pytest.
"""

from __future__ import annotations

from pytest_crs.faults import (
    Fault,
    FaultPlan,
    InjectedFault,
    Schedule,
    Target,
    auth_expired,
    connection_reset,
    fail,
    http,
    latency,
    llm,
    rate_limit,
    server_error,
    stream_cut,
    succeed,
    timeout,
    tool,
    tool_failure,
)

__all__ = [
    "Fault",
    "FaultPlan",
    "InjectedFault",
    "Schedule",
    "Target",
    "auth_expired",
    "connection_reset",
    "fail",
    "http",
    "latency",
    "llm",
    "rate_limit",
    "server_error",
    "stream_cut",
    "succeed",
    "timeout",
    "tool",
    "tool_failure",
]

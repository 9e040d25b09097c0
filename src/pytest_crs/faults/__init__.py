"""Fault injection: break LLM calls, tool calls and any HTTP request on purpose.

The ``crs_faults`` fixture is a :class:`FaultPlan`. Rules pair a *target* (which attempts) with
a *schedule* of *faults* (what goes wrong, and when)::

    def test_backs_off(crs_faults, crs_clock):
        crs_faults.on(llm(model="gpt-4o*"), rate_limit(retry_after=2).times(2))
        crs_faults.on(tool("GMAIL_SEND_EMAIL"), fail(timeout("read")).then(succeed()))
        ...
        assert crs_faults.attempts(llm()) == 3
        assert crs_faults.duplicates == []

Faults take the exact wire form the real service uses, so the SDKs' own retry code reacts as in
production; they apply live, while recording and while replaying, and a faulted attempt never
reaches the network or the cassette. See the README's "Break it on purpose".
"""

from pytest_crs.faults._kinds import (
    Fault,
    FaultKind,
    auth_expired,
    connection_reset,
    latency,
    rate_limit,
    server_error,
    stream_cut,
    timeout,
    tool_failure,
)
from pytest_crs.faults._plan import Attempt, Duplicate, FaultPlan, Injection, Rule
from pytest_crs.faults._schedule import Schedule, fail, succeed
from pytest_crs.faults._targets import Target, http, llm, tool
from pytest_crs.faults._tools import InjectedFault

__all__ = [
    "Attempt",
    "Duplicate",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "InjectedFault",
    "Injection",
    "Rule",
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

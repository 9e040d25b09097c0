"""``crs_faults`` in pytest: the fixture, the marker, and strict teardown.

The fixture is a :class:`~pytest_crs.faults.FaultPlan` wired into both interception points for
the test's duration — the HTTP transports of httpx, httpx2 and requests, and the adapter's tool
seam — on virtual time (it uses ``crs_clock``, so latency and Retry-After waits are free).

Layering with cassettes: faults sit *outside* the cassette, so a faulted attempt is answered
before it could reach the cassette and consumes no recording. That takes the cassette's
interception to be installed first, so when the test uses a cassette this fixture sets it up
before installing itself, whatever order the test asked for them in.

Strict, like pytest-httpx: a rule that never fired fails a test that otherwise passed, because
that test did not exercise the failure path it was written for. Opt out per rule
(``on(..., strict=False)``), per plan (``crs_faults.strict = False``) or in the marker
(``strict=False``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from crs.clock import VirtualClock
from crs.errors import ConfigError
from crs.tools._seam import OUTERMOST, installed_tool_seam
from pytest_crs._cassettes import BRIDGE, CALL_REPORT
from pytest_crs.faults import FaultPlan, Target
from pytest_crs.faults._tools import FaultSeam

__all__ = ["MARKER_HELP", "crs_faults"]

MARKER_HELP = (
    "crs_faults(target, schedule, ..., seed=0, strict=True): inject faults into this test's "
    "LLM, tool and HTTP calls (pairs of a target such as llm() and a fault or schedule such as "
    "rate_limit().times(2)); see the crs_faults fixture"
)


@pytest.fixture
def crs_faults(request: pytest.FixtureRequest, crs_clock: VirtualClock) -> Iterator[FaultPlan]:
    """This test's fault plan (:class:`~pytest_crs.faults.FaultPlan`), active until teardown.

    Add rules with ``crs_faults.on(target, schedule)``; read back ``injected``, ``calls``,
    ``attempts(target)`` and ``duplicates``. ``@pytest.mark.crs_faults(target, schedule, ...)``
    adds rules without asking for the fixture. Time is ``crs_clock``'s.
    """
    node = request.node
    if (
        node.get_closest_marker("crs_cassette") is not None
        or "crs_cassette" in request.fixturenames
    ):
        request.getfixturevalue("crs_cassette")  # the cassette's interception goes on first
    plan = _plan_from_markers(node)
    # Imported here: it imports the HTTP client libraries, which a test run that injects no
    # faults should not pay for.
    from pytest_crs.faults._transport import faulty_transports

    del crs_clock  # only needed to be active: the plan reads crs's clock at each use
    with contextlib.ExitStack() as stack:
        stack.enter_context(faulty_transports(plan, bridge=node.stash.get(BRIDGE, None)))
        stack.enter_context(installed_tool_seam(FaultSeam(plan), order=OUTERMOST))
        yield plan
    report = node.stash.get(CALL_REPORT, None)
    problems = plan.problems()
    if problems and report is not None and report.passed:
        pytest.fail(
            "crs_faults: " + "; ".join(problems) + " (pass strict=False to allow this)",
            pytrace=False,
        )


def _plan_from_markers(node: pytest.Item) -> FaultPlan:
    """A plan with the rules of every ``crs_faults`` marker, outermost (class, module) first."""
    markers = list(node.iter_markers("crs_faults"))[::-1]
    options: dict[str, Any] = {}
    for marker in markers:
        unknown = sorted(set(marker.kwargs) - {"seed", "strict"})
        if unknown:
            raise pytest.UsageError(
                f"crs_faults marker: unknown keyword(s) {', '.join(unknown)} (known: seed, strict)"
            )
        options.update(marker.kwargs)
    seed, strict = options.get("seed", 0), options.get("strict", True)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise pytest.UsageError(f"crs_faults marker: seed must be an int, got {seed!r}")
    if not isinstance(strict, bool):
        raise pytest.UsageError(f"crs_faults marker: strict must be True or False, got {strict!r}")
    plan = FaultPlan(seed=seed, strict=strict)
    for marker in markers:
        args = marker.args
        if len(args) % 2:
            raise pytest.UsageError(
                "crs_faults marker takes pairs of a target and a fault or schedule, e.g. "
                f"crs_faults(llm(), rate_limit().times(2)); got {len(args)} argument(s)"
            )
        for target, schedule in zip(args[::2], args[1::2], strict=True):
            if not isinstance(target, Target):
                raise pytest.UsageError(
                    f"crs_faults marker: {target!r} is not a target (llm(), tool(), http())"
                )
            try:
                plan.on(target, schedule, strict=plan.strict)
            except ConfigError as exc:
                raise pytest.UsageError(f"crs_faults marker: {exc}") from exc
    return plan

"""The plan: rule order, the attempt log, injections, duplicates and strictness."""

from __future__ import annotations

import json

import pytest

from crs.clock import VirtualClock
from crs.errors import ConfigError
from pytest_crs.faults import (
    FaultPlan,
    http,
    llm,
    rate_limit,
    server_error,
    stream_cut,
    succeed,
    timeout,
    tool,
    tool_failure,
)
from pytest_crs.faults._targets import ToolCall
from pytest_crs.faults._wire import Fail, Failure, Reply, WireCall


def chat(model: str = "gpt-4o-mini", key: str = "sk-test-1234567890abcdef1234") -> WireCall:
    body = json.dumps({"model": model, "messages": []}).encode()
    return WireCall(
        "httpx2", "POST", f"http://127.0.0.1:9/v1/chat/completions?key={key}",
        {"authorization": f"Bearer {key}"}, body,
    )  # fmt: skip


def send_email(to: str = "a@example.com") -> WireCall:
    body = json.dumps({"user_id": "u1", "version": "latest", "arguments": {"to": to}}).encode()
    return WireCall(
        "httpx", "POST", "http://127.0.0.1:9/api/v3.1/tools/execute/GMAIL_SEND_EMAIL", {}, body
    )


def test_rules_answer_in_order_and_log_every_attempt() -> None:
    clock = VirtualClock()
    plan = FaultPlan(clock=clock)
    plan.on(llm("gpt-4o*"), rate_limit(retry_after=2).times(2))
    plan.on(http(), server_error(502))
    first = plan.decide(chat())
    clock.advance(2)
    second = plan.decide(chat())
    third = plan.decide(chat())  # the first rule is done; the second one fires
    fourth = plan.decide(chat())
    assert isinstance(first, Reply)
    assert first.status == 429
    assert isinstance(second, Reply)
    assert second.status == 429
    assert isinstance(third, Reply)
    assert third.status == 502
    assert fourth is None
    assert plan.attempts(llm()) == 4
    assert plan.attempts(tool()) == 0
    assert [i.fault.kind.value for i in plan.injected] == [
        "rate_limit",
        "rate_limit",
        "server_error",
    ]
    assert [i.at for i in plan.injected] == [0.0, 2.0, 2.0]
    assert [i.attempt for i in plan.injected] == [1, 2, 1]
    assert plan.rules[0].fired == 2
    assert plan.rules[1].matched == 2


def test_log_descriptions_are_redacted() -> None:
    plan = FaultPlan(clock=VirtualClock())
    plan.on(llm(), timeout())
    decision = plan.decide(chat())
    assert isinstance(decision, Fail)
    assert decision.failure is Failure.READ_TIMEOUT
    text = repr(plan.injected) + repr(plan.calls)
    assert "sk-test-1234567890abcdef1234" not in text
    assert "[REDACTED]" in plan.injected[0].request


def test_duplicates_after_a_read_timeout_on_a_side_effecting_tool() -> None:
    plan = FaultPlan(clock=VirtualClock())
    plan.on(tool("GMAIL_SEND_EMAIL"), timeout("read"))
    decision = plan.decide(send_email())
    assert isinstance(decision, Fail)
    assert decision.failure is Failure.READ_TIMEOUT
    assert plan.decide(send_email()) is None  # the retry goes through: sent twice
    assert plan.decide(send_email("other@example.com")) is None  # a different call
    [duplicate] = plan.duplicates
    assert duplicate.slug == "GMAIL_SEND_EMAIL"
    assert duplicate.user_id == "u1"
    assert len(duplicate.attempts) == 2
    assert "delivered 2 times (timeout('read'), ok)" in duplicate.describe()


def test_no_duplicate_when_the_first_attempt_never_went_out() -> None:
    plan = FaultPlan(clock=VirtualClock())
    plan.on(tool("GMAIL_SEND_EMAIL"), rate_limit(retry_after=1))
    plan.decide(send_email())
    plan.decide(send_email())
    assert plan.duplicates == []


def test_reads_are_never_duplicates() -> None:
    plan = FaultPlan(clock=VirtualClock())
    for _ in range(2):
        plan.decide_tool(ToolCall("GITHUB_LIST_ISSUES", "github", "list_issues", {}, "u"))
    assert plan.duplicates == []
    for _ in range(2):
        plan.decide_tool(ToolCall("GITHUB_CREATE_ISSUE", "github", "create_issue", {}, "u"))
    assert [d.slug for d in plan.duplicates] == ["GITHUB_CREATE_ISSUE"]


def test_strict_rules_that_never_fired_are_problems() -> None:
    plan = FaultPlan(clock=VirtualClock())
    plan.on(llm("gpt-5"), timeout())
    plan.on(llm(), server_error(), strict=False)
    plan.decide(chat())
    assert plan.problems() == [
        "the rule on(llm(model='gpt-5'), fail(timeout('read'))) never fired "
        "(it matched 0 attempt(s))"
    ]
    plan.strict = False
    assert plan.problems() == []


def test_faults_that_cannot_happen_to_a_target_are_refused() -> None:
    plan = FaultPlan(clock=VirtualClock())
    with pytest.raises(ConfigError, match="tool_failure"):
        plan.on(llm(), tool_failure())
    with pytest.raises(ConfigError, match="tool calls do not stream"):
        plan.on(tool(), stream_cut(2))
    with pytest.raises(ConfigError, match="needs a target"):
        plan.on("llm", timeout())  # type: ignore[arg-type]
    assert plan.rules == []


def test_probabilistic_plans_repeat_with_the_same_seed() -> None:
    def outcomes(seed: int) -> list[bool]:
        plan = FaultPlan(clock=VirtualClock(), seed=seed)
        plan.on(llm(), timeout().with_probability(0.3))
        plan.on(http(), succeed())
        return [plan.decide(chat()) is None for _ in range(30)]

    assert outcomes(1) == outcomes(1)
    assert outcomes(1) != outcomes(2)

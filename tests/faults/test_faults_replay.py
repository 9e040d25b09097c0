"""Faults on top of replayed cassettes: the cassettes were recorded once, without faults.

A faulted attempt is answered before it reaches the cassette and consumes no recording; the
attempt after it replays the recording as usual. So a cassette recorded on a good day replays
unchanged under any fault plan, and the cassette's own strictness (every recording played,
none missing) still holds — the fixture would fail these tests otherwise.

Recorded with ``pytest tests/faults/test_faults_replay.py --crs-record-mode=once`` against
the sandbox.
"""

from __future__ import annotations

import httpx2
import openai
import pytest

from crs import VirtualClock
from crs.cassette import Cassette
from crs.sandbox import Sandbox
from crs.sandbox._composio_clients import installed_sdk
from pytest_crs.faults import (
    FaultPlan,
    auth_expired,
    connection_reset,
    fail,
    latency,
    llm,
    rate_limit,
    server_error,
    stream_cut,
    timeout,
    tool,
    tool_failure,
)

MESSAGES = [{"role": "user", "content": "Summarise the open issues"}]


@pytest.mark.crs_cassette
def test_rate_limits_before_a_replayed_answer(
    crs_sandbox: Sandbox,
    crs_cassette: Cassette,
    crs_faults: FaultPlan,
    crs_clock: VirtualClock,
) -> None:
    crs_faults.on(llm(), rate_limit(retry_after=4).times(2))
    client = crs_sandbox.openai_client(max_retries=2)
    reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].message.content
    assert crs_clock.sleeps == [4.0, 4.0]
    assert crs_faults.attempts(llm()) == 3
    # one interaction, recorded or replayed, for the one attempt let through
    assert len([*crs_cassette.recorded, *crs_cassette.new]) == 1


@pytest.mark.crs_cassette
def test_every_transport_failure_before_a_replayed_answer(
    crs_sandbox: Sandbox, crs_cassette: Cassette, crs_faults: FaultPlan
) -> None:
    crs_faults.on(llm(), server_error().times(1))
    crs_faults.on(llm(), timeout("read").times(1))
    crs_faults.on(llm(), connection_reset(after_send=True).times(1))
    client = crs_sandbox.openai_client(max_retries=3)
    reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].message.content
    assert [i.fault.kind.value for i in crs_faults.injected] == [
        "server_error",
        "timeout",
        "connection_reset",
    ]


@pytest.mark.crs_cassette
def test_a_cut_replayed_stream_consumes_nothing(
    crs_sandbox: Sandbox, crs_cassette: Cassette, crs_faults: FaultPlan
) -> None:
    crs_faults.on(llm(), stream_cut(after_events=1))
    client = crs_sandbox.openai_client(max_retries=0)
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    with pytest.raises(openai.APIConnectionError) as cut:
        list(stream)
    assert isinstance(cut.value.__cause__, httpx2.RemoteProtocolError)
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert len(chunks) > 1
    assert len([*crs_cassette.recorded, *crs_cassette.new]) == 1


@pytest.mark.skipif(installed_sdk() != "composio-core", reason="recorded through composio-core")
@pytest.mark.crs_cassette
def test_a_replayed_tool_call_after_a_read_timeout_is_reported_as_a_duplicate(
    crs_sandbox: Sandbox, crs_cassette: Cassette, crs_faults: FaultPlan
) -> None:
    send = tool("GMAIL_SEND_EMAIL")
    crs_faults.on(send, timeout("read"))
    toolset = crs_sandbox.composio_toolset()
    email = {"recipient_email": "ada@example.com", "subject": "Invoice", "body": "Attached."}
    result = toolset.execute_action("GMAIL_SEND_EMAIL", email)
    assert result["successful"] is True
    [duplicate] = crs_faults.duplicates
    assert len(duplicate.attempts) == 2
    assert duplicate.arguments == email


@pytest.mark.crs_cassette
def test_every_llm_fault_in_turn_before_a_replayed_answer(
    crs_sandbox: Sandbox,
    crs_cassette: Cassette,
    crs_faults: FaultPlan,
    crs_clock: VirtualClock,
) -> None:
    crs_faults.on(
        llm(),
        fail(rate_limit(retry_after=1.5, form="ms"))
        .then(rate_limit(retry_after=3, form="http-date"))
        .then(server_error(504))
        .then(timeout("connect"))
        .then(connection_reset())
        .then(latency(2)),
    )
    client = crs_sandbox.openai_client(max_retries=5)
    started = crs_clock.monotonic()
    reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].message.content
    assert crs_faults.attempts(llm()) == 6  # five failures, then a slow success
    first, second = crs_clock.sleeps[:2]
    assert first == 1.5  # retry-after-ms: 1500
    assert 3.0 <= second < 4.0  # an HTTP date counts whole seconds, rounded up: never less
    assert crs_clock.monotonic() - started == pytest.approx(sum(crs_clock.sleeps) + 2)
    assert len([*crs_cassette.recorded, *crs_cassette.new]) == 1


@pytest.mark.crs_cassette
def test_an_expired_key_fails_at_once_and_the_next_call_replays(
    crs_sandbox: Sandbox, crs_cassette: Cassette, crs_faults: FaultPlan
) -> None:
    crs_faults.on(llm(), auth_expired())
    client = crs_sandbox.openai_client(max_retries=3)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert crs_faults.attempts(llm()) == 2


@pytest.mark.skipif(installed_sdk() != "composio-core", reason="recorded through composio-core")
@pytest.mark.crs_cassette
def test_tool_faults_that_come_back_as_answers_over_a_replayed_session(
    crs_sandbox: Sandbox, crs_cassette: Cassette, crs_faults: FaultPlan
) -> None:
    from composio.client.exceptions import HTTPError

    send = tool("GMAIL_SEND_EMAIL")
    crs_faults.on(
        send,
        fail(tool_failure("Mailbox full"))
        .then(auth_expired("401-in-200"))
        .then(auth_expired("expired-account"))
        .then(rate_limit(shape="composio-10429")),
    )
    toolset = crs_sandbox.composio_toolset()
    email = {"recipient_email": "ada@example.com", "subject": "Invoice", "body": "Attached."}
    assert toolset.execute_action("GMAIL_SEND_EMAIL", email)["error"] == "Mailbox full"
    assert toolset.execute_action("GMAIL_SEND_EMAIL", email)["data"]["status_code"] == 401
    for status in (400, 429):
        with pytest.raises(HTTPError) as caught:
            toolset.execute_action("GMAIL_SEND_EMAIL", email)
        assert caught.value.status_code == status
    assert toolset.execute_action("GMAIL_SEND_EMAIL", email)["successful"] is True
    assert crs_faults.attempts(send) == 5
    assert len(crs_sandbox.composio.sent_emails()) <= 1  # zero when replaying: no server work

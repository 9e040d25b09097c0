"""No credential survives into a cassette, wherever it was put; placeholders stay matchable."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from crs.cassette._body import encode_body
from crs.cassette._file import dump_text
from crs.cassette._redact import Redactor

REDACTOR = Redactor()
# Realistic lengths: GitHub tokens carry 36 characters after "ghp_", OpenAI keys 40+.
SECRET = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    min_size=20,
    max_size=40,
)


def http(secret: str) -> dict[str, Any]:
    payload = {"model": "gpt-4o", "auth": {"access_token": secret}, "note": f"use sk-{secret}"}
    body = encode_body(json.dumps(payload).encode())
    event = json.dumps({"delta": f"ghp_{secret}", "refresh_token": secret})
    sse = encode_body(f"data: {event}\n\n".encode(), "text/event-stream")
    return {
        "kind": "http",
        "summary": "POST /v1/things",
        "request": {
            "method": "POST",
            "url": f"https://user:{secret}@api.example.test/v1/things?api_key={secret}&q=1",
            "headers": {"Authorization": f"Bearer {secret}", "X-Api-Key": secret, "Accept": "*/*"},
            "body": body,
        },
        "response": {"status": 200, "headers": {"Set-Cookie": [f"s={secret}"]}, "body": sse},
    }


def tool(secret: str) -> dict[str, Any]:
    return {
        "kind": "tool",
        "summary": "github auth: ok",
        "request": {"app": "github", "action": "auth", "user_id": "u", "params": {"token": secret}},
        "response": {
            "successful": True,
            "data": {"credentials": {"password": secret}},
            "error": None,
        },
    }


@given(SECRET)
def test_secrets_never_reach_the_written_text(secret: str) -> None:
    text = dump_text(
        {
            "format": "crs-cassette",
            "version": 1,
            "interactions": [
                REDACTOR.interaction(http(secret)),
                REDACTOR.interaction(tool(secret)),
            ],
        }
    )
    assert secret not in text


def test_ordinary_content_is_kept() -> None:
    redacted = REDACTOR.interaction(http("s3cr3ts3cr3ts3cr3t"))
    assert redacted["request"]["headers"]["Accept"] == "*/*"
    assert "q=1" in redacted["request"]["url"]
    assert redacted["request"]["body"]["json"]["model"] == "gpt-4o"


def test_placeholders_do_not_depend_on_the_secret() -> None:
    assert REDACTOR.interaction(http("a" * 20)) == REDACTOR.interaction(http("b" * 20))


def test_users_add_headers_keys_and_patterns() -> None:
    redactor = Redactor().extended(headers=["X-Tenant"], keys=["ssn"], patterns=[r"ACME-\d{6}"])
    message = redactor.http_message(
        {
            "url": "http://loopback/x?ssn=123",
            "headers": {"X-Tenant": "acme"},
            "body": {"json": {"ssn": "123", "ref": "ticket ACME-123456"}, "style": "compact"},
        }
    )
    assert message["headers"]["X-Tenant"] == "[REDACTED]"
    assert "123" not in message["url"]
    assert message["body"]["json"] == {"ssn": "[REDACTED]", "ref": "ticket [REDACTED]"}


def test_token_counts_are_not_secrets() -> None:
    usage = {"usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}
    assert REDACTOR.data(usage) == usage

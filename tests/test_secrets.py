"""Credential recognition shared by error details, execution records and cassettes."""

from __future__ import annotations

import pytest

from crs._secrets import REDACTED, is_secret_name, redact_data, redact_secrets


@pytest.mark.parametrize(
    "name",
    [
        "api_key", "X-Api-Key", "apikey", "Authorization", "github_token", "accessToken",
        "client_secret", "Set-Cookie", "private_key", "refresh-token", "password",
    ],
)  # fmt: skip
def test_credential_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["title", "body", "max_tokens", "prompt_tokens", "total_tokens", "keyword", "monkey"]
)
def test_ordinary_names(name: str) -> None:
    assert not is_secret_name(name)


def test_redact_data_by_name_and_by_shape_without_touching_the_input() -> None:
    original = {
        "title": "ok",
        "auth": {"access_token": "abc", "scopes": ["repo"]},
        "notes": ["call with Bearer abcdef123456", 42, None],
    }

    redacted = redact_data(original)

    assert redacted == {
        "title": "ok",
        "auth": {"access_token": REDACTED, "scopes": ["repo"]},
        "notes": [f"call with Bearer {REDACTED}", 42, None],
    }
    assert original["auth"]["access_token"] == "abc"  # type: ignore[index]


def test_the_placeholder_does_not_depend_on_the_secret() -> None:
    assert redact_secrets("key sk-live-aaaaaaaaaaaa") == redact_secrets("key sk-test-bbbbbbbbbbbb")

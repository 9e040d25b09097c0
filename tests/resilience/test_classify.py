"""classify() and retry_after_from_headers(): every failure shape an agent meets, one verdict.

openai, httpx, httpx2 and requests are exercised with their real exception and response classes.
The two Composio SDKs cannot be installed here (both own the ``composio`` import name, and
importing composio-core touches the network), so their exceptions are stand-ins further down
that mirror the released source: module path, class name, MRO and constructor signature.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import subprocess
import sys
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import httpx
import httpx2
import openai
import pytest
import requests
import urllib3
from hypothesis import given
from hypothesis import strategies as st

from crs.clock import VirtualClock, use_clock
from crs.errors import CircuitOpenError, CrsTimeoutError, RetryError
from crs.resilience._classification import Classification, ErrorType
from crs.resilience._classify import classify, redact_secrets, retry_after_from_headers

NOW = VirtualClock.DEFAULT_START
OPENAI_URL = "http://127.0.0.1:9/v1/chat/completions"


@pytest.fixture(autouse=True)
def virtual_clock() -> Iterator[VirtualClock]:
    """classify() reads wall time for HTTP-date Retry-After; pin it so dates are exact."""
    clock = VirtualClock()
    with use_clock(clock):
        yield clock


def http_date(timestamp: float) -> str:
    return formatdate(timestamp, usegmt=True)


# ---------------------------------------------------------------------------------------------
# Plain status codes: the table every other shape ends up in
# ---------------------------------------------------------------------------------------------


def expected_kind(status: int) -> ErrorType:
    """The spec, written out independently of the implementation's table."""
    named = {
        401: ErrorType.AUTH,
        402: ErrorType.PERMISSION,
        403: ErrorType.PERMISSION,
        404: ErrorType.NOT_FOUND,
        407: ErrorType.AUTH,
        408: ErrorType.TIMEOUT,
        409: ErrorType.CONFLICT,
        410: ErrorType.NOT_FOUND,
        429: ErrorType.RATE_LIMIT,
    }
    if status in named:
        return named[status]
    if 400 <= status < 500:
        return ErrorType.VALIDATION
    if status >= 500:
        return ErrorType.SERVER
    return ErrorType.UNKNOWN


@given(st.integers(min_value=100, max_value=599))
def test_every_status_has_a_kind_and_the_openai_retry_rule(status: int) -> None:
    c = classify(status)
    assert c.kind is expected_kind(status)
    # openai and composio retry exactly 408, 409, 429 and >= 500.
    assert c.retryable is (status in {408, 409, 429} or status >= 500)
    # A 4xx is a refusal before acting; a 5xx may come after the work was done.
    assert c.may_have_executed is not (400 <= status < 500)
    assert c.status == status
    assert c.retry_after is None
    assert str(status) in c.detail


@pytest.mark.parametrize("value", [True, 0, 99, 600, -429, 10429])
def test_ints_that_are_not_statuses_are_unknown(value: int) -> None:
    c = classify(value)
    assert (c.kind, c.retryable, c.status) == (ErrorType.UNKNOWN, False, None)


@pytest.mark.parametrize("value", [None, "rate limit", 3.5, object(), [429]])
def test_unrecognised_objects_are_unknown_not_errors(value: object) -> None:
    c = classify(value)
    assert (c.kind, c.retryable, c.may_have_executed) == (ErrorType.UNKNOWN, False, True)


# ---------------------------------------------------------------------------------------------
# Retry-After
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"Retry-After": "1.5"}, 1.5),  # plain dict, mixed case
        ({"RETRY-AFTER": " 20 "}, 20.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # ms wins
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),  # broken ms falls back
        ({"retry-after": http_date(NOW + 30)}, 30.0),
        ({"retry-after": http_date(NOW - 30)}, 0.0),  # already past: go now
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "-5"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "1e3"}, None),  # not delay-seconds syntax, not a date
        ({"retry-after": ""}, None),
        ({"retry-after": "Thu, 99 Foo 2024 25:61:61 GMT"}, None),
        ({"retry-after-ms": "-1"}, None),
        ({"x-ratelimit-reset": "5"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_forms(headers: dict[str, str] | None, expected: float | None) -> None:
    assert retry_after_from_headers(headers, now=NOW) == expected


def test_retry_after_reads_case_insensitive_header_objects() -> None:
    assert retry_after_from_headers(httpx.Headers({"Retry-After": "3"}), now=NOW) == 3.0
    assert retry_after_from_headers(httpx2.Headers({"Retry-After-Ms": "3000"}), now=NOW) == 3.0
    r = requests.Response()
    r.headers["Retry-After"] = "4"
    assert retry_after_from_headers(r.headers, now=NOW) == 4.0


def test_retry_after_too_long_to_represent_stays_finite_and_huge() -> None:
    """Dropping it would retry at once; a huge finite value makes any policy give up instead."""
    delay = retry_after_from_headers({"retry-after": "9" * 400}, now=NOW)
    assert delay is not None
    assert math.isfinite(delay)
    assert delay > 1e300


def test_retry_after_date_without_zone_is_gmt() -> None:
    stamp = formatdate(NOW + 12, usegmt=False, localtime=False)
    assert stamp.endswith("-0000")  # RFC 2822 for "UTC, origin unknown"; parses to a naive time
    assert retry_after_from_headers({"retry-after": stamp}, now=NOW) == 12.0


header_names = st.sampled_from(
    ["retry-after", "Retry-After", "retry-after-ms", "RETRY-AFTER-MS", "x-should-retry"]
) | st.text(max_size=20)
header_values = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"\A-?[0-9]{0,400}(\.[0-9]{0,5})?\Z"),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.datetimes().map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")),
)


@given(
    st.dictionaries(header_names, header_values, max_size=5),
    st.floats(allow_nan=True, allow_infinity=True),
)
def test_retry_after_never_raises_and_is_none_or_finite_non_negative(
    headers: dict[str, str], now: float
) -> None:
    delay = retry_after_from_headers(headers, now=now)
    assert delay is None or (math.isfinite(delay) and delay >= 0)


@given(
    now=st.integers(min_value=0, max_value=4_000_000_000),
    seconds=st.integers(min_value=0, max_value=10_000_000),
)
def test_http_date_and_seconds_forms_agree(now: int, seconds: int) -> None:
    as_seconds = retry_after_from_headers({"retry-after": str(seconds)}, now=now)
    as_date = retry_after_from_headers({"retry-after": http_date(now + seconds)}, now=now)
    as_ms = retry_after_from_headers({"retry-after-ms": str(seconds * 1000)}, now=now)
    assert as_seconds == as_date == as_ms == float(seconds)


def test_classify_measures_http_dates_on_the_crs_clock(virtual_clock: VirtualClock) -> None:
    virtual_clock.advance(1000)
    response = httpx.Response(429, headers={"retry-after": http_date(NOW + 1030)})
    assert classify(response).retry_after == 30.0


@pytest.mark.parametrize(
    ("status", "header", "retryable"),
    [
        (503, "false", False),
        (429, "false", False),
        (400, "true", True),
        (401, "TRUE", True),
        (500, "maybe", True),  # not a verdict: the status decides
        (404, "", False),
    ],
)
def test_x_should_retry_overrides_the_status(status: int, header: str, retryable: bool) -> None:
    c = classify(httpx2.Response(status, headers={"x-should-retry": header}))
    assert c.retryable is retryable
    assert c.kind is expected_kind(status)  # the override changes the decision, not the kind


# ---------------------------------------------------------------------------------------------
# openai (real classes, built the way the SDK builds them)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def openai_client() -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1", max_retries=0)
    yield client
    client.close()


def openai_status_error(
    client: openai.OpenAI, status: int, *, headers: dict[str, str] | None = None, body: Any = None
) -> openai.APIStatusError:
    """What the SDK raises after its retries: ``_make_status_error_from_response`` on the reply."""
    request = httpx2.Request("POST", OPENAI_URL)
    response = httpx2.Response(status, headers=headers or {}, json=body, request=request)
    return client._make_status_error_from_response(response)


@pytest.mark.parametrize(
    ("status", "cls", "kind", "retryable"),
    [
        (400, openai.BadRequestError, ErrorType.VALIDATION, False),
        (401, openai.AuthenticationError, ErrorType.AUTH, False),
        (403, openai.PermissionDeniedError, ErrorType.PERMISSION, False),
        (404, openai.NotFoundError, ErrorType.NOT_FOUND, False),
        (409, openai.ConflictError, ErrorType.CONFLICT, True),
        (422, openai.UnprocessableEntityError, ErrorType.VALIDATION, False),
        (429, openai.RateLimitError, ErrorType.RATE_LIMIT, True),
        (500, openai.InternalServerError, ErrorType.SERVER, True),
        (529, openai.InternalServerError, ErrorType.SERVER, True),
        (418, openai.APIStatusError, ErrorType.VALIDATION, False),
    ],
)
def test_openai_status_errors(
    openai_client: openai.OpenAI,
    status: int,
    cls: type[openai.APIStatusError],
    kind: ErrorType,
    retryable: bool,
) -> None:
    error = openai_status_error(
        openai_client, status, body={"error": {"message": "upstream said no", "type": "x"}}
    )
    assert type(error) is cls
    c = classify(error)
    assert (c.kind, c.retryable, c.status) == (kind, retryable, status)
    assert c.may_have_executed is (status >= 500)
    assert c.detail == f"{cls.__name__} HTTP {status}: upstream said no"


def test_openai_rate_limit_carries_retry_after(openai_client: openai.OpenAI) -> None:
    error = openai_status_error(
        openai_client,
        429,
        headers={"retry-after-ms": "1200", "retry-after": "2"},
        body={"error": {"message": "Rate limit reached for gpt-4o", "code": "rate_limit_exceeded"}},
    )
    assert classify(error) == Classification(
        kind=ErrorType.RATE_LIMIT,
        retryable=True,
        retry_after=1.2,
        status=429,
        detail="RateLimitError HTTP 429: Rate limit reached for gpt-4o",
        may_have_executed=False,
    )


def test_openai_insufficient_quota_is_a_429_that_waiting_cannot_fix(
    openai_client: openai.OpenAI,
) -> None:
    error = openai_status_error(
        openai_client,
        429,
        body={
            "error": {"message": "You exceeded your current quota", "type": "insufficient_quota"}
        },
    )
    c = classify(error)
    assert (c.kind, c.retryable) == (ErrorType.RATE_LIMIT, False)


def test_openai_x_should_retry_false_wins(openai_client: openai.OpenAI) -> None:
    error = openai_status_error(openai_client, 500, headers={"x-should-retry": "false"})
    assert classify(error).retryable is False


def test_openai_error_over_a_legacy_httpx_client() -> None:
    """``OpenAI(http_client=httpx.Client())`` puts an httpx (not httpx2) response on the error."""
    with openai.OpenAI(
        api_key="sk-test",
        base_url="http://127.0.0.1:9/v1",
        http_client=httpx.Client(),  # type: ignore[arg-type]  # typed for httpx2, accepts both
    ) as client:
        request = httpx.Request("POST", OPENAI_URL)
        response = httpx.Response(503, headers={"Retry-After": "5"}, request=request)
        error = client._make_status_error_from_response(response)  # type: ignore[arg-type]
    carried: object = error.response  # annotated as httpx2.Response, but not here
    assert isinstance(carried, httpx.Response)
    c = classify(error)
    assert (c.kind, c.retry_after, c.may_have_executed) == (ErrorType.SERVER, 5.0, True)


def raise_from(outer: BaseException, cause: BaseException) -> BaseException:
    """An exception as it arrives in an ``except`` block after ``raise outer from cause``."""
    try:
        raise outer from cause
    except BaseException as caught:
        return caught


@pytest.mark.parametrize(
    ("cause", "kind", "may_have_executed"),
    [
        (httpx2.ConnectTimeout("connect timed out"), ErrorType.TIMEOUT, False),
        (httpx2.PoolTimeout("no free connection"), ErrorType.TIMEOUT, False),
        (httpx2.ReadTimeout("read timed out"), ErrorType.TIMEOUT, True),
        (httpx2.WriteTimeout("write timed out"), ErrorType.TIMEOUT, True),
    ],
)
def test_openai_timeout_says_whether_the_request_went_out(
    cause: BaseException, kind: ErrorType, may_have_executed: bool
) -> None:
    error = raise_from(openai.APITimeoutError(request=httpx2.Request("POST", OPENAI_URL)), cause)
    c = classify(error)
    assert (c.kind, c.retryable, c.may_have_executed) == (kind, True, may_have_executed)
    assert c.detail.startswith(f"APITimeoutError ← {type(cause).__name__}")


@pytest.mark.parametrize(
    ("cause", "may_have_executed"),
    [
        (httpx2.ConnectError("[Errno 111] Connection refused"), False),
        (httpx2.RemoteProtocolError("Server disconnected without sending a response."), True),
        (httpx2.ReadError("[Errno 104] Connection reset by peer"), True),
    ],
)
def test_openai_connection_error_says_whether_the_request_went_out(
    cause: BaseException, may_have_executed: bool
) -> None:
    error = raise_from(openai.APIConnectionError(request=httpx2.Request("GET", OPENAI_URL)), cause)
    c = classify(error)
    assert (c.kind, c.retryable) == (ErrorType.CONNECTION, True)
    assert c.may_have_executed is may_have_executed


def test_openai_errors_without_a_cause_assume_the_worst() -> None:
    request = httpx2.Request("POST", OPENAI_URL)
    assert classify(openai.APITimeoutError(request=request)).may_have_executed is True
    assert classify(openai.APIConnectionError(request=request)).may_have_executed is True


def test_openai_response_validation_error_is_not_retried() -> None:
    response = httpx2.Response(200, json={"oops": 1}, request=httpx2.Request("GET", OPENAI_URL))
    c = classify(openai.APIResponseValidationError(response, body={"oops": 1}))
    assert (c.kind, c.retryable, c.may_have_executed) == (ErrorType.UNKNOWN, False, True)


def test_openai_api_key_in_the_message_never_reaches_the_detail(
    openai_client: openai.OpenAI,
) -> None:
    key = "sk-proj-Abc123Def456Ghi789Jkl012"
    error = openai_status_error(
        openai_client,
        401,
        body={
            "error": {"message": f"Incorrect API key provided: {key}.", "code": "invalid_api_key"}
        },
    )
    c = classify(error)
    assert c.kind is ErrorType.AUTH
    assert key not in c.detail
    assert "Abc123" not in c.detail
    assert "[REDACTED]" in c.detail


# ---------------------------------------------------------------------------------------------
# httpx and httpx2 (same hierarchy, both real)
# ---------------------------------------------------------------------------------------------

HTTPX_MODULES = pytest.mark.parametrize("hx", [httpx, httpx2], ids=["httpx", "httpx2"])


@HTTPX_MODULES
@pytest.mark.parametrize(
    ("name", "kind", "retryable", "may_have_executed"),
    [
        ("ConnectTimeout", ErrorType.TIMEOUT, True, False),
        ("PoolTimeout", ErrorType.TIMEOUT, True, False),
        ("ReadTimeout", ErrorType.TIMEOUT, True, True),
        ("WriteTimeout", ErrorType.TIMEOUT, True, True),
        ("ConnectError", ErrorType.CONNECTION, True, False),
        ("ProxyError", ErrorType.CONNECTION, True, False),
        ("ReadError", ErrorType.CONNECTION, True, True),
        ("WriteError", ErrorType.CONNECTION, True, True),
        ("RemoteProtocolError", ErrorType.CONNECTION, True, True),
        ("LocalProtocolError", ErrorType.VALIDATION, False, False),
        ("UnsupportedProtocol", ErrorType.VALIDATION, False, False),
    ],
)
def test_httpx_transport_errors(
    hx: Any, name: str, kind: ErrorType, retryable: bool, may_have_executed: bool
) -> None:
    error = getattr(hx, name)("boom", request=hx.Request("GET", "http://127.0.0.1:9/"))
    c = classify(error)
    assert (c.kind, c.retryable, c.may_have_executed) == (kind, retryable, may_have_executed)
    assert c.detail == f"{name}: boom"


@HTTPX_MODULES
def test_httpx_status_error_uses_its_response(hx: Any) -> None:
    request = hx.Request("POST", "http://127.0.0.1:9/api")
    response = hx.Response(429, headers={"Retry-After": "11"}, request=request)
    with pytest.raises(hx.HTTPStatusError) as caught:
        response.raise_for_status()
    c = classify(caught.value)
    assert (c.kind, c.status, c.retry_after) == (ErrorType.RATE_LIMIT, 429, 11.0)


@HTTPX_MODULES
def test_httpx_responses(hx: Any) -> None:
    c = classify(hx.Response(503, json={"error": {"message": "overloaded"}}))
    assert (c.kind, c.retryable, c.status) == (ErrorType.SERVER, True, 503)
    assert c.detail == "response HTTP 503: overloaded"


@HTTPX_MODULES
def test_unread_streaming_response_still_classifies_by_status(hx: Any) -> None:
    response = hx.Response(502, stream=hx.ByteStream(b"{}"))
    assert classify(response).kind is ErrorType.SERVER


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on, so a connect is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_real_refused_connection_httpx(closed_port: int) -> None:
    with (
        httpx.Client(timeout=5) as client,
        pytest.raises(httpx.ConnectError) as caught,
    ):
        client.get(f"http://127.0.0.1:{closed_port}/")
    c = classify(caught.value)
    assert (c.kind, c.retryable, c.may_have_executed) == (ErrorType.CONNECTION, True, False)


def test_real_refused_connection_requests(closed_port: int) -> None:
    with pytest.raises(requests.ConnectionError) as caught:
        requests.get(f"http://127.0.0.1:{closed_port}/", timeout=5)
    c = classify(caught.value)
    # requests wraps urllib3's MaxRetryError(reason=NewConnectionError): never sent.
    assert (c.kind, c.retryable, c.may_have_executed) == (ErrorType.CONNECTION, True, False)
    assert "NewConnectionError" in c.detail


# ---------------------------------------------------------------------------------------------
# requests / urllib3 (real classes, wrapped the way requests' HTTPAdapter wraps them)
# ---------------------------------------------------------------------------------------------


def test_requests_timeouts_distinguish_connect_from_read() -> None:
    pool = urllib3.HTTPConnectionPool("127.0.0.1", 9)
    connect = requests.ConnectTimeout(
        urllib3.exceptions.MaxRetryError(
            pool, "/", urllib3.exceptions.ConnectTimeoutError(pool, "connect timed out")
        )
    )
    read = requests.ReadTimeout(urllib3.exceptions.ReadTimeoutError(pool, "/", "read timed out"))
    assert (classify(connect).kind, classify(connect).may_have_executed) == (
        ErrorType.TIMEOUT,
        False,
    )
    assert (classify(read).kind, classify(read).may_have_executed) == (ErrorType.TIMEOUT, True)


def test_requests_connection_aborted_after_sending_is_ambiguous() -> None:
    aborted = urllib3.exceptions.ProtocolError(
        "Connection aborted.", ConnectionResetError(104, "Connection reset by peer")
    )
    c = classify(requests.ConnectionError(aborted))
    assert (c.kind, c.retryable, c.may_have_executed) == (ErrorType.CONNECTION, True, True)


def test_requests_dns_failure_never_sent() -> None:
    pool = urllib3.HTTPConnectionPool("no-such-host.invalid", 80)
    reason = urllib3.exceptions.NameResolutionError(
        "no-such-host.invalid",
        urllib3.connection.HTTPConnection("no-such-host.invalid", 80),
        socket.gaierror(-2, "Name or service not known"),
    )
    c = classify(requests.ConnectionError(urllib3.exceptions.MaxRetryError(pool, "/", reason)))
    assert (c.kind, c.may_have_executed) == (ErrorType.CONNECTION, False)


def requests_response(status: int, body: object = None, **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = "Reason"
    response.headers.update({k.replace("_", "-"): v for k, v in headers.items()})
    response._content = b"" if body is None else json.dumps(body).encode()
    return response


def test_requests_http_error_uses_its_response() -> None:
    response = requests_response(503, {"message": "maintenance"}, Retry_After="120")
    with pytest.raises(requests.HTTPError) as caught:
        response.raise_for_status()
    c = classify(caught.value)
    assert (c.kind, c.status, c.retry_after, c.retryable) == (ErrorType.SERVER, 503, 120.0, True)
    assert c.detail == "HTTPError HTTP 503: maintenance"


def test_requests_http_error_without_response_reads_its_message() -> None:
    c = classify(requests.HTTPError("401 Client Error: Unauthorized for url: http://x/"))
    assert c.kind is ErrorType.AUTH
    assert c.retryable is False


def test_requests_response() -> None:
    c = classify(requests_response(404, {"error": "no such thing"}))
    assert (c.kind, c.status, c.may_have_executed) == (ErrorType.NOT_FOUND, 404, False)


@pytest.mark.parametrize(
    "error",
    [requests.exceptions.MissingSchema("no scheme"), requests.exceptions.InvalidURL("bad")],
)
def test_requests_bad_urls_are_validation(error: BaseException) -> None:
    assert classify(error).kind is ErrorType.VALIDATION
    assert classify(error).retryable is False


# ---------------------------------------------------------------------------------------------
# Builtins and crs errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind", "may_have_executed"),
    [
        (TimeoutError("slow"), ErrorType.TIMEOUT, True),
        (asyncio.TimeoutError(), ErrorType.TIMEOUT, True),  # noqa: UP041  # what asyncio raises
        (CrsTimeoutError("deadline passed", seconds=2.0), ErrorType.TIMEOUT, True),
        (ConnectionRefusedError(111, "Connection refused"), ErrorType.CONNECTION, False),
        (ConnectionResetError(104, "Connection reset by peer"), ErrorType.CONNECTION, True),
        (ConnectionAbortedError(), ErrorType.CONNECTION, True),
        (BrokenPipeError(), ErrorType.CONNECTION, True),
        (socket.gaierror(-2, "Name or service not known"), ErrorType.CONNECTION, False),
    ],
)
def test_builtin_timeouts_and_connection_errors(
    error: BaseException, kind: ErrorType, may_have_executed: bool
) -> None:
    c = classify(error)
    assert (c.kind, c.retryable, c.may_have_executed) == (kind, True, may_have_executed)


def test_circuit_open_is_not_retried_and_was_never_sent() -> None:
    c = classify(CircuitOpenError("open", key="gmail", retry_at=10.0))
    assert (c.retryable, c.may_have_executed) == (False, False)


# ---------------------------------------------------------------------------------------------
# Composio stand-ins
#
# These mirror the released source; tests against the real classes arrive with the Composio
# adapter issue, in its dedicated virtual environments (each package in its own).
# ---------------------------------------------------------------------------------------------


class composio_core:
    """Mirrors composio-core 0.7.22, ``composio/exceptions.py`` (import name ``composio``)."""

    class ComposioSDKError(Exception):
        __module__ = "composio.exceptions"

        def __init__(self, message: str, *args: Any, delegate: bool = False) -> None:
            super().__init__(message, *args)
            self.message = message
            self.delegate = delegate

    class NotFoundError(ComposioSDKError):
        __module__ = "composio.exceptions"

    class HTTPError(ComposioSDKError):
        """Raised for every non-200 answer, with the body text as the message."""

        __module__ = "composio.exceptions"

        def __init__(
            self, message: str, status_code: int, *args: Any, delegate: bool = False
        ) -> None:
            super().__init__(message, *args, delegate=delegate)
            self.status_code = status_code

    class ComposioClientError(ComposioSDKError):
        __module__ = "composio.exceptions"

    class SDKTimeoutError(ComposioSDKError, TimeoutError):
        """Raised by ``client/http.py`` after three read timeouts (the POST may have gone 3x)."""

        __module__ = "composio.exceptions"

    class ApiKeyError(ComposioClientError):
        """``Composio.validate_api_key``: "API Key is not valid!" or "Unexpected error: HTTP n"."""

        __module__ = "composio.exceptions"

    class ApiKeyNotProvidedError(ApiKeyError, NotFoundError):
        __module__ = "composio.exceptions"

        def __init__(self) -> None:
            super().__init__(message="API Key not provided, either provide API key or ...")

    class ConnectedAccountNotFoundError(NotFoundError):
        __module__ = "composio.exceptions"

    class ResourceError(ComposioClientError):
        __module__ = "composio.exceptions"

    class NoItemsFound(ResourceError):
        """``Entity.get_connection``: no ACTIVE connected account; raised before executing."""

        __module__ = "composio.exceptions"


class composio_sdk:
    """Mirrors composio 0.29.0: ``composio/exceptions.py``, ``composio_client/_exceptions.py``
    (the generated client it ships) and ``_with_sdk_error_base`` in
    ``composio/client/__init__.py``, which re-bases every status error on ``ComposioError``."""

    class ComposioError(Exception):
        __module__ = "composio.exceptions"

        def __init__(self, message: str, *args: Any, delegate: bool = False) -> None:
            super().__init__(message, *args)
            self.message = message
            self.delegate = delegate

    class NotFoundError(ComposioError):
        __module__ = "composio.exceptions"

    class ToolNotFoundError(NotFoundError):
        __module__ = "composio.exceptions"

    class ToolVersionRequiredError(ComposioError):
        __module__ = "composio.exceptions"

        def __init__(self) -> None:
            super().__init__(message="Toolkit version not specified. ...")

    class ComposioSDKTimeoutError(ComposioError, TimeoutError):
        __module__ = "composio.exceptions"

    class ClientComposioError(Exception):
        __module__ = "composio_client._exceptions"

    class APIError(ClientComposioError):
        __module__ = "composio_client._exceptions"

        def __init__(
            self, message: str, request: httpx.Request | None = None, *, body: object = None
        ) -> None:
            super().__init__(message)
            self.message = message
            self.request = request
            self.body = body

    class APIStatusError(APIError):
        __module__ = "composio_client._exceptions"

        def __init__(self, message: str, *, response: httpx.Response, body: object) -> None:
            super().__init__(message, response.request, body=body)
            self.response = response
            self.status_code = response.status_code

    class APIConnectionError(APIError):
        __module__ = "composio_client._exceptions"

        def __init__(self, *, message: str = "Connection error.", request: httpx.Request) -> None:
            super().__init__(message, request, body=None)

    class APITimeoutError(APIConnectionError):
        __module__ = "composio_client._exceptions"

        def __init__(self, request: httpx.Request) -> None:
            super().__init__(message="Request timed out.", request=request)

    class RateLimitError(APIStatusError):
        __module__ = "composio_client._exceptions"

    class AuthenticationError(APIStatusError):
        __module__ = "composio_client._exceptions"


composio_sdk.ClientComposioError.__name__ = "ComposioError"  # two roots share the name upstream


def composio_status_error(
    cls: type[composio_sdk.APIStatusError], status: int, body: object, **headers: str
) -> composio_sdk.APIStatusError:
    """As ``composio_client`` builds it (message "<status> <error.message>"), then re-based."""
    request = httpx.Request("POST", "http://127.0.0.1:9/api/v3.1/tools/execute/GMAIL_SEND_EMAIL")
    response = httpx.Response(
        status, headers={k.replace("_", "-"): v for k, v in headers.items()}, request=request
    )
    sdk_cls = type(cls.__name__, (cls, composio_sdk.ComposioError), {"__module__": cls.__module__})
    return sdk_cls(f"{status} ...", response=response, body=body)  # type: ignore[no-any-return]


def test_composio_core_headerless_429() -> None:
    body = '{"code":10429,"slug":"HTTP_TooManyRequests"}'
    c = classify(composio_core.HTTPError(message=body, status_code=429))
    assert (c.kind, c.retryable, c.retry_after, c.status) == (ErrorType.RATE_LIMIT, True, None, 429)
    assert c.may_have_executed is False


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, ErrorType.AUTH), (404, ErrorType.NOT_FOUND), (502, ErrorType.SERVER)],
)
def test_composio_core_http_error_by_status(status: int, kind: ErrorType) -> None:
    c = classify(composio_core.HTTPError(message="<html>nope</html>", status_code=status))
    assert (c.kind, c.status) == (kind, status)


def test_composio_core_http_error_echoing_the_api_key_is_redacted() -> None:
    error = composio_core.HTTPError(
        message='{"message": "bad key", "headers": {"x-api-key": "c0mp0s10k3y"}}', status_code=401
    )
    assert "c0mp0s10k3y" not in classify(error).detail


def test_composio_core_sdk_timeout_may_have_executed() -> None:
    c = classify(composio_core.SDKTimeoutError("Timed out while waiting for request to complete"))
    assert (c.kind, c.retryable, c.may_have_executed) == (ErrorType.TIMEOUT, True, True)


@pytest.mark.parametrize(
    ("error", "kind", "retryable"),
    [
        (composio_core.ApiKeyError("API Key is not valid!"), ErrorType.AUTH, False),
        (composio_core.ApiKeyNotProvidedError(), ErrorType.AUTH, False),
        # The key check itself hit a server error: that says nothing about the key.
        (composio_core.ApiKeyError("Unexpected error: HTTP 503"), ErrorType.SERVER, True),
        (composio_core.ApiKeyError("Unexpected error: HTTP 400"), ErrorType.AUTH, False),
        (composio_core.ConnectedAccountNotFoundError("none"), ErrorType.NOT_FOUND, False),
        (
            composio_core.NoItemsFound("Could not find a connection with app='slack'"),
            ErrorType.AUTH,
            False,
        ),
    ],
)
def test_composio_core_typed_errors(error: BaseException, kind: ErrorType, retryable: bool) -> None:
    c = classify(error)
    assert (c.kind, c.retryable) == (kind, retryable)


def test_composio_sdk_rate_limit_with_headers() -> None:
    body = {"error": {"message": "slow down", "code": 10429, "slug": "HTTP_TooManyRequests"}}
    error = composio_status_error(composio_sdk.RateLimitError, 429, body, retry_after="7")
    assert isinstance(error, composio_sdk.ComposioError)
    c = classify(error)
    assert (c.kind, c.retry_after, c.detail) == (
        ErrorType.RATE_LIMIT,
        7.0,
        "RateLimitError HTTP 429: slow down",
    )


def test_composio_sdk_headerless_rate_limit() -> None:
    body = {"code": 10429, "slug": "HTTP_TooManyRequests"}
    c = classify(composio_status_error(composio_sdk.RateLimitError, 429, body))
    assert (c.kind, c.retry_after, c.retryable) == (ErrorType.RATE_LIMIT, None, True)


def test_composio_sdk_authentication_error() -> None:
    body = {"error": {"message": "Invalid API key", "code": 10401, "slug": "X", "status": 401}}
    c = classify(composio_status_error(composio_sdk.AuthenticationError, 401, body))
    assert (c.kind, c.retryable, c.status) == (ErrorType.AUTH, False, 401)


def test_composio_sdk_inactive_connected_account_is_an_auth_failure() -> None:
    body = {
        "error": {
            "message": "Connected account 'ca_1' of user 'u' on app 'slack' is EXPIRED",
            "code": 1804,
            "slug": "ActionExecute_ConnectedAccountNotActive",
            "status": 400,
        }
    }
    c = classify(composio_status_error(composio_sdk.APIStatusError, 400, body))
    assert (c.kind, c.retryable, c.status, c.may_have_executed) == (
        ErrorType.AUTH,
        False,
        400,
        False,
    )


def test_composio_sdk_timeout_from_connect_timeout() -> None:
    request = httpx.Request("POST", "http://127.0.0.1:9/api/v3.1/tools/execute/X")
    error = raise_from(
        composio_sdk.APITimeoutError(request), httpx.ConnectTimeout("t", request=request)
    )
    c = classify(error)
    assert (c.kind, c.may_have_executed) == (ErrorType.TIMEOUT, False)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (composio_sdk.ToolNotFoundError("GMAIL_SEND_EMAL"), ErrorType.NOT_FOUND),
        (composio_sdk.ToolVersionRequiredError(), ErrorType.VALIDATION),
        (composio_sdk.ComposioSDKTimeoutError("connection never became active"), ErrorType.TIMEOUT),
    ],
)
def test_composio_sdk_typed_errors(error: BaseException, kind: ErrorType) -> None:
    assert classify(error).kind is kind


# ---------------------------------------------------------------------------------------------
# Composio result envelopes and error bodies
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "kind", "status"),
    [
        ({"code": 10429, "slug": "HTTP_TooManyRequests"}, ErrorType.RATE_LIMIT, 429),
        ({"slug": "HTTP_TooManyRequests"}, ErrorType.RATE_LIMIT, 429),
        (
            {
                "error": {
                    "message": "m",
                    "code": 10429,
                    "slug": "HTTP_TooManyRequests",
                    "status": 429,
                }
            },
            ErrorType.RATE_LIMIT,
            429,
        ),
        (
            {"error": {"message": "Forbidden", "code": 10403, "slug": "Forbidden", "status": 403}},
            ErrorType.PERMISSION,
            403,
        ),
        # composio-core's spelling, and a 401 the downstream app returned.
        (
            {"successfull": False, "data": {}, "error": "401 Client Error: Unauthorized for url"},
            ErrorType.AUTH,
            401,
        ),
        (
            {"successful": False, "data": {"status_code": 404, "message": "no such message"}},
            ErrorType.NOT_FOUND,
            404,
        ),
        # Google's JSON error serialised into the error string.
        (
            {
                "successful": False,
                "data": None,
                "error": json.dumps(
                    {
                        "error": {
                            "code": 401,
                            "message": "Invalid creds",
                            "status": "UNAUTHENTICATED",
                        }
                    }
                ),
            },
            ErrorType.AUTH,
            401,
        ),
        (
            {"successful": False, "error": {"message": "quota", "status": "RESOURCE_EXHAUSTED"}},
            ErrorType.RATE_LIMIT,
            429,
        ),
        (
            {"successful": False, "error": "Upstream said: HTTP 503 Service Unavailable"},
            ErrorType.SERVER,
            503,
        ),
    ],
)
def test_failure_bodies(body: dict[str, Any], kind: ErrorType, status: int) -> None:
    c = classify(body)
    assert (c.kind, c.status) == (kind, status)
    assert c.retryable is (kind in {ErrorType.RATE_LIMIT, ErrorType.SERVER})


def test_401_inside_a_200_envelope() -> None:
    envelope = {"successful": False, "data": {"status_code": 401}, "error": "Unauthorized"}
    for response in (
        httpx2.Response(200, json=envelope),
        httpx.Response(200, json=envelope),
        requests_response(200, envelope),
    ):
        c = classify(response)
        assert (c.kind, c.status, c.retryable) == (ErrorType.AUTH, 401, False)
        assert c.may_have_executed is False
        assert "HTTP 200" in c.detail


def test_200_envelope_keeps_the_response_headers() -> None:
    envelope = {"successful": False, "error": {"message": "slow", "code": 10429, "slug": "s"}}
    response = httpx2.Response(200, headers={"retry-after": "3"}, json=envelope)
    c = classify(response)
    assert (c.kind, c.retry_after) == (ErrorType.RATE_LIMIT, 3.0)


@pytest.mark.parametrize(
    "result",
    [
        {"successful": True, "data": {"id": "m1"}, "error": None},
        {"successfull": True, "data": {}, "error": "ignored: the envelope says it worked"},
        {"choices": [{"message": {"content": "hi"}}]},
        {"error": None},
        {},
    ],
)
def test_successful_results_are_not_failures(result: dict[str, Any]) -> None:
    c = classify(result)
    assert (c.kind, c.retryable) == (ErrorType.UNKNOWN, False)
    assert "not a failure" in c.detail


def test_successful_response_is_not_a_failure() -> None:
    c = classify(httpx2.Response(200, json={"successful": True, "data": {}}))
    assert (c.kind, c.retryable, c.status) == (ErrorType.UNKNOWN, False, 200)


def test_expired_connected_account_without_a_status_is_guessed_auth() -> None:
    c = classify({"successful": False, "error": "Connected account ca_123 is EXPIRED"})
    assert (c.kind, c.retryable, c.status) == (ErrorType.AUTH, False, None)
    assert "guessed" in c.detail


@pytest.mark.parametrize("text", ["HTTP 200 but the body was empty", "status: 302"])
def test_envelope_naming_a_success_status_is_not_read_as_one(text: str) -> None:
    """A 2xx found in the text must not send a 200 envelope back round to itself."""
    for subject in (
        {"successful": False, "error": text},
        httpx2.Response(200, json={"error": text}),
    ):
        c = classify(subject)
        assert c.kind is ErrorType.UNKNOWN
        assert c.status is None


def test_huge_error_bodies_give_a_short_detail() -> None:
    page = "<html>" + "bad gateway " * 200_000 + "</html>"  # composio-core puts it in the message
    c = classify(composio_core.HTTPError(message=page, status_code=502))
    assert c.kind is ErrorType.SERVER
    assert len(c.detail) <= 200
    assert c.detail.startswith("HTTPError HTTP 502: <html>bad gateway")


def test_failure_with_nothing_recognisable_is_unknown() -> None:
    c = classify({"successful": False, "error": "Execution failed after 3 retries."})
    assert (c.kind, c.retryable, c.may_have_executed) == (ErrorType.UNKNOWN, False, True)
    assert c.detail == "result: Execution failed after 3 retries."


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)
envelope_keys = st.sampled_from(
    ["successful", "successfull", "error", "data", "code", "slug", "status", "status_code"]
)


@given(st.dictionaries(envelope_keys | st.text(max_size=8), json_values, max_size=6))
def test_classify_never_raises_on_arbitrary_bodies(body: dict[str, Any]) -> None:
    c = classify(body)
    assert isinstance(c.kind, ErrorType)
    assert len(c.detail) <= 200
    assert c.status is None or 100 <= c.status <= 599
    if c.retryable:
        assert c.kind in {
            ErrorType.RATE_LIMIT,
            ErrorType.TIMEOUT,
            ErrorType.CONNECTION,
            ErrorType.SERVER,
            ErrorType.CONFLICT,
        }


# ---------------------------------------------------------------------------------------------
# Unwrapping
# ---------------------------------------------------------------------------------------------


def test_generic_error_raised_from_a_transport_error_classifies_by_the_cause() -> None:
    error = raise_from(RuntimeError("tool GMAIL_SEND_EMAIL failed"), httpx.ReadTimeout("slow"))
    c = classify(error)
    assert (c.kind, c.retryable, c.may_have_executed) == (ErrorType.TIMEOUT, True, True)
    assert c.detail == "RuntimeError: tool GMAIL_SEND_EMAIL failed ← ReadTimeout: slow"


def test_cause_is_followed_through_several_generic_layers() -> None:
    inner = raise_from(ValueError("parse"), ConnectionRefusedError(111, "refused"))
    outer = raise_from(RuntimeError("agent step failed"), inner)
    assert classify(outer).kind is ErrorType.CONNECTION
    assert classify(outer).may_have_executed is False


def test_retry_error_classifies_its_last_error(openai_client: openai.OpenAI) -> None:
    last = openai_status_error(openai_client, 429, headers={"retry-after": "4"})
    c = classify(RetryError("gave up after 3 attempts", history=(), last_error=last))
    assert (c.kind, c.retry_after) == (ErrorType.RATE_LIMIT, 4.0)


def test_retry_error_without_last_error_is_unknown() -> None:
    c = classify(RetryError("gave up", history=(), last_error=None))
    assert (c.kind, c.retryable) == (ErrorType.UNKNOWN, False)


def test_single_exception_group_classifies_its_member() -> None:
    group = ExceptionGroup("unhandled errors in a TaskGroup", [ConnectionRefusedError()])
    assert classify(group).kind is ErrorType.CONNECTION


def test_cause_cycles_terminate() -> None:
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__cause__, b.__cause__ = b, a
    assert classify(a).kind is ErrorType.UNKNOWN


def test_very_long_cause_chains_terminate() -> None:
    error: BaseException = TimeoutError("bottom")
    for i in range(50):
        error = raise_from(RuntimeError(f"layer {i}"), error)
    c = classify(error)  # deeper than classify follows: it still answers, conservatively
    assert (c.kind, c.retryable, c.may_have_executed) == (ErrorType.UNKNOWN, False, True)


# ---------------------------------------------------------------------------------------------
# Last resort: the message
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("Rate limit exceeded, slow down", ErrorType.RATE_LIMIT),
        ("429 Too Many Requests", ErrorType.RATE_LIMIT),
        ("request timed out after 30s", ErrorType.TIMEOUT),
        ("401 Client Error: Unauthorized for url", ErrorType.AUTH),
        ("token has expired", ErrorType.AUTH),
        ("Permission denied for this repo", ErrorType.PERMISSION),
        ("user not found", ErrorType.NOT_FOUND),
        ("connection reset while reading", ErrorType.CONNECTION),
        ("Service Unavailable", ErrorType.SERVER),
        ("invalid argument 'to'", ErrorType.VALIDATION),
    ],
)
def test_messages_give_a_kind_but_never_permission_to_retry(message: str, kind: ErrorType) -> None:
    c = classify(Exception(message))
    assert c.kind is kind
    assert (c.retryable, c.may_have_executed) == (False, True)
    assert "guessed" in c.detail


def test_message_of_the_cause_is_read_when_the_outer_says_nothing() -> None:
    error = raise_from(RuntimeError("step 3 failed"), Exception("rate limit hit"))
    assert classify(error).kind is ErrorType.RATE_LIMIT


def test_a_typed_error_beats_a_misleading_message() -> None:
    c = classify(httpx.ConnectError("rate limit proxy refused us"))
    assert (c.kind, c.retryable) == (ErrorType.CONNECTION, True)


def test_unknown_exceptions_are_conservative() -> None:
    c = classify(KeyError("messages"))
    assert c == Classification(
        kind=ErrorType.UNKNOWN,
        retryable=False,
        detail="KeyError: 'messages'",
        may_have_executed=True,
    )


def test_hostile_exceptions_do_not_make_classify_raise() -> None:
    class Hostile(Exception):
        @property
        def status_code(self) -> int:
            raise RuntimeError("property exploded")

        @property
        def response(self) -> object:
            raise RuntimeError("property exploded")

        def __str__(self) -> str:
            raise RuntimeError("str exploded")

    c = classify(Hostile())
    assert (c.kind, c.detail) == (ErrorType.UNKNOWN, "Hostile")


# ---------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl"),
        ("key sk-abcdefghijklmnopqrstuvwx rejected", "sk-abcdefghijklmnopqrstuvwx"),
        ("sk-proj-AbC123dEf456-GhI789_jkl", "AbC123dEf456"),
        ("{'x-api-key': 'k3yk3yk3y', 'x-request-id': 'r1'}", "k3yk3yk3y"),
        ('{"api_key": "k3yk3yk3y"}', "k3yk3yk3y"),
        ("GET /v1/x?api_key=k3yk3yk3y&limit=3", "k3yk3yk3y"),
        ("x-api-key=k3yk3yk3y", "k3yk3yk3y"),
        ("access_token=tok_12345&x=1", "tok_12345"),
        ("https://bob:hunter2@proxy.internal:8080/", "hunter2"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature", "eyJzdWIiOiIxIn0"),
        ("composio key ak_abcdefghijklmnopqrst", "ak_abcdefghijklmnopqrst"),
        ("github ghp_abcdefghijklmnopqrstuvwxyz0123", "ghp_abcdefghijklmnopqrstuvwxyz0123"),
        ("client_secret: s3cr3t!", "s3cr3t!"),
    ],
)
def test_redact_secrets(text: str, secret: str) -> None:
    redacted = redact_secrets(text)
    assert secret not in redacted
    assert "[REDACTED]" in redacted


@pytest.mark.parametrize(
    "text",
    [
        "Rate limit reached for gpt-4o in organization org-123 on requests per min",
        "Error code: 429 - slow down",
        "Connected account ca_123 is EXPIRED",
        "Authorization required",
    ],
)
def test_redact_secrets_leaves_ordinary_text_alone(text: str) -> None:
    assert redact_secrets(text) == text


def test_redact_keeps_the_auth_scheme_for_the_reader() -> None:
    assert redact_secrets("Authorization: Bearer abcdefgh") == "Authorization: Bearer [REDACTED]"


def test_truncation_never_leaves_half_a_key() -> None:
    secret = "sk-" + "Q" * 40
    c = classify(Exception("x" * 180 + " Authorization: Bearer " + secret))
    assert len(c.detail) <= 200
    assert "QQQQ" not in c.detail


# ---------------------------------------------------------------------------------------------
# Import hygiene
# ---------------------------------------------------------------------------------------------


def test_classify_imports_no_sdk_or_http_library() -> None:
    """``import crs`` and classify() must work with none of the extras installed or imported."""
    code = (
        "import json, sys, crs\n"
        "from crs.resilience._classify import classify\n"
        "classify(TimeoutError()); classify(429); classify({'successful': False})\n"
        "classify(ConnectionResetError())\n"
        "banned = {'openai', 'httpx', 'httpx2', 'requests', 'urllib3', 'composio',"
        " 'composio_client', 'anyio'}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in banned)))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == []


def test_agent_error_keeps_the_production_guide_shape() -> None:
    from crs import AgentError, CrsError

    error = AgentError(ErrorType.RATE_LIMIT, "slow down", recoverable=True)
    assert (error.error_type, error.message, error.recoverable) == (
        ErrorType.RATE_LIMIT,
        "slow down",
        True,
    )
    assert isinstance(error, CrsError)
    assert AgentError(ErrorType.VALIDATION, "bad input", False).recoverable is False


def test_an_error_carrying_its_own_verdict_is_taken_at_its_word() -> None:
    verdict = Classification(ErrorType.RATE_LIMIT, retryable=True, retry_after=3.0)

    class Judged(Exception):
        classification = verdict

    class Unjudged(Exception):
        classification = "rate_limit"  # not a Classification: ignored

    assert classify(Judged("whatever the text says")) is verdict
    assert classify(RuntimeError("wrapped")).kind is ErrorType.UNKNOWN
    assert classify(Unjudged("plain")).kind is ErrorType.UNKNOWN


def test_a_verdict_round_trips_through_plain_data() -> None:
    verdict = Classification(
        ErrorType.RATE_LIMIT, retryable=True, retry_after=2.5, status=429, detail="slow down"
    )
    assert Classification.from_json(json.loads(json.dumps(verdict.to_json()))) == verdict
    with pytest.raises(ValueError, match="'nope'"):
        Classification.from_json({"kind": "nope", "retryable": False})

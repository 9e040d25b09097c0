"""The Retry-After values and HTTP errors OpenAI and Composio really answer with."""

from __future__ import annotations

import email.utils
import json
import math
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from hypothesis import strategies as st

from crs._dialects import COMPOSIO, OPENAI, RATE_LIMIT_10429, json_bytes
from crs.clock import VirtualClock
from crs.errors import ConfigError
from pytest_crs._strategies._options import choose, quarter_seconds, seconds_option

if TYPE_CHECKING:
    import httpx2

#: The forms :func:`retry_after_values` draws from.
RETRY_AFTER_FORMS: Final = ("seconds", "ms", "http-date", "junk")

# Values every client must ignore: crs's parser and the openai SDK's both read them as "no
# hint". Exponents ("1e3") and non-ASCII digits are left out on purpose: float() accepts them,
# so the SDK honours them and crs does not, and neither reading is wrong enough to test for.
_JUNK: Final = (
    "",
    " ",
    "soon",
    "later",
    "tomorrow",
    "-1",
    "-0.5",
    "-30",
    "1 hour",
    "5s",
    "10 seconds",
    "0x10",
    "1,5",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "null",
    "true",
    "Wed, 32 Foo 2023 25:61:61 GMT",
    "2023-11-14T22:13:20Z",
)


@dataclass(frozen=True)
class RetryAfterValue:
    """One way a server says when to come back, and what a correct client reads from it.

    Attributes:
        header: ``"retry-after"`` or ``"retry-after-ms"`` (OpenAI's, read first by its SDK).
        value: the header value, exactly as sent.
        form: ``"seconds"``, ``"ms"``, ``"http-date"`` or ``"junk"``.
        seconds: the wait a correct client derives, measured from the ``now`` the value was
            drawn for; ``None`` for junk, which must be ignored (and never crash the client). A
            date in the past means "now" (``0.0``).
    """

    header: str
    value: str
    form: str
    seconds: float | None

    @property
    def headers(self) -> dict[str, str]:
        """``{header: value}``, ready for a response."""
        return {self.header: self.value}


def _is_junk(value: str) -> bool:
    """Whether neither a float() reader (the openai SDK) nor an HTTP-date reader would use it."""
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if math.isfinite(number) and number >= 0:
            return False
    return email.utils.parsedate_tz(value) is None


def retry_after_values(
    *,
    forms: Iterable[str] | None = None,
    now: float = VirtualClock.DEFAULT_START,
    max_seconds: float = 120.0,
) -> st.SearchStrategy[RetryAfterValue]:
    """``Retry-After`` / ``retry-after-ms`` values in every form servers send.

    Args:
        forms: some of :data:`RETRY_AFTER_FORMS` (default: all). ``"seconds"`` may be
            fractional (``"2.5"``), which both crs and the openai SDK accept; ``"http-date"`` is
            an IMF-fixdate ``now`` plus a whole number of seconds (sometimes in the past);
            ``"junk"`` is text that every client must ignore.
        now: the wall-clock time (``time.time()`` on the clock the client uses) that dates are
            measured from; the default is :class:`~crs.clock.VirtualClock`'s start.
        max_seconds: the longest wait announced.
    """
    chosen = choose(forms, RETRY_AFTER_FORMS, "forms")
    limit = seconds_option(max_seconds, "max_seconds")
    options: list[st.SearchStrategy[RetryAfterValue]] = []
    if "seconds" in chosen:
        options.append(
            quarter_seconds(limit).map(
                lambda s: RetryAfterValue("retry-after", _number(s), "seconds", s)
            )
        )
    if "ms" in chosen:
        options.append(
            st.integers(0, int(limit * 1000)).map(
                lambda ms: RetryAfterValue("retry-after-ms", str(ms), "ms", ms / 1000)
            )
        )
    if "http-date" in chosen:
        base = math.ceil(now)
        options.append(
            st.integers(-60, int(limit)).map(
                lambda offset: RetryAfterValue(
                    "retry-after",
                    email.utils.formatdate(base + offset, usegmt=True),
                    "http-date",
                    max(0.0, base + offset - now),
                )
            )
        )
    if "junk" in chosen:
        junk = st.one_of(
            st.sampled_from(_JUNK),
            st.text(string.ascii_letters + " ,:-", max_size=12).filter(_is_junk),
        )
        options.append(
            st.tuples(st.sampled_from(("retry-after", "retry-after-ms")), junk).map(
                lambda pair: RetryAfterValue(pair[0], pair[1], "junk", None)
            )
        )
    return st.one_of(options)


def _number(seconds: float) -> str:
    """``2`` rather than ``2.0``: how servers write whole seconds."""
    return str(int(seconds)) if seconds == int(seconds) else repr(seconds)


_RETRYABLE_STATUSES: Final = frozenset({408, 409, 429})
_DEFAULT_STATUSES: Final = (400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503, 504)
_CODES: Final[Mapping[int, str]] = {
    400: "invalid_request_error",
    401: "invalid_api_key",
    403: "unsupported_country_region_territory",
    404: "model_not_found",
    408: "request_timeout",
    409: "conflict",
    422: "unprocessable_entity",
    429: "rate_limit_exceeded",
}
_MESSAGES: Final[Mapping[int, str]] = {
    400: "Invalid value for 'messages': expected an array.",
    401: "Incorrect API key provided.",
    403: "Country, region, or territory not supported.",
    404: "The model 'gpt-9' does not exist or you do not have access to it.",
    408: "Request timed out.",
    409: "The request conflicts with another request in progress.",
    422: "The request could not be processed.",
    429: "Rate limit reached for requests. Please try again later.",
}
_GATEWAY_PAGE: Final = (
    "<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"
)


@dataclass(frozen=True)
class HttpError:
    """An HTTP error response as it arrives on the wire, with what a correct client does next.

    Attributes:
        status: the status code.
        headers: header pairs in order, names lower case.
        body: the body bytes (the API's JSON error shape, or a proxy's HTML page).
        retryable: whether retrying can help: 408, 409, 429 and 5xx (what crs's classifier and
            the openai SDK agree on).
        retry_after: seconds the response asks the client to wait (``None``: no valid hint).
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    retryable: bool
    retry_after: float | None

    @property
    def header_dict(self) -> dict[str, str]:
        return dict(self.headers)

    def json(self) -> object:
        """The body parsed as JSON, or ``None`` when it is not JSON (a gateway's HTML page)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def to_httpx2(self, request: httpx2.Request | None = None) -> httpx2.Response:
        """The response as ``httpx2`` (the openai SDK's HTTP library) would hand it over."""
        import httpx2

        if request is None:
            request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
        return httpx2.Response(
            self.status, headers=list(self.headers), content=self.body, request=request
        )


def http_errors(
    statuses: Iterable[int] | None = None,
    *,
    api: str = "openai",
    retry_after: bool = True,
    now: float = VirtualClock.DEFAULT_START,
    max_retry_after: float = 60.0,
) -> st.SearchStrategy[HttpError]:
    """Error responses in the exact shapes OpenAI or Composio send.

    Args:
        statuses: which statuses (default: 400, 401, 403, 404, 408, 409, 422, 429, 500, 502,
            503, 504).
        api: ``"openai"`` (``{"error": {"message", "type", "param", "code"}}``) or
            ``"composio"`` (the current API's error shape, and sometimes its header-less 429
            ``{"code": 10429, ...}``).
        retry_after: whether 429s and 503s may carry a ``Retry-After`` (any form from
            :func:`retry_after_values`, junk included) — or never do.
        now: wall-clock time that HTTP dates are measured from.
        max_retry_after: the longest wait announced.
    """
    chosen = tuple(statuses) if statuses is not None else _DEFAULT_STATUSES
    for status in chosen:
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ConfigError(f"http_errors(statuses=...) needs 4xx/5xx ints, got {status!r}")
    if not chosen:
        raise ConfigError("http_errors(statuses=...) is empty")
    if api not in ("openai", "composio"):
        raise ConfigError(f"http_errors(api=...) must be 'openai' or 'composio', got {api!r}")
    hints: st.SearchStrategy[RetryAfterValue | None] = (
        st.none() | retry_after_values(now=now, max_seconds=max_retry_after)
        if retry_after
        else st.none()
    )

    @st.composite
    def build(draw: st.DrawFn) -> HttpError:
        status = draw(st.sampled_from(chosen))
        headers: list[tuple[str, str]] = []
        hint = draw(hints) if status in (429, 503) else None
        if hint is not None:
            headers.append((hint.header, hint.value))
        if api == "composio" and status == 429 and hint is None and draw(st.booleans()):
            body = json_bytes(dict(RATE_LIMIT_10429))  # the undocumented, header-less shape
        elif status >= 500 and draw(st.booleans()):
            headers.append(("content-type", "text/html"))
            return HttpError(
                status,
                tuple(headers),
                _GATEWAY_PAGE.format(status=status).encode(),
                True,
                None if hint is None else hint.seconds,
            )
        else:
            message = _MESSAGES.get(status, "The server had an error processing your request.")
            code = _CODES.get(status, "server_error")
            dialect = OPENAI if api == "openai" else COMPOSIO
            body = json_bytes(dialect.error_body(status, message, code=code))
        if api == "openai" and status == 429:
            wait = 0.0 if hint is None else hint.seconds or 0.0
            headers.extend(OPENAI.quota_headers(wait, now=now).items())
        headers.append(("content-type", "application/json"))
        retryable = status in _RETRYABLE_STATUSES or status >= 500
        return HttpError(
            status, tuple(headers), body, retryable, None if hint is None else hint.seconds
        )

    return build()

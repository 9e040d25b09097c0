"""Hypothesis strategies for the values resilience code meets in production.

Example-based tests of retry code check the failures their author thought of. These strategies
generate the rest: every shape of ``Retry-After`` (seconds, milliseconds, HTTP dates, junk that
must be ignored), the HTTP errors OpenAI and Composio really answer with, fault schedules for
``crs_faults``, retry policies, tool calls, chat completions and credentials. Each takes keyword
options to narrow it, and every value it draws is valid for the thing it stands for (the tests
parse and validate them), so a failure points at the code under test, not at the generator.

Values are plain and immutable where they can be (``Schedule``, ``RetryAfterValue``,
``HttpError``, ``FaultRecipe``), so Hypothesis can print, shrink and replay them; anything with
state (a :class:`~pytest_crs.faults.FaultPlan`) is *built* from a drawn recipe, per example.

:mod:`pytest_crs.properties` builds on these to check whole retry policies.
"""

from __future__ import annotations

import base64
import email.utils
import json
import math
import random
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from hypothesis import strategies as st

from crs._dialects import COMPOSIO, OPENAI, RATE_LIMIT_10429, json_bytes
from crs.clock import Clock, VirtualClock
from crs.errors import ConfigError
from crs.resilience import (
    RetryPolicy,
    Stop,
    Wait,
    stop_after_attempt,
    stop_after_delay,
    stop_after_total_delay,
    wait_equal_jitter,
    wait_exponential,
    wait_fixed,
    wait_full_jitter,
    wait_jitter,
    wait_none,
)
from crs.tools._actions import looks_read_only
from pytest_crs.faults import (
    Fault,
    FaultKind,
    FaultPlan,
    Schedule,
    Target,
    auth_expired,
    connection_reset,
    fail,
    latency,
    rate_limit,
    server_error,
    stream_cut,
    succeed,
    timeout,
    tool,
    tool_failure,
)
from pytest_crs.faults._targets import TargetKind, ToolCall

if TYPE_CHECKING:
    import httpx2

__all__ = [
    "CREDENTIAL_KINDS",
    "RETRY_AFTER_FORMS",
    "WAITS",
    "FaultRecipe",
    "HttpError",
    "RetryAfterValue",
    "chat_completions",
    "credentials",
    "fault_plans",
    "fault_schedules",
    "faults",
    "http_errors",
    "retry_after_values",
    "retry_policies",
    "tool_calls",
]

# ---------------------------------------------------------------------------------------------
# Retry-After
# ---------------------------------------------------------------------------------------------

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


def _quarter_seconds(maximum: float, minimum: float = 0.0) -> st.SearchStrategy[float]:
    """Waits in steps of 0.25 s: exact in binary and in every header form, so a client that
    rounds is never blamed for a wait the header could not express."""
    low, high = math.ceil(minimum * 4), math.floor(maximum * 4)
    return st.integers(low, max(low, high)).map(lambda quarters: quarters / 4)


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
    chosen = _choose(forms, RETRY_AFTER_FORMS, "forms")
    limit = _seconds_option(max_seconds, "max_seconds")
    options: list[st.SearchStrategy[RetryAfterValue]] = []
    if "seconds" in chosen:
        options.append(
            _quarter_seconds(limit).map(
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


# ---------------------------------------------------------------------------------------------
# HTTP errors
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# Faults and schedules
# ---------------------------------------------------------------------------------------------

_FORMS: Final = ("seconds", "ms", "http-date", "none")


def faults(
    kinds: Iterable[FaultKind | str] | None = None,
    *,
    target: Target | None = None,
    max_retry_after: float = 60.0,
    retry_after_forms: Iterable[str] | None = None,
    max_latency: float = 5.0,
) -> st.SearchStrategy[Fault]:
    """Single faults, as ``crs_faults`` injects them, with realistic parameters.

    Args:
        kinds: which :class:`~pytest_crs.faults.FaultKind` s (names or members). The default is
            every kind that makes sense for ``target``, except ``stream_cut`` (retry policies do
            not see cut streams; ask for it by name).
        target: the target the faults are for. Tool targets also get Composio's tool-only
            shapes (``tool_failure``, expired connected accounts, 401-in-200, the header-less
            10429); LLM and HTTP targets, and ``None``, get only what every API can produce.
        max_retry_after: the longest Retry-After a 429 announces (drawn in quarter seconds).
        retry_after_forms: how 429s announce the wait: some of ``"seconds"``, ``"ms"``,
            ``"http-date"`` (whole seconds) and ``"none"`` (default: all).
        max_latency: the longest ``latency()`` fault.
    """
    tools = target is not None and target.kind is TargetKind.TOOL
    default: set[FaultKind] = {kind for kind in FaultKind if kind is not FaultKind.STREAM_CUT}
    if not tools:
        default.discard(FaultKind.TOOL_FAILURE)
    chosen = _choose_kinds(kinds, default)
    if tools and FaultKind.STREAM_CUT in chosen:
        raise ConfigError("faults(kinds=...): tool calls do not stream, so stream_cut cannot apply")
    if not tools and FaultKind.TOOL_FAILURE in chosen and target is not None:
        raise ConfigError(f"faults(kinds=...): tool_failure cannot happen to {target.describe()}")
    wait_limit = _seconds_option(max_retry_after, "max_retry_after")
    latency_limit = _seconds_option(max_latency, "max_latency")
    forms = _choose(retry_after_forms, _FORMS, "retry_after_forms")

    options: list[st.SearchStrategy[Fault]] = []
    if FaultKind.RATE_LIMIT in chosen:
        options.append(_rate_limits(forms, wait_limit, composio=tools))
    if FaultKind.SERVER_ERROR in chosen:
        options.append(st.sampled_from((500, 502, 503, 504)).map(server_error))
    if FaultKind.TIMEOUT in chosen:
        options.append(st.sampled_from(("connect", "read")).map(timeout))
    if FaultKind.CONNECTION_RESET in chosen:
        options.append(st.booleans().map(lambda after: connection_reset(after_send=after)))
    if FaultKind.LATENCY in chosen:
        options.append(_quarter_seconds(latency_limit).map(latency))
    if FaultKind.AUTH_EXPIRED in chosen:
        auth_forms = ("401", "expired-account", "401-in-200") if tools else ("401",)
        options.append(st.sampled_from(auth_forms).map(auth_expired))
    if FaultKind.TOOL_FAILURE in chosen:
        messages = st.sampled_from(
            (
                "Issue creation failed: repository is archived",
                "The channel was not found",
                "Rate limit exceeded on the provider side",
                "Invalid recipient address",
            )
        )
        options.append(messages.map(tool_failure))
    if FaultKind.STREAM_CUT in chosen:
        options.append(st.integers(0, 5).map(stream_cut))
    return st.one_of(options)


def _rate_limits(forms: Sequence[str], limit: float, *, composio: bool) -> st.SearchStrategy[Fault]:
    @st.composite
    def build(draw: st.DrawFn) -> Fault:
        if composio and draw(st.integers(0, 5)) == 5:  # shrinks to the documented shape
            return rate_limit(None, form="none", shape="composio-10429")
        form = draw(st.sampled_from(forms))
        if form == "none":
            return rate_limit(None, form="none")
        if form == "http-date":
            wait = float(draw(st.integers(0, max(0, math.floor(limit)))))
        else:
            wait = draw(_quarter_seconds(limit))
        return rate_limit(wait, form=form)

    return build()


def fault_schedules(
    faults: st.SearchStrategy[Fault] | Iterable[Fault | FaultKind | str] | None = None,
    *,
    min_faults: int = 0,
    max_faults: int = 3,
    finite: bool = True,
    target: Target | None = None,
) -> st.SearchStrategy[Schedule]:
    """Schedules of faults for one target: ``fail(a).times(2).then(fail(b)).then(succeed())``.

    A finite schedule (the default) fails between ``min_faults`` and ``max_faults`` attempts in
    a row and then lets every attempt through, so a policy allowing more attempts than it has
    faults must succeed. With ``finite=False`` the schedule may instead end failing forever
    (``.always()``), every k-th attempt (``.every(k)``) or at random (``.with_probability(p)``,
    seeded by the plan): what a policy's stop conditions are for.

    Args:
        faults: a strategy of faults, or the faults / kinds to choose from (default:
            :func:`faults` for ``target``).
        min_faults: the fewest failing attempts before the schedule ends.
        max_faults: the most failing attempts before the schedule ends.
        finite: whether every schedule ends in success.
        target: what the faults are for (only used for the default ``faults``).
    """
    if isinstance(min_faults, bool) or not isinstance(min_faults, int) or min_faults < 0:
        raise ConfigError(
            f"fault_schedules(min_faults=...) must be an int >= 0, got {min_faults!r}"
        )
    if isinstance(max_faults, bool) or not isinstance(max_faults, int) or max_faults < min_faults:
        raise ConfigError(
            f"fault_schedules(max_faults=...) must be an int >= min_faults={min_faults}, "
            f"got {max_faults!r}"
        )
    source = _fault_source(faults, target)

    @st.composite
    def build(draw: st.DrawFn) -> Schedule:
        remaining = draw(st.integers(min_faults, max_faults))
        runs: list[tuple[Fault, int]] = []
        while remaining:
            count = draw(st.integers(1, remaining))
            remaining -= count
            fault = draw(source)
            if runs and runs[-1][0] == fault:  # fail(a).times(2), not fail(a).then(fail(a))
                count += runs.pop()[1]
            runs.append((fault, count))
        ending = succeed()
        if not finite:
            ending = draw(
                st.one_of(
                    st.just(succeed()),
                    source.map(lambda f: fail(f).always()),
                    st.tuples(source, st.integers(2, 4)).map(lambda p: fail(p[0]).every(p[1])),
                    st.tuples(source, st.sampled_from((0.25, 0.5, 0.75))).map(
                        lambda p: fail(p[0]).with_probability(p[1])
                    ),
                )
            )
        schedule: Schedule | None = None
        for fault, count in runs:
            step = fail(fault).times(count)
            schedule = step if schedule is None else schedule.then(step)
        return ending if schedule is None else schedule.then(ending)

    return build()


def _fault_source(
    given: st.SearchStrategy[Fault] | Iterable[Fault | FaultKind | str] | None,
    target: Target | None,
) -> st.SearchStrategy[Fault]:
    if given is None:
        return faults(target=target)
    if isinstance(given, st.SearchStrategy):
        return given
    items = list(given)
    if not items:
        raise ConfigError("faults=... is empty: a schedule needs something to fail with")
    if all(isinstance(item, Fault) for item in items):
        return st.sampled_from([item for item in items if isinstance(item, Fault)])
    if any(isinstance(item, Fault) for item in items):
        raise ConfigError("faults=... mixes Fault values and kind names; pass one or the other")
    return faults([item for item in items if not isinstance(item, Fault)], target=target)


@dataclass(frozen=True)
class FaultRecipe:
    """The rules of a fault plan, as a value: build a fresh :class:`FaultPlan` per example.

    A plan is stateful (it counts attempts and remembers what fired), so a strategy cannot hand
    out plans; it hands out recipes, which print, shrink and replay like any value.
    """

    rules: tuple[tuple[Target, Schedule], ...]
    seed: int = 0

    def build(
        self,
        *,
        clock: Clock | None = None,
        strict: bool = False,
        read_only: Callable[[str, str], bool] = looks_read_only,
    ) -> FaultPlan:
        """A new plan with these rules (not strict by default: a drawn rule may never fire)."""
        plan = FaultPlan(seed=self.seed, clock=clock, read_only=read_only, strict=strict)
        self.apply(plan, strict=strict)
        return plan

    def apply(self, plan: FaultPlan, *, strict: bool = False) -> FaultPlan:
        """Add the rules to an existing plan (such as the ``crs_faults`` fixture); returns it."""
        for target, schedule in self.rules:
            plan.on(target, schedule, strict=strict)
        return plan

    @property
    def targets(self) -> tuple[Target, ...]:
        return tuple(target for target, _ in self.rules)

    def describe(self) -> str:
        rules = "".join(f".on({t.describe()}, {s.describe()})" for t, s in self.rules)
        return f"FaultPlan(seed={self.seed}){rules}"

    def __repr__(self) -> str:
        return self.describe()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """How Hypothesis prints a falsifying example: as the user would write the plan."""
        del cycle  # a value never contains itself
        printer.text(self.describe())


def fault_plans(
    target: Target | Sequence[Target] | None = None,
    *,
    faults: st.SearchStrategy[Fault] | Iterable[Fault | FaultKind | str] | None = None,
    min_faults: int = 0,
    max_faults: int = 3,
    finite: bool = True,
) -> st.SearchStrategy[FaultRecipe]:
    """Recipes for fault plans: one rule per target, each with a drawn schedule.

    ``recipe.build(clock=...)`` makes the plan; ``recipe.apply(crs_faults)`` adds the rules to
    the fixture's. The seed (for ``with_probability`` steps) is drawn too, so a failure replays.

    Args:
        target: a target or several (default: ``tool()``, every tool call).
        faults: as for :func:`fault_schedules` (default: :func:`faults` for each target).
        min_faults: the fewest failing attempts per rule before its schedule ends.
        max_faults: the most failing attempts per rule before its schedule ends.
        finite: whether every rule ends in success.
    """
    targets: tuple[Target, ...]
    if target is None:
        targets = (tool(),)
    elif isinstance(target, Target):
        targets = (target,)
    else:
        targets = tuple(target)
    if not targets or not all(isinstance(t, Target) for t in targets):
        raise ConfigError(
            f"fault_plans(target=...) needs llm(), tool() or http() targets, got {target!r}"
        )
    schedules = [
        fault_schedules(
            faults,
            min_faults=min_faults,
            max_faults=max_faults,
            finite=finite,
            target=t,
        )
        for t in targets
    ]
    return st.builds(
        lambda drawn, seed: FaultRecipe(tuple(zip(targets, drawn, strict=True)), seed),
        st.tuples(*schedules),
        st.integers(0, 2**16),
    )


# ---------------------------------------------------------------------------------------------
# Retry policies
# ---------------------------------------------------------------------------------------------

#: The backoff shapes :func:`retry_policies` draws from.
WAITS: Final = ("none", "fixed", "exponential", "full_jitter", "equal_jitter", "jittered")


def retry_policies(
    *,
    min_attempts: int = 1,
    max_attempts: int = 6,
    waits: Iterable[str] | None = None,
    max_wait: float = 10.0,
    budget: float | None = None,
    idempotent: bool | None = None,
    retry_ambiguous: bool | None = False,
    respect_retry_after: bool | None = True,
    max_retry_after: float | None = None,
) -> st.SearchStrategy[RetryPolicy]:
    """crs :class:`~crs.resilience.RetryPolicy` values, always bounded in attempts.

    Jittered waits get their own seeded ``random.Random``, so a drawn policy behaves the same
    every time Hypothesis replays it.

    Args:
        min_attempts: the fewest attempts a policy allows (its ``stop_after_attempt``).
        max_attempts: the most attempts a policy allows.
        waits: backoff shapes to choose from: ``"none"``, ``"fixed"``, ``"exponential"``,
            ``"full_jitter"``, ``"equal_jitter"``, ``"jittered"`` (exponential plus
            ``wait_jitter``). Default: all.
        max_wait: the largest base, cap or fixed wait, in seconds.
        budget: when given, every policy also stops before its total waiting would pass a
            drawn ``stop_after_total_delay`` of at most ``budget`` seconds; otherwise some
            policies get a ``stop_after_delay`` or ``stop_after_total_delay`` and some do not.
        idempotent: fix the flag, or ``None`` to draw it.
        retry_ambiguous: fix the flag, or ``None`` to draw it (default ``False``: the safe one).
        respect_retry_after: fix the flag, or ``None`` to draw it (default ``True``).
        max_retry_after: fix the longest Retry-After honoured, or ``None`` to draw one up to
            120 s.
    """
    low = _positive_int(min_attempts, "min_attempts")
    high = _positive_int(max_attempts, "max_attempts")
    if high < low:
        raise ConfigError(f"retry_policies(max_attempts={high}) is below min_attempts={low}")
    shapes = _choose(waits, WAITS, "waits")
    wait_limit = _seconds_option(max_wait, "max_wait")
    budget_limit = None if budget is None else _seconds_option(budget, "budget")
    if max_retry_after is not None:
        _seconds_option(max_retry_after, "max_retry_after")

    seconds = _quarter_seconds(wait_limit)

    def flag(fixed: bool | None) -> st.SearchStrategy[bool]:
        return st.booleans() if fixed is None else st.just(fixed)

    @st.composite
    def build(draw: st.DrawFn) -> RetryPolicy:
        stop: Stop = stop_after_attempt(draw(st.integers(low, high)))
        if budget_limit is not None:
            stop = stop | stop_after_total_delay(draw(_quarter_seconds(budget_limit)))
        else:
            extra = draw(st.sampled_from(("none", "delay", "total")))
            if extra != "none":
                limit = draw(_quarter_seconds(wait_limit * high))
                stop = stop | (
                    stop_after_delay(limit) if extra == "delay" else stop_after_total_delay(limit)
                )
        return RetryPolicy(
            stop=stop,
            wait=draw(_waits(draw(st.sampled_from(shapes)), seconds)),
            idempotent=draw(flag(idempotent)),
            retry_ambiguous=draw(flag(retry_ambiguous)),
            respect_retry_after=draw(flag(respect_retry_after)),
            max_retry_after=(
                draw(_quarter_seconds(120.0)) if max_retry_after is None else max_retry_after
            ),
        )

    return build()


def _waits(shape: str, seconds: st.SearchStrategy[float]) -> st.SearchStrategy[Wait]:
    rngs = st.integers(0, 2**32 - 1).map(random.Random)
    if shape == "none":
        return st.just(wait_none())
    if shape == "fixed":
        return seconds.map(wait_fixed)
    bounds = st.tuples(seconds, seconds).map(sorted)
    if shape == "exponential":
        return bounds.map(lambda b: wait_exponential(b[0], b[1]))
    if shape == "full_jitter":
        return st.tuples(bounds, rngs).map(lambda p: wait_full_jitter(p[0][0], p[0][1], rng=p[1]))
    if shape == "equal_jitter":
        return st.tuples(bounds, rngs).map(lambda p: wait_equal_jitter(p[0][0], p[0][1], rng=p[1]))
    return st.tuples(bounds, seconds, rngs).map(
        lambda p: wait_exponential(p[0][0], p[0][1]) + wait_jitter(p[1], rng=p[2])
    )


# ---------------------------------------------------------------------------------------------
# Tool calls
# ---------------------------------------------------------------------------------------------

_KNOWN_SLUGS: Final = (
    "GITHUB_CREATE_AN_ISSUE",
    "GITHUB_GET_AN_ISSUE",
    "GITHUB_LIST_REPOSITORY_ISSUES",
    "GMAIL_FETCH_EMAILS",
    "GMAIL_SEND_EMAIL",
    "SLACK_FETCH_CONVERSATION_HISTORY",
    "SLACK_SEND_MESSAGE",
)
_APPS: Final = ("GITHUB", "SLACK", "GMAIL", "NOTION", "LINEAR", "GOOGLECALENDAR", "HUBSPOT")
_VERBS: Final = (
    "CREATE", "SEND", "UPDATE", "DELETE", "ADD", "POST", "GET", "LIST", "FETCH", "SEARCH",
)  # fmt: skip
_NOUNS: Final = (
    "ISSUE", "AN_ISSUE", "MESSAGE", "EMAIL", "PAGE", "EVENT", "COMMENT", "CONTACT", "DRAFT",
    "REPOSITORY_ISSUES", "CHANNEL_MEMBERS",
)  # fmt: skip
_USERS: Final = ("default", "user-1", "user-42", "alice@example.com", "entity_7f3a")


def _json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """JSON values that round-trip exactly (no NaN, no lone surrogates, ints within 2**53)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**53), 2**53),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(st.characters(codec="utf-8"), max_size=20),
    )
    keys = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def tool_calls(
    *,
    slugs: Iterable[str] | None = None,
    apps: Iterable[str] | None = None,
    read_only: bool | None = None,
    user_ids: st.SearchStrategy[str | None] | None = None,
    max_arguments: int = 4,
) -> st.SearchStrategy[ToolCall]:
    """Tool executions as the fault plan sees them: ``APP_ACTION`` slugs and JSON arguments.

    Slugs are Composio's real ones (``GITHUB_CREATE_AN_ISSUE``, ``SLACK_SEND_MESSAGE``, ...) or
    built the same way; ``app`` is the slug's first word in lower case, as both Composio SDKs
    report it.

    Args:
        slugs: the slugs to choose from (default: real and made-up ``APP_VERB_NOUN`` ones).
        apps: keep only slugs of these apps (``"github"``, ``"SLACK"``).
        read_only: ``True`` for reads only (``GET``, ``LIST``, ``FETCH`` ...), ``False`` for
            side-effecting actions only, as the adapter and ``FaultPlan.duplicates`` judge them.
        user_ids: strategy of user ids (default: a few realistic ones, or ``None``).
        max_arguments: the most top-level arguments.
    """
    if slugs is not None:
        pool = [s.strip().upper() for s in slugs]
        if not pool or not all(s and "_" in s for s in pool):
            raise ConfigError(f"tool_calls(slugs=...) needs APP_ACTION slugs, got {slugs!r}")
        slug_source: st.SearchStrategy[str] = st.sampled_from(pool)
    else:
        made_up = st.builds(
            lambda app, verb, noun: f"{app}_{verb}_{noun}",
            st.sampled_from(_APPS),
            st.sampled_from(_VERBS),
            st.sampled_from(_NOUNS),
        )
        slug_source = st.sampled_from(_KNOWN_SLUGS) | made_up
    wanted_apps = None if apps is None else {a.strip().upper() for a in apps}

    def keep(slug: str) -> bool:
        app = slug.partition("_")[0]
        if wanted_apps is not None and app not in wanted_apps:
            return False
        return read_only is None or looks_read_only(app, slug) == read_only

    users = st.none() | st.sampled_from(_USERS) if user_ids is None else user_ids
    keys = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
    arguments = st.dictionaries(keys, _json_values(), max_size=max_arguments)
    return st.builds(
        lambda slug, args, user: ToolCall(
            slug=slug,
            app=slug.partition("_")[0].lower(),
            action=slug,
            arguments=args,
            user_id=user,
        ),
        slug_source.filter(keep),
        arguments,
        users,
    )


# ---------------------------------------------------------------------------------------------
# Chat completions
# ---------------------------------------------------------------------------------------------

_MODELS: Final = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3-mini", "gpt-5-mini")
_ALNUM: Final = string.ascii_letters + string.digits


def _ident(prefix: str, size: int) -> st.SearchStrategy[str]:
    return st.text(_ALNUM, min_size=size, max_size=size).map(lambda body: prefix + body)


def _tool_call_dicts() -> st.SearchStrategy[dict[str, Any]]:
    names = st.sampled_from(_KNOWN_SLUGS) | st.from_regex(r"[a-z][a-z0-9_]{2,20}", fullmatch=True)
    arguments = st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True), _json_values(4), max_size=3
    )
    return st.builds(
        lambda call_id, name, args: {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        },
        _ident("call_", 24),
        names,
        arguments,
    )


def chat_completions(
    *,
    models: Iterable[str] | None = None,
    tool_calls: bool | None = None,
    max_choices: int = 2,
) -> st.SearchStrategy[dict[str, Any]]:
    """``chat.completion`` objects as OpenAI's API returns them (JSON dicts).

    Answers with text, refusals, truncated text (``finish_reason: "length"``) or tool calls,
    with usage counts that add up. ``openai.types.chat.ChatCompletion.model_validate`` accepts
    every one.

    Args:
        models: model names to choose from.
        tool_calls: ``True`` for tool-calling answers only, ``False`` for none, ``None`` either.
        max_choices: the most choices (``n``) per completion.
    """
    model_names = tuple(models) if models is not None else _MODELS
    if not model_names:
        raise ConfigError("chat_completions(models=...) is empty")
    choices_limit = _positive_int(max_choices, "max_choices")
    texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=80)

    @st.composite
    def message(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
        calls = draw(st.booleans()) if tool_calls is None else tool_calls
        if calls:
            content = draw(st.none() | texts)
            body: dict[str, Any] = {
                "role": "assistant",
                "content": content,
                "refusal": None,
                "tool_calls": draw(st.lists(_tool_call_dicts(), min_size=1, max_size=3)),
            }
            return body, "tool_calls"
        shape = draw(st.sampled_from(("text", "text", "length", "refusal", "filtered")))
        if shape == "refusal":
            refusal = draw(texts)
            return {"role": "assistant", "content": None, "refusal": refusal}, "stop"
        if shape == "filtered":
            return {"role": "assistant", "content": None, "refusal": None}, "content_filter"
        reason = "length" if shape == "length" else "stop"
        return {"role": "assistant", "content": draw(texts), "refusal": None}, reason

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        count = draw(st.integers(1, choices_limit))
        choices = []
        for index in range(count):
            body, reason = draw(message())
            choices.append(
                {"index": index, "message": body, "logprobs": None, "finish_reason": reason}
            )
        prompt = draw(st.integers(1, 50_000))
        completion = draw(st.integers(0, 4_000))
        completion_data: dict[str, Any] = {
            "id": draw(_ident("chatcmpl-", 29)),
            "object": "chat.completion",
            "created": draw(st.integers(1_600_000_000, 1_900_000_000)),
            "model": draw(st.sampled_from(model_names)),
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
            "system_fingerprint": draw(
                st.none() | st.text("0123456789abcdef", min_size=10, max_size=10).map("fp_".__add__)
            ),
        }
        if draw(st.booleans()):
            completion_data["service_tier"] = draw(st.sampled_from(("default", "auto", "flex")))
        return completion_data

    return build()


# ---------------------------------------------------------------------------------------------
# Credentials
# ---------------------------------------------------------------------------------------------

#: The credential shapes :func:`credentials` draws from.
CREDENTIAL_KINDS: Final = (
    "openai",
    "openai-project",
    "stripe-style",
    "composio",
    "github",
    "github-pat",
    "slack",
    "google",
    "aws",
    "jwt",
    "bearer",
)
_URLSAFE: Final = _ALNUM + "-_"


def _chars(alphabet: str, size: int, maximum: int | None = None) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=size, max_size=size if maximum is None else maximum)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwts() -> st.SearchStrategy[str]:
    header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    claims = st.builds(
        lambda sub, exp: _b64url(json.dumps({"sub": sub, "exp": exp}).encode()),
        st.from_regex(r"[a-z0-9_-]{1,16}", fullmatch=True),
        st.integers(1_600_000_000, 1_900_000_000),
    )
    return st.builds(
        lambda body, signature: f"{header}.{body}.{signature}", claims, _chars(_URLSAFE, 43)
    )


_CREDENTIALS: Final[Mapping[str, Callable[[], st.SearchStrategy[str]]]] = {
    "openai": lambda: _chars(_ALNUM, 48).map("sk-".__add__),
    "openai-project": lambda: _chars(_URLSAFE, 40, 100).map("sk-proj-".__add__),
    "stripe-style": lambda: st.builds(
        lambda kind, mode, body: f"{kind}_{mode}_{body}",
        st.sampled_from(("sk", "pk", "rk")),
        st.sampled_from(("test", "live")),
        _chars(_ALNUM, 24),
    ),
    "composio": lambda: st.builds(
        lambda prefix, body: prefix + body, st.sampled_from(("ak_", "uak_")), _chars(_ALNUM, 20)
    ),
    "github": lambda: st.builds(
        lambda kind, body: f"{kind}_{body}",
        st.sampled_from(("ghp", "gho", "ghu", "ghs", "ghr")),
        _chars(_ALNUM, 36),
    ),
    "github-pat": lambda: _chars(_ALNUM + "_", 82).map("github_pat_".__add__),
    "slack": lambda: st.builds(
        lambda kind, team, user, body: f"xox{kind}-{team}-{user}-{body}",
        st.sampled_from("abpr"),
        _chars(string.digits, 11),
        _chars(string.digits, 12),
        _chars(_ALNUM, 24),
    ),
    "google": lambda: _chars(_URLSAFE, 35).map("AIza".__add__),
    "aws": lambda: _chars(string.ascii_uppercase + string.digits, 16).map("AKIA".__add__),
    "jwt": _jwts,
    "bearer": lambda: _chars(_ALNUM + "._~+/-", 20, 60).map("Bearer ".__add__),
}


def credentials(kinds: Iterable[str] | None = None) -> st.SearchStrategy[str]:
    """Secrets in the shapes crs's redaction recognises wherever they appear.

    OpenAI keys (``sk-...``, ``sk-proj-...``), Stripe-style and Composio keys (``sk_live_...``,
    ``ak_...``), GitHub tokens (``ghp_...``, ``github_pat_...``), Slack tokens (``xoxb-...``),
    Google API keys (``AIza...``), AWS access key ids (``AKIA...``), JWTs and ``Bearer``
    authorization values. Put one into a request, an error or a tool result and assert it never
    shows up in a cassette, a log line or a ``repr``: ``redact_secrets`` removes each whole.

    Args:
        kinds: some of ``"openai"``, ``"openai-project"``, ``"stripe-style"``, ``"composio"``,
            ``"github"``, ``"github-pat"``, ``"slack"``, ``"google"``, ``"aws"``, ``"jwt"``,
            ``"bearer"`` (default: all).
    """
    chosen = _choose(kinds, CREDENTIAL_KINDS, "kinds")
    return st.one_of([_CREDENTIALS[kind]() for kind in chosen])


# ---------------------------------------------------------------------------------------------
# Option checking
# ---------------------------------------------------------------------------------------------


def _choose(given: Iterable[str] | None, known: Sequence[str], name: str) -> tuple[str, ...]:
    if given is None:
        return tuple(known)
    chosen = tuple(dict.fromkeys(str(item) for item in given))
    unknown = [item for item in chosen if item not in known]
    if unknown or not chosen:
        raise ConfigError(
            f"{name}={list(chosen)!r} must be a non-empty selection of {', '.join(known)}"
        )
    return chosen


def _choose_kinds(
    given: Iterable[FaultKind | str] | None, default: set[FaultKind]
) -> frozenset[FaultKind]:
    if given is None:
        return frozenset(default)
    chosen: set[FaultKind] = set()
    for item in given:
        try:
            chosen.add(FaultKind(str(item).lower().replace("-", "_")))
        except ValueError:
            known = ", ".join(kind.value for kind in FaultKind)
            raise ConfigError(f"faults(kinds=...): {item!r} is not one of {known}") from None
    if not chosen:
        raise ConfigError("faults(kinds=...) is empty")
    return frozenset(chosen)


def _seconds_option(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ConfigError(f"{name} must be a finite, non-negative number of seconds, got {value!r}")
    return float(value)


def _positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive int, got {value!r}")
    return value

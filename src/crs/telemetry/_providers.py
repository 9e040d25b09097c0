"""Where crs telemetry goes: the providers its tracer and meter come from, resolved at each use.

OpenTelemetry is an optional extra, so nothing here imports it until the first instrumented call,
and then only once. Three states, checked on every call so that a provider installed later is
picked up by objects built earlier:

* **opentelemetry-api not installed** — every helper is a no-op.
* **API installed, nothing configured** (no global provider set, or only OpenTelemetry's
  proxies and no-op providers) — also a no-op, decided by reading two of the API's module
  globals (well under a microsecond): no span objects, no attribute dictionaries, no
  instrument lookups.
* **a provider configured** — either handed to crs with :func:`use_providers` /
  :func:`set_providers`, or installed globally with ``trace.set_tracer_provider`` /
  ``metrics.set_meter_provider``. crs's own providers win over the global ones.

Why crs can be *handed* providers instead of only reading the global ones: OpenTelemetry lets a
process set its global providers once, and ignores (with a warning) every later attempt. A test
suite needs a fresh in-memory provider per test, so the ``crs_spans`` fixture hands its providers
to crs for the test and takes them back afterwards, leaving the global state untouched — and an
application that has configured OpenTelemetry globally needs to do nothing at all.

Instruments are created once per provider pair and reused until the providers change.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from crs.telemetry._names import MetricName

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram, MeterProvider
    from opentelemetry.trace import Tracer, TracerProvider

__all__ = ["Instruments", "active", "get_providers", "set_providers", "use_providers"]

_SCOPE = "crs"
_COUNTERS = {
    MetricName.TOOL_EXECUTIONS: ("{execution}", "Tool executions through the crs adapter"),
    MetricName.TOOL_RETRIES: ("{retry}", "Tool attempts that were retries"),
    MetricName.CACHE_HITS: ("{lookup}", "Tool executions answered from the response cache"),
    MetricName.CACHE_MISSES: ("{lookup}", "Cache-enabled tool executions not in the cache"),
    MetricName.LLM_CALLS: ("{call}", "Model calls"),
    MetricName.LLM_RETRIES: ("{retry}", "Model call attempts that were retries"),
    MetricName.LLM_TOKENS: ("{token}", "Tokens used by model calls"),
    MetricName.AGENT_RUNS: ("{run}", "Agent runs"),
    MetricName.AGENT_RETRIES: ("{retry}", "Agent run attempts that were retries"),
}
_HISTOGRAMS = {
    MetricName.TOOL_DURATION: "Tool execution latency on the crs clock",
    MetricName.LLM_DURATION: "Model call latency on the crs clock",
    MetricName.AGENT_DURATION: "Agent run latency on the crs clock",
}


@dataclass(frozen=True, slots=True)
class Instruments:
    """The tracer and metric instruments of one provider pair."""

    tracer: Tracer
    counters: dict[str, Counter]
    histograms: dict[str, Histogram]


class _Api:
    """The parts of opentelemetry-api crs uses, imported once."""

    def __init__(self) -> None:
        from opentelemetry import context, metrics, trace
        from opentelemetry.environment_variables import (
            OTEL_PYTHON_METER_PROVIDER,
            OTEL_PYTHON_TRACER_PROVIDER,
        )

        self.context = context
        self.metrics = metrics
        self.trace = trace
        self.status = trace.Status
        self.error = trace.StatusCode.ERROR
        self.client = trace.SpanKind.CLIENT
        self.internal = trace.SpanKind.INTERNAL
        self.default_tracers: tuple[type, ...] = (
            trace.ProxyTracerProvider,
            trace.NoOpTracerProvider,
        )
        self.noop_meters: tuple[type, ...] = (metrics.NoOpMeterProvider,)
        # Where the API keeps its global providers (``None`` until one is set). Reading them
        # directly skips the environment lookup ``get_*_provider()`` makes on every call — most
        # of the cost of deciding that telemetry is off. Used only when the API still keeps them
        # there and no provider is named by environment variable (those are loaded on first
        # ``get_*_provider()``); otherwise the public functions are called every time.
        self._trace_globals: Any = trace
        self._metric_globals: Any = importlib.import_module("opentelemetry.metrics._internal")
        self._fast = (
            OTEL_PYTHON_TRACER_PROVIDER not in os.environ
            and OTEL_PYTHON_METER_PROVIDER not in os.environ
            and hasattr(self._trace_globals, "_TRACER_PROVIDER")
            and hasattr(self._metric_globals, "_METER_PROVIDER")
        )

    def globals_set(self) -> bool:
        """Whether a global provider may have been set (``True`` when that cannot be told fast)."""
        if not self._fast:
            return True
        unset = self._trace_globals._TRACER_PROVIDER is None
        return not (unset and self._metric_globals._METER_PROVIDER is None)


class _State:
    """Process-wide: the API (once imported), the providers handed to crs, the last resolution."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.api_tried = False
        self.api: _Api | None = None
        self.tracer_provider: TracerProvider | None = None
        self.meter_provider: MeterProvider | None = None
        self.resolved: tuple[object, object, Instruments] | None = None


_state = _State()


def api() -> _Api | None:
    """The OpenTelemetry API, or ``None`` when the ``telemetry`` extra is not installed."""
    if not _state.api_tried:
        with _state.lock:
            if not _state.api_tried:
                try:
                    _state.api = _Api()
                except ImportError:
                    _state.api = None
                _state.api_tried = True
    return _state.api


def _is_default_meter_provider(provider: object, otel: _Api) -> bool:
    # The API's proxy class is private (``_ProxyMeterProvider``); matching it by name keeps this
    # working across versions without importing a private module.
    proxy = type(provider).__name__ == "_ProxyMeterProvider"
    return proxy or isinstance(provider, otel.noop_meters)


def active() -> Instruments | None:
    """The instruments to record with now, or ``None`` when telemetry is off (the fast path)."""
    otel = api()
    if otel is None:
        return None
    tracer_provider: Any = _state.tracer_provider
    meter_provider: Any = _state.meter_provider
    if tracer_provider is None and meter_provider is None and not otel.globals_set():
        return None  # the API installed and nothing configured: the common case, decided fast
    tracer_provider = tracer_provider or otel.trace.get_tracer_provider()
    meter_provider = meter_provider or otel.metrics.get_meter_provider()
    resolved = _state.resolved
    if resolved is not None and resolved[0] is tracer_provider and resolved[1] is meter_provider:
        return resolved[2]
    if isinstance(tracer_provider, otel.default_tracers) and _is_default_meter_provider(
        meter_provider, otel
    ):
        return None
    return _resolve(tracer_provider, meter_provider)


def _resolve(tracer_provider: TracerProvider, meter_provider: MeterProvider) -> Instruments:
    try:
        release = version("pytest-crs")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        release = None
    meter = meter_provider.get_meter(_SCOPE, release)
    instruments = Instruments(
        tracer=tracer_provider.get_tracer(_SCOPE, release),
        counters={
            name: meter.create_counter(name, unit=unit, description=text)
            for name, (unit, text) in _COUNTERS.items()
        },
        histograms={
            name: meter.create_histogram(name, unit="ms", description=text)
            for name, text in _HISTOGRAMS.items()
        },
    )
    _state.resolved = (tracer_provider, meter_provider, instruments)
    return instruments


def get_providers() -> tuple[TracerProvider | None, MeterProvider | None]:
    """The providers handed to crs (``None`` where crs falls back to the global one)."""
    return _state.tracer_provider, _state.meter_provider


def set_providers(
    tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
) -> tuple[TracerProvider | None, MeterProvider | None]:
    """Send crs telemetry to these providers (``None``: the global one); returns the previous.

    Process-wide, like :func:`crs.clock.set_clock`, so executions on worker threads (threaded
    batches) report to the same place. OpenTelemetry's global providers are left alone.
    """
    with _state.lock:
        previous = (_state.tracer_provider, _state.meter_provider)
        _state.tracer_provider, _state.meter_provider = tracer_provider, meter_provider
    return previous


@contextlib.contextmanager
def use_providers(
    tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
) -> Iterator[None]:
    """:func:`set_providers` for the duration of a ``with`` block, then restore the previous."""
    previous = set_providers(tracer_provider, meter_provider)
    try:
        yield
    finally:
        set_providers(*previous)

"""The ``crs_spans`` fixture: the spans and metrics crs emitted during one test, in memory.

It builds an OpenTelemetry SDK ``TracerProvider`` with an ``InMemorySpanExporter`` and a
``MeterProvider`` with an ``InMemoryMetricReader``, and hands both to crs with
:func:`crs.telemetry.use_providers` for the test. OpenTelemetry's *global* providers are left
alone on purpose: they can be set only once per process, so a fixture that set them would leak
its exporter into every later test. The consequence: spans that third-party instrumentation
(say, of httpx) sends to the global provider are not captured here; crs's own are.

Durations follow the crs clock, so with ``crs_clock`` in the test they are exact: a tool that
was retried after a 7 s ``Retry-After`` took 7000.0 ms, and its span's end is 7 s after its start.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from crs.telemetry import use_providers

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["CapturedTelemetry", "crs_spans"]

_SKIP_REASON = (
    "crs_spans needs the OpenTelemetry SDK: pip install opentelemetry-sdk "
    "(included in pytest-crs[test])"
)


class CapturedTelemetry:
    """What crs recorded during the test: finished spans and metric points."""

    def __init__(self, exporter: InMemorySpanExporter, reader: InMemoryMetricReader) -> None:
        self._exporter = exporter
        self._reader = reader

    @property
    def spans(self) -> list[ReadableSpan]:
        """Finished spans, in the order they ended (children before their parent)."""
        return list(self._exporter.get_finished_spans())

    def names(self) -> list[str]:
        """The names of :attr:`spans`, in the same order."""
        return [span.name for span in self.spans]

    def named(self, name: str) -> list[ReadableSpan]:
        """Every finished span called ``name``, in the order they ended."""
        return [span for span in self.spans if span.name == name]

    def span(self, name: str) -> ReadableSpan:
        """The one finished span called ``name``; fails the test if there are none or several."""
        found = self.named(name)
        if len(found) != 1:
            pytest.fail(
                f"expected exactly one span named {name!r}, found {len(found)}; "
                f"finished spans: {self.names()}",
                pytrace=False,
            )
        return found[0]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        """The finished spans whose parent is ``parent``, in the order they ended."""
        own = parent.context
        if own is None:
            return []
        return [
            span
            for span in self.spans
            if span.parent is not None and span.parent.span_id == own.span_id
        ]

    def clear(self) -> None:
        """Forget the spans finished so far (metrics are cumulative and keep counting)."""
        self._exporter.clear()

    def metrics(self) -> dict[str, list[Any]]:
        """Metric points by instrument name, cumulative since the test began.

        Counters give ``NumberDataPoint``\\ s (``.value``, ``.attributes``), histograms give
        ``HistogramDataPoint``\\ s (``.count``, ``.sum``, ``.min``, ``.max``, ``.attributes``).
        """
        data = self._reader.get_metrics_data()
        points: dict[str, list[Any]] = {}
        if data is None:
            return points
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    points.setdefault(metric.name, []).extend(metric.data.data_points)
        return points

    def points(self, name: str, where: Mapping[str, object] | None = None) -> list[Any]:
        """The points of instrument ``name`` whose attributes include all of ``where``."""
        wanted = dict(where or {})
        return [
            point
            for point in self.metrics().get(name, [])
            if all(point.attributes.get(key) == value for key, value in wanted.items())
        ]

    def total(self, name: str, where: Mapping[str, object] | None = None) -> float:
        """A counter's value summed over matching points (0 when nothing was counted)."""
        return float(sum(point.value for point in self.points(name, where)))


@pytest.fixture
def crs_spans() -> Iterator[CapturedTelemetry]:
    """Spans and metrics crs emits during the test, captured in memory (see the module doc).

    ``crs_spans.span("crs.tool.execute")`` is the one tool span; ``.named(name)`` all of a name;
    ``.children(span)`` its attempt spans; ``.metrics()`` / ``.points(name, where)`` /
    ``.total(name, where)`` the metrics. Skips the test when ``opentelemetry-sdk`` is missing.
    """
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    except ImportError:
        pytest.skip(_SKIP_REASON)
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    try:
        with use_providers(tracer_provider, meter_provider):
            yield CapturedTelemetry(exporter, reader)
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()

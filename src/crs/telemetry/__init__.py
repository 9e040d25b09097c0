"""OpenTelemetry spans and metrics for crs: tool executions, model calls, agent runs.

An optional extra (``pip install 'pytest-crs[telemetry]'``, which brings ``opentelemetry-api``).
Without it every helper here is a no-op and ``opentelemetry`` is never imported; with the API but
no SDK configured they cost two function calls. crs only *emits*: configure an SDK (exporters,
sampling, resources) in the application, globally as OpenTelemetry documents, or hand providers
to crs alone with :func:`use_providers` / :func:`set_providers` (what the ``crs_spans`` test
fixture does, since OpenTelemetry's global providers can be set only once per process).

The tool adapter instruments itself. Code of your own — an LLM wrapper, an agent loop — opens a
scope around each operation and one attempt span per try::

    with llm_span("gpt-4o-mini", operation="chat") as span:
        def once() -> ChatCompletion:
            with span.attempt():
                return client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        response = policy.call(once)
        span.response(model=response.model, response_id=response.id,
                      finish_reasons=[c.finish_reason for c in response.choices])
        span.usage(input_tokens=response.usage.prompt_tokens,
                   output_tokens=response.usage.completion_tokens)

``async with`` works the same. An exception leaving a scope marks it failed with its crs
classification; :meth:`TelemetrySpan.fail` does the same for a failure that is returned, not
raised. The names used (span names, attribute keys, metric names) are the constants of
:class:`SpanName`, :class:`SpanAttr` and :class:`MetricName`.
"""

from __future__ import annotations

from crs.telemetry._names import MetricName, SpanAttr, SpanName
from crs.telemetry._providers import active as _active
from crs.telemetry._providers import get_providers, set_providers, use_providers
from crs.telemetry._spans import SpanScope, TelemetrySpan, agent_span, llm_span, tool_span

__all__ = [
    "MetricName",
    "SpanAttr",
    "SpanName",
    "SpanScope",
    "TelemetrySpan",
    "agent_span",
    "get_providers",
    "llm_span",
    "set_providers",
    "telemetry_enabled",
    "tool_span",
    "use_providers",
]


def telemetry_enabled() -> bool:
    """Whether spans and metrics recorded now go anywhere (an SDK provider is configured)."""
    return _active() is not None

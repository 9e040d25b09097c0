"""The telemetry vocabulary: span names, attribute keys, metric names and units.

These strings are a public contract — dashboards, alerts and tests match on them — so they live
in one place, change only with a deprecation, and are plain ``str`` constants that need no
OpenTelemetry import. ``crs.*`` names are ours; ``gen_ai.*`` and ``error.type`` are the
OpenTelemetry semantic conventions' own keys, used wherever a convention exists so that
GenAI-aware backends understand LLM spans without a mapping.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MetricName", "SpanAttr", "SpanName"]


class SpanName:
    """Span names. Each operation span has child spans, one per attempt."""

    TOOL: Final = "crs.tool.execute"
    """One tool execution through the adapter (cache hit, or every attempt and the waits)."""
    TOOL_ATTEMPT: Final = "crs.tool.attempt"
    """One try of the backend inside a tool execution."""
    LLM: Final = "crs.llm.call"
    """One model call, retries included."""
    LLM_ATTEMPT: Final = "crs.llm.attempt"
    AGENT: Final = "crs.agent.run"
    """One run of the agent loop; LLM calls and tool executions nest under it."""
    AGENT_ATTEMPT: Final = "crs.agent.attempt"


class SpanAttr:
    """Attribute keys on spans and metric points."""

    # -- every operation ------------------------------------------------------------------------
    OUTCOME: Final = "crs.outcome"
    """``"success"`` or ``"error"`` (metrics only; spans carry it as their status)."""
    SUCCESS: Final = "success"
    """A value of :attr:`OUTCOME`."""
    ERROR: Final = "error"
    """A value of :attr:`OUTCOME`."""
    ATTEMPT: Final = "crs.attempt"
    """On an operation span: attempts made (0 for a cache hit). On an attempt span: its number."""
    ERROR_TYPE: Final = "crs.error.type"
    """The :class:`crs.resilience.ErrorType` of a failure (``rate_limit``, ``server``, ...)."""
    ERROR_RETRYABLE: Final = "crs.error.retryable"
    ERROR_STATUS: Final = "crs.error.status"
    """The HTTP status behind a failure, when there was one."""
    ERROR_RETRY_AFTER: Final = "crs.error.retry_after"
    """Seconds the server asked to wait (``Retry-After``), when it said."""
    SEMCONV_ERROR_TYPE: Final = "error.type"
    """The semantic conventions' key, set alongside ``crs.error.type`` with the same value."""

    # -- tools ---------------------------------------------------------------------------------
    TOOL_APP: Final = "crs.tool.app"
    TOOL_ACTION: Final = "crs.tool.action"
    """The action as the backend names it (``GITHUB_CREATE_AN_ISSUE``, ``LOCAL_LOOKUP``)."""
    TOOL_EXECUTION_ID: Final = "crs.tool.execution_id"
    """Joins the span to the execution record in the journal."""
    TOOL_READ_ONLY: Final = "crs.tool.read_only"
    CACHE_HIT: Final = "crs.cache.hit"
    """Set only for actions with caching enabled: ``True`` = answered from the cache."""

    # -- agents --------------------------------------------------------------------------------
    AGENT_NAME: Final = "crs.agent.name"
    AGENT_RUN_ID: Final = "crs.agent.run_id"
    AGENT_STEPS: Final = "crs.agent.steps"

    # -- OpenTelemetry GenAI semantic conventions ----------------------------------------------
    GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
    """``chat``, ``text_completion``, ``embeddings``, ``execute_tool``, ``invoke_agent``."""
    GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
    GEN_AI_SYSTEM: Final = "gen_ai.system"
    """The conventions' older name for the provider; still read by many backends, so both."""
    GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
    GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
    GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
    GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
    GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
    GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
    GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
    GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
    GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
    """``input`` or ``output`` (on the token counter)."""
    GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
    GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"

    # -- exception events (semantic conventions) -----------------------------------------------
    EXCEPTION_TYPE: Final = "exception.type"
    EXCEPTION_MESSAGE: Final = "exception.message"
    EXCEPTION_STACKTRACE: Final = "exception.stacktrace"


class MetricName:
    """Instrument names. Durations are milliseconds on the crs clock."""

    TOOL_EXECUTIONS: Final = "crs.tool.executions"
    """Counter: app, action, outcome (+ error type on failures). Cache hits count too."""
    TOOL_DURATION: Final = "crs.tool.duration"
    """Histogram, ms: app, action, outcome. Rate-limit waits, attempts and backoff included."""
    TOOL_RETRIES: Final = "crs.tool.retries"
    """Counter: app, action, and the error type of the failure that was retried."""
    CACHE_HITS: Final = "crs.cache.hits"
    """Counter: app, action. Lookups of cache-enabled actions only."""
    CACHE_MISSES: Final = "crs.cache.misses"
    LLM_CALLS: Final = "crs.llm.calls"
    """Counter: model, operation, provider, outcome (+ error type)."""
    LLM_DURATION: Final = "crs.llm.duration"
    LLM_RETRIES: Final = "crs.llm.retries"
    LLM_TOKENS: Final = "crs.llm.tokens"
    """Counter, tokens: model, operation, provider, ``gen_ai.token.type``."""
    AGENT_RUNS: Final = "crs.agent.runs"
    """Counter: agent name, outcome (+ error type)."""
    AGENT_DURATION: Final = "crs.agent.duration"
    AGENT_RETRIES: Final = "crs.agent.retries"

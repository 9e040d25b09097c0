"""An OpenAI client wrapper for production agents, on the resilience kit.

:class:`LLMClient` (sync) and :class:`AsyncLLMClient` (asyncio) call Chat Completions through
the real openai SDK with its own retries off, so one crs :class:`~crs.resilience.RetryPolicy`,
one :func:`~crs.resilience.classify` verdict, an optional :class:`~crs.resilience.RateLimiter`
and the crs clock govern every request, and every attempt is counted. Answers come back as an
:class:`LLMResponse` with tool calls parsed; ``run(task)`` gives the production-agent guide's
``{"status", "result" | "error", "duration"}`` contract.

openai is an optional extra (``pytest-crs[openai]``): it is imported when a client is made,
never at ``import crs``.
"""

from __future__ import annotations

from crs.llm._async_client import AsyncLLMClient, AsyncLLMStream
from crs.llm._client import LLMClient, LLMStream
from crs.llm._config import AgentConfig, LLMConfig, default_retry_policy
from crs.llm._errors import LLMError, ToolArgumentsError
from crs.llm._response import LLMResponse, LLMToolCall, LLMUsage
from crs.llm._stats import LLMStats

__all__ = [
    "AgentConfig",
    "AsyncLLMClient",
    "AsyncLLMStream",
    "LLMClient",
    "LLMConfig",
    "LLMError",
    "LLMResponse",
    "LLMStats",
    "LLMStream",
    "LLMToolCall",
    "LLMUsage",
    "ToolArgumentsError",
    "default_retry_policy",
]

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

from pytest_crs._strategies._faults import FaultRecipe, fault_plans, fault_schedules, faults
from pytest_crs._strategies._payloads import (
    CREDENTIAL_KINDS,
    chat_completions,
    credentials,
    tool_calls,
)
from pytest_crs._strategies._policies import WAITS, retry_policies
from pytest_crs._strategies._wire import (
    RETRY_AFTER_FORMS,
    HttpError,
    RetryAfterValue,
    http_errors,
    retry_after_values,
)

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

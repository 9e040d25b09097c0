"""Checking tool arguments against their JSON schema, with the message Composio gives.

An agent's tool call is only as good as its arguments, and the model learns from the error text.
Composio answers a bad call with ``successful: false`` and ``"Invalid request data provided"``
followed by one line per problem (``- Following fields are missing: {'repo'}``); the sandbox
says the same, naming each field by path and quoting the offending value, so an agent that
recovers from Composio's message recovers from the sandbox's too.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from crs.sandbox._composio_catalog import ToolSpec

__all__ = ["ArgumentChecker", "with_defaults"]


class ArgumentChecker:
    """One compiled validator per tool (compiling costs far more than validating)."""

    def __init__(self, tools: Iterable[ToolSpec]) -> None:
        self._validators = {
            tool.slug: Draft202012Validator(dict(tool.input_schema), format_checker=FormatChecker())
            for tool in tools
        }

    def problem(self, tool: ToolSpec, arguments: dict[str, Any]) -> str | None:
        """Composio's error text for these arguments, or ``None`` when they are valid."""
        errors = sorted(self._validators[tool.slug].iter_errors(arguments), key=_error_order)
        if not errors:
            return None
        missing = sorted(
            {
                name
                for error in errors
                if error.validator == "required"
                for name in _missing_names(error)
            }
        )
        lines = []
        if missing:
            lines.append(f"Following fields are missing: {{{', '.join(map(repr, missing))}}}")
        lines.extend(
            f"{_field_path(error)}: {error.message}"
            for error in errors
            if error.validator != "required"
        )
        return "Invalid request data provided\n" + "\n".join(f"- {line}" for line in lines)


def with_defaults(tool: ToolSpec, arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments with every omitted (or null) top-level field set to its schema default."""
    filled = dict(arguments)
    for name, schema in tool.input_schema["properties"].items():
        if name not in filled or (filled[name] is None and "default" in schema):
            filled[name] = copy.deepcopy(schema.get("default"))
    return filled


def _error_order(error: ValidationError) -> tuple[str, str]:
    return (_field_path(error), str(error.validator))


def _missing_names(error: ValidationError) -> list[str]:
    instance = error.instance if isinstance(error.instance, dict) else {}
    names = error.validator_value if isinstance(error.validator_value, list) else []
    prefix = _field_path(error)
    return [
        name if prefix == "$" else f"{prefix}.{name}"
        for name in names
        if isinstance(name, str) and name not in instance
    ]


def _field_path(error: ValidationError) -> str:
    path = "$"
    for part in error.absolute_path:
        path = f"{path}[{part}]" if isinstance(part, int) else f"{path}.{part}"
    return path.removeprefix("$.") if path != "$" else path

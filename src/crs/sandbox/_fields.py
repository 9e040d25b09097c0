"""Reading fields out of a JSON request body, failing with a 400 that names the field.

A real API rejects a malformed request with a message naming the parameter; the sandbox must do
the same, or an agent bug (a tool schema sent as a string, a missing ``model``) would surface as
a confusing failure further along. ``param`` uses OpenAI's dotted/indexed form,
``messages[2].tool_call_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crs.sandbox._http import BadRequest

__all__ = ["optional_bool", "optional_mapping", "optional_text", "require_list", "require_text"]


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def require_text(body: Mapping[str, Any], key: str, param: str | None = None) -> str:
    """A required non-empty string."""
    name = param or key
    value = body.get(key)
    if not isinstance(value, str) or not value:
        if key not in body:
            raise BadRequest(f"Missing required parameter: '{name}'.", param=name)
        raise BadRequest(
            f"Invalid value for '{name}': expected a non-empty string, got {_kind(value)}.",
            param=name,
        )
    return value


def optional_text(body: Mapping[str, Any], key: str, param: str | None = None) -> str | None:
    """A string that may be absent or null."""
    if body.get(key) is None:
        return None
    return require_text(body, key, param)


def optional_bool(
    body: Mapping[str, Any], key: str, default: bool, param: str | None = None
) -> bool:
    """A boolean that may be absent or null (then ``default``)."""
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        name = param or key
        raise BadRequest(
            f"Invalid type for '{name}': expected a boolean, got {_kind(value)}.", param=name
        )
    return value


def optional_mapping(
    body: Mapping[str, Any], key: str, param: str | None = None
) -> Mapping[str, Any] | None:
    """A JSON object that may be absent or null."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        name = param or key
        raise BadRequest(
            f"Invalid type for '{name}': expected an object, got {_kind(value)}.", param=name
        )
    return value


def require_list(
    body: Mapping[str, Any], key: str, *, allow_empty: bool = False, param: str | None = None
) -> list[Any]:
    """A JSON array; absent counts as empty only when ``allow_empty``."""
    name = param or key
    value = body.get(key)
    if value is None and allow_empty:
        return []
    if not isinstance(value, list):
        if key not in body:
            raise BadRequest(f"Missing required parameter: '{name}'.", param=name)
        raise BadRequest(
            f"Invalid type for '{name}': expected an array, got {_kind(value)}.", param=name
        )
    if not value and not allow_empty:
        raise BadRequest(f"Invalid '{name}': empty array. Expected at least one item.", param=name)
    return value

"""HTTP bodies as a person can read them in a cassette, and exactly as they were on the wire.

A body is kept in the most readable form that still turns back into the *same bytes*:

* ``json`` — the parsed structure, plus the ``style`` (separators, indentation, ASCII escaping)
  that reproduces the original bytes exactly; keys keep their original order;
* ``sse`` — a ``text/event-stream`` as its list of events, each with its fields (``data``
  parsed when it is JSON in a reproducible style), so a stream replays event by event;
* ``text`` — UTF-8 text that is not JSON;
* ``base64`` — anything else (images, binary protocols);
* no body at all is ``None``.

A form is only chosen after checking that it re-encodes byte for byte; otherwise the next, less
readable one is used. Compression (``gzip``, ``deflate``, ``br``, ``zstd``) is the transport's
business: bodies are stored decoded and the ``content-encoding`` header is dropped by the
recorder, so the cassette is readable and the replayed client sees plain bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["Body", "decode_body", "encode_body", "sse_chunks"]

# (name, json.dumps keyword arguments) in the order tried: compact first (most APIs), then
# Python's default, then pretty-printed.
_STYLES: Final[tuple[tuple[str, dict[str, Any]], ...]] = (
    ("compact", {"separators": (",", ":"), "ensure_ascii": False}),
    ("compact-ascii", {"separators": (",", ":"), "ensure_ascii": True}),
    ("python", {"ensure_ascii": True}),
    ("python-unicode", {"ensure_ascii": False}),
    ("indent-2", {"indent": 2, "ensure_ascii": False}),
    ("indent-2-ascii", {"indent": 2, "ensure_ascii": True}),
)
_STYLE_ARGS: Final = dict(_STYLES)


Body = Mapping[str, Any] | None
"""A body as stored in a cassette: ``{"json": ..., "style": ...}``, ``{"sse": [...]}``,
``{"text": ...}``, ``{"base64": ...}``, or ``None`` for no body."""


def encode_body(raw: bytes | None, content_type: str | None = None) -> Body:
    """The most readable faithful form of ``raw`` (see the module docstring)."""
    if not raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode("ascii")}
    if _is_event_stream(content_type):
        events = _parse_sse(text)
        if events is not None:
            return {"sse": events}
    parsed = _json_in_style(text)
    if parsed is not None:
        value, style = parsed
        return {"json": value, "style": style}
    return {"text": text}


def decode_body(body: Body, *, where: str = "body") -> bytes:
    """The exact bytes a stored body stands for.

    Raises:
        ValueError: the stored form is malformed; the message names ``where`` and the problem.
    """
    if body is None:
        return b""
    if not isinstance(body, Mapping):
        raise ValueError(f"{where} must be a mapping or null, got {type(body).__name__}")
    if "json" in body:
        style = body.get("style", "compact")
        if style not in _STYLE_ARGS:
            raise ValueError(f"{where}.style {style!r} is not one of {', '.join(_STYLE_ARGS)}")
        return json.dumps(body["json"], **_STYLE_ARGS[style]).encode("utf-8")
    if "sse" in body:
        return b"".join(sse_chunks(body, where=where))
    if "text" in body:
        if not isinstance(body["text"], str):
            raise ValueError(f"{where}.text must be a string")
        return body["text"].encode("utf-8")
    if "base64" in body:
        try:
            return base64.b64decode(str(body["base64"]), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"{where}.base64 is not valid base64 ({exc})") from exc
    raise ValueError(f"{where} needs one of json, sse, text, base64; has {sorted(body)}")


def sse_chunks(body: Mapping[str, Any], *, where: str = "body") -> list[bytes]:
    """A stored event stream as the bytes of each event (with its blank-line terminator)."""
    events = body.get("sse")
    if not isinstance(events, list):
        raise ValueError(f"{where}.sse must be a list of events")
    return [_event_bytes(event, f"{where}.sse[{i}]") for i, event in enumerate(events)]


# -- JSON ---------------------------------------------------------------------------------------


def _json_in_style(text: str) -> tuple[Any, str] | None:
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[":
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    for name, kwargs in _STYLES:
        if json.dumps(value, **kwargs) == text:
            return value, name
    return None


# -- server-sent events -------------------------------------------------------------------------


def _is_event_stream(content_type: str | None) -> bool:
    return content_type is not None and content_type.split(";")[0].strip() == "text/event-stream"


def _parse_sse(text: str) -> list[dict[str, Any]] | None:
    """The events of a stream, or ``None`` if a faithful event form is impossible.

    Only streams whose lines end in ``\\n`` and whose events end in a blank line are kept as
    events; anything else (``\\r\\n`` endings, comments, a trailing partial event) is stored
    as text so that it replays byte for byte.
    """
    if not text.endswith("\n\n") or "\r" in text:
        return None
    events = []
    for block in text[:-2].split("\n\n"):
        fields: list[list[str]] = []
        data_lines: list[str] = []
        for line in block.split("\n"):
            name, sep, value = line.partition(":")
            if not sep or not name or not value.startswith(" "):
                return None  # comments, bare fields, "name:value": keep the stream as text
            if name == "data":
                data_lines.append(value[1:])
            elif data_lines:
                return None  # a field after data: its position could not be reproduced
            else:
                fields.append([name, value[1:]])
        if len(data_lines) > 1:
            return None
        event: dict[str, Any] = dict(fields)
        if len(event) != len(fields):
            return None  # a repeated field name
        if data_lines:
            parsed = _json_in_style(data_lines[0])
            if parsed is None:
                event["data"] = data_lines[0]
            else:
                event["data"], event["data_style"] = parsed
        events.append(event)
    return events


def _event_bytes(event: object, where: str) -> bytes:
    if not isinstance(event, Mapping):
        raise ValueError(f"{where} must be a mapping of event fields")
    lines = []
    for name, value in event.items():
        if name in ("data", "data_style"):
            continue
        if not isinstance(value, str):
            raise ValueError(f"{where}.{name} must be a string")
        lines.append(f"{name}: {value}")
    if "data" in event:
        style = event.get("data_style")
        data = event["data"]
        if style is None:
            if not isinstance(data, str):
                raise ValueError(f"{where}.data must be a string when it has no data_style")
            lines.append(f"data: {data}")
        elif style in _STYLE_ARGS:
            lines.append("data: " + json.dumps(data, **_STYLE_ARGS[style]))
        else:
            raise ValueError(f"{where}.data_style {style!r} is not a known JSON style")
    return ("\n".join(lines) + "\n\n").encode("utf-8")

"""What callers may say about content when they store it, and how repeated stores combine.

``store(content, metadata)`` understands four fields — ``tags``, ``priority``, ``ttl`` and
``content_type`` — and keeps any other key as caller-defined ``extra`` data (which must be JSON,
because it is written to the disk tier with the content).

Deduplication means two callers can store the same content with different metadata. The merge is
designed so that a later store never breaks an earlier caller's expectations:

* ``tags``: union.
* ``priority``: the highest wins (nobody's content becomes easier to evict).
* ``ttl``: the later expiry wins; no ttl (never expires) beats any ttl.
* ``content_type`` and ``extra`` keys: the first writer's value stays; new keys are added.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from crs.errors import ContentTypeError, MetadataError
from crs.store._codec import serialize

__all__ = ["ContextMetadata", "Extras", "StoreRequest", "merge_extras", "parse_metadata"]

_KNOWN: Final = frozenset({"tags", "priority", "ttl", "content_type"})


@dataclass(frozen=True, slots=True)
class ContextMetadata:
    """Everything the store knows about one stored item (returned by ``get_metadata``)."""

    ref: str
    kind: str
    """``"text"``, ``"bytes"`` or ``"json"``: what ``retrieve`` returns."""
    size: int
    """Raw size in bytes (UTF-8 for text, compact JSON for structures)."""
    stored_size: int
    """Bytes actually held, after compression and framing."""
    codec: str
    tier: str
    """``"memory"`` or ``"disk"``: where the bytes are right now."""
    holders: int
    """How many ``store()`` calls hold this content (each ``delete`` releases one)."""
    priority: int = 0
    expires_at: float | None = None
    """Wall-clock expiry on the store's clock, or ``None`` for never."""
    tags: frozenset[str] = frozenset()
    content_type: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Extras:
    """The optional, rarely-set part of an entry's metadata, kept only when present."""

    tags: frozenset[str] = frozenset()
    content_type: str | None = None
    extra: Mapping[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(
            {"tags": sorted(self.tags), "content_type": self.content_type, "extra": self.extra},
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Extras:
        data = json.loads(text)
        return cls(frozenset(data["tags"]), data["content_type"], data["extra"])


@dataclass(frozen=True, slots=True)
class StoreRequest:
    """Validated ``metadata`` argument of one ``store()`` call."""

    priority: int = 0
    ttl: float | None = None
    extras: Extras | None = None


_PLAIN: Final = StoreRequest()


def parse_metadata(metadata: Mapping[str, Any] | None) -> StoreRequest:
    """Validate ``metadata``; every problem names the field and the value."""
    if metadata is None:
        return _PLAIN
    if not isinstance(metadata, Mapping):
        raise MetadataError(
            f"metadata must be a mapping, got {type(metadata).__name__}", field="metadata"
        )
    if not metadata:
        return _PLAIN
    priority = _priority(metadata.get("priority"))
    ttl = _ttl(metadata.get("ttl"))
    tags = _tags(metadata.get("tags"))
    content_type = _content_type(metadata.get("content_type"))
    extra = {key: value for key, value in metadata.items() if key not in _KNOWN}
    for key in extra:
        if not isinstance(key, str):
            raise MetadataError(f"metadata key {key!r} is not a string", field=repr(key))
    if extra:
        try:
            _kind, raw = serialize(extra)
        except ContentTypeError as exc:
            raise MetadataError(
                f"metadata field at {exc.path.replace('$', 'metadata', 1)} is not JSON: "
                f"{exc.message}",
                field=exc.path.replace("$.", "", 1),
                hint="extra metadata is written to disk with the content, so it must be JSON",
            ) from None
        frozen_extra: dict[str, Any] | None = json.loads(raw)  # a private copy
    else:
        frozen_extra = None
    extras = None
    if tags or content_type is not None or frozen_extra:
        extras = Extras(tags, content_type, frozen_extra)
    return StoreRequest(priority, ttl, extras)


def _priority(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise MetadataError(
            f"metadata field 'priority' must be an int, got {value!r}",
            field="priority",
            hint="higher priority is evicted later; the default is 0",
        )
    return value


def _ttl(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MetadataError(
            f"metadata field 'ttl' must be seconds as a number, got {value!r}", field="ttl"
        )
    ttl = float(value)
    if not math.isfinite(ttl) or ttl <= 0:
        raise MetadataError(
            f"metadata field 'ttl' must be a positive, finite number of seconds, got {value!r}",
            field="ttl",
            hint="omit ttl (or pass None) for content that never expires",
        )
    return ttl


def _tags(value: object) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise MetadataError(
            f"metadata field 'tags' must be a list of strings, got {value!r}",
            field="tags",
            hint="wrap a single tag in a list: tags=['invoice']",
        )
    for tag in value:
        if not isinstance(tag, str):
            raise MetadataError(
                f"metadata field 'tags' holds {tag!r}, which is not a string", field="tags"
            )
    return frozenset(value)


def _content_type(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise MetadataError(
        f"metadata field 'content_type' must be a string, got {value!r}", field="content_type"
    )


def merge_extras(old: Extras | None, new: Extras | None) -> Extras | None:
    """The extras after a duplicate store: union of tags, first writer wins per key."""
    if new is None:
        return old
    if old is None:
        return new
    extra: dict[str, Any] | None = None
    if old.extra or new.extra:
        extra = {**(new.extra or {}), **(old.extra or {})}
    return Extras(
        old.tags | new.tags,
        old.content_type if old.content_type is not None else new.content_type,
        extra,
    )


def later_expiry(old: float | None, new: float | None) -> float | None:
    """The expiry after a duplicate store: the later one; ``None`` (never) wins."""
    if old is None or new is None:
        return None
    return max(old, new)

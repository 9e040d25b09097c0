"""What a vault writes into the Context Reference Store, and how it finds it again.

The store is content-addressed: a reference is a hash of the content, so nothing in it can be
updated in place and there is no name to look things up by. The vault therefore keeps three
kinds of item:

* **entry records** — one per credential: the AES-GCM nonce and ciphertext (JSON, base64),
  tagged with the id of the key that sealed them. Nothing else, and nothing in clear.
* **index documents** — the whole non-secret state: the key header (key id, KDF salt and cost,
  key-check record) and, per ``(user_id, app)``, the entry's reference, expiry and access
  statistics. Every change writes a new document (its ``generation`` makes it unique).
* **two head slots, A and B** (see :mod:`crs.store._heads`) — fixed items whose metadata says
  which index document is current.

Committing generation ``g`` points the slot holding ``g - 2`` at the new document and only then
releases the old one; the other slot keeps pointing at ``g - 1``, which is still intact, so a
crash at any step leaves at least one complete, consistent state to reopen. Opening takes the
newest generation whose document loads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Final

from crs.auth._keys import KdfParams, Sealed
from crs.store import ContextReferenceStore
from crs.store._heads import HeadSlots

__all__ = ["ENTRY_METADATA", "Entry", "Header", "IndexDoc", "Slot", "vault_heads"]

# Far above the default 0: vault items are evicted last, so a vault over a small memory-only
# store loses ordinary contexts before it loses credentials (a disk tier loses nothing).
PRIORITY: Final = 1 << 20
INDEX_FORMAT: Final = "crs.auth.vault-index"
ENTRY_FORMAT: Final = "crs.auth.vault-entry"
FORMAT_VERSION: Final = 1
ENTRY_METADATA: Final = {"priority": PRIORITY, "content_type": "application/vnd.crs.vault-entry"}
INDEX_METADATA: Final = {"priority": PRIORITY, "content_type": "application/vnd.crs.vault-index"}
_HEAD_CONTENT_TYPE: Final = "application/vnd.crs.vault-head"

Slot = tuple[str, str]
"""``(user_id, app)``."""


@dataclass(frozen=True, slots=True)
class Entry:
    """The non-secret facts about one stored credential (one row of the index)."""

    user_id: str
    app: str
    context_id: str
    ref: str
    created_at: float
    updated_at: float
    expires_at: float
    ttl_seconds: float
    access_count: int = 0
    last_accessed_at: float | None = None

    def accessed(self, now: float) -> Entry:
        return replace(self, access_count=self.access_count + 1, last_accessed_at=now)

    def to_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "app": self.app,
            "context_id": self.context_id,
            "ref": self.ref,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "expires_at": self.expires_at,
            "ttl_seconds": self.ttl_seconds,
            "access_count": self.access_count,
            "last_accessed_at": self.last_accessed_at,
        }

    @classmethod
    def from_json(cls, data: object) -> Entry:
        if not isinstance(data, dict):
            raise ValueError("index entry is not an object")
        text = {k: data.get(k) for k in ("user_id", "app", "context_id", "ref")}
        times = {k: data.get(k) for k in ("created_at", "updated_at", "expires_at", "ttl_seconds")}
        count, last = data.get("access_count"), data.get("last_accessed_at")
        if not all(isinstance(v, str) for v in text.values()):
            raise ValueError("index entry has a non-text identifier")
        if not all(_is_time(v) for v in times.values()):
            raise ValueError("index entry has a bad timestamp")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ValueError("index entry has a bad access count")
        if last is not None and not _is_time(last):
            raise ValueError("index entry has a bad last access time")
        return cls(**text, **times, access_count=count, last_accessed_at=last)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Header:
    """Everything needed to rebuild and verify the key: key id, KDF parameters, key check."""

    key_id: str
    kdf: KdfParams | None
    check: Sealed

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "kdf": None if self.kdf is None else self.kdf.to_json(),
            "check": self.check.to_json(),
        }

    @classmethod
    def from_json(cls, data: object) -> Header:
        if not isinstance(data, dict) or not isinstance(data.get("key_id"), str):
            raise ValueError("index header is malformed")
        kdf = data.get("kdf")
        return cls(
            data["key_id"],
            None if kdf is None else KdfParams.from_json(kdf),
            Sealed.from_json(data.get("check")),
        )


@dataclass(frozen=True, slots=True)
class IndexDoc:
    """One generation of the vault's state: the key header and every entry."""

    generation: int
    header: Header
    entries: dict[Slot, Entry]

    def to_json(self, vault: str) -> dict[str, Any]:
        return {
            "format": INDEX_FORMAT,
            "version": FORMAT_VERSION,
            "vault": vault,
            "generation": self.generation,
            "header": self.header.to_json(),
            "entries": [entry.to_json() for entry in self.entries.values()],
        }

    @classmethod
    def from_json(cls, data: object, vault: str) -> IndexDoc:
        if (
            not isinstance(data, dict)
            or data.get("format") != INDEX_FORMAT
            or data.get("vault") != vault
        ):
            raise ValueError("not an index document of this vault")
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"index format version {data.get('version')!r} is not supported")
        generation, rows = data.get("generation"), data.get("entries")
        if not isinstance(generation, int) or not isinstance(rows, list):
            raise ValueError("index document is malformed")
        entries = {}
        for row in rows:
            entry = Entry.from_json(row)
            entries[entry.user_id, entry.app] = entry
        return cls(generation, Header.from_json(data.get("header")), entries)


def entry_record(sealed: Sealed) -> dict[str, Any]:
    return {"format": ENTRY_FORMAT, "version": FORMAT_VERSION, **sealed.to_json()}


def parse_entry_record(data: object) -> Sealed:
    if not isinstance(data, dict) or data.get("format") != ENTRY_FORMAT:
        raise ValueError("not a vault entry record")
    return Sealed.from_json(data)


def vault_heads(store: ContextReferenceStore, vault: str) -> HeadSlots:
    """The A/B head slots of the vault called ``vault``."""
    return HeadSlots(
        store,
        f"crs.auth vault {vault!r}",
        priority=PRIORITY,
        content_type=_HEAD_CONTENT_TYPE,
    )


def _is_time(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

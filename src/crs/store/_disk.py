"""The disk tier: every item, in one SQLite file, one transaction per change.

SQLite gives the store what hand-rolled files would have to reinvent: atomic writes (a process
killed mid-write leaves the previous state, never half an item), an index to find items by key and
by expiry, and a single file that a new process can reopen. The database runs in WAL mode with
``synchronous=NORMAL``: each commit survives a crash of the process (the guarantee we make);
only a power loss can drop the last commits.

The tier is written through: items stay here while the memory tier caches the hot ones, so
evicting from memory costs nothing and a restart finds everything.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from crs.errors import StoreDiskError
from crs.store._codec import raw_size
from crs.store._metadata import Extras

__all__ = ["DiskTier", "EntryState"]

SCHEMA_VERSION: Final = 1
FILE_NAME: Final = "crs-store.sqlite3"

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS entries (
        key        BLOB PRIMARY KEY,
        blob       BLOB NOT NULL,
        raw_size   INTEGER NOT NULL,
        priority   INTEGER NOT NULL,
        expires_at REAL,
        holders    INTEGER NOT NULL,
        extras     TEXT
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS entries_expiry ON entries(expires_at) WHERE expires_at IS NOT NULL",
)


@dataclass(frozen=True, slots=True)
class EntryState:
    """The mutable facts about an item, as one value the tiers exchange."""

    priority: int = 0
    expires_at: float | None = None
    holders: int = 1
    extras: Extras | None = None


@dataclass(frozen=True, slots=True)
class DiskRow:
    blob: bytes
    state: EntryState


class DiskTier:
    """All items on disk; counters mirror the table so stats never scan it."""

    def __init__(self, directory: Path | str | None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="crs-store-")
            folder = Path(self._tmp.name)
        else:
            folder = Path(directory)
        self.path = folder / FILE_NAME
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            self._cleanup()
            raise StoreDiskError(
                f"cannot open the disk tier at {self.path}: {exc}",
                hint="disk_path must be a directory the process can create and write",
            ) from exc
        try:
            self._prepare()
            self.count, self.raw_bytes, self.stored_bytes = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(raw_size), 0), COALESCE(SUM(length(blob)), 0)"
                " FROM entries"
            ).fetchone()
            self.next_expiry: float | None = self._earliest_expiry()
        except StoreDiskError:
            self.close()
            raise
        except sqlite3.Error as exc:
            self.close()
            raise StoreDiskError(
                f"{self.path} is not a usable pytest-crs store file: {exc}",
                hint="point disk_path at an empty directory or one written by this store",
            ) from exc

    def _prepare(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise StoreDiskError(
                f"{self.path} has store format version {version}; this version of pytest-crs "
                f"reads version {SCHEMA_VERSION}",
                hint="upgrade pytest-crs, or use a new disk_path",
            )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._transaction():
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One atomic change; errors surface as :class:`StoreDiskError` naming the file."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreDiskError(f"writing the disk tier at {self.path} failed: {exc}") from exc

    def _earliest_expiry(self) -> float | None:
        value: float | None = self._db.execute(
            "SELECT MIN(expires_at) FROM entries WHERE expires_at IS NOT NULL"
        ).fetchone()[0]
        return value

    def insert(self, key: bytes, blob: bytes, state: EntryState) -> None:
        size = raw_size(blob)
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, blob, size, *_state_columns(state)),
            )
        self.count += 1
        self.raw_bytes += size
        self.stored_bytes += len(blob)
        self._note_expiry(state.expires_at)

    def update(self, key: bytes, state: EntryState) -> None:
        with self._transaction():
            self._db.execute(
                "UPDATE entries SET priority=?, expires_at=?, holders=?, extras=? WHERE key=?",
                (*_state_columns(state), key),
            )
        self._note_expiry(state.expires_at)

    def _note_expiry(self, expires_at: float | None) -> None:
        if expires_at is not None and (self.next_expiry is None or expires_at < self.next_expiry):
            self.next_expiry = expires_at

    def get(self, key: bytes) -> DiskRow | None:
        try:
            row = self._db.execute(
                "SELECT blob, priority, expires_at, holders, extras FROM entries WHERE key=?",
                (key,),
            ).fetchone()
        except sqlite3.Error as exc:
            raise StoreDiskError(f"reading the disk tier at {self.path} failed: {exc}") from exc
        if row is None:
            return None
        blob, priority, expires_at, holders, extras = row
        try:
            parsed = Extras.from_json(extras) if extras else None
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreDiskError(
                f"the metadata of item {key.hex()} in {self.path} is damaged: {exc}",
                hint="the file was modified outside the store; delete the item and store it again",
            ) from exc
        return DiskRow(bytes(blob), EntryState(priority, expires_at, holders, parsed))

    def delete(self, key: bytes) -> None:
        with self._transaction():
            row = self._db.execute(
                "DELETE FROM entries WHERE key=? RETURNING raw_size, length(blob)", (key,)
            ).fetchone()
        if row is not None:
            self.count -= 1
            self.raw_bytes -= row[0]
            self.stored_bytes -= row[1]

    def purge_expired(self, now: float) -> list[tuple[bytes, bytes]]:
        """Delete every item expired at ``now``; returns their keys and blobs."""
        if self.next_expiry is None or self.next_expiry > now:
            return []
        with self._transaction():
            rows = self._db.execute(
                "DELETE FROM entries WHERE expires_at <= ? RETURNING key, blob, raw_size",
                (now,),
            ).fetchall()
        for _key, blob, size in rows:
            self.count -= 1
            self.raw_bytes -= size
            self.stored_bytes -= len(blob)
        self.next_expiry = self._earliest_expiry()
        return [(bytes(key), bytes(blob)) for key, blob, _size in rows]

    def close(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _state_columns(state: EntryState) -> tuple[int, float | None, int, str | None]:
    extras = state.extras.to_json() if state.extras is not None else None
    return state.priority, state.expires_at, state.holders, extras

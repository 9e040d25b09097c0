"""One cassette in use: what is recorded, what has been played, and what gets written.

Record modes say what happens to a request, in the words of vcrpy and pytest-recording:

=============== ============================================ ==============================
mode            a request that matches a recording           a request that does not
=============== ============================================ ==============================
``none``        is answered from the cassette                fails (the default: replay only)
``once``        is answered from the cassette                fails if the file existed;
                                                             otherwise goes live and is kept
``new_episodes`` is answered from the cassette               goes live and is appended
``all``         goes live; the new answer replaces the old   goes live and is appended
``rewrite``     goes live                                    goes live; the file is replaced
                                                             by exactly this run
=============== ============================================ ==============================

Identical requests are answered in the order they were recorded (the third identical
``list issues`` call gets the third recorded answer). Replaying one recording twice is opt-in
(``allow_repeats``). At the end, recordings never played are reported so the test can fail:
a cassette that no longer matches what the code does is a test that no longer tests anything.

Everything is redacted before it is kept (:mod:`crs.cassette._redact`), and the file is written
only when something changed, atomically, under an exclusive lock so that parallel workers
sharing a cassette cannot interleave their writes.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from crs import __version__
from crs._options import parse_choice
from crs.cassette._file import FORMAT, VERSION, is_seam_call, read_cassette, write_cassette
from crs.cassette._match import (
    MatchRules,
    live_signature,
    mask_ignored,
    request_signature,
    tool_signature,
)
from crs.errors import CassetteMismatchError

__all__ = ["Cassette", "RecordMode"]


class RecordMode(StrEnum):
    NONE = "none"
    ONCE = "once"
    NEW_EPISODES = "new_episodes"
    ALL = "all"
    REWRITE = "rewrite"


class Cassette:
    """The interactions of one cassette file and what this run did with them.

    Args:
        path: the ``.yaml`` (or ``.yaml.lz4``) file; it need not exist.
        mode: a :class:`RecordMode` (or its name).
        rules: how requests are matched; its redactor also cleans what is recorded.
        allow_repeats: a recording may answer more than once.
        parsed_cache: a directory where parsed cassettes are kept between runs (see
            :func:`crs.cassette._file.read_cassette`).
    """

    def __init__(
        self,
        path: Path,
        *,
        mode: RecordMode | str = RecordMode.NONE,
        rules: MatchRules | None = None,
        allow_repeats: bool = False,
        parsed_cache: Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.mode = parse_choice(RecordMode, mode, "record mode")
        self.rules = rules or MatchRules()
        self.allow_repeats = allow_repeats
        self._lock = threading.Lock()
        self.existed = self.path.exists()
        self.recorded: list[dict[str, Any]] = (
            list(read_cassette(self.path, parsed_cache=parsed_cache)["interactions"])
            if self.existed
            else []
        )
        self.play_counts = [0] * len(self.recorded)
        self.new: list[dict[str, Any]] = []
        self.mismatches: list[CassetteMismatchError] = []
        """Every request refused for want of a recording, even if the caller swallowed it."""
        self._replaced: dict[int, dict[str, Any]] = {}
        self._signatures = [self._signature(i) for i in self.recorded]
        self._index: dict[Any, list[int]] = {}
        for position, known in enumerate(self._signatures):
            self._index.setdefault(known, []).append(position)
        self._cursor: dict[Any, int] = {}

    # -- state ----------------------------------------------------------------------------------

    @property
    def replaying(self) -> bool:
        """Whether matching requests are answered from the cassette."""
        return self.mode in (RecordMode.NONE, RecordMode.ONCE, RecordMode.NEW_EPISODES)

    @property
    def can_record(self) -> bool:
        """Whether a request without a recording may go out to the real service."""
        if self.mode is RecordMode.NONE:
            return False
        return not (self.mode is RecordMode.ONCE and self.existed)

    @property
    def dirty(self) -> bool:
        return bool(self.new or self._replaced) or self.mode is RecordMode.REWRITE

    def unplayed(self) -> list[int]:
        """Indexes of recorded interactions this run never used."""
        with self._lock:
            return [i for i, count in enumerate(self.play_counts) if count == 0]

    # -- playing ------------------------------------------------------------------------------

    def find_live(
        self, method: str, url: str, headers: Mapping[str, Any], body: bytes | None
    ) -> dict[str, Any] | None:
        """:meth:`find` for a live HTTP request given by its parts (the fast path)."""
        if not self.replaying:
            return None
        return self._take(("http", live_signature(method, url, headers, body, self.rules)))

    def peek_live(
        self, method: str, url: str, headers: Mapping[str, Any], body: bytes | None
    ) -> dict[str, Any] | None:
        """The recording :meth:`find_live` would answer with now, without playing it.

        Matching and redaction are :meth:`find_live`'s; nothing is counted and the replay order
        does not move. Fault injection answers an attempt it is about to break (a cut stream)
        this way, so the retry after the fault still gets the recording: a cassette recorded
        without faults replays unchanged with faults added.
        """
        if not self.replaying:
            return None
        return self._peek(("http", live_signature(method, url, headers, body, self.rules)))

    def find(self, kind: str, request: Mapping[str, Any]) -> dict[str, Any] | None:
        """The recorded interaction that answers ``request`` (counted as played), or ``None``.

        ``kind`` is ``"http"`` (cassette-form request) or ``"tool"``. In ``all`` and ``rewrite``
        modes nothing is answered from the cassette.
        """
        if not self.replaying:
            return None
        return self._take((kind, self._request_signature(kind, request)))

    def _take(self, key: tuple[str, Any]) -> dict[str, Any] | None:
        """The next unplayed recording with this signature (or the last, with repeats)."""
        with self._lock:
            chosen = self._next(key)
            if chosen is None:
                return None
            played = self._cursor.get(key, 0)
            if played < len(self._index[key]):  # a repeat of the last one does not advance
                self._cursor[key] = played + 1
            self.play_counts[chosen] += 1
            return self.recorded[chosen]

    def _peek(self, key: tuple[str, Any]) -> dict[str, Any] | None:
        """What :meth:`_take` would return now, leaving the cursor and play counts alone."""
        with self._lock:
            chosen = self._next(key)
            return None if chosen is None else self.recorded[chosen]

    def _next(self, key: tuple[str, Any]) -> int | None:
        """The position :meth:`_take` answers ``key`` with (call with the lock held)."""
        candidates = self._index.get(key, [])
        played = self._cursor.get(key, 0)  # identical requests are answered in order
        if played < len(candidates):
            return candidates[played]
        if candidates and self.allow_repeats:
            return candidates[-1]
        return None

    def unmatched(self, describe: str) -> CassetteMismatchError:
        """The error for a request that has no recording and may not be recorded.

        It is also kept in :attr:`mismatches`, so the test fails even when the code under test
        (an SDK's retry loop, a broad ``except``) swallows the exception.
        """
        played = sum(1 for c in self.play_counts if c)
        if not self.existed:
            why = "the cassette does not exist"
            hint = "record it: run this test with --crs-record-mode=once"
        else:
            why = (
                f"no recorded interaction matches it ({len(self.recorded)} recorded, "
                f"{played} already played)"
            )
            hint = (
                "if the code now makes this call on purpose, record it with "
                "--crs-record-mode=new_episodes (or rewrite the cassette with "
                "--crs-record-mode=rewrite)"
            )
        shown = self.rules.redactor.text(describe)  # requests carry credentials; errors must not
        error = CassetteMismatchError(
            f"{shown}: {why} [mode {self.mode.value}, cassette {self.path}]",
            path=str(self.path),
            hint=hint,
        )
        with self._lock:
            self.mismatches.append(error)
        return error

    # -- recording ----------------------------------------------------------------------------

    def record(self, interaction: Mapping[str, Any]) -> dict[str, Any]:
        """Keep a live interaction (redacted); returns what was kept."""
        clean = self._masked(self.rules.redactor.interaction(interaction))
        with self._lock:
            if self.mode is RecordMode.ALL:
                signature = self._signature(clean)
                for index, known in enumerate(self._signatures):
                    if known == signature and index not in self._replaced:
                        self._replaced[index] = clean
                        return clean
            self.new.append(clean)
        return clean

    def document(self, on_disk: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The cassette as it should be written after this run.

        ``on_disk`` is what the file holds *now*: another process may have appended to it
        since this one loaded it (``new_episodes`` under xdist), and its additions are kept.
        """
        with self._lock:
            if self.mode is RecordMode.REWRITE:
                interactions = list(self.new)
            elif self.mode is RecordMode.ALL:
                kept = [self._replaced.get(i, item) for i, item in enumerate(self.recorded)]
                interactions = kept + self.new
            else:
                interactions = list(self.recorded if on_disk is None else on_disk) + self.new
        return {
            "format": FORMAT,
            "version": VERSION,
            "recorded_with": f"pytest-crs {__version__}",
            "interactions": interactions,
        }

    def save(self) -> bool:
        """Write the file if this run changed it; returns whether it was written."""
        if not self.dirty or (self.mode is RecordMode.ONCE and self.existed):
            return False
        with _exclusive(self.path.parent):
            on_disk = None
            if self.path.exists() and self.mode in (RecordMode.ONCE, RecordMode.NEW_EPISODES):
                on_disk = list(read_cassette(self.path)["interactions"])
            write_cassette(self.path, self.document(on_disk))
        return True

    # -- internals ----------------------------------------------------------------------------

    def _masked(self, interaction: dict[str, Any]) -> dict[str, Any]:
        """Values the matcher ignores (random session ids) are stored as ``[IGNORED]``."""
        request = interaction.get("request")
        if not isinstance(request, Mapping):
            return interaction
        body = request.get("body")
        if not (isinstance(body, Mapping) and "json" in body and self.rules.ignore_json):
            return interaction
        masked = {**body, "json": mask_ignored(body["json"], self.rules.ignore_json)}
        return {**interaction, "request": {**request, "body": masked}}

    def _signature(self, interaction: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
        kind = "tool" if is_seam_call(interaction) else "http"
        return kind, self._request_signature(kind, interaction["request"])

    def _request_signature(self, kind: str, request: Mapping[str, Any]) -> Any:
        sign: Callable[[Mapping[str, Any], MatchRules], tuple[Any, ...]] = (
            tool_signature if kind == "tool" else request_signature
        )
        return sign(request, self.rules)


@contextlib.contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` while a cassette in it is merged and written.

    POSIX ``flock`` on the directory itself, so no lock files litter ``cassettes/``. Where it
    is unavailable the atomic rename still keeps each file whole.
    """
    directory.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    handle = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing releases the lock

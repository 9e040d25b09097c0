"""Server-sent events in a byte stream: where the n-th event ends, for cutting a stream there."""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any

__all__ = ["Events", "is_event_stream", "up_to_cut"]

_LF, _CR = 0x0A, 0x0D


def is_event_stream(headers: Any) -> bool:
    content_type = str(headers.get("content-type") or "")
    return content_type.split(";", 1)[0].strip().lower() == "text/event-stream"


def up_to_cut(chunks: Iterable[bytes], after_events: int) -> Generator[bytes, None, bool]:
    """Yield ``chunks`` up to the end of event ``after_events``; return whether the stream was
    cut there (``False``: it ended before that many events, and was delivered whole)."""
    if after_events <= 0:
        return True
    events = Events(after_events)
    for chunk in chunks:
        end = events.cut_at(chunk)
        if end is None:
            yield chunk
            continue
        if end:
            yield chunk[:end]
        return True
    return False


class Events:
    """Counts the server-sent events in a byte stream, to find where the n-th one ends.

    An event is one or more lines ended by a blank line; lines end in LF, CRLF or CR, as the
    SSE specification allows, and a CRLF split across two chunks is one line ending.
    """

    def __init__(self, limit: int) -> None:
        self._left = limit
        self._line_empty = True  # nothing on the current line yet
        self._in_event = False  # the current event has at least one line
        self._after_cr = False  # the last byte was a CR: an LF now belongs to it

    def cut_at(self, chunk: bytes) -> int | None:
        """Where in ``chunk`` the last event allowed ends (just after its blank line), or
        ``None`` when it does not end in this chunk."""
        if self._left <= 0:
            return 0
        for position, byte in enumerate(chunk):
            if self._after_cr:
                self._after_cr = False
                if byte == _LF:
                    continue
            if byte not in (_LF, _CR):
                self._line_empty = False
                self._in_event = True
                continue
            self._after_cr = byte == _CR
            if not self._line_empty:
                self._line_empty = True
                continue
            if not self._in_event:
                continue  # a blank line with no event before it ends nothing
            self._in_event = False
            self._left -= 1
            if self._left == 0:
                end = position + 1
                if byte == _CR and chunk[end : end + 1] == b"\n":
                    end += 1
                return end
        return None

"""The adapter's execution journal: intents and results in the store, history in memory.

Before a tool runs, the adapter stores an **intent** (what is about to run, for whom, with which
parameters); afterwards a **record** of the outcome. A crash between the two leaves an intent
without a record: evidence that an action may have run, which is what workflow resume needs.

Records form a chain — each names the previous one — whose newest link is found through head
slots (:mod:`crs.store._heads`), so an adapter opened on a disk-backed store after a restart
reloads its recent history. The newest ``limit`` executions are also kept in memory, newest
last, for history queries and analytics without touching the store; when one falls out, its
intent and record are deleted from the store too, so a long-running agent's journal stays
bounded (the chain then simply ends there).

Parameters are stored with credential-looking fields replaced (``token``, ``password``,
``api_key`` ...) and secrets in text redacted: the journal is for reading, not replaying.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any, Final

from crs._secrets import redact_data, redact_secrets
from crs.errors import ContentTypeError, ContextLookupError
from crs.resilience import Classification
from crs.store import ContextReferenceStore
from crs.store._codec import json_field_problem
from crs.store._heads import HeadSlots, release
from crs.tools._execution import Execution

__all__ = ["Journal"]

_log = logging.getLogger("crs.tools")

RECORD_FORMAT: Final = "crs.tools.execution"
INTENT_FORMAT: Final = "crs.tools.execution-intent"
FORMAT_VERSION: Final = 1
# Above ordinary contexts (0), below the vault: history is evicted before credentials are.
PRIORITY: Final = 1 << 10


class Journal:
    """Intents, records and the in-memory history of one adapter (see the module docstring)."""

    def __init__(self, store: ContextReferenceStore, name: str, *, limit: int) -> None:
        self._store = store
        self._heads = HeadSlots(
            store,
            f"crs.tools adapter journal {name!r}",
            priority=PRIORITY,
            content_type="application/vnd.crs.journal-head",
        )
        self._lock = threading.Lock()
        self._history: deque[Execution] = deque(maxlen=limit)
        self._seq = 0
        self._newest: str | None = None
        self._reload(limit)

    # -- writing ------------------------------------------------------------------------------

    def write_intent(
        self,
        *,
        execution_id: str,
        app: str,
        action: str,
        user_id: str,
        params: Mapping[str, Any],
        metadata: Mapping[str, Any],
        auth_context_id: str | None,
        started_at: float,
    ) -> str:
        """Store what is about to run; returns the intent's reference."""
        return self._store_doc(
            {
                "format": INTENT_FORMAT,
                "version": FORMAT_VERSION,
                "execution_id": execution_id,
                "app": app,
                "action": action,
                "user_id": user_id,
                "params": redact_data(params),
                "metadata": redact_data(metadata),
                "auth_context_id": auth_context_id,
                "started_at": started_at,
                "status": "executing",
            },
            "application/vnd.crs.execution-intent",
        )

    def append(self, execution: Execution) -> Execution:
        """Record ``execution`` (chained to the previous record); returns it with ``record_ref``."""
        with self._lock:
            seq = self._seq + 1
            doc = _record(execution, seq, self._newest)
            ref = self._store_doc(doc, "application/vnd.crs.execution")
            self._heads.write(seq, ref)
            self._seq, self._newest = seq, ref
            recorded = replace(execution, record_ref=ref)
            full = len(self._history) == self._history.maxlen
            oldest = self._history[0] if full else None
            self._history.append(replace(recorded, exception=None))
        if oldest is not None:  # fell out of the history: its items go too, or the store grows
            for old_ref in (oldest.record_ref, oldest.intent_ref):
                if old_ref is not None:
                    release(self._store, old_ref)
        return recorded

    def _store_doc(self, doc: dict[str, Any], content_type: str) -> str:
        """Store ``doc``, describing any field the store cannot keep exactly.

        A record must never fail because a tool returned, say, a set; the caller still gets the
        real value in its ``Execution``.
        """
        metadata = {"priority": PRIORITY, "content_type": content_type}
        try:
            return self._store.store(doc, metadata)
        except ContentTypeError:
            return self._store.store({k: _storable(v) for k, v in doc.items()}, metadata)

    # -- reading ------------------------------------------------------------------------------

    def history(
        self, match: Callable[[Execution], bool] | None = None, limit: int | None = None
    ) -> list[Execution]:
        """Executions newest first, optionally filtered, at most ``limit``."""
        with self._lock:
            snapshot = list(self._history)
        found: list[Execution] = []
        for execution in reversed(snapshot):
            if match is None or match(execution):
                found.append(execution)
                if limit is not None and len(found) >= limit:
                    break
        return found

    def snapshot(self) -> list[Execution]:
        """Every execution held in memory, oldest first."""
        with self._lock:
            return list(self._history)

    # -- reopening ----------------------------------------------------------------------------

    def _reload(self, limit: int) -> None:
        for seq, ref in self._heads.read():
            loaded = list(self._walk(ref, limit))
            if loaded:
                self._seq, self._newest = seq, ref
                self._history.extend(reversed(loaded))
                return

    def _walk(self, ref: str | None, limit: int) -> Iterator[Execution]:
        count = 0
        while ref is not None and count < limit:
            try:
                doc = self._store.retrieve(ref)
                execution = _execution_from(doc, ref)
            except ContextLookupError:
                _log.warning("crs.tools journal: record %s is gone; older history is lost", ref)
                return
            except (KeyError, TypeError, ValueError) as exc:
                _log.warning("crs.tools journal: record %s is unreadable (%s)", ref, exc)
                return
            yield execution
            count += 1
            prev = doc.get("prev")
            ref = prev if isinstance(prev, str) else None


def _record(execution: Execution, seq: int, prev: str | None) -> dict[str, Any]:
    failure = execution.failure
    return {
        "format": RECORD_FORMAT,
        "version": FORMAT_VERSION,
        "seq": seq,
        "prev": prev,
        "execution_id": execution.execution_id,
        "app": execution.app,
        "action": execution.action,
        "user_id": execution.user_id,
        "status": "success" if execution.successful else "error",
        "data": execution.data,
        "error": None if execution.error is None else redact_secrets(execution.error),
        "failure": None if failure is None else failure.to_json(),
        "attempts": execution.attempts,
        "latency_ms": execution.latency_ms,
        "cached": execution.cached,
        "started_at": execution.started_at,
        "finished_at": execution.finished_at,
        "intent_ref": execution.intent_ref,
        "auth_context_id": execution.auth_context_id,
        "metadata": redact_data(execution.metadata),
    }


def _execution_from(doc: Any, ref: str) -> Execution:
    if not isinstance(doc, dict) or doc.get("format") != RECORD_FORMAT:
        raise ValueError("not an execution record")
    if doc.get("version") != FORMAT_VERSION:
        raise ValueError(f"execution record version {doc.get('version')!r} is not supported")
    failure = doc["failure"]
    return Execution(
        execution_id=str(doc["execution_id"]),
        app=str(doc["app"]),
        action=str(doc["action"]),
        user_id=str(doc["user_id"]),
        successful=doc["status"] == "success",
        data=doc["data"],
        error=doc["error"],
        failure=None if failure is None else Classification.from_json(failure),
        attempts=int(doc["attempts"]),
        latency_ms=float(doc["latency_ms"]),
        cached=bool(doc["cached"]),
        started_at=float(doc["started_at"]),
        finished_at=float(doc["finished_at"]),
        intent_ref=doc["intent_ref"],
        record_ref=ref,
        auth_context_id=doc["auth_context_id"],
        metadata=dict(doc["metadata"] or {}),
    )


def _storable(value: Any) -> Any:
    """``value`` if the store can keep it exactly, else a description (a record never fails)."""
    problem = json_field_problem(value)
    if problem is not None:
        return {"unstorable": type(value).__name__, "reason": problem.message}
    return value

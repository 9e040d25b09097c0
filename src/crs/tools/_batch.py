"""Batches: many actions for one user, one after another or truly concurrently.

The integration guide's "parallel" branch was a sequential loop; here ``concurrent=True`` runs
up to ``max_concurrent`` actions at once (threads for the sync API, tasks for the async one),
and results always come back in input order, whatever order they finished in.

``fail_fast`` stops the batch at the first unsuccessful action: what has not *started* is not
started (its slot in the results is ``None``); what is already in flight finishes and is
recorded, because abandoning a half-sent request would only hide whether it had its effect.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Final

from crs._options import reject_unknown_keys, require_positive_int
from crs.clock import Clock, resolve_clock
from crs.errors import ConfigError
from crs.resilience import RetryPolicy
from crs.store import ContextReferenceStore
from crs.tools._actions import retry_policy_from_config
from crs.tools._execution import Execution

__all__ = [
    "BatchAction",
    "BatchPlan",
    "BatchResult",
    "arun_batch",
    "finish_batch",
    "plan_batch",
    "run_batch",
]

_ITEM_KEYS: Final = frozenset(
    {"app", "action", "params", "retry_config", "retry_policy", "metadata"}
)


@dataclass(frozen=True)
class BatchAction:
    """One action of a batch; ``retry_policy`` overrides the adapter's for this action only."""

    app: str
    action: str
    params: Mapping[str, Any] = field(default_factory=dict)
    retry_policy: RetryPolicy | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, item: BatchAction | Mapping[str, Any], index: int) -> BatchAction:
        """Accept a :class:`BatchAction` or the guide's dict (``retry_config`` included)."""
        if isinstance(item, BatchAction):
            return item
        where = f"batch action {index}"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where} must be a mapping or a BatchAction, got {item!r}")
        reject_unknown_keys(item, _ITEM_KEYS, where)
        for key in ("app", "action"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise ConfigError(f"{where} needs a non-empty str {key!r}, got {item.get(key)!r}")
        params, metadata = item.get("params", {}), item.get("metadata", {})
        if not isinstance(params, Mapping) or not isinstance(metadata, Mapping):
            raise ConfigError(f"{where}: params and metadata must be mappings")
        policy = item.get("retry_policy", item.get("retry_config"))
        return cls(
            item["app"],
            item["action"],
            params,
            None if policy is None else retry_policy_from_config(policy, where=f"{where}.retry"),
            metadata,
        )


@dataclass(frozen=True)
class BatchResult:
    """The outcome of a batch: one entry per action, in input order (``None``: not started)."""

    batch_id: str
    user_id: str
    results: tuple[Execution | None, ...]
    concurrent: bool
    fail_fast: bool
    started_at: float
    finished_at: float
    total_time_ms: float
    record_ref: str | None = None

    @property
    def total_actions(self) -> int:
        return len(self.results)

    @property
    def successful_actions(self) -> int:
        return sum(1 for r in self.results if r is not None and r.successful)

    @property
    def failed_actions(self) -> int:
        return sum(1 for r in self.results if r is not None and not r.successful)

    @property
    def cancelled_actions(self) -> int:
        return sum(1 for r in self.results if r is None)

    @property
    def successful(self) -> bool:
        return self.successful_actions == self.total_actions

    def to_dict(self) -> dict[str, Any]:
        """The guide's summary shape (results as execution dicts, ``None`` when not started)."""
        return {
            "batch_id": self.batch_id,
            "total_actions": self.total_actions,
            "successful_actions": self.successful_actions,
            "failed_actions": self.failed_actions,
            "cancelled_actions": self.cancelled_actions,
            "results": [None if r is None else r.to_dict() for r in self.results],
            "total_time_ms": self.total_time_ms,
        }


_BATCH_DEFAULTS: Final = {"parallel": False, "fail_fast": False, "max_concurrent": 3}


@dataclass(frozen=True)
class BatchPlan:
    """A validated batch about to run."""

    batch_id: str
    user_id: str
    actions: list[BatchAction]
    concurrent: bool
    max_concurrent: int
    fail_fast: bool
    started_at: float
    started_mono: float

    def call(self, index: int, action: BatchAction) -> tuple[Any, ...]:
        """The pipeline arguments of action ``index``; its metadata says where it belongs."""
        metadata = {**action.metadata, "batch_id": self.batch_id, "batch_index": index}
        return (
            action.app,
            action.action,
            action.params,
            self.user_id,
            None,
            metadata,
            action.retry_policy,
        )


def plan_batch(
    actions: Sequence[BatchAction | Mapping[str, Any]],
    user_id: str,
    config: Mapping[str, Any] | None,
    overrides: Mapping[str, bool | int | None],
    clock: Clock | None,
) -> BatchPlan:
    """Validate a batch: the guide's ``batch_config`` dict, then keyword ``overrides``."""
    if isinstance(actions, (str, bytes, Mapping)) or not isinstance(actions, Sequence):
        raise ConfigError(f"actions must be a sequence of actions, got {actions!r}")
    if config is not None and not isinstance(config, Mapping):
        raise ConfigError(f"batch_config must be a mapping, got {config!r}")
    reject_unknown_keys(config or {}, _BATCH_DEFAULTS.keys(), "batch_config")
    options: dict[str, Any] = {**_BATCH_DEFAULTS, **(config or {})}
    options.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("parallel", "fail_fast"):
        if not isinstance(options[key], bool):
            raise ConfigError(f"batch {key} must be a bool, got {options[key]!r}")
    now = resolve_clock(clock)
    return BatchPlan(
        batch_id="batch_" + uuid.uuid4().hex,
        user_id=user_id,
        actions=[BatchAction.parse(item, i) for i, item in enumerate(actions)],
        concurrent=options["parallel"],
        max_concurrent=require_positive_int(options["max_concurrent"], "max_concurrent"),
        fail_fast=options["fail_fast"],
        started_at=now.now(),
        started_mono=now.monotonic(),
    )


def finish_batch(
    store: ContextReferenceStore,
    plan: BatchPlan,
    results: Sequence[Execution | None],
    clock: Clock | None,
) -> BatchResult:
    """Store the batch's record (what ran, where each record is) and build its result."""
    now = resolve_clock(clock)
    finished_at = now.now()
    total_ms = (now.monotonic() - plan.started_mono) * 1000.0
    ref = store.store(
        {
            "format": "crs.tools.batch",
            "version": 1,
            "batch_id": plan.batch_id,
            "user_id": plan.user_id,
            "concurrent": plan.concurrent,
            "max_concurrent": plan.max_concurrent,
            "fail_fast": plan.fail_fast,
            "actions": [{"app": a.app, "action": a.action} for a in plan.actions],
            "results": [
                None
                if r is None
                else {"execution_id": r.execution_id, "record": r.record_ref, "ok": r.successful}
                for r in results
            ],
            "started_at": plan.started_at,
            "finished_at": finished_at,
            "total_time_ms": total_ms,
        },
        {"content_type": "application/vnd.crs.batch"},
    )
    return BatchResult(
        batch_id=plan.batch_id,
        user_id=plan.user_id,
        results=tuple(results),
        concurrent=plan.concurrent,
        fail_fast=plan.fail_fast,
        started_at=plan.started_at,
        finished_at=finished_at,
        total_time_ms=total_ms,
        record_ref=ref,
    )


def run_batch(
    plan: BatchPlan, execute: Callable[[int, BatchAction], Execution]
) -> list[Execution | None]:
    """Run the plan's actions with ``execute(index, action)``; see the module docstring."""
    actions, fail_fast = plan.actions, plan.fail_fast
    stop = threading.Event()

    def work(index: int) -> Execution | None:
        if stop.is_set():
            return None
        execution = execute(index, actions[index])
        if fail_fast and not execution.successful:
            stop.set()
        return execution

    if not plan.concurrent:
        return [work(i) for i in range(len(actions))]
    workers = max(1, min(plan.max_concurrent, len(actions)))
    with ThreadPoolExecutor(workers, thread_name_prefix="crs-batch") as pool:
        # Each worker runs in a copy of the caller's context (as asyncio.to_thread does), so
        # context-bound state — the current telemetry span, above all — follows the action.
        futures = [
            pool.submit(contextvars.copy_context().run, work, i) for i in range(len(actions))
        ]
        pending: set[Future[Execution | None]] = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            if stop.is_set() or any(f.exception() is not None for f in done):
                for future in pending:
                    future.cancel()  # only those not started yet; running ones finish
        return [None if f.cancelled() else f.result() for f in futures]


async def arun_batch(
    plan: BatchPlan, aexecute: Callable[[int, BatchAction], Awaitable[Execution]]
) -> list[Execution | None]:
    """:func:`run_batch` for asyncio: concurrency is tasks bounded by a semaphore."""
    actions, fail_fast = plan.actions, plan.fail_fast
    stopped = False

    async def work(index: int) -> Execution | None:
        nonlocal stopped
        if stopped:
            return None
        execution = await aexecute(index, actions[index])
        if fail_fast and not execution.successful:
            stopped = True
        return execution

    if not plan.concurrent:
        return [await work(i) for i in range(len(actions))]
    gate = asyncio.Semaphore(plan.max_concurrent)

    async def gated(index: int) -> Execution | None:
        async with gate:
            return await work(index)

    tasks = [asyncio.ensure_future(gated(i)) for i in range(len(actions))]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise

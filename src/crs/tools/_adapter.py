"""The Composio adapter: one object in front of a tool backend for agents and their tests.

It composes the parts of :mod:`crs.tools`: the execution pipeline (records, credentials,
retries, rate limits, breaker, cache — :mod:`crs.tools._pipeline`), batches, workflows
(:mod:`crs.tools._workflow`), history analytics and tool selection, all keeping their state in
one Context Reference Store. The method names follow the Composio integration guide, so code
written against it reads the same.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from crs._options import require_positive_int, require_seconds
from crs.auth import CredentialVault
from crs.clock import Clock
from crs.errors import ConfigError, WorkflowNotFoundError
from crs.resilience import CircuitBreaker, CircuitState, RateLimiter, RetryPolicy
from crs.store import ContextReferenceStore
from crs.tools._actions import ActionPolicy, ActionTable
from crs.tools._analytics import app_patterns, app_performance, performance
from crs.tools._auth_gate import AuthGate
from crs.tools._backends import ToolBackend
from crs.tools._batch import (
    BatchAction,
    BatchPlan,
    BatchResult,
    arun_batch,
    finish_batch,
    plan_batch,
    run_batch,
)
from crs.tools._cache import ResponseCache
from crs.tools._execution import Execution
from crs.tools._journal import Journal
from crs.tools._pipeline import Limiters, Pipeline
from crs.tools._selection import ToolConfig, ToolSelection, ToolSelector
from crs.tools._workflow import WorkflowEngine
from crs.tools._workflow_definition import WorkflowDefinition
from crs.tools._workflow_state import ActionRequest, WorkflowRun

__all__ = ["ComposioAdapter"]


class ComposioAdapter:
    """Runs tools for users through a :class:`~crs.tools.ToolBackend`, keeping a record of it all.

    Args:
        store: where intents, records, cached responses, batch and workflow state live. Give
            it a disk tier for history and workflow checkpoints to survive a restart.
        backend: what runs the tools: ``ComposioCoreBackend``, ``ComposioBackend`` or
            ``CallableBackend``.
        vault: when given, every execution needs a live credential for ``(user_id, app)`` in it.
        retry_policy: the default policy (``RetryPolicy()``: 3 attempts, exponential backoff,
            ``Retry-After`` honoured). Per action, ``idempotent`` follows ``read_only``.
        rate_limits: one :class:`~crs.resilience.RateLimiter` for every app (keyed by app), or
            a mapping of app to its own limiter (apps not listed are not limited).
        breaker: a :class:`~crs.resilience.CircuitBreaker`, keyed by app.
        cache: a :class:`~crs.tools.ResponseCache` naming the read-only actions to cache.
        selector: chooses apps for :meth:`select_optimal_tool` (default weights 40/30/20/10).
        actions: per-action :class:`~crs.tools.ActionPolicy`, keyed by qualified action name.
        auth_cache_ttl: seconds a verified credential is trusted without asking the vault again
            (never past its expiry; 0 disables). Revoking through the adapter takes effect at
            once; revoking through the vault directly, within this many seconds.
        history_limit: executions kept for history and analytics, in memory and in the store
            (two items each: intent and record); older ones are deleted. Size a memory-only
            store's ``cache_size`` for them.
        name: several adapters can share a store under different names.
        clock: time source; defaults to :func:`crs.clock.get_clock` at each use.
    """

    def __init__(
        self,
        store: ContextReferenceStore,
        backend: ToolBackend,
        *,
        vault: CredentialVault | None = None,
        retry_policy: RetryPolicy | None = None,
        rate_limits: RateLimiter | Mapping[str, RateLimiter] | None = None,
        breaker: CircuitBreaker | None = None,
        cache: ResponseCache | None = None,
        selector: ToolSelector | None = None,
        actions: Mapping[str, ActionPolicy] | None = None,
        auth_cache_ttl: float = 60.0,
        history_limit: int = 1000,
        name: str = "default",
        clock: Clock | None = None,
    ) -> None:
        _check_type("store", store, ContextReferenceStore)
        if not isinstance(backend, ToolBackend):
            raise ConfigError(
                f"backend must implement crs.tools.ToolBackend, got {backend!r}",
                hint="use ComposioCoreBackend, ComposioBackend or CallableBackend",
            )
        for option, value, kind in (
            ("vault", vault, CredentialVault),
            ("retry_policy", retry_policy, RetryPolicy),
            ("breaker", breaker, CircuitBreaker),
            ("cache", cache, ResponseCache),
            ("selector", selector, ToolSelector),
        ):
            _check_type(option, value, kind, optional=True)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"name must be a non-empty str, got {name!r}")
        auth_ttl = require_seconds(auth_cache_ttl, "auth_cache_ttl", finite=True)
        self._store = store
        self._vault = vault
        self._clock = clock
        self._selector = selector or ToolSelector()
        self._actions = ActionTable(actions)
        self._journal = Journal(
            store, name, limit=require_positive_int(history_limit, "history_limit")
        )
        self._gate = None if vault is None else AuthGate(vault, auth_ttl, clock)
        self._lock = threading.Lock()
        self._workflows: dict[str, WorkflowDefinition] = {}
        self._engine = WorkflowEngine(
            store,
            clock=clock,
            find_execution=self._step_execution,
            is_read_only=self.is_read_only,
        )
        self._pipeline = Pipeline(
            backend=backend,
            journal=self._journal,
            actions=self._actions,
            policy=retry_policy or RetryPolicy(),
            limiters=Limiters.parse(rate_limits),
            breaker=breaker,
            cache=cache,
            gate=self._gate,
            clock=clock,
        )
        if cache is not None:
            cache.attach(store)
            for action in cache.actions:
                self._actions.refuse_caching_writes("", action)

    # -- configuration ------------------------------------------------------------------------

    @property
    def store(self) -> ContextReferenceStore:
        return self._store

    @property
    def backend(self) -> ToolBackend:
        return self._pipeline.backend

    @property
    def vault(self) -> CredentialVault | None:
        return self._vault

    @property
    def cache(self) -> ResponseCache | None:
        return self._pipeline.cache

    @property
    def breaker(self) -> CircuitBreaker | None:
        return self._pipeline.breaker

    @property
    def selector(self) -> ToolSelector:
        return self._selector

    def qualify(self, app: str, action: str) -> str:
        """The name the backend knows ``action`` of ``app`` by (``GITHUB_CREATE_AN_ISSUE``)."""
        return self._pipeline.backend.qualify(app, action)

    def configure_action(
        self,
        app: str,
        action: str,
        *,
        read_only: bool | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> str:
        """Say whether an action is read-only and how to retry it; returns its qualified name.

        Raises:
            ConfigError: the action is cached and would now count as side-effecting.
        """
        name = self.qualify(app, action)
        previous = self._actions.set(name, ActionPolicy(read_only, retry_policy))
        cache = self._pipeline.cache
        if cache is not None and cache.caches(name):
            try:
                self._actions.refuse_caching_writes(app, name)
            except ConfigError:
                self._actions.restore(name, previous)
                raise
        return name

    def is_read_only(self, app: str, action: str) -> bool:
        """Whether ``action`` counts as free of side effects (configured, or guessed by name)."""
        return self._actions.read_only(app, self.qualify(app, action))

    def enable_response_caching(self, app: str, action: str, ttl: float | None = None) -> str:
        """Cache a read-only action's responses (needs ``cache=``); returns its qualified name."""
        cache = self._pipeline.cache
        if cache is None:
            raise ConfigError(
                "this adapter has no response cache",
                hint="pass cache=ResponseCache() to ComposioAdapter",
            )
        name = self.qualify(app, action)
        self._actions.refuse_caching_writes(app, name)
        cache.enable(name, ttl)
        return name

    def invalidate_cache(
        self, *, app: str | None = None, action: str | None = None, **filters: Any
    ) -> int:
        """Drop cached responses by app, action (any spelling), ``user_id`` or ``predicate``."""
        cache = self._pipeline.cache
        if cache is None:
            return 0
        name = None if action is None or app is None else self.qualify(app, action)
        return cache.invalidate(app=app, action=name or action, **filters)

    # -- credentials --------------------------------------------------------------------------

    def store_app_auth_context(
        self, app: str, user_id: str, credentials: Mapping[str, Any], *, ttl_hours: float = 24
    ) -> str:
        """Encrypt ``credentials`` into the vault for ``(user_id, app)``; returns its context id."""
        vault = self._require_vault()
        context_id = vault.store_user_credentials(user_id, app, credentials, ttl_hours=ttl_hours)
        self.invalidate_auth_cache(user_id=user_id, app=app)
        return context_id

    def revoke_auth_context(self, app: str, user_id: str) -> bool:
        """Revoke the credential of ``(user_id, app)``; effective for the next execution."""
        revoked = self._require_vault().revoke(user_id, app)
        self.invalidate_auth_cache(user_id=user_id, app=app)
        return revoked

    def invalidate_auth_cache(self, *, user_id: str | None = None, app: str | None = None) -> int:
        """Forget verified credentials (all, or one user's, or one app's); returns how many."""
        return 0 if self._gate is None else self._gate.forget(user_id=user_id, app=app)

    # -- executing ----------------------------------------------------------------------------

    def execute_tool_with_context(
        self,
        app: str,
        action: str,
        params: Mapping[str, Any],
        user_id: str,
        auth_context_id: str | None = None,
        execution_metadata: Mapping[str, Any] | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
    ) -> Execution:
        """Run ``action`` of ``app`` for ``user_id``; see :mod:`crs.tools._pipeline`.

        Returns an :class:`~crs.tools.Execution`, successful or not; raises only
        :class:`~crs.errors.ConfigError` for a malformed call.
        """
        return self._pipeline.execute(
            app, action, params, user_id, auth_context_id, execution_metadata, retry_policy
        )

    async def aexecute_tool_with_context(
        self,
        app: str,
        action: str,
        params: Mapping[str, Any],
        user_id: str,
        auth_context_id: str | None = None,
        execution_metadata: Mapping[str, Any] | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
    ) -> Execution:
        """:meth:`execute_tool_with_context` for asyncio."""
        return await self._pipeline.aexecute(
            app, action, params, user_id, auth_context_id, execution_metadata, retry_policy
        )

    # -- batches ------------------------------------------------------------------------------

    def execute_batch(
        self,
        actions: Sequence[BatchAction | Mapping[str, Any]],
        user_id: str,
        batch_config: Mapping[str, Any] | None = None,
        *,
        concurrent: bool | None = None,
        max_concurrent: int | None = None,
        fail_fast: bool | None = None,
    ) -> BatchResult:
        """Run several actions for ``user_id``; see :mod:`crs.tools._batch` for the semantics.

        ``batch_config`` takes the guide's dict (``parallel``, ``fail_fast``,
        ``max_concurrent``); keyword arguments override it. Defaults: sequential, no fail-fast,
        at most 3 at once when concurrent.
        """
        plan = self._plan(actions, user_id, batch_config, concurrent, max_concurrent, fail_fast)
        results = run_batch(plan, lambda i, a: self._pipeline.execute(*plan.call(i, a)))
        return finish_batch(self._store, plan, results, self._clock)

    async def aexecute_batch(
        self,
        actions: Sequence[BatchAction | Mapping[str, Any]],
        user_id: str,
        batch_config: Mapping[str, Any] | None = None,
        *,
        concurrent: bool | None = None,
        max_concurrent: int | None = None,
        fail_fast: bool | None = None,
    ) -> BatchResult:
        """:meth:`execute_batch` for asyncio (concurrency by tasks, not threads)."""
        plan = self._plan(actions, user_id, batch_config, concurrent, max_concurrent, fail_fast)
        results = await arun_batch(plan, lambda i, a: self._pipeline.aexecute(*plan.call(i, a)))
        return finish_batch(self._store, plan, results, self._clock)

    def _plan(
        self,
        actions: Sequence[BatchAction | Mapping[str, Any]],
        user_id: str,
        batch_config: Mapping[str, Any] | None,
        concurrent: bool | None,
        max_concurrent: int | None,
        fail_fast: bool | None,
    ) -> BatchPlan:
        overrides = {
            "parallel": concurrent,
            "max_concurrent": max_concurrent,
            "fail_fast": fail_fast,
        }
        return plan_batch(actions, user_id, batch_config, overrides, self._clock)

    # -- workflows ----------------------------------------------------------------------------

    def define_workflow(self, workflow_name: str, workflow_definition: Mapping[str, Any]) -> str:
        """Validate and register a workflow (the guide's JSON shape); returns its store reference.

        Every expression is compiled now, so a typo fails here, not halfway through a run.

        Raises:
            WorkflowDefinitionError: names the step, the field and the offending value.
        """
        definition = WorkflowDefinition.parse(workflow_name, workflow_definition)
        ref = self._store.store(
            definition.to_json(), {"content_type": "application/vnd.crs.workflow-definition"}
        )
        with self._lock:
            self._workflows[workflow_name] = definition
        return ref

    def execute_workflow(
        self,
        workflow_name: str,
        input_data: Mapping[str, Any],
        user_id: str,
        execution_config: Mapping[str, Any] | None = None,
    ) -> WorkflowRun:
        """Run a defined workflow for ``user_id``, checkpointing after every step.

        ``execution_config``: ``{"fail_fast": True}`` (default) stops at the first failed action.
        Returns the run with status completed / partial / failed / error.
        """
        definition = self._workflow(workflow_name)
        return self._engine.run(
            definition, input_data, user_id, self._workflow_step, execution_config
        )

    async def aexecute_workflow(
        self,
        workflow_name: str,
        input_data: Mapping[str, Any],
        user_id: str,
        execution_config: Mapping[str, Any] | None = None,
    ) -> WorkflowRun:
        """:meth:`execute_workflow` for asyncio."""
        definition = self._workflow(workflow_name)
        return await self._engine.arun(
            definition, input_data, user_id, self._aworkflow_step, execution_config
        )

    def resume_workflow(self, execution_id: str, *, rerun_in_doubt: bool = False) -> WorkflowRun:
        """Continue a run from its last checkpoint (after a crash, on a disk-backed store).

        Completed steps are never re-run. A side-effecting step that had started is settled by
        this adapter's record of it; without one, it is re-run only with ``rerun_in_doubt=True``.

        Raises:
            WorkflowNotFoundError: no run has this id in the store.
            WorkflowResumeError: a side-effecting step may have run; check, then decide.
        """
        return self._engine.resume(execution_id, self._workflow_step, rerun_in_doubt=rerun_in_doubt)

    async def aresume_workflow(
        self, execution_id: str, *, rerun_in_doubt: bool = False
    ) -> WorkflowRun:
        """:meth:`resume_workflow` for asyncio."""
        return await self._engine.aresume(
            execution_id, self._aworkflow_step, rerun_in_doubt=rerun_in_doubt
        )

    def get_workflow_run(self, execution_id: str) -> WorkflowRun:
        """A run as its newest checkpoint has it (running or finished)."""
        return self._engine.load(execution_id)

    def forget_workflow_run(self, execution_id: str, *, force: bool = False) -> bool:
        """Delete a finished run's checkpoints; ``force=True`` also deletes an unfinished one."""
        return self._engine.forget(execution_id, force=force)

    def _workflow(self, name: str) -> WorkflowDefinition:
        with self._lock:
            definition = self._workflows.get(name)
            known = ", ".join(sorted(self._workflows)) or "none"
        if definition is None:
            raise WorkflowNotFoundError(
                f"no workflow named {name!r} is defined on this adapter",
                workflow=name,
                hint=f"define it with define_workflow() first; defined: {known}",
            )
        return definition

    def _workflow_step(self, request: ActionRequest) -> Execution:
        return self._pipeline.execute(
            request.app,
            request.action,
            request.params,
            request.user_id,
            None,
            request.metadata,
            None,
        )

    async def _aworkflow_step(self, request: ActionRequest) -> Execution:
        return await self._pipeline.aexecute(
            request.app,
            request.action,
            request.params,
            request.user_id,
            None,
            request.metadata,
            None,
        )

    def _step_execution(self, workflow_execution_id: str, step: str) -> Execution | None:
        """The recorded execution of a workflow step, if the history has one."""
        found = self._journal.history(
            lambda e: (
                e.metadata.get("workflow_execution_id") == workflow_execution_id
                and e.metadata.get("workflow_step") == step
            ),
            limit=1,
        )
        return found[0] if found else None

    # -- history and analytics ----------------------------------------------------------------

    def get_execution(self, execution_id: str) -> Execution:
        found = self._journal.history(lambda e: e.execution_id == execution_id, limit=1)
        if not found:
            raise ConfigError(
                f"no execution {execution_id!r} in this adapter's history",
                hint="history keeps the newest history_limit executions",
            )
        return found[0]

    def get_execution_history(
        self, *, user_id: str | None = None, app: str | None = None, limit: int | None = None
    ) -> list[Execution]:
        """Executions newest first, filtered by user and/or app."""
        return self._journal.history(
            lambda e: (user_id is None or e.user_id == user_id) and (app is None or e.app == app),
            limit,
        )

    def get_user_execution_history(self, user_id: str, limit: int = 50) -> list[Execution]:
        return self.get_execution_history(user_id=user_id, limit=limit)

    def get_app_execution_history(self, app: str, limit: int = 50) -> list[Execution]:
        return self.get_execution_history(app=app, limit=limit)

    def get_user_app_patterns(self, user_id: str) -> dict[str, dict[str, Any]]:
        """Per app: how often ``user_id`` used it, its share, success rate and last use."""
        return app_patterns(self.get_execution_history(user_id=user_id))

    def get_tool_performance_stats(self) -> dict[str, Any]:
        """Totals, success rate, average and p95 latency, cache hit rates, per-app figures."""
        stats = performance(self._journal.snapshot())
        stats["auth_cache_hit_rate"] = 0.0 if self._gate is None else self._gate.hit_rate
        cache = self._pipeline.cache
        cache_stats = None if cache is None else cache.stats()
        stats["response_cache_hit_rate"] = 0.0 if cache_stats is None else cache_stats["hit_rate"]
        stats["response_cache"] = cache_stats
        breaker = self._pipeline.breaker
        stats["circuits"] = (
            {}
            if breaker is None
            else {key: snap.state.value for key, snap in breaker.snapshots().items()}
        )
        return stats

    # -- tool selection -----------------------------------------------------------------------

    def register_available_tools(
        self, tools_config: Mapping[str, ToolConfig | Mapping[str, Any]]
    ) -> None:
        """Register apps to choose among: ``{"github": {"keywords": [...], ...}, ...}``."""
        self._selector.register_tools(tools_config)

    def select_optimal_tool(
        self, user_intent: str, user_id: str, context: Mapping[str, Any] | None = None
    ) -> ToolSelection:
        """The registered app that best serves ``user_intent`` for ``user_id``, with alternatives.

        Fed from this adapter: per-app success rate and latency from the history, the user's own
        usage counts, and apps whose circuit is open count as unavailable.
        """
        history = self._journal.snapshot()
        breaker = self._pipeline.breaker
        open_circuits = (
            set()
            if breaker is None
            else {k for k, s in breaker.snapshots().items() if s.state is CircuitState.OPEN}
        )
        return self._selector.select(
            user_intent,
            performance=app_performance(history),
            usage=Counter(e.app for e in history if e.user_id == user_id),
            unavailable=open_circuits,
            context=context,
        )

    def __repr__(self) -> str:
        return (
            f"ComposioAdapter(backend={self._pipeline.backend!r}, "
            f"vault={self._vault is not None}, cache={self._pipeline.cache!r})"
        )

    def _require_vault(self) -> CredentialVault:
        if self._vault is None:
            raise ConfigError(
                "this adapter has no credential vault",
                hint="pass vault=CredentialVault(store, key=...) to ComposioAdapter",
            )
        return self._vault


def _check_type(name: str, value: object, kind: type, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, kind):
        raise ConfigError(f"{name} must be a {kind.__name__}, got {value!r}")

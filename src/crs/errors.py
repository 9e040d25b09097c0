"""One exception hierarchy for everything ``crs`` raises.

Every error carries a ``hint`` telling the caller what to do next, and the offending value where
there is one. Messages never contain secrets: callers pass identifiers (references, field names,
types), never credential values.
"""

from __future__ import annotations

__all__ = [
    "AgentError",
    "CassetteError",
    "CassetteFormatError",
    "CassetteMismatchError",
    "CircuitOpenError",
    "ConfigError",
    "ContentTypeError",
    "ContextCorruptedError",
    "ContextEvictedError",
    "ContextExpiredError",
    "ContextLookupError",
    "ContextNotFoundError",
    "CredentialError",
    "CredentialExpiredError",
    "CredentialNotFoundError",
    "CredentialTamperedError",
    "CrsError",
    "CrsTimeoutError",
    "HeadConflictError",
    "MetadataError",
    "NetworkBlockedError",
    "RetryError",
    "StoreCapacityError",
    "StoreClosedError",
    "StoreDiskError",
    "VaultCorruptedError",
    "VaultError",
    "VaultKeyError",
    "WorkflowDefinitionError",
    "WorkflowError",
    "WorkflowNotFoundError",
    "WorkflowResumeError",
]


class CrsError(Exception):
    """Root of every error raised by ``crs``; catch this to catch them all."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class ConfigError(CrsError, ValueError):
    """A constructor or option was given a value it cannot work with."""


class ContentTypeError(CrsError, TypeError):
    """Content cannot be stored because it would not come back exactly as given.

    ``path`` is a JSONPath-like location (``$.data[3].when``) of the offending value.
    """

    def __init__(self, message: str, *, path: str, type_name: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.path = path
        self.type_name = type_name


class MetadataError(CrsError, ValueError):
    """A metadata field passed to ``store()`` has the wrong type or value."""

    def __init__(self, message: str, *, field: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field


class ContextLookupError(CrsError, LookupError):
    """A reference does not resolve to content; the subclasses say why."""

    def __init__(self, message: str, *, ref: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.ref = ref


class ContextNotFoundError(ContextLookupError):
    """The reference was never issued by this store, was deleted, or is malformed."""


class ContextEvictedError(ContextLookupError):
    """The content was evicted to make room and there is no disk tier to bring it back from."""


class ContextExpiredError(ContextLookupError):
    """The content outlived its ``ttl``."""


class ContextCorruptedError(ContextLookupError):
    """Stored bytes no longer decode to what was stored (disk damage or tampering)."""


class StoreCapacityError(CrsError):
    """A single item cannot fit the store's limits and there is nowhere else to put it."""


class StoreClosedError(CrsError):
    """The store was used after ``close()``."""


class StoreDiskError(CrsError):
    """The disk tier could not be opened or written (path, permissions, not a store file)."""


class HeadConflictError(CrsError):
    """Another writer moved a head slot since this one last read it (a concurrent checkpoint,
    index or journal commit from another object or process on the same store)."""


class CrsTimeoutError(CrsError, TimeoutError):
    """An operation ran past its deadline on the crs clock.

    Also a builtin :class:`TimeoutError` (and so :class:`asyncio.TimeoutError`), so code that
    already catches those keeps working.
    """

    def __init__(self, message: str, *, seconds: float, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.seconds = seconds


class CircuitOpenError(CrsError):
    """The circuit for ``key`` is open: calls are refused until ``retry_at`` (monotonic clock)."""

    def __init__(self, message: str, *, key: str, retry_at: float, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.key = key
        self.retry_at = retry_at


class RetryError(CrsError):
    """A retry policy gave up; ``history`` holds every attempt and ``last_error`` the final one.

    ``history`` is a tuple of :class:`crs.resilience.Attempt`; it is typed loosely here so that
    this module stays free of imports.
    """

    def __init__(
        self,
        message: str,
        *,
        history: tuple[object, ...],
        last_error: BaseException | None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.history = history
        self.last_error = last_error


class AgentError(CrsError):
    """An error in an agent run, in the shape of the production-agent guide.

    ``error_type`` is a :class:`crs.resilience.ErrorType`; ``recoverable`` says whether retrying
    the run can help.
    """

    def __init__(self, error_type: object, message: str, recoverable: bool = True) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.recoverable = recoverable


class VaultError(CrsError):
    """Something went wrong in a credential vault; ``vault`` is the vault's name.

    Messages name vaults, users, apps and key ids, never a credential, key or passphrase.
    """

    def __init__(self, message: str, *, vault: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.vault = vault


class VaultKeyError(VaultError):
    """The key or passphrase does not open this vault (its key-check record fails).

    Raised when a vault is opened, before any credential is touched, so a wrong key is never
    mistaken for a damaged entry.
    """


class VaultCorruptedError(VaultError):
    """The vault's index in the store is missing or unreadable, so no entry can be located."""


class CredentialError(VaultError):
    """An error about the credential of one ``(user_id, app)`` slot."""

    def __init__(
        self, message: str, *, vault: str, user_id: str, app: str, hint: str | None = None
    ) -> None:
        super().__init__(message, vault=vault, hint=hint)
        self.user_id = user_id
        self.app = app


class CredentialNotFoundError(CredentialError, LookupError):
    """No credential is stored for this ``(user_id, app)`` (never stored, revoked or purged)."""


class CredentialExpiredError(CredentialError):
    """The credential outlived its ttl; ``expired_at`` is its expiry on the vault's clock."""

    def __init__(
        self,
        message: str,
        *,
        vault: str,
        user_id: str,
        app: str,
        expired_at: float,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, vault=vault, user_id=user_id, app=app, hint=hint)
        self.expired_at = expired_at


class CredentialTamperedError(CredentialError):
    """The stored ciphertext fails authentication although the vault key is right.

    The entry was modified, damaged, or moved from another ``(user_id, app)`` slot.
    """


class WorkflowError(CrsError):
    """A workflow could not be defined, found or resumed; ``workflow`` names it."""

    def __init__(self, message: str, *, workflow: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.workflow = workflow


class WorkflowDefinitionError(WorkflowError, ConfigError):
    """A workflow definition is malformed; the message names the step, the field and the value.

    Raised when the workflow is defined, so a typo never surfaces halfway through a run that
    already had side effects.
    """


class WorkflowNotFoundError(WorkflowError, LookupError):
    """No workflow of that name is defined, or no run has that execution id."""


class WorkflowResumeError(WorkflowError):
    """A run cannot be resumed as asked (e.g. a side-effecting step may already have run)."""


class CassetteError(CrsError):
    """A record/replay cassette could not be read, written or played; ``path`` names the file."""

    def __init__(self, message: str, *, path: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


class CassetteFormatError(CassetteError, ValueError):
    """A cassette file is malformed or of an unknown format version; the message says where."""


class CassetteMismatchError(CassetteError, LookupError):
    """A request has no recorded match in the cassette (and the record mode may not add one)."""


class NetworkBlockedError(CrsError, ConnectionError):
    """Code under test tried to reach a non-loopback host while only replaying is allowed.

    Also a builtin :class:`ConnectionError`, so HTTP libraries report it as the connection
    failure it is; ``host`` is the address that was refused.
    """

    def __init__(self, message: str, *, host: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.host = host

"""The credential check in front of every execution, with a short-lived cache of verdicts.

With a vault, an action runs only for a user holding a live credential for its app. Asking the
vault decrypts the entry (which proves it intact: a tampered entry fails its authentication tag)
and commits an access-count update, so doing it on every call of a busy agent is wasteful. The
gate therefore remembers a positive verdict for ``ttl`` seconds — never past the credential's
own expiry, and never the secret itself: only the auth-context id and the two deadlines.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from crs.auth import CredentialVault
from crs.clock import Clock, resolve_clock
from crs.errors import CredentialNotFoundError

__all__ = ["AuthGate"]


@dataclass(frozen=True, slots=True)
class _Verdict:
    auth_context_id: str
    trusted_until: float
    expires_at: float


class AuthGate:
    """Checks ``(user_id, app)`` against a vault; remembers a pass for ``ttl`` seconds."""

    def __init__(self, vault: CredentialVault, ttl: float, clock: Clock | None) -> None:
        self._vault = vault
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._verdicts: dict[tuple[str, str], _Verdict] = {}
        self._hits = self._misses = 0

    @property
    def vault(self) -> CredentialVault:
        return self._vault

    def authorize(self, user_id: str, app: str, auth_context_id: str | None) -> str:
        """The auth-context id of the user's live credential for ``app``.

        Raises:
            CredentialNotFoundError: none stored, revoked, or ``auth_context_id`` is not the
                current one (the credential was replaced since the caller got its id).
            CredentialExpiredError: it expired on the vault's clock.
            CredentialTamperedError: the stored ciphertext fails authentication.
        """
        now = resolve_clock(self._clock).now()
        slot = (user_id, app)
        with self._lock:
            verdict = self._verdicts.get(slot)
            if verdict is not None and now >= min(verdict.trusted_until, verdict.expires_at):
                del self._verdicts[slot]
                verdict = None
            if verdict is None:
                self._misses += 1
            else:
                self._hits += 1
        if verdict is None:
            self._vault.get_user_credentials(user_id, app)  # raises unless live and intact
            info = self._vault.access_info(user_id, app)
            verdict = _Verdict(info.auth_context_id, now + self._ttl, info.expires_at)
            if self._ttl > 0:
                with self._lock:
                    self._verdicts[slot] = verdict
        if auth_context_id is not None and auth_context_id != verdict.auth_context_id:
            raise CredentialNotFoundError(
                f"auth context {auth_context_id!r} is no longer the credential of user "
                f"{user_id!r} for {app!r} (it was replaced or revoked)",
                vault=self._vault.name,
                user_id=user_id,
                app=app,
                hint="use the id returned by the latest store_app_auth_context()",
            )
        return verdict.auth_context_id

    def forget(self, *, user_id: str | None = None, app: str | None = None) -> int:
        """Drop remembered verdicts (all, one user's, one app's); returns how many."""
        with self._lock:
            doomed = [
                slot
                for slot in self._verdicts
                if (user_id is None or slot[0] == user_id) and (app is None or slot[1] == app)
            ]
            for slot in doomed:
                del self._verdicts[slot]
        return len(doomed)

    @property
    def hit_rate(self) -> float:
        with self._lock:
            lookups = self._hits + self._misses
            return self._hits / lookups if lookups else 0.0

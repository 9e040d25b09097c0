"""The credential vault: per-user, per-app secrets, encrypted, expiring, tracked and rotatable.

Credentials live in a :class:`~crs.store.ContextReferenceStore` only as AES-256-GCM ciphertext
(see :mod:`crs.auth._keys`); everything else the vault knows — which entry belongs to whom, when
it expires, how often it was read — is a non-secret index kept in the same store (see
:mod:`crs.auth._layout`), so a vault over a disk-backed store reopens after a restart with the
same key or passphrase.

Every change, including the access count of a read, is committed as a new index generation
before the call returns: what a caller saw happen is what a restart finds. The in-memory state
is replaced only after that commit succeeds, so a failing store leaves the vault as it was.

One lock serialises all operations of a vault object. Several vaults can share a store under
different ``name``\\ s. Two objects over the same store *and* name stay consistent when used one
after the other: each operation first checks (without writing) whether the other committed a
newer generation and, if so, reloads it. They are not safe to use *concurrently* (the lock is per
object): share one object between threads.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crs.auth._keys import (
    DEFAULT_SCRYPT_N,
    InvalidTag,
    KdfParams,
    Sealed,
    VaultKey,
    check_scrypt_n,
    entry_aad,
)
from crs.auth._layout import (
    ENTRY_METADATA,
    INDEX_METADATA,
    Entry,
    Header,
    IndexDoc,
    Slot,
    entry_record,
    parse_entry_record,
    vault_heads,
)
from crs.clock import Clock, resolve_clock
from crs.errors import (
    ConfigError,
    ContentTypeError,
    ContextCorruptedError,
    ContextLookupError,
    CredentialExpiredError,
    CredentialNotFoundError,
    CredentialTamperedError,
    VaultCorruptedError,
    VaultKeyError,
)
from crs.store import ContextReferenceStore
from crs.store._codec import serialize
from crs.store._heads import release

__all__ = ["CredentialInfo", "CredentialVault"]

_log = logging.getLogger("crs.auth")
_HOUR: Final = 3600.0


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """What the vault may tell about a credential without decrypting it: never the secret."""

    user_id: str
    app: str
    auth_context_id: str
    """Stable for the life of the entry: kept by refresh and key rotation, new on a re-store."""
    ref: str
    """Store reference of the encrypted record (changes whenever it is re-encrypted)."""
    created_at: float
    updated_at: float
    """Last store, refresh or re-encryption by a rotation."""
    expires_at: float
    access_count: int
    last_accessed_at: float | None
    expired: bool
    """Whether it had expired when this snapshot was taken."""


class CredentialVault:
    """Encrypted per-user, per-app credentials in a Context Reference Store.

    Args:
        store: where ciphertext and the (non-secret) index live. Give it a disk tier
            (``use_disk_storage=True, disk_path=...``) for the vault to survive restarts.
        key: 32 random bytes (AES-256). See :meth:`generate_key`.
        passphrase: instead of ``key``: a key is derived with Scrypt and a random salt; the salt
            and cost are stored, so the same passphrase reopens the vault.
        clock: time source for expiry and access times; defaults to :func:`crs.clock.get_clock`
            at each use, so a :class:`~crs.clock.VirtualClock` installed later applies.
        name: several vaults can share one store under different names.
        scrypt_n: Scrypt cost for *new* passphrase-derived keys (a power of two). Reopening
            always uses the cost the vault was created with.

    Raises:
        ConfigError: not exactly one of ``key`` / ``passphrase``, or a key of the wrong size.
        VaultKeyError: the key or passphrase is not the one this vault was created with.
        VaultCorruptedError: the vault's index is in the store but cannot be read.
    """

    def __init__(
        self,
        store: ContextReferenceStore,
        *,
        key: bytes | None = None,
        passphrase: str | None = None,
        clock: Clock | None = None,
        name: str = "default",
        scrypt_n: int = DEFAULT_SCRYPT_N,
    ) -> None:
        if not isinstance(store, ContextReferenceStore):
            raise ConfigError(
                f"store must be a ContextReferenceStore, got {type(store).__name__}",
            )
        if not isinstance(name, str) or not name:
            raise ConfigError(f"name must be a non-empty str, got {name!r}")
        self._store = store
        self._clock = clock
        self._name = name
        self._scrypt_n = check_scrypt_n(scrypt_n)
        self._lock = threading.Lock()
        self._slots = vault_heads(store, name)
        self._head: tuple[int, str] | None = None
        """(generation, index reference) of the state this object last loaded or committed."""
        self._counters = dict.fromkeys(
            ("stores", "reads", "refreshes", "revocations", "purged", "rotations"), 0
        )
        self._failures = dict.fromkeys(("not_found", "expired", "tampered"), 0)
        self._key, self._doc = self._open(key, passphrase)

    @staticmethod
    def generate_key() -> bytes:
        """32 bytes from the OS's CSPRNG: a fresh AES-256 key. Store it in a secret manager."""
        return AESGCM.generate_key(bit_length=256)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> str:
        """Public, random id of the current key (changes on :meth:`rotate_key`); not secret."""
        return self._key.key_id

    # -- credentials ----------------------------------------------------------------------------

    def store_user_credentials(
        self,
        user_id: str,
        app: str,
        credentials: Mapping[str, Any],
        ttl_hours: float = 24,
    ) -> str:
        """Encrypt and store ``credentials`` for ``(user_id, app)``; returns its auth-context id.

        Replaces any credential already in that slot (with fresh access statistics and a new
        auth-context id). ``credentials`` must survive a JSON round trip unchanged.
        """
        _check_slot(user_id, app)
        ttl = _ttl_seconds(ttl_hours)
        plaintext = self._plaintext(user_id, app, credentials)
        with self._lock:
            self._sync()
            now = self._now()
            expires_at = now + ttl
            ref = self._seal_and_store(self._key, user_id, app, expires_at, plaintext)
            entry = Entry(
                user_id,
                app,
                "auth_" + secrets.token_hex(12),
                ref,
                created_at=now,
                updated_at=now,
                expires_at=expires_at,
                ttl_seconds=ttl,
            )
            old = self._doc.entries.get((user_id, app))
            self._commit_entries({**self._doc.entries, (user_id, app): entry}, new_refs=[ref])
            if old is not None:
                release(self._store, old.ref)
            self._counters["stores"] += 1
        _log.info("crs.auth stored credentials for user_id=%r app=%r", user_id, app)
        return entry.context_id

    def get_user_credentials(self, user_id: str, app: str) -> dict[str, Any]:
        """The decrypted credentials (a fresh dict); counts as an access.

        Raises:
            CredentialNotFoundError: nothing stored for this slot (or the store lost it).
            CredentialExpiredError: its ttl has passed on the vault's clock.
            CredentialTamperedError: the stored ciphertext fails authentication.
        """
        with self._lock:
            self._sync()
            entry = self._live_entry(user_id, app)
            credentials = self._decrypt(entry)
            accessed = entry.accessed(self._now())
            self._commit_entries({**self._doc.entries, (user_id, app): accessed})
            self._counters["reads"] += 1
            return credentials

    def refresh_credentials(
        self,
        user_id: str,
        app: str,
        credentials: Mapping[str, Any] | None = None,
        ttl_hours: float | None = None,
    ) -> str:
        """Replace the secret and/or restart the expiry; returns the (unchanged) auth-context id.

        Without ``ttl_hours`` the entry's previous ttl starts again from now. Without
        ``credentials`` the current secret is kept, which needs it to be still valid: an
        expired credential can only be refreshed with new ``credentials``. Access statistics
        and the creation time are kept.
        """
        _check_slot(user_id, app)
        ttl = None if ttl_hours is None else _ttl_seconds(ttl_hours)
        plaintext = None if credentials is None else self._plaintext(user_id, app, credentials)
        with self._lock:
            self._sync()
            if plaintext is None:
                entry = self._live_entry(user_id, app)
                plaintext = _encode(self._decrypt(entry))
            else:
                entry = self._entry(user_id, app)
            now = self._now()
            ttl = entry.ttl_seconds if ttl is None else ttl
            ref = self._seal_and_store(self._key, user_id, app, now + ttl, plaintext)
            refreshed = replace(
                entry, ref=ref, updated_at=now, expires_at=now + ttl, ttl_seconds=ttl
            )
            self._commit_entries({**self._doc.entries, (user_id, app): refreshed}, new_refs=[ref])
            release(self._store, entry.ref)
            self._counters["refreshes"] += 1
        _log.info("crs.auth refreshed credentials for user_id=%r app=%r", user_id, app)
        return refreshed.context_id

    def revoke(self, user_id: str, app: str) -> bool:
        """Delete the credential of ``(user_id, app)``; ``False`` if there was none."""
        with self._lock:
            self._sync()
            entry = self._doc.entries.get((user_id, app))
            if entry is None:
                return False
            remaining = {slot: e for slot, e in self._doc.entries.items() if e is not entry}
            self._commit_entries(remaining)
            release(self._store, entry.ref)
            self._counters["revocations"] += 1
        _log.info("crs.auth revoked credentials for user_id=%r app=%r", user_id, app)
        return True

    def cleanup_expired(self) -> int:
        """Delete every expired credential now (reads only refuse them); returns how many."""
        with self._lock:
            self._sync()
            now = self._now()
            expired = [e for e in self._doc.entries.values() if e.expires_at <= now]
            if not expired:
                return 0
            keep = {slot: e for slot, e in self._doc.entries.items() if e.expires_at > now}
            self._commit_entries(keep)
            for entry in expired:
                release(self._store, entry.ref)
            self._counters["purged"] += len(expired)
        _log.info("crs.auth purged %d expired credentials from vault %r", len(expired), self._name)
        return len(expired)

    # -- metadata -------------------------------------------------------------------------------

    def access_info(self, user_id: str, app: str) -> CredentialInfo:
        """Access count, last access, creation and expiry of one credential; not an access."""
        with self._lock:
            self._sync()
            return self._info(self._entry(user_id, app), self._now())

    def context_info(self, auth_context_id: str) -> CredentialInfo:
        """The credential an auth-context id (from :meth:`store_user_credentials`) stands for.

        Raises:
            CredentialNotFoundError: no live entry has that id (revoked, purged or replaced).
        """
        with self._lock:
            self._sync()
            for entry in self._doc.entries.values():
                if entry.context_id == auth_context_id:
                    return self._info(entry, self._now())
        raise CredentialNotFoundError(
            f"no credential in vault {self._name!r} has auth-context id {auth_context_id!r}",
            vault=self._name,
            user_id="",
            app="",
            hint="the credential was revoked, purged, or stored again (which issues a new id)",
        )

    def list_entries(self, user_id: str | None = None) -> list[CredentialInfo]:
        """Metadata of every credential (or one user's), sorted by user and app; no secrets."""
        with self._lock:
            self._sync()
            now = self._now()
            return [
                self._info(entry, now)
                for slot, entry in sorted(self._doc.entries.items())
                if user_id is None or slot[0] == user_id
            ]

    def stats(self) -> dict[str, Any]:
        """Counters for dashboards and tests: sizes, operations, failures; never a secret."""
        with self._lock:
            self._sync()
            now = self._now()
            entries = self._doc.entries.values()
            return {
                "vault": self._name,
                "entries": len(self._doc.entries),
                "expired_entries": sum(e.expires_at <= now for e in entries),
                "users": len({e.user_id for e in entries}),
                "apps": len({e.app for e in entries}),
                "total_accesses": sum(e.access_count for e in entries),
                **self._counters,
                "failures": dict(self._failures),
                "key_id": self._key.key_id,
                "key_source": "raw" if self._key.kdf is None else "scrypt",
                "generation": self._doc.generation,
            }

    # -- key rotation ---------------------------------------------------------------------------

    def rotate_key(self, new_key: bytes | None = None, *, new_passphrase: str | None = None) -> int:
        """Re-encrypt every credential under a new key; returns how many were re-encrypted.

        Crash-safe by construction: every entry is first sealed under the new key into *new*
        store items while the committed index still points at the old ones. The switch is one
        index commit that replaces the key header and all references together (see
        :mod:`crs.auth._layout`); only then are the old records deleted. A failure before the
        commit deletes the new records and leaves the vault entirely on the old key; after it,
        entirely on the new one. At no point is any entry readable only under a key the index
        does not name.

        Expired entries are re-encrypted too (they are still in the vault until
        :meth:`cleanup_expired`), so that no record is left under the old key.

        Raises:
            CredentialTamperedError: an entry fails authentication under the current key; the
                rotation is abandoned and nothing changes. Revoke that entry and retry.
        """
        kdf = None if new_passphrase is None else KdfParams.fresh(self._scrypt_n)
        key = VaultKey.from_material(new_key, new_passphrase, kdf=kdf)
        with self._lock:
            self._sync()
            new_refs: list[str] = []
            try:
                entries: dict[Slot, Entry] = {}
                now = self._now()
                for slot, entry in self._doc.entries.items():
                    plaintext = _encode(self._decrypt(entry))
                    ref = self._seal_and_store(key, *slot, entry.expires_at, plaintext)
                    new_refs.append(ref)
                    entries[slot] = replace(entry, ref=ref, updated_at=now)
            except BaseException:
                for ref in new_refs:
                    release(self._store, ref)
                raise
            header = Header(key.key_id, key.kdf, key.key_check(self._name))
            old = list(self._doc.entries.values())
            self._commit(header, entries, new_refs=new_refs)
            self._key = key
            for entry in old:
                release(self._store, entry.ref)
            self._counters["rotations"] += 1
        _log.info(
            "crs.auth rotated vault %r to key %s (%d entries)", self._name, key.key_id, len(old)
        )
        return len(old)

    def __repr__(self) -> str:
        return (
            f"CredentialVault(name={self._name!r}, entries={len(self._doc.entries)}, "
            f"key_id={self._key.key_id!r}, store={self._store!r})"
        )

    def __reduce__(self) -> Any:
        raise TypeError("a CredentialVault cannot be pickled: it holds a key")

    # -- internals ------------------------------------------------------------------------------

    def _now(self) -> float:
        return resolve_clock(self._clock).now()

    def _open(self, key: bytes | None, passphrase: str | None) -> tuple[VaultKey, IndexDoc]:
        """Load the newest readable index generation and check the key against it.

        A brand-new vault gets a key header (random salt for a passphrase) and generation 1.
        """
        pointers = self._slots.read()
        if not pointers:
            kdf = None if passphrase is None else KdfParams.fresh(self._scrypt_n)
            vault_key = VaultKey.from_material(key, passphrase, kdf=kdf)
            header = Header(vault_key.key_id, kdf, vault_key.key_check(self._name))
            self._doc = IndexDoc(0, header, {})
            self._commit_entries({})
            return vault_key, self._doc
        doc = self._load_index(pointers)
        header = doc.header
        if passphrase is not None and header.kdf is None:
            raise VaultKeyError(
                f"vault {self._name!r} is keyed with a raw key (set at creation or by rotate_key), "
                "not a passphrase",
                vault=self._name,
                hint="open it with key=<the 32-byte key>",
            )
        vault_key = VaultKey.from_material(key, passphrase, kdf=header.kdf, key_id=header.key_id)
        if not vault_key.verifies(header.check, self._name):
            raise VaultKeyError(
                f"the {'passphrase' if passphrase is not None else 'key'} does not open vault "
                f"{self._name!r} (key id {header.key_id})",
                vault=self._name,
                hint="use the key or passphrase the vault was created or last rotated with; "
                "a lost key cannot be recovered, so its credentials must be stored again",
            )
        if passphrase is None:
            vault_key.kdf = header.kdf  # a raw key derived elsewhere from the same passphrase
        return vault_key, doc

    def _sync(self) -> None:
        """Adopt what another vault object on this store and name committed since our last look.

        Costs two metadata lookups when nothing changed. If the other object rotated the key,
        this object's key no longer opens the vault and it says so.
        """
        if self._slots.newest() == self._head:
            return
        doc = self._load_index(self._slots.read())
        if doc.header.key_id != self._key.key_id:
            if not self._key.verifies(doc.header.check, self._name):
                raise VaultKeyError(
                    f"vault {self._name!r} was rotated to key {doc.header.key_id} by another "
                    "CredentialVault object; this one holds the previous key",
                    vault=self._name,
                    hint="open the vault again with the new key or passphrase",
                )
            self._key = self._key.relabelled(doc.header.key_id, doc.header.kdf)
        self._doc = doc

    def _load_index(self, pointers: list[tuple[int, str]]) -> IndexDoc:
        problems = []
        for generation, ref in pointers:
            try:
                doc = IndexDoc.from_json(self._store.retrieve(ref), self._name)
            except (ContextLookupError, ValueError, KeyError, TypeError) as exc:
                problems.append(f"generation {generation}: {type(exc).__name__}")
                _log.warning(
                    "crs.auth vault %r: index generation %d unreadable (%s); trying the previous",
                    self._name,
                    generation,
                    type(exc).__name__,
                )
                continue
            if doc.generation == generation:
                self._head = (generation, ref)
                return doc
            problems.append(f"generation {generation}: document says {doc.generation}")
        raise VaultCorruptedError(
            f"vault {self._name!r} has no readable index in the store ({'; '.join(problems)})",
            vault=self._name,
            hint="the store was modified outside the vault or lost items (no disk tier?); "
            "restore the store from a backup, or open a vault under a new name",
        )

    def _commit_entries(
        self, entries: dict[Slot, Entry], *, new_refs: list[str] | None = None
    ) -> None:
        self._commit(self._doc.header, entries, new_refs=new_refs or [])

    def _commit(self, header: Header, entries: dict[Slot, Entry], *, new_refs: list[str]) -> None:
        """Write the next index generation and point a head slot at it, then adopt it.

        On failure the records in ``new_refs`` (written for this change) are deleted again and
        the in-memory state is untouched, so the vault stays as the last commit left it.
        """
        doc = IndexDoc(self._doc.generation + 1, header, entries)
        try:
            index_ref = self._store.store(doc.to_json(self._name), INDEX_METADATA)
            self._slots.commit(doc.generation, index_ref)
        except BaseException:
            for ref in new_refs:
                release(self._store, ref)
            raise
        self._doc = doc
        self._head = (doc.generation, index_ref)

    def _entry(self, user_id: str, app: str) -> Entry:
        entry = self._doc.entries.get((user_id, app))
        if entry is None:
            self._failures["not_found"] += 1
            raise CredentialNotFoundError(
                f"no credential for user_id={user_id!r}, app={app!r} in vault {self._name!r}",
                vault=self._name,
                user_id=user_id,
                app=app,
                hint="store it with store_user_credentials(); it may have been revoked or "
                "purged by cleanup_expired()",
            )
        return entry

    def _live_entry(self, user_id: str, app: str) -> Entry:
        entry = self._entry(user_id, app)
        now = self._now()
        if entry.expires_at <= now:
            self._failures["expired"] += 1
            raise CredentialExpiredError(
                f"the credential for user_id={user_id!r}, app={app!r} expired "
                f"{now - entry.expires_at:.0f} s ago (ttl {entry.ttl_seconds / _HOUR:g} h)",
                vault=self._name,
                user_id=user_id,
                app=app,
                expired_at=entry.expires_at,
                hint="store fresh credentials with refresh_credentials(user_id, app, "
                "credentials) or store_user_credentials()",
            )
        return entry

    def _decrypt(self, entry: Entry) -> dict[str, Any]:
        tampered = self._tampered(entry)
        try:
            record = self._store.retrieve(entry.ref)
        except ContextCorruptedError:
            raise tampered("its stored bytes are damaged") from None
        except ContextLookupError as exc:
            self._failures["not_found"] += 1
            raise CredentialNotFoundError(
                f"the encrypted record for user_id={entry.user_id!r}, app={entry.app!r} is no "
                f"longer in the store ({type(exc).__name__})",
                vault=self._name,
                user_id=entry.user_id,
                app=entry.app,
                hint="something deleted or evicted it outside the vault; give the store a disk "
                "tier and store the credential again",
            ) from None
        try:
            sealed = parse_entry_record(record)
        except ValueError:
            raise tampered("its record is not a vault entry") from None
        if sealed.key_id != self._key.key_id:
            raise tampered(f"it is sealed under key {sealed.key_id}, not the vault's key")
        aad = entry_aad(self._name, entry.user_id, entry.app, entry.expires_at)
        try:
            plaintext = self._key.open(sealed, aad)
            credentials = json.loads(plaintext.decode("utf-8", "surrogatepass"))
        except InvalidTag:
            raise tampered("authentication failed") from None
        except ValueError:  # authentic but not JSON: can only be a bug, never shown
            raise tampered("it does not decode") from None
        if not isinstance(credentials, dict):
            raise tampered("it does not decode to a mapping")
        return credentials

    def _tampered(self, entry: Entry) -> Callable[[str], CredentialTamperedError]:
        def make(why: str) -> CredentialTamperedError:
            self._failures["tampered"] += 1
            _log.warning(
                "crs.auth vault %r: credential for user_id=%r app=%r is tampered (%s)",
                self._name,
                entry.user_id,
                entry.app,
                why,
            )
            return CredentialTamperedError(
                f"the credential for user_id={entry.user_id!r}, app={entry.app!r} in vault "
                f"{self._name!r} cannot be trusted: {why}",
                vault=self._name,
                user_id=entry.user_id,
                app=entry.app,
                hint="the key is right (it passed the vault's key check), so the stored entry "
                "was modified or moved from another slot; revoke it and store it again",
            )

        return make

    def _seal_and_store(
        self, key: VaultKey, user_id: str, app: str, expires_at: float, plaintext: bytes
    ) -> str:
        sealed: Sealed = key.seal(plaintext, entry_aad(self._name, user_id, app, expires_at))
        return self._store.store(entry_record(sealed), ENTRY_METADATA)

    def _plaintext(self, user_id: str, app: str, credentials: object) -> bytes:
        if not isinstance(credentials, Mapping):
            raise ContentTypeError(
                f"credentials for user_id={user_id!r}, app={app!r} must be a mapping, got "
                f"{type(credentials).__name__}",
                path="$",
                type_name=type(credentials).__name__,
                hint='pass a dict such as {"token": ...}',
            )
        try:
            _kind, raw = serialize(dict(credentials))
        except ContentTypeError as exc:
            # Rebuilt from the path and type only: the store's own message may quote the value.
            raise ContentTypeError(
                f"credentials for user_id={user_id!r}, app={app!r} hold a {exc.type_name} at "
                f"{exc.path}, which does not survive a JSON round trip",
                path=exc.path,
                type_name=exc.type_name,
                hint=exc.hint
                or "credentials are stored as JSON: use dicts with str keys, "
                "lists, str, int, finite float, bool and None",
            ) from None
        return raw

    def _info(self, entry: Entry, now: float) -> CredentialInfo:
        return CredentialInfo(
            user_id=entry.user_id,
            app=entry.app,
            auth_context_id=entry.context_id,
            ref=entry.ref,
            created_at=entry.created_at,
            updated_at=entry.updated_at,
            expires_at=entry.expires_at,
            access_count=entry.access_count,
            last_accessed_at=entry.last_accessed_at,
            expired=entry.expires_at <= now,
        )


def _encode(credentials: dict[str, Any]) -> bytes:
    return serialize(credentials)[1]


def _check_slot(user_id: object, app: object) -> None:
    for field, value in (("user_id", user_id), ("app", app)):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{field} must be a non-empty str, got {value!r}")


def _ttl_seconds(ttl_hours: object) -> float:
    if (
        isinstance(ttl_hours, bool)
        or not isinstance(ttl_hours, (int, float))
        or not math.isfinite(ttl_hours)
        or ttl_hours <= 0
    ):
        raise ConfigError(
            f"ttl_hours must be a positive number of hours, got {ttl_hours!r}",
            hint="fractions work: ttl_hours=0.25 is 15 minutes",
        )
    return float(ttl_hours) * _HOUR

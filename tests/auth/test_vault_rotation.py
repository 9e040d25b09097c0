"""Key rotation: everything moves to the new key, and a failure midway moves nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crs import ConfigError, ContextReferenceStore, VirtualClock
from crs.auth import CredentialVault
from crs.errors import VaultKeyError

OLD = bytes(range(32))
NEW = bytes(range(32, 64))
FAST = 2**4
ENTRY_FORMAT = "crs.auth.vault-entry"
INDEX_FORMAT = "crs.auth.vault-index"
SLOTS = [("alice", "github"), ("alice", "slack"), ("bob", "github")]


@pytest.fixture
def store(tmp_path: Path, clock: VirtualClock) -> ContextReferenceStore:
    return ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path, clock=clock)


def filled(store: ContextReferenceStore, clock: VirtualClock, **key: Any) -> CredentialVault:
    vault = CredentialVault(store, clock=clock, scrypt_n=FAST, **key)
    for user_id, app in SLOTS:
        vault.store_user_credentials(user_id, app, {"token": f"{user_id}/{app}"})
    return vault


def assert_readable(vault: CredentialVault) -> None:
    for user_id, app in SLOTS:
        assert vault.get_user_credentials(user_id, app) == {"token": f"{user_id}/{app}"}


def test_rotation_re_encrypts_everything(store: ContextReferenceStore, clock: VirtualClock) -> None:
    vault = filled(store, clock, key=OLD)
    old_key_id = vault.key_id
    old_refs = [info.ref for info in vault.list_entries()]
    context_ids = [info.auth_context_id for info in vault.list_entries()]
    assert vault.rotate_key(NEW) == 3
    assert vault.key_id != old_key_id
    assert_readable(vault)
    assert [info.auth_context_id for info in vault.list_entries()] == context_ids
    assert not any(ref in store for ref in old_refs)
    assert vault.stats()["rotations"] == 1
    with pytest.raises(VaultKeyError):
        CredentialVault(store, key=OLD, clock=clock)
    assert_readable(CredentialVault(store, key=NEW, clock=clock))


def test_rotation_between_passphrases_and_keys(
    store: ContextReferenceStore, clock: VirtualClock
) -> None:
    vault = filled(store, clock, passphrase="old phrase")
    assert vault.rotate_key(new_passphrase="new phrase") == 3
    with pytest.raises(VaultKeyError):
        CredentialVault(store, passphrase="old phrase", clock=clock)
    reopened = CredentialVault(store, passphrase="new phrase", clock=clock)
    assert_readable(reopened)
    assert reopened.rotate_key(NEW) == 3
    with pytest.raises(VaultKeyError, match="raw key"):
        CredentialVault(store, passphrase="new phrase", clock=clock)
    assert_readable(CredentialVault(store, key=NEW, clock=clock))


def test_expired_entries_are_rotated_too(store: ContextReferenceStore, clock: VirtualClock) -> None:
    vault = filled(store, clock, key=OLD)
    clock.advance(25 * 3600)
    assert vault.rotate_key(NEW) == 3
    vault.refresh_credentials("alice", "github", {"token": "fresh"})
    assert vault.get_user_credentials("alice", "github") == {"token": "fresh"}


def test_rotation_needs_exactly_one_new_key(
    store: ContextReferenceStore, clock: VirtualClock
) -> None:
    vault = filled(store, clock, key=OLD)
    with pytest.raises(ConfigError, match="exactly one"):
        vault.rotate_key()
    with pytest.raises(ConfigError, match="exactly one"):
        vault.rotate_key(NEW, new_passphrase="both")
    assert_readable(vault)


@pytest.mark.parametrize(
    ("fail_on", "nth"),
    [(ENTRY_FORMAT, 1), (ENTRY_FORMAT, 3), (INDEX_FORMAT, 1)],
    ids=["first-entry", "last-entry", "commit"],
)
def test_a_failure_midway_leaves_everything_under_the_old_key(
    store: ContextReferenceStore,
    clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
    fail_on: str,
    nth: int,
) -> None:
    vault = filled(store, clock, key=OLD)
    items_before = len(store)
    real_store = store.store
    calls = {"n": 0}

    def crashing(content: object, metadata: Any = None) -> str:
        if isinstance(content, dict) and content.get("format") == fail_on:
            calls["n"] += 1
            if calls["n"] == nth:
                raise OSError("simulated crash")
        return real_store(content, metadata)

    monkeypatch.setattr(store, "store", crashing)
    with pytest.raises(OSError, match="simulated crash"):
        vault.rotate_key(NEW)
    monkeypatch.undo()
    assert_readable(vault)  # the live vault still uses the old key
    assert len(store) == items_before  # the half-written new records were removed
    assert_readable(CredentialVault(store, key=OLD, clock=clock))
    with pytest.raises(VaultKeyError):
        CredentialVault(store, key=NEW, clock=clock)
    assert vault.rotate_key(NEW) == 3  # and the rotation can simply be retried
    assert_readable(CredentialVault(store, key=NEW, clock=clock))


def test_a_crash_after_the_commit_leaves_everything_under_the_new_key(
    store: ContextReferenceStore, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = filled(store, clock, key=OLD)
    old_refs = {info.ref for info in vault.list_entries()}
    real_delete = store.delete

    def crashing(ref: str, *, force: bool = False) -> bool:
        if ref in old_refs:
            raise OSError("simulated crash while cleaning up")
        return real_delete(ref, force=force)

    monkeypatch.setattr(store, "delete", crashing)
    assert vault.rotate_key(NEW) == 3  # old records could not be deleted: garbage, not harm
    monkeypatch.undo()
    assert_readable(vault)
    assert_readable(CredentialVault(store, key=NEW, clock=clock))
    with pytest.raises(VaultKeyError):
        CredentialVault(store, key=OLD, clock=clock)


def test_two_objects_on_one_vault_see_each_others_changes(
    store: ContextReferenceStore, clock: VirtualClock
) -> None:
    first = filled(store, clock, key=OLD)
    second = CredentialVault(store, key=OLD, clock=clock)
    second.store_user_credentials("carol", "gmail", {"token": "c"})
    first.get_user_credentials("alice", "github")
    assert first.get_user_credentials("carol", "gmail") == {"token": "c"}
    assert second.access_info("alice", "github").access_count == 1
    assert second.rotate_key(NEW) == 4
    with pytest.raises(VaultKeyError, match=r"rotated to key .* by another CredentialVault"):
        first.get_user_credentials("alice", "github")
    assert_readable(CredentialVault(store, key=NEW, clock=clock))

"""The vault against a hostile or damaged store: tampering, moved ciphertext, wrong keys, restarts.

The "attacker" here has write access to the store and knows the vault's layout (documented in
``crs.auth._layout``): it rewrites the current index to point a slot at other bytes, which is the
only way to change what a content-addressed store returns for a slot.
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crs import ContextReferenceStore, VirtualClock
from crs.auth import CredentialVault
from crs.auth._layout import vault_heads
from crs.errors import (
    CredentialNotFoundError,
    CredentialTamperedError,
    VaultCorruptedError,
    VaultKeyError,
)

KEY = bytes(range(32))
FAST = 2**4  # Scrypt cost for tests: the real default takes a few tenths of a second


def rewrite_index(
    store: ContextReferenceStore, edit: Callable[[dict[str, Any]], None], name: str = "default"
) -> None:
    """Commit an edited copy of the vault's current index, as an attacker could."""
    slots = vault_heads(store, name)
    generation, ref = slots.read()[0]
    doc = store.retrieve(ref)
    edit(doc)
    doc["generation"] = generation + 1
    slots.write(generation + 1, store.store(doc))


def row(doc: dict[str, Any], user_id: str, app: str) -> dict[str, Any]:
    return next(r for r in doc["entries"] if (r["user_id"], r["app"]) == (user_id, app))


def two_slots(store: ContextReferenceStore, clock: VirtualClock) -> None:
    vault = CredentialVault(store, key=KEY, clock=clock)
    vault.store_user_credentials("alice", "github", {"token": "alice-gh"})
    vault.store_user_credentials("bob", "github", {"token": "bob-gh"})
    vault.store_user_credentials("alice", "slack", {"token": "alice-sl"})


# -- tampering --------------------------------------------------------------------------------


def test_a_flipped_ciphertext_byte_is_tampering(
    store: ContextReferenceStore, clock: VirtualClock
) -> None:
    two_slots(store, clock)

    def flip(doc: dict[str, Any]) -> None:
        entry = row(doc, "alice", "github")
        record = store.retrieve(entry["ref"])
        ciphertext = bytearray(base64.b64decode(record["ciphertext"]))
        ciphertext[3] ^= 0x01
        record["ciphertext"] = base64.b64encode(bytes(ciphertext)).decode()
        entry["ref"] = store.store(record)

    rewrite_index(store, flip)
    vault = CredentialVault(store, key=KEY, clock=clock)  # the key itself is right
    with pytest.raises(CredentialTamperedError, match="authentication failed") as info:
        vault.get_user_credentials("alice", "github")
    assert (info.value.user_id, info.value.app) == ("alice", "github")
    assert info.value.hint is not None
    assert "revoke" in info.value.hint
    assert vault.get_user_credentials("bob", "github") == {"token": "bob-gh"}
    assert vault.stats()["failures"]["tampered"] == 1
    assert vault.access_info("alice", "github").access_count == 0  # a failed read is no access
    assert vault.revoke("alice", "github")  # the way out the hint names


@pytest.mark.parametrize(
    ("victim", "source"),
    [(("bob", "github"), ("alice", "github")), (("alice", "slack"), ("alice", "github"))],
    ids=["other-user", "other-app"],
)
def test_ciphertext_moved_to_another_slot_fails_authentication(
    store: ContextReferenceStore,
    clock: VirtualClock,
    victim: tuple[str, str],
    source: tuple[str, str],
) -> None:
    two_slots(store, clock)

    def move(doc: dict[str, Any]) -> None:
        row(doc, *victim)["ref"] = row(doc, *source)["ref"]

    rewrite_index(store, move)
    vault = CredentialVault(store, key=KEY, clock=clock)
    with pytest.raises(CredentialTamperedError):
        vault.get_user_credentials(*victim)
    assert vault.get_user_credentials(*source) == {"token": "alice-gh"}


def test_an_extended_expiry_in_the_index_is_tampering(
    store: ContextReferenceStore, clock: VirtualClock
) -> None:
    two_slots(store, clock)

    def extend(doc: dict[str, Any]) -> None:
        row(doc, "alice", "github")["expires_at"] += 365 * 86400

    rewrite_index(store, extend)
    vault = CredentialVault(store, key=KEY, clock=clock)
    with pytest.raises(CredentialTamperedError):
        vault.get_user_credentials("alice", "github")


def test_a_record_that_is_not_a_vault_entry_is_tampering(
    store: ContextReferenceStore, clock: VirtualClock
) -> None:
    two_slots(store, clock)

    def replace(doc: dict[str, Any]) -> None:
        row(doc, "alice", "github")["ref"] = store.store({"token": "plain text"})

    rewrite_index(store, replace)
    with pytest.raises(CredentialTamperedError, match="not a vault entry"):
        CredentialVault(store, key=KEY, clock=clock).get_user_credentials("alice", "github")


def test_damaged_bytes_on_disk_are_tampering(tmp_path: Path, clock: VirtualClock) -> None:
    with ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path, clock=clock) as store:
        vault = CredentialVault(store, key=KEY, clock=clock)
        vault.store_user_credentials("alice", "github", {"token": "x" * 40})
        ref = vault.access_info("alice", "github").ref
    with sqlite3.connect(tmp_path / "crs-store.sqlite3") as db:
        key = bytes.fromhex(ref.removeprefix("ctx_"))
        (blob,) = db.execute("SELECT blob FROM entries WHERE key = ?", (key,)).fetchone()
        db.execute("UPDATE entries SET blob = ? WHERE key = ?", (blob[:-1] + b"!", key))
    with ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path, clock=clock) as store:
        vault = CredentialVault(store, key=KEY, clock=clock)
        with pytest.raises(CredentialTamperedError, match="damaged"):
            vault.get_user_credentials("alice", "github")


def test_a_record_deleted_behind_the_vaults_back_is_not_found(
    store: ContextReferenceStore, clock: VirtualClock
) -> None:
    vault = CredentialVault(store, key=KEY, clock=clock)
    vault.store_user_credentials("alice", "github", {"t": 1})
    store.delete(vault.access_info("alice", "github").ref, force=True)
    with pytest.raises(CredentialNotFoundError, match="no longer in the store"):
        vault.get_user_credentials("alice", "github")


# -- wrong key --------------------------------------------------------------------------------


def test_a_wrong_key_is_refused_at_open_not_blamed_on_entries(
    store: ContextReferenceStore, clock: VirtualClock
) -> None:
    two_slots(store, clock)
    with pytest.raises(VaultKeyError, match="does not open vault 'default'") as info:
        CredentialVault(store, key=bytes(32), clock=clock)
    assert info.value.vault == "default"
    assert not isinstance(info.value, CredentialTamperedError)


def test_a_wrong_passphrase_is_refused(store: ContextReferenceStore, clock: VirtualClock) -> None:
    vault = CredentialVault(store, passphrase="right horse", clock=clock, scrypt_n=FAST)
    vault.store_user_credentials("alice", "github", {"t": 1})
    with pytest.raises(VaultKeyError, match="passphrase does not open"):
        CredentialVault(store, passphrase="wrong horse", clock=clock)


def test_raw_key_and_passphrase_vaults_do_not_mix(
    store: ContextReferenceStore, clock: VirtualClock
) -> None:
    CredentialVault(store, key=KEY, clock=clock)
    with pytest.raises(VaultKeyError, match="raw key"):
        CredentialVault(store, passphrase="anything", clock=clock)


# -- restarts ---------------------------------------------------------------------------------


def test_a_passphrase_reopens_a_vault_on_disk(tmp_path: Path, clock: VirtualClock) -> None:
    with ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path, clock=clock) as store:
        vault = CredentialVault(store, passphrase="correct horse", clock=clock, scrypt_n=FAST)
        context_id = vault.store_user_credentials("alice", "github", {"token": "t"}, ttl_hours=2)
    clock.advance(3600)
    with ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path, clock=clock) as store:
        # The stored cost is used, whatever the constructor's default says.
        vault = CredentialVault(store, passphrase="correct horse", clock=clock)
        assert vault.get_user_credentials("alice", "github") == {"token": "t"}
        assert vault.access_info("alice", "github").auth_context_id == context_id
        assert vault.stats()["key_source"] == "scrypt"
        clock.advance(3600)
        assert vault.cleanup_expired() == 1
    with ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path, clock=clock) as store:
        assert CredentialVault(store, passphrase="correct horse", clock=clock).list_entries() == []


def test_the_passphrase_is_normalised(store: ContextReferenceStore, clock: VirtualClock) -> None:
    CredentialVault(store, passphrase="caf\u00e9", clock=clock, scrypt_n=FAST)
    CredentialVault(store, passphrase="cafe\u0301", clock=clock)  # same text, decomposed


def test_a_lost_newest_index_falls_back_to_the_previous_generation(
    store: ContextReferenceStore, clock: VirtualClock
) -> None:
    vault = CredentialVault(store, key=KEY, clock=clock)
    vault.store_user_credentials("alice", "github", {"t": 1})
    vault.store_user_credentials("bob", "github", {"t": 2})
    (_gen, newest), _previous = vault_heads(store, "default").read()
    store.delete(newest, force=True)  # e.g. a crash lost the last write
    reopened = CredentialVault(store, key=KEY, clock=clock)
    assert [i.user_id for i in reopened.list_entries()] == ["alice"]
    assert reopened.get_user_credentials("alice", "github") == {"t": 1}
    # The first object notices the other one's commit (same generation number, other index).
    assert [i.user_id for i in vault.list_entries()] == ["alice"]
    for _generation, index in vault_heads(store, "default").read():
        store.delete(index, force=True)
    with pytest.raises(VaultCorruptedError, match="no readable index"):
        CredentialVault(store, key=KEY, clock=clock)


def test_a_failed_store_write_leaves_the_vault_unchanged(
    store: ContextReferenceStore, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = CredentialVault(store, key=KEY, clock=clock)
    vault.store_user_credentials("alice", "github", {"t": 1})
    before = len(store)
    real_store = store.store

    def failing(content: object, metadata: Any = None) -> str:
        if isinstance(content, dict) and content.get("format") == "crs.auth.vault-index":
            raise OSError("disk full")
        return real_store(content, metadata)

    monkeypatch.setattr(store, "store", failing)
    with pytest.raises(OSError, match="disk full"):
        vault.store_user_credentials("alice", "github", {"t": 2})
    with pytest.raises(OSError, match="disk full"):
        vault.get_user_credentials("alice", "github")
    monkeypatch.undo()
    assert len(store) == before  # the new ciphertext was deleted again
    assert vault.get_user_credentials("alice", "github") == {"t": 1}
    assert vault.access_info("alice", "github").access_count == 1

"""The credential vault: round trips, expiry, refresh, revoke, access tracking, no leaks, threads.

Everything runs in virtual time (a ``VirtualClock`` advanced by hand) and with a tiny Scrypt cost,
so the whole file takes well under a second.
"""

from __future__ import annotations

import json
import logging
import pickle
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crs import ConfigError, ContentTypeError, ContextReferenceStore, VirtualClock
from crs.auth import CredentialInfo, CredentialVault
from crs.errors import (
    CredentialError,
    CredentialExpiredError,
    CredentialNotFoundError,
    CrsError,
)

HOUR = 3600.0
MARKER = "sk-MARKER-7f3a9c"
KEY = bytes(range(32))


@pytest.fixture
def vault(store: ContextReferenceStore, clock: VirtualClock) -> CredentialVault:
    return CredentialVault(store, key=KEY, clock=clock)


# -- round trip -------------------------------------------------------------------------------


def test_credentials_round_trip_and_come_back_as_fresh_dicts(vault: CredentialVault) -> None:
    creds = {"token": MARKER, "scopes": ["repo", "gist"], "extra": {"n": 1, "ok": True}}
    context_id = vault.store_user_credentials("alice", "github", creds)
    assert context_id.startswith("auth_")
    first = vault.get_user_credentials("alice", "github")
    assert first == creds
    first["token"] = "changed"
    assert vault.get_user_credentials("alice", "github") == creds


def test_slots_are_independent(vault: CredentialVault) -> None:
    vault.store_user_credentials("alice", "github", {"t": "a-gh"})
    vault.store_user_credentials("alice", "slack", {"t": "a-sl"})
    vault.store_user_credentials("bob", "github", {"t": "b-gh"})
    assert vault.get_user_credentials("alice", "slack") == {"t": "a-sl"}
    assert vault.get_user_credentials("bob", "github") == {"t": "b-gh"}
    assert [(i.user_id, i.app) for i in vault.list_entries()] == [
        ("alice", "github"),
        ("alice", "slack"),
        ("bob", "github"),
    ]
    assert [i.app for i in vault.list_entries("alice")] == ["github", "slack"]


def test_storing_again_replaces_the_secret_and_issues_a_new_id(
    vault: CredentialVault, store: ContextReferenceStore
) -> None:
    first = vault.store_user_credentials("alice", "github", {"t": 1})
    old_ref = vault.access_info("alice", "github").ref
    vault.get_user_credentials("alice", "github")
    second = vault.store_user_credentials("alice", "github", {"t": 2})
    assert second != first
    assert vault.get_user_credentials("alice", "github") == {"t": 2}
    assert vault.access_info("alice", "github").access_count == 1
    assert old_ref not in store  # the replaced ciphertext is deleted, not left behind


def test_context_info_resolves_an_auth_context_id(vault: CredentialVault) -> None:
    context_id = vault.store_user_credentials("alice", "github", {"t": 1})
    info = vault.context_info(context_id)
    assert (info.user_id, info.app, info.auth_context_id) == ("alice", "github", context_id)
    with pytest.raises(CredentialNotFoundError, match="auth_nope"):
        vault.context_info("auth_nope")


def test_vaults_with_different_names_share_a_store(
    store: ContextReferenceStore, clock: VirtualClock
) -> None:
    one = CredentialVault(store, key=KEY, clock=clock, name="one")
    two = CredentialVault(store, key=CredentialVault.generate_key(), clock=clock, name="two")
    one.store_user_credentials("alice", "github", {"t": "one"})
    two.store_user_credentials("alice", "github", {"t": "two"})
    assert one.get_user_credentials("alice", "github") == {"t": "one"}
    assert two.get_user_credentials("alice", "github") == {"t": "two"}
    assert CredentialVault(store, key=KEY, clock=clock, name="one").list_entries()[0].app == (
        "github"
    )


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of key"),
        ({"key": KEY, "passphrase": "pw"}, "exactly one of key"),
        ({"key": b"short"}, "exactly 32 bytes"),
        ({"key": KEY.hex()}, "got a str"),
        ({"passphrase": ""}, "non-empty str"),
        ({"passphrase": "pw", "scrypt_n": 1000}, "power of two"),
    ],
)
def test_bad_key_material_is_a_config_error(
    store: ContextReferenceStore, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        CredentialVault(store, **kwargs)
    assert KEY.hex() not in str(info.value)


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf"), "24", True])
def test_ttl_must_be_a_positive_number_of_hours(vault: CredentialVault, ttl: object) -> None:
    with pytest.raises(ConfigError, match="ttl_hours"):
        vault.store_user_credentials("alice", "github", {"t": 1}, ttl_hours=ttl)  # type: ignore[arg-type]


def test_credentials_that_would_not_round_trip_are_refused_without_quoting_them(
    vault: CredentialVault,
) -> None:
    with pytest.raises(ContentTypeError, match=r"tuple at \$\.token") as info:
        vault.store_user_credentials("alice", "github", {"token": (MARKER,)})
    assert MARKER not in str(info.value)
    with pytest.raises(ContentTypeError, match="float at"):
        vault.store_user_credentials("alice", "github", {"pin": float("nan")})
    with pytest.raises(ContentTypeError, match="must be a mapping"):
        vault.store_user_credentials("alice", "github", [MARKER])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="user_id"):
        vault.store_user_credentials("", "github", {})
    assert vault.list_entries() == []


# -- expiry -----------------------------------------------------------------------------------


def test_credentials_expire_on_the_vault_clock(vault: CredentialVault, clock: VirtualClock) -> None:
    vault.store_user_credentials("alice", "github", {"t": 1}, ttl_hours=2)
    clock.advance(2 * HOUR - 1)
    assert vault.get_user_credentials("alice", "github") == {"t": 1}
    clock.advance(1)
    with pytest.raises(CredentialExpiredError, match="expired 0 s ago") as info:
        vault.get_user_credentials("alice", "github")
    error = info.value
    assert (error.user_id, error.app, error.vault) == ("alice", "github", "default")
    assert error.expired_at == clock.now()
    assert error.hint is not None
    assert "refresh_credentials" in error.hint
    assert vault.access_info("alice", "github").expired
    assert vault.stats()["failures"]["expired"] == 1


def test_cleanup_expired_purges_only_expired_entries(
    vault: CredentialVault, store: ContextReferenceStore, clock: VirtualClock
) -> None:
    vault.store_user_credentials("alice", "github", {"t": 1}, ttl_hours=1)
    vault.store_user_credentials("alice", "slack", {"t": 2}, ttl_hours=0.5)
    vault.store_user_credentials("bob", "github", {"t": 3}, ttl_hours=3)
    refs = {(i.user_id, i.app): i.ref for i in vault.list_entries()}
    assert vault.cleanup_expired() == 0
    clock.advance(HOUR)
    assert vault.stats()["expired_entries"] == 2
    assert vault.cleanup_expired() == 2
    assert vault.cleanup_expired() == 0
    assert [(i.user_id, i.app) for i in vault.list_entries()] == [("bob", "github")]
    assert refs["alice", "github"] not in store
    assert refs["alice", "slack"] not in store
    with pytest.raises(CredentialNotFoundError):
        vault.get_user_credentials("alice", "github")
    assert vault.stats()["purged"] == 2


def test_the_default_ttl_is_24_hours(vault: CredentialVault, clock: VirtualClock) -> None:
    vault.store_user_credentials("alice", "github", {"t": 1})
    info = vault.access_info("alice", "github")
    assert info.expires_at - info.created_at == 24 * HOUR


# -- refresh ----------------------------------------------------------------------------------


def test_refresh_with_new_credentials_keeps_id_and_statistics(
    vault: CredentialVault, store: ContextReferenceStore, clock: VirtualClock
) -> None:
    context_id = vault.store_user_credentials("alice", "github", {"t": "old"}, ttl_hours=1)
    vault.get_user_credentials("alice", "github")
    old_ref = vault.access_info("alice", "github").ref
    clock.advance(HOUR / 2)
    assert vault.refresh_credentials("alice", "github", {"t": "new"}) == context_id
    info = vault.access_info("alice", "github")
    assert info.expires_at == clock.now() + HOUR  # the previous ttl, restarted
    assert info.access_count == 1
    assert info.created_at == clock.now() - HOUR / 2
    assert info.updated_at == clock.now()
    assert old_ref not in store
    assert vault.get_user_credentials("alice", "github") == {"t": "new"}


def test_refresh_can_only_extend_the_expiry(vault: CredentialVault, clock: VirtualClock) -> None:
    vault.store_user_credentials("alice", "github", {"t": "same"}, ttl_hours=1)
    clock.advance(HOUR - 1)
    vault.refresh_credentials("alice", "github", ttl_hours=5)
    clock.advance(4 * HOUR)
    assert vault.get_user_credentials("alice", "github") == {"t": "same"}
    assert vault.stats()["refreshes"] == 1


def test_an_expired_credential_needs_new_secrets_to_be_refreshed(
    vault: CredentialVault, clock: VirtualClock
) -> None:
    vault.store_user_credentials("alice", "github", {"t": "old"}, ttl_hours=1)
    clock.advance(HOUR)
    with pytest.raises(CredentialExpiredError):
        vault.refresh_credentials("alice", "github")
    vault.refresh_credentials("alice", "github", {"t": "new"}, ttl_hours=2)
    assert vault.get_user_credentials("alice", "github") == {"t": "new"}
    with pytest.raises(CredentialNotFoundError):
        vault.refresh_credentials("nobody", "github", {"t": 1})


# -- revoke -----------------------------------------------------------------------------------


def test_revoke_deletes_the_ciphertext(
    vault: CredentialVault, store: ContextReferenceStore
) -> None:
    vault.store_user_credentials("alice", "github", {"t": 1})
    ref = vault.access_info("alice", "github").ref
    assert vault.revoke("alice", "github") is True
    assert vault.revoke("alice", "github") is False
    assert ref not in store
    with pytest.raises(CredentialNotFoundError, match="no credential for user_id='alice'") as info:
        vault.get_user_credentials("alice", "github")
    assert isinstance(info.value, LookupError)
    assert (info.value.user_id, info.value.app) == ("alice", "github")


# -- access tracking --------------------------------------------------------------------------


def test_reads_are_counted_with_their_time(vault: CredentialVault, clock: VirtualClock) -> None:
    vault.store_user_credentials("alice", "github", {"t": 1})
    created = clock.now()
    info = vault.access_info("alice", "github")
    assert (info.access_count, info.last_accessed_at, info.created_at) == (0, None, created)
    for _ in range(3):
        clock.advance(60)
        vault.get_user_credentials("alice", "github")
    info = vault.access_info("alice", "github")
    assert info.access_count == 3
    assert info.last_accessed_at == created + 180
    assert vault.access_info("alice", "github").access_count == 3  # looking is not an access
    stats = vault.stats()
    assert (stats["reads"], stats["total_accesses"], stats["entries"]) == (3, 3, 1)


def test_access_statistics_survive_a_restart(tmp_path: Path, clock: VirtualClock) -> None:
    with ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path, clock=clock) as store:
        vault = CredentialVault(store, key=KEY, clock=clock)
        vault.store_user_credentials("alice", "github", {"t": 1})
        clock.advance(5)
        vault.get_user_credentials("alice", "github")
    with ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path, clock=clock) as store:
        info = CredentialVault(store, key=KEY, clock=clock).access_info("alice", "github")
        assert (info.access_count, info.last_accessed_at) == (1, clock.now())


# -- secrets never leak -----------------------------------------------------------------------


def test_secrets_never_leak(
    tmp_path: Path, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    passphrase = "pass-" + MARKER
    seen: list[str] = []
    with ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path, clock=clock) as store:
        vault = CredentialVault(store, passphrase=passphrase, clock=clock, scrypt_n=2**4)
        context_id = vault.store_user_credentials(
            "alice", "github", {"token": MARKER, MARKER: [MARKER]}, ttl_hours=1
        )
        vault.get_user_credentials("alice", "github")
        vault.refresh_credentials("alice", "github")
        seen += [repr(vault), str(vault), repr(vault.stats()), repr(vault.list_entries())]
        seen += [repr(vault.context_info(context_id)), repr(vault._key)]
        errors: list[CrsError] = []
        for action in (
            lambda: vault.store_user_credentials("alice", "x", {"a": {MARKER}}),
            lambda: CredentialVault(store, passphrase=passphrase + "x", clock=clock),
            lambda: CredentialVault(store, key=bytes(32), clock=clock),
            lambda: vault.get_user_credentials("alice", "slack"),
            lambda: (clock.advance(2 * HOUR), vault.get_user_credentials("alice", "github")),
        ):
            with pytest.raises(CrsError) as info:
                action()
            errors.append(info.value)
        seen += [f"{e!s} {e!r} {e.hint}" for e in errors]
        for ref in [i.ref for i in vault.list_entries()] + sorted(vault._slots.in_use()):
            seen.append(json.dumps(store.retrieve(ref)))
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(vault)
    seen += [record.getMessage() for record in caplog.records]
    for text in seen:
        assert MARKER not in text
        assert passphrase not in text
    assert MARKER.encode() not in (tmp_path / "crs-store.sqlite3").read_bytes()
    with sqlite3.connect(tmp_path / "crs-store.sqlite3") as db:
        for (blob,) in db.execute("SELECT blob FROM entries"):
            assert MARKER.encode() not in blob


# -- concurrency ------------------------------------------------------------------------------


def test_concurrent_reads_and_writes_are_all_recorded(
    race: Any, tmp_path: Path, clock: VirtualClock
) -> None:
    store = ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path, clock=clock)
    vault = CredentialVault(store, key=KEY, clock=clock)
    vault.store_user_credentials("shared", "github", {"t": 0})
    counter = iter(range(10_000))

    def worker() -> None:
        me = f"user{next(counter)}"
        for i in range(10):
            vault.store_user_credentials(me, "github", {"i": i})
            assert vault.get_user_credentials(me, "github") == {"i": i}
            vault.get_user_credentials("shared", "github")
            vault.refresh_credentials(me, "github", ttl_hours=1 + i)
        assert vault.revoke(me, "github")

    race(worker)
    assert vault.access_info("shared", "github").access_count == 80
    assert [i.user_id for i in vault.list_entries()] == ["shared"]
    reopened = CredentialVault(store, key=KEY, clock=clock)
    assert reopened.access_info("shared", "github").access_count == 80
    # Only the live record, the current index generations and the two head slots remain.
    assert len(store) == 1 + 2 + 2
    store.close()


# -- property ---------------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(credentials=st.dictionaries(st.text(), JSON, max_size=5), user=st.text(min_size=1))
def test_any_json_credentials_round_trip(credentials: dict[str, Any], user: str) -> None:
    vault = CredentialVault(ContextReferenceStore(), key=KEY, clock=VirtualClock())
    vault.store_user_credentials(user, "app", credentials)
    assert vault.get_user_credentials(user, "app") == credentials


def test_public_types() -> None:
    assert issubclass(CredentialExpiredError, CredentialError)
    assert issubclass(CredentialError, CrsError)
    assert CredentialInfo.__dataclass_params__.frozen  # type: ignore[attr-defined]

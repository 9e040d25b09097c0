"""The disk tier: nothing lost to eviction, survives restarts and kills, refuses bad files."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from crs import (
    ConfigError,
    ContextCorruptedError,
    ContextExpiredError,
    ContextReferenceStore,
    StoreDiskError,
    VirtualClock,
)

DB_NAME = "crs-store.sqlite3"


def test_evicted_items_come_back_from_disk() -> None:
    with ContextReferenceStore(cache_size=2, use_disk_storage=True) as store:
        refs = [store.store({"n": i, "body": "x" * i}) for i in range(10)]
        assert store.get_cache_stats()["memory_entries"] == 2
        assert store.get_metadata(refs[0]).tier == "disk"
        assert [store.retrieve(ref) for ref in refs] == [
            {"n": i, "body": "x" * i} for i in range(10)
        ]
        stats = store.get_cache_stats()
    assert stats["entries"] == 10
    assert stats["disk_entries"] == 10
    assert stats["memory_entries"] == 2
    assert stats["disk_hits"] == 10  # all but the last two were read back; they then evicted those
    assert stats["dropped"] == 0


def test_temporary_disk_tier_is_removed_on_close() -> None:
    store = ContextReferenceStore(use_disk_storage=True)
    store.store("x")
    folder = store._disk.path.parent  # type: ignore[union-attr]
    assert folder.exists()
    store.close()
    assert not folder.exists()
    store.close()  # idempotent


def test_items_and_metadata_survive_a_restart(tmp_path: Path) -> None:
    clock = VirtualClock()
    with ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path, clock=clock) as store:
        plain = store.store("plain text")
        rich = store.store(
            {"tool": "gmail"}, {"tags": ["mail"], "priority": 3, "ttl": 60, "owner": "u1"}
        )
        store.store({"tool": "gmail"}, {"ttl": 30})  # a second holder; the later expiry stays
        blob = store.store(b"\x00\xff" * 100)
    with ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path, clock=clock) as store:
        assert len(store) == 3
        assert store.retrieve(plain) == "plain text"
        assert store.retrieve(blob) == b"\x00\xff" * 100
        meta = store.get_metadata(rich)
        assert (meta.holders, meta.priority, meta.tags, meta.extra) == (
            2,
            3,
            frozenset({"mail"}),
            {"owner": "u1"},
        )
        assert meta.expires_at == clock.now() + 60
        assert store.store("plain text") == plain  # dedup sees what the last process stored
        clock.advance(61)
        with pytest.raises(ContextExpiredError):
            store.retrieve(rich)
        assert len(store) == 2


def test_expired_items_on_disk_are_swept(tmp_path: Path) -> None:
    clock = VirtualClock()
    with ContextReferenceStore(
        cache_size=1, use_disk_storage=True, disk_path=tmp_path, clock=clock
    ) as store:
        short = [store.store(f"short {i}", {"ttl": 5}) for i in range(5)]
        store.store("long", {"ttl": 500})
        clock.advance(6)
        assert store.purge_expired() == 5
        assert len(store) == 1
        for ref in short:
            with pytest.raises(ContextExpiredError):
                store.retrieve(ref)
        assert store.get_cache_stats()["evictions"]["expired"] == 5


def test_a_killed_writer_never_leaves_half_an_item(tmp_path: Path) -> None:
    writer = textwrap.dedent(
        """
        import sys
        from crs import ContextReferenceStore
        store = ContextReferenceStore(cache_size=8, use_disk_storage=True, disk_path=sys.argv[1])
        i = 0
        while True:
            ref = store.store({"i": i, "pad": "p" * (i * 37 % 20000)})
            print(ref, i, flush=True)
            i += 1
        """
    )
    committed: list[tuple[str, int]] = []
    with subprocess.Popen(
        [sys.executable, "-c", writer, str(tmp_path)], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            ref, i = line.split()
            committed.append((ref, int(i)))
            if len(committed) >= 400:
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=30)
        committed += [(r, int(i)) for r, i in (line.split() for line in proc.stdout if " " in line)]
    assert proc.returncode == -signal.SIGKILL

    with sqlite3.connect(tmp_path / DB_NAME) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path) as store:
        assert len(store) in (len(committed), len(committed) + 1)  # +1: stored, not yet printed
        for ref, i in committed:
            assert store.retrieve(ref) == {"i": i, "pad": "p" * (i * 37 % 20000)}


def test_tampered_bytes_are_detected(tmp_path: Path) -> None:
    with ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path) as store:
        ref = store.store("the original text " * 10)
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        (blob,) = db.execute("SELECT blob FROM entries").fetchone()
        db.execute("UPDATE entries SET blob = ?", (blob[:-3] + b"XYZ",))
    with ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path) as store:
        with pytest.raises(ContextCorruptedError, match="damaged on disk") as info:
            store.retrieve(ref)
        assert info.value.ref == ref
        assert store.delete(ref) is True  # the way out the error suggests
        assert store.store("the original text " * 10) == ref


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreDiskError, match="not a usable pytest-crs store file") as info:
        ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path)
    assert str(tmp_path / DB_NAME) in str(info.value)


def test_a_newer_format_version_is_refused(tmp_path: Path) -> None:
    ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path).close()
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreDiskError, match="format version 99"):
        ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path)


def test_disk_path_must_be_a_directory(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(StoreDiskError, match="cannot open the disk tier"):
        ContextReferenceStore(use_disk_storage=True, disk_path=not_a_dir)


def test_disk_path_without_disk_storage_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="use_disk_storage=False"):
        ContextReferenceStore(disk_path=tmp_path)


def test_a_failed_disk_write_changes_nothing() -> None:
    with ContextReferenceStore(use_disk_storage=True) as store:
        kept = store.store("kept")
        store._disk._db.close()  # type: ignore[union-attr]  # every later write fails
        with pytest.raises(StoreDiskError, match="failed"):
            store.store("new content")
        assert store.get_cache_stats()["memory_entries"] == 1
        assert store.retrieve(kept) == "kept"


def test_reopening_with_another_codec_still_reads_old_items(tmp_path: Path) -> None:
    text = "compressible " * 200
    with ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path) as store:
        ref = store.store(text)
    with ContextReferenceStore(
        use_disk_storage=True, disk_path=tmp_path, compression_algorithm="zlib"
    ) as store:
        assert store.retrieve(ref) == text
        assert store.get_metadata(ref).codec == "lz4"
        assert store.store(text) == ref


def test_damaged_metadata_on_disk_is_a_disk_error_naming_the_file(tmp_path: Path) -> None:
    with ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path) as store:
        ref = store.store("x", {"tags": ["t"]})
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("UPDATE entries SET extras = '{not json'")
    with (
        ContextReferenceStore(use_disk_storage=True, disk_path=tmp_path) as store,
        pytest.raises(StoreDiskError, match="is damaged") as info,
    ):
        store.get_metadata(ref)
    assert str(tmp_path / DB_NAME) in str(info.value)

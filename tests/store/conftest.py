"""Fixtures the store tests share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crs import ContextReferenceStore

Factory = Callable[..., ContextReferenceStore]


@pytest.fixture(params=["memory", "disk", "redis"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """Opens stores of one backend; a second call opens the same data again (a restart, or
    another process's view of shared state). Redis runs only where redis-server is installed."""
    if request.param == "memory":
        where: dict[str, Any] = {}
    elif request.param == "disk":
        where = {"use_disk_storage": True, "disk_path": tmp_path}
    else:
        where = {"redis_url": request.getfixturevalue("crs_redis_url")}
    opened: list[ContextReferenceStore] = []

    def factory(**kwargs: Any) -> ContextReferenceStore:
        store = ContextReferenceStore(**where, **kwargs)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()

"""The async twin behaves exactly like the sync API, inline or on a worker thread."""

from __future__ import annotations

import asyncio

import pytest

from crs import ContextExpiredError, ContextReferenceStore, VirtualClock


@pytest.mark.parametrize("disk", [False, True])
def test_async_api_mirrors_sync(disk: bool) -> None:
    clock = VirtualClock()

    async def scenario() -> None:
        async with ContextReferenceStore(use_disk_storage=disk, clock=clock) as store:
            ref = await store.astore({"answer": 42}, {"tags": ["a"], "ttl": 10})
            assert await store.aretrieve(ref) == {"answer": 42}
            assert (await store.aget_metadata(ref)).tags == {"a"}
            assert await store.astore({"answer": 42}) == ref
            assert await store.adelete(ref) is False
            short = await store.astore("short", {"ttl": 1})
            clock.advance(2)
            assert await store.apurge_expired() == 1
            with pytest.raises(ContextExpiredError):
                await store.aretrieve(short)
            assert await store.adelete(ref) is True
        assert "closed" in repr(store)

    asyncio.run(scenario())


def test_many_tasks_on_a_disk_store() -> None:
    async def scenario() -> list[object]:
        async with ContextReferenceStore(cache_size=8, use_disk_storage=True) as store:
            refs = await asyncio.gather(*(store.astore({"task": i}) for i in range(100)))
            return list(await asyncio.gather(*(store.aretrieve(ref) for ref in refs)))

    assert asyncio.run(scenario()) == [{"task": i} for i in range(100)]

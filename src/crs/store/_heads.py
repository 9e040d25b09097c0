"""Named, updatable pointers in a content-addressed store: the A/B head slots.

The store is content-addressed: a reference is a hash of the content, so nothing in it can be
updated in place and there is no name to look anything up by. Components that keep evolving
state in it (the credential vault's index, a workflow run's checkpoints, the adapter's execution
journal) write each new version as a new item and need one fixed place that says which version
is current, findable again after a restart.

That place is a pair of **head slots**, A and B: items whose *content* is a fixed string derived
from the owner's name, so their reference can be recomputed by storing that string again. Their
metadata holds the pointer, ``{"generation": g, "index": ref}``. Committing generation ``g``
overwrites slot ``"AB"[g % 2]`` (the one holding ``g - 2``) and leaves the other pointing at
``g - 1``, so a crash at any step leaves at least one complete pointer to reopen from: the
classic ping-pong superblock. Reading takes the newest generation whose target still loads.
"""

from __future__ import annotations

import logging

from crs.errors import ContextLookupError, HeadConflictError
from crs.store._store import ContextReferenceStore

__all__ = ["HeadSlots", "give_back", "release"]

_log = logging.getLogger("crs.store")


class HeadSlots:
    """The A/B pointers of one owner (see the module docstring).

    Args:
        store: the store holding the slots and what they point at.
        owner: names the owner; the slot contents are derived from it, so two owners with
            different names never share slots.
        priority: store priority of the slot items (their owner's items should use the same,
            so a pointer is never evicted before what it points at).
        content_type: recorded on the slot items, for people inspecting a store.
    """

    def __init__(
        self,
        store: ContextReferenceStore,
        owner: str,
        *,
        priority: int = 0,
        content_type: str = "application/vnd.crs.head",
    ) -> None:
        self._store = store
        self._owner = owner
        self._priority = priority
        self._content_type = content_type
        self._refs: dict[str, str] = {}
        self.pointers: dict[str, tuple[int, str]] = {}
        """Slot name → (generation, target reference), as last read or written."""

    def read(self) -> list[tuple[int, str]]:
        """Both pointers, newest generation first (empty for an owner that never wrote).

        A pure lookup (:meth:`ContextReferenceStore.find`): probing by storing the slot content
        and deleting it again could delete another writer's first commit made in between.
        """
        self.pointers = {}
        self._refs = {}
        for name, pointer in self._look():
            if pointer is not None:
                self.pointers[name] = pointer
        return sorted(self.pointers.values(), reverse=True)

    def _look(self) -> list[tuple[str, tuple[int, str] | None]]:
        """Each existing slot's pointer (``None`` when unreadable), remembering its reference."""
        found: list[tuple[str, tuple[int, str] | None]] = []
        for name in ("A", "B"):
            ref = self._store.find(self._content(name))
            if ref is None:
                continue
            self._refs[name] = ref
            try:
                extra = self._store.get_metadata(ref).extra
            except ContextLookupError:
                continue
            generation, index = extra.get("generation"), extra.get("index")
            if isinstance(generation, int) and isinstance(index, str):
                found.append((name, (generation, index)))
            else:
                found.append((name, None))
        return found

    def write(self, generation: int, target: str) -> str | None:
        """Point slot ``"AB"[generation % 2]`` at ``target``; returns the target it dropped.

        A compare-and-swap (:meth:`ContextReferenceStore.swap_metadata`): the slot changes only
        if it still holds what this object last saw there, so two writers — other objects, or
        other processes sharing a Redis tier — cannot both commit over the same generation.
        Until the swap the other slot still points at the previous generation.

        Raises:
            HeadConflictError: another writer moved the slot since this object read it.
        """
        name = "AB"[generation % 2]
        previous = self.pointers.get(name)
        expect = (
            {"generation": None, "index": None}
            if previous is None
            else {"generation": previous[0], "index": previous[1]}
        )
        ref = self._store.swap_metadata(
            self._content(name),
            {
                "priority": self._priority,
                "content_type": self._content_type,
                "generation": generation,
                "index": target,
            },
            expect=expect,
        )
        if ref is None:
            raise HeadConflictError(
                f"head slot {name} of {self._owner!r} was moved by another writer since it was "
                f"read (expected generation {expect['generation']!r})",
                hint="read the slots again and retry the commit on top of the newer state",
            )
        self._refs[name] = ref
        self.pointers[name] = (generation, target)
        return None if previous is None else previous[1]

    def commit(self, generation: int, document: str) -> None:
        """Make ``document`` (just stored by this writer) generation ``generation``, then release
        the document the slot pointed at before, unless the other slot still needs it.

        The commit protocol every owner of checkpoints or indexes follows. When the swap is lost
        (:class:`HeadConflictError`, or any error before it happened) only this writer's hold on
        ``document`` is given back. An interrupt (a ``BaseException``) may strike after the swap,
        when a slot already points at the document: it is then left in place — at worst garbage,
        never a dangling head.
        """
        try:
            dropped = self.write(generation, document)
        except Exception:
            give_back(self._store, document)
            raise
        if dropped is not None and dropped not in self.in_use():
            release(self._store, dropped)

    def forget(self) -> bool:
        """Release every document the slots point at and the slots; ``False`` if there were none."""
        pointers = self.read()
        for _generation, ref in pointers:
            release(self._store, ref)
        self.clear()
        return bool(pointers)

    def newest(self) -> tuple[int, str] | None:
        """The newest (generation, target) the slots hold now, read without writing.

        Lets an owner notice that another object on the same store and name committed since
        its own last look — including into a slot that did not exist then; ``None`` when
        neither slot can be read.
        """
        pointers = [pointer for _name, pointer in self._look() if pointer is not None]
        return max(pointers, default=None)

    def in_use(self) -> set[str]:
        return {target for _generation, target in self.pointers.values()}

    def clear(self) -> None:
        """Remove both slots (the owner is done; what they pointed at is the owner's to free)."""
        self.read()
        for ref in self._refs.values():
            release(self._store, ref)
        self._refs.clear()
        self.pointers = {}

    def _content(self, name: str) -> str:
        return f"{self._owner} head {name}"


def release(store: ContextReferenceStore, ref: str) -> None:
    """Delete an item nobody needs any more; a failure only leaves garbage, so it is logged."""
    try:
        store.delete(ref, force=True)
    except ContextLookupError:
        pass
    except Exception:
        _log.warning("could not delete %s from the store", ref, exc_info=True)


def give_back(store: ContextReferenceStore, ref: str) -> None:
    """Drop the one holder this writer took on ``ref`` (a document whose commit lost its swap).

    Not :func:`release`: a concurrent writer that won may have stored byte-identical content —
    the same reference — and its head now points there; only our own holder is ours to drop.
    A failure only leaves garbage, so it is logged.
    """
    try:
        store.delete(ref)
    except ContextLookupError:
        pass
    except Exception:
        _log.warning("could not release %s in the store", ref, exc_info=True)

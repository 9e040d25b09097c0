"""Shared vault fixtures: every vault test runs on virtual time over an in-memory store."""

from __future__ import annotations

import pytest

from crs import ContextReferenceStore, VirtualClock


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def store(clock: VirtualClock) -> ContextReferenceStore:
    """In memory; test_vault_rotation.py overrides it with a disk-backed store."""
    return ContextReferenceStore(clock=clock)

"""The Context Reference Store: store large contexts once, pass short references around."""

from __future__ import annotations

from crs.store._codec import CompressionAlgorithm
from crs.store._metadata import ContextMetadata
from crs.store._policy import EvictionPolicy
from crs.store._redis import StoreRedisError
from crs.store._store import ContextReferenceStore

__all__ = [
    "CompressionAlgorithm",
    "ContextMetadata",
    "ContextReferenceStore",
    "EvictionPolicy",
    "StoreRedisError",
]

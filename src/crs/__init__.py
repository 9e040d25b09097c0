"""crs: the runtime library behind pytest-crs.

Public names live here; every other module path is private and may change.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from crs.clock import (
    Clock,
    SystemClock,
    VirtualClock,
    get_clock,
    resolve_clock,
    set_clock,
    use_clock,
)
from crs.errors import (
    ConfigError,
    ContentTypeError,
    ContextCorruptedError,
    ContextEvictedError,
    ContextExpiredError,
    ContextLookupError,
    ContextNotFoundError,
    CrsError,
    MetadataError,
    StoreCapacityError,
    StoreClosedError,
    StoreDiskError,
)
from crs.store import (
    CompressionAlgorithm,
    ContextMetadata,
    ContextReferenceStore,
    EvictionPolicy,
)

try:
    __version__ = version("pytest-crs")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "Clock",
    "CompressionAlgorithm",
    "ConfigError",
    "ContentTypeError",
    "ContextCorruptedError",
    "ContextEvictedError",
    "ContextExpiredError",
    "ContextLookupError",
    "ContextMetadata",
    "ContextNotFoundError",
    "ContextReferenceStore",
    "CrsError",
    "EvictionPolicy",
    "MetadataError",
    "StoreCapacityError",
    "StoreClosedError",
    "StoreDiskError",
    "SystemClock",
    "VirtualClock",
    "__version__",
    "get_clock",
    "resolve_clock",
    "set_clock",
    "use_clock",
]

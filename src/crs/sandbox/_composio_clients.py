"""Real Composio clients, configured for the sandbox, for both SDK generations.

Both generations install as the import name ``composio`` and cannot share an environment, so
which one is present is found from the installed distribution (``composio-core`` or
``composio``) before anything is imported: importing the wrong one just to look would cost
composio-core's network calls. The import is lazy and typed ``Any``, so ``mypy --strict``
passes whichever generation is installed, or neither.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from crs._composio_offline import configure_offline
from crs.errors import ConfigError

__all__ = ["composio_client", "core_toolset", "installed_sdk"]

_CORE = "composio-core"
_CURRENT = "composio"


def core_toolset(*, base_url: str, api_key: str, **kwargs: Any) -> Any:
    """A composio-core 0.7 ``ComposioToolSet`` that talks to ``base_url`` (with ``/api``).

    composio-core is imported offline (see :func:`crs._composio_offline.configure_offline`).
    Its version lockfile defaults to the composio cache directory, because the SDK otherwise
    writes ``./.composio.lock`` into the current directory on ``get_action_schemas``.
    """
    cache = configure_offline()
    module = _sdk(_CORE, "ComposioToolSet")
    kwargs.setdefault("lockfile", Path(cache) / "sandbox.composio.lock")
    return module.ComposioToolSet(api_key=api_key, base_url=base_url, **kwargs)


def composio_client(*, base_url: str, api_key: str, **kwargs: Any) -> Any:
    """A current-SDK ``composio.Composio`` that talks to ``base_url`` (the host root).

    ``kwargs`` go to the constructor (``max_retries``, ``toolkit_versions``, ``timeout``, ...).
    Telemetry is off unless ``allow_tracking=True`` is passed: otherwise every traced call
    would post to Composio's telemetry host from a background thread.
    """
    module = _sdk(_CURRENT, "Composio")
    kwargs.setdefault("allow_tracking", False)
    return module.Composio(api_key=api_key, base_url=base_url, **kwargs)


def installed_sdk() -> str | None:
    """``"composio-core"`` or ``"composio"``, whichever is installed here (``None``: neither)."""
    for distribution in (_CORE, _CURRENT):
        if _installed(distribution) is not None:
            return distribution
    return None


def _sdk(distribution: str, attribute: str) -> ModuleType:
    other = _CURRENT if distribution == _CORE else _CORE
    wanted = _installed(distribution)
    if wanted is None:
        found = _installed(other)
        present = f"{other} {found} is installed instead" if found else "neither is installed"
        raise ConfigError(
            f"{distribution} is not installed ({present})",
            hint=f"the two Composio SDKs share the import name 'composio' and need separate "
            f"environments; install {distribution} in this one to use this client",
        )
    module = importlib.import_module("composio")
    if not hasattr(module, attribute):
        raise ConfigError(
            f"the installed 'composio' package has no {attribute} although {distribution} "
            f"{wanted} is installed",
            hint="both Composio SDKs were installed into this environment and one overwrote "
            "the other's files; recreate it with only one of them",
        )
    return module


def _installed(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None

"""Keeping composio-core off the network while it is imported and used offline.

``import composio`` with composio-core 0.7.x (the deprecated generation our users still run)
reaches the internet before any user code runs, and again at exit:

* ``composio.utils.sentry`` fetches a Sentry DSN from ``backend.composio.dev`` when its
  ``user_data.json`` has none, at import and again in an ``atexit`` hook;
* an ``atexit`` hook started at import asks PyPI for the latest version;
* the first client it builds refreshes the local enum cache (every app, action and trigger)
  from the API when that cache looks stale;
* it creates and writes ``~/.composio``.

Offline, each of those is a DNS failure or a hang of up to ten seconds, and all of them read
their switches when the module is imported. So the recipe must run *before* the first import:
a private cache directory whose ``user_data.json`` already holds ``{"sentry": {"dsn": ""}}``
(an empty DSN is "known", so nothing fetches one, and Sentry stays off), plus
``COMPOSIO_DISABLE_VERSION_CHECK``, ``COMPOSIO_NO_CACHE_REFRESH`` and
``COMPOSIO_DISABLE_SENTRY``.

``COMPOSIO_NO_REMOTE_ENUM_FETCHING`` is deliberately *not* set. It stops ``Action("SLUG")``
from looking an action up in the API, and a fresh cache directory knows no actions, so every
``execute_action`` would fail with ``EnumStringNotFound``. Left on, the lookup goes to the
client's own base URL (the sandbox, or a recorded cassette), which is the traffic tests want.

The current SDK (``composio`` >= 0.8, the same import name) does nothing on the network at
import. Its traced methods, ``tools.execute`` included, post telemetry to
``telemetry.composio.dev`` from a background thread unless the client is built with
``Composio(allow_tracking=False)``; no environment variable turns that off, so the sandbox's
client factory passes it.

This module imports nothing but the standard library: it must be safe to call from a pytest
plugin's configure hook, before anything has imported either SDK.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

__all__ = ["OFFLINE_ENV", "configure_offline"]

#: The switches composio-core reads at import, with the values that keep it offline.
OFFLINE_ENV = {
    "COMPOSIO_DISABLE_VERSION_CHECK": "true",
    "COMPOSIO_NO_CACHE_REFRESH": "true",
    "COMPOSIO_DISABLE_SENTRY": "true",
}
_CACHE_ENV = "COMPOSIO_CACHE_DIR"
_USER_DATA = "user_data.json"


def configure_offline(cache_dir: Path | None = None) -> Path:
    """Prepare the environment so that importing composio-core stays offline.

    Returns the cache directory composio will use. Values the user already set win: an existing
    ``COMPOSIO_CACHE_DIR`` is kept (its ``user_data.json`` only gains an empty Sentry DSN if it
    has none), and so is any switch already in the environment. ``cache_dir`` is used when
    ``COMPOSIO_CACHE_DIR`` is unset; without it a new private temporary directory is made.

    Once ``composio`` is imported its switches are fixed, so the call then changes nothing and
    only reports the directory in effect.
    """
    if "composio" in sys.modules:
        return _directory_in_effect()
    chosen = os.environ.get(_CACHE_ENV)
    if chosen:
        directory = Path(chosen)
    elif cache_dir is not None:
        directory = Path(cache_dir)
    else:
        directory = Path(tempfile.mkdtemp(prefix="crs-composio-"))
    directory.mkdir(parents=True, exist_ok=True)
    _ensure_empty_dsn(directory / _USER_DATA)
    os.environ.setdefault(_CACHE_ENV, str(directory))
    for name, value in OFFLINE_ENV.items():
        os.environ.setdefault(name, value)
    return directory


def _ensure_empty_dsn(path: Path) -> None:
    """Give ``user_data.json`` a Sentry DSN (empty) unless it has one, keeping its other keys."""
    data: dict[str, object] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return  # composio-core skips the fetch for an unreadable file too; leave it be
        if not isinstance(loaded, dict):
            return
        sentry = loaded.get("sentry")
        if isinstance(sentry, dict) and sentry.get("dsn") is not None:
            return
        data = loaded
    data["sentry"] = {"dsn": ""}
    path.write_text(json.dumps(data), encoding="utf-8")


def _directory_in_effect() -> Path:
    constants = sys.modules.get("composio.constants")
    directory = getattr(constants, "LOCAL_CACHE_DIRECTORY", None)
    if isinstance(directory, Path):
        return directory
    return Path(os.environ.get(_CACHE_ENV) or Path.home() / ".composio")


def reset_core_caches() -> None:
    """Forget every app and action composio-core has cached, in memory and on disk.

    composio-core fetches an action's schema (``GET /api/v2/actions/{SLUG}``, ``GET
    /api/v1/apps/{app}``) the first time a process uses it, then serves it from a module-level
    dict and from files in its cache directory — which outlive the process; and it checks each
    API key once per process (``GET /api/v1/client/auth/client_info``). Which requests a
    test makes therefore depends on what ran before it. Recording and replaying need the same
    traffic every time, so the plugin starts each cassette from this cold state.

    Only the private cache directory this module set up (``COMPOSIO_CACHE_DIR``) is touched on
    disk, never a default ``~/.composio``; and nothing is done when the installed ``composio``
    is the current SDK, which shares the import name.
    """
    loaded = "composio.client.enums.action" in sys.modules
    if "composio" in sys.modules and not loaded:
        return  # the current SDK is loaded: it has no such caches
    for module_name, attribute in (
        ("composio.client.enums.action", "_ACTION_CACHE"),
        ("composio.client.enums.app", "_APP_CACHE"),
        ("composio.client.enums.tag", "_TAG_CACHE"),
        ("composio.client.enums.trigger", "_TRIGGER_CACHE"),
        ("composio.client", "_valid_keys"),  # API keys already checked (client_info)
    ):
        cache = getattr(sys.modules.get(module_name), attribute, None)
        if isinstance(cache, (dict, set)):
            cache.clear()
    chosen = os.environ.get(_CACHE_ENV)
    directory = _directory_in_effect() if loaded else (Path(chosen) if chosen else None)
    if directory is None or not (directory / _USER_DATA).exists():
        return  # not a directory prepared by configure_offline: leave it alone
    for folder in ("actions", "apps", "tags", "triggers"):
        shutil.rmtree(directory / folder, ignore_errors=True)

"""pytest_crs: the pytest plugin for pytest-crs.

pytest loads :mod:`pytest_crs.plugin` through the ``pytest11`` entry point named ``crs``, so
installing the package is enough to get the fixtures (``crs_clock``, ``crs_store``,
``crs_vault``, ``crs_sandbox``, ``crs_tool_backend``, ``crs_adapter``); nothing needs importing
from here. Disable the plugin for one run with
``pytest -p no:crs``.

This package imports :mod:`crs`; :mod:`crs` never imports this package or pytest.
"""

from __future__ import annotations

__all__: list[str] = []

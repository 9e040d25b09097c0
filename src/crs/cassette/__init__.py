"""Cassettes: recorded LLM, tool and HTTP interactions, stored as readable, versioned YAML.

This package holds what does not depend on pytest — the file format, bodies, redaction and
matching — so the ``crs cassette`` command can read cassettes without the plugin. The pytest
side (recording, replaying, fixtures, markers) lives in :mod:`pytest_crs`.
"""

from __future__ import annotations

__all__: list[str] = []

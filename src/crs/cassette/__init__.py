"""Cassettes: recorded LLM, tool and HTTP interactions, stored as readable, versioned YAML.

This package holds what does not depend on pytest — the file format, bodies, redaction and
matching — so the ``crs cassette`` command can read cassettes without the plugin. The pytest
side (recording, replaying, fixtures, markers) lives in :mod:`pytest_crs`.
"""

from __future__ import annotations

from crs.cassette._cassette import Cassette, RecordMode
from crs.cassette._match import MatchRules
from crs.cassette._redact import Redactor
from crs.cassette._tools import RecordedToolError

__all__ = ["Cassette", "MatchRules", "RecordMode", "RecordedToolError", "Redactor"]

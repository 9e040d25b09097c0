"""Cassettes in pytest: the ``crs_cassette`` marker and fixture, options, strictness, report.

A test opts in with ``@pytest.mark.crs_cassette`` (or by asking for the ``crs_cassette``
fixture). For its duration every HTTP call of the real SDKs, and every call the adapter makes to
a Python tool, goes through the cassette ``cassettes/<module path>/<test name>.yaml`` under the
rootdir. Replaying is the default (``--crs-record-mode=none``); recording is explicit.

Strict, like pytest-httpx: a request with no recording fails the test (even if the code under
test swallowed the error), and so does a recording the test never used, unless the test says
``allow_unused=True``. A failing test never writes its half-recorded session.

Options come from, in increasing precedence: the ini file, the ``crs_config`` fixture (override
it at any scope, like pytest-recording's ``vcr_config``), the marker's keyword arguments, and,
for the record mode only, the command line — so ``pytest --crs-record-mode=rewrite`` re-records
everything it runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest

from crs._composio_offline import reset_core_caches
from crs._options import reject_unknown_keys
from crs.cassette._cassette import Cassette, RecordMode
from crs.cassette._cli import PLAYS_KEY, file_digest
from crs.cassette._http import VcrBridge, intercepting
from crs.cassette._match import MatchRules
from crs.cassette._network import loopback_only
from crs.cassette._redact import Redactor
from crs.cassette._tools import ToolRecorder
from crs.errors import ConfigError
from crs.tools._seam import installed_tool_seam

__all__ = [
    "BRIDGE",
    "CALL_REPORT",
    "CassetteStats",
    "cassette_options",
    "cassette_path",
    "crs_cassette",
    "crs_config",
]

OPTION_KEYS: Final = frozenset(
    {
        "record_mode", "match_on", "ignore_json", "ignore_query", "match_headers",
        "allow_repeats", "allow_unused", "redact_headers", "redact_keys", "redact_patterns",
        "compress", "block_network",
    }
)  # fmt: skip
_SAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_NAME: Final = 120
CALL_REPORT: Final = pytest.StashKey[pytest.TestReport]()
STATS: Final = pytest.StashKey["CassetteStats"]()
#: The test's HTTP bridge while its cassette is active (fault injection replays cut streams
#: from it without consuming them).
BRIDGE: Final = pytest.StashKey[VcrBridge]()


@dataclass
class CassetteStats:
    """What the session's cassettes did, for the terminal summary (summed over xdist workers)."""

    replayed: int = 0
    recorded: int = 0
    rewritten: int = 0
    played: int = 0
    new: int = 0
    unused: int = 0
    files: list[str] = field(default_factory=list)

    def add(self, other: Mapping[str, Any]) -> None:
        """Add another worker's :meth:`to_worker_output`."""
        for name in ("replayed", "recorded", "rewritten", "played", "new", "unused"):
            setattr(self, name, getattr(self, name) + int(other.get(name, 0)))
        self.files.extend(str(path) for path in other.get("files", ()))

    def to_worker_output(self) -> dict[str, Any]:
        """What an xdist worker sends the controller (counts and the files it wrote)."""
        return {**self.as_dict(), "files": list(self.files)}

    def as_dict(self) -> dict[str, int]:
        return {
            name: getattr(self, name)
            for name in ("replayed", "recorded", "rewritten", "played", "new", "unused")
        }


@pytest.fixture
def crs_config() -> dict[str, Any]:
    """Options for every cassette in scope; override it (any scope) to set suite-wide defaults.

    Keys: ``record_mode``, ``match_on``, ``ignore_json``, ``ignore_query``, ``match_headers``,
    ``allow_repeats``, ``allow_unused``, ``redact_headers``, ``redact_keys``,
    ``redact_patterns``, ``compress`` (``.yaml.lz4``), ``block_network``.
    """
    return {}


@pytest.fixture
def crs_cassette(request: pytest.FixtureRequest, crs_config: dict[str, Any]) -> Iterator[Cassette]:
    """The test's cassette, recording or replaying HTTP and Python-tool calls (module doc).

    Exposes ``recorded`` / ``new`` interactions, ``play_counts``, ``mode``, ``path``.
    """
    marker = request.node.get_closest_marker("crs_cassette")
    options = cassette_options(request.config, crs_config, marker)
    path = cassette_path(request, marker, options)
    cassette = Cassette(
        path,
        mode=options["record_mode"],
        rules=_rules(options),
        allow_repeats=bool(options.get("allow_repeats", False)),
        parsed_cache=_parsed_cache(request.config),
    )
    if importlib.util.find_spec("vcr") is None:  # HTTP interception builds on vcrpy
        raise pytest.UsageError(
            "crs_cassette needs vcrpy, which is not installed; "
            "install it with: pip install 'pytest-crs[record]'"
        )

    reset_core_caches()
    block = options.get("block_network", not cassette.can_record)
    with contextlib.ExitStack() as stack:
        refused = stack.enter_context(loopback_only()) if block else []
        bridge = stack.enter_context(intercepting(VcrBridge(cassette)))
        request.node.stash[BRIDGE] = bridge
        stack.callback(request.node.stash.__delitem__, BRIDGE)
        stack.enter_context(installed_tool_seam(ToolRecorder(cassette)))
        yield cassette
    _finish(request, cassette, options, refused)


def cassette_options(
    config: pytest.Config, crs_config: Mapping[str, Any], marker: pytest.Mark | None
) -> dict[str, Any]:
    """The options of one cassette, merged in precedence order (module docstring)."""
    options: dict[str, Any] = {"record_mode": config.getini("crs_record_mode") or "none"}
    for source, values in (
        ("crs_config", crs_config),
        ("crs_cassette marker", marker.kwargs if marker else {}),
    ):
        if not isinstance(values, Mapping):
            raise pytest.UsageError(f"{source} must be a mapping of options, got {values!r}")
        try:
            reject_unknown_keys(values, OPTION_KEYS, source)
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from exc
        options.update(values)
    command_line = config.getoption("crs_record_mode", None)
    if command_line:
        options["record_mode"] = command_line
    try:
        options["record_mode"] = RecordMode(str(options["record_mode"]))
    except ValueError:
        modes = ", ".join(m.value for m in RecordMode)
        raise pytest.UsageError(
            f"record mode {options['record_mode']!r} is not one of {modes}"
        ) from None
    return options


def cassette_path(
    request: pytest.FixtureRequest, marker: pytest.Mark | None, options: Mapping[str, Any]
) -> Path:
    """``<rootdir>/<crs_cassette_dir>/<module path>/<test name>.yaml`` (or the marker's name)."""
    root = Path(request.config.rootpath)
    directory = root / (request.config.getini("crs_cassette_dir") or "cassettes")
    module = Path(request.node.path).resolve()
    try:
        relative = module.relative_to(root.resolve()).with_suffix("")
    except ValueError:  # a test outside the rootdir
        relative = Path(module.stem)
    if marker is not None and marker.args:
        name = str(marker.args[0])
    else:
        parts = request.node.nodeid.split("::")[1:]
        name = ".".join(parts) or request.node.name
    suffix = ".yaml.lz4" if options.get("compress") else ".yaml"
    return directory / relative / (_safe_name(name) + suffix)


def _safe_name(name: str) -> str:
    """A file name from a test id: unsafe characters folded, long ids shortened with a hash."""
    safe = _SAFE.sub("_", name).strip("._") or "cassette"
    if len(safe) > _MAX_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        safe = f"{safe[: _MAX_NAME - 13]}-{digest}"
    return safe


def _rules(options: Mapping[str, Any]) -> MatchRules:
    def strings(key: str) -> tuple[str, ...]:
        value = options.get(key, ())
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise pytest.UsageError(
                f"cassette option {key} must be a list of strings, got {value!r}"
            )
        return tuple(value)

    redactor = Redactor(
        headers=strings("redact_headers"),
        keys=strings("redact_keys"),
        patterns=strings("redact_patterns"),
    )
    base = MatchRules(redactor=redactor)
    try:
        return MatchRules(
            on=strings("match_on") or base.on,
            ignore_json=(*base.ignore_json, *strings("ignore_json")),
            ignore_query=strings("ignore_query"),
            match_headers=strings("match_headers"),
            redactor=redactor,
        )
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from exc


def _finish(
    request: pytest.FixtureRequest,
    cassette: Cassette,
    options: Mapping[str, Any],
    refused: list[str],
) -> None:
    """Save what a passing test recorded, count it, and fail on what strictness forbids."""
    report = request.node.stash.get(CALL_REPORT, None)
    passed = report is not None and report.passed
    stats = request.config.stash.setdefault(STATS, CassetteStats())
    problems = [str(error) for error in cassette.mismatches]
    problems += [f"network access to {host!r} was blocked" for host in refused]
    # Strict only when purely replaying: while a cassette is being extended or re-recorded,
    # recordings another test made are expected to go unplayed here.
    unused = cassette.unplayed() if not cassette.can_record else []
    if unused and passed and not options.get("allow_unused", False):
        shown = ", ".join(f"#{i} {cassette.recorded[i].get('summary', '')}" for i in unused[:5])
        problems.append(
            f"{len(unused)} recorded interaction(s) were never played: {shown} — the code no "
            "longer makes these calls (re-record with --crs-record-mode=rewrite, or pass "
            "allow_unused=True to the marker)"
        )
    existed = cassette.existed
    if passed and not problems and cassette.save():
        stats.files.append(str(cassette.path))
        if existed:
            stats.rewritten += 1
        else:
            stats.recorded += 1
    elif existed:
        stats.replayed += 1
    if not cassette.can_record and existed:
        _remember_plays(request.config, cassette)
    stats.played += sum(1 for count in cassette.play_counts if count)
    stats.new += len(cassette.new)
    stats.unused += len(unused)
    if problems:  # shown even when the test failed: it is usually why it failed
        pytest.fail(f"crs_cassette {cassette.path.name}: " + "; ".join(problems), pytrace=False)


def _remember_plays(config: pytest.Config, cassette: Cassette) -> None:
    """Keep which interactions this replay used, for ``crs cassette prune``."""
    cache = getattr(config, "cache", None)  # absent with -p no:cacheprovider
    try:
        relative = cassette.path.resolve().relative_to(Path(config.rootpath).resolve())
    except ValueError:
        return
    if cache is not None:
        cache.set(
            f"{PLAYS_KEY}/{relative.as_posix()}",
            {
                "sha256": file_digest(cassette.path),
                "played": [i for i, count in enumerate(cassette.play_counts) if count],
            },
        )


def _parsed_cache(config: pytest.Config) -> Path | None:
    """Where parsed cassettes are kept between runs (``None`` without the cache plugin)."""
    cache = getattr(config, "cache", None)
    return None if cache is None else Path(cache.mkdir("crs-parsed-cassettes"))

"""Cassette files: versioned YAML (optionally lz4-compressed), loaded safely, written atomically.

The file is for people as much as for the replayer: plain YAML, JSON bodies as structures in
their original key order, multi-line text as ``|`` block scalars, one interaction after another.
Loading goes through YAML's *safe* loader — a cassette is data from a repository and must never
construct Python objects — and then through a structural check that names the file and the
exact place (``interactions[3].response.status``) of anything wrong.

Writing goes to a temporary file in the same directory, is flushed to disk, and then renamed
over the target: a crash or an interrupted test leaves either the old cassette or the new one,
never half of one. ``.yaml.lz4`` files hold the same YAML in an lz4 frame, for large sessions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import lz4.frame
import yaml

from crs.cassette._body import decode_body
from crs.errors import CassetteFormatError

__all__ = [
    "FORMAT",
    "VERSION",
    "dump_text",
    "is_seam_call",
    "load_text",
    "read_cassette",
    "write_cassette",
]

FORMAT: Final = "crs-cassette"
VERSION: Final = 1
KINDS: Final = frozenset({"llm", "tool", "http"})
COMPRESSED_SUFFIX: Final = ".lz4"

_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SafeDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_SafeDumper):  # type: ignore[misc]
    """Safe YAML with multi-line strings as block scalars (readable, diff-friendly)."""


def _represent_str(dumper: Any, value: str) -> Any:
    style = "|" if "\n" in value and _block_safe(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _block_safe(value: str) -> bool:
    # Block scalars cannot hold trailing spaces on a line or most control characters faithfully.
    return not any(line.endswith((" ", "\t")) for line in value.split("\n")) and all(
        ch in {"\n", "\t"} or ch >= " " for ch in value
    )


_Dumper.add_representer(str, _represent_str)


def dump_text(document: Mapping[str, Any]) -> str:
    """The YAML text of a cassette document (key order as given)."""
    text: str = yaml.dump(
        dict(document), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100
    )
    return text


def load_text(text: str, *, path: str = "<cassette>") -> dict[str, Any]:
    """Parse and check cassette YAML; raises :class:`CassetteFormatError` naming the place."""
    try:
        document = yaml.load(text, Loader=_SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "?"
        problem = getattr(exc, "problem", None) or str(exc)
        raise CassetteFormatError(
            f"{path}: not valid YAML at {where}: {problem}",
            path=path,
            hint="fix the file by hand, or delete it and record again",
        ) from exc
    check_document(document, path)
    return document  # type: ignore[no-any-return]


def read_cassette(path: Path, *, parsed_cache: Path | None = None) -> dict[str, Any]:
    """Load a cassette file (``.yaml`` or ``.yaml.lz4``).

    Parsing YAML is the slowest part of a replay. With ``parsed_cache`` (a directory, e.g. in
    ``.pytest_cache``), the checked document is also kept there as JSON under the digest of the
    file's bytes, and read from there while the file is unchanged: JSON is plain data, so the
    cache can never construct objects either.
    """
    raw = path.read_bytes()
    cached = None
    if parsed_cache is not None:
        digest = hashlib.sha256(raw).hexdigest()
        cached = parsed_cache / f"{digest}.v{VERSION}.json"
        with contextlib.suppress(OSError, ValueError):
            document: dict[str, Any] = json.loads(cached.read_text(encoding="utf-8"))
            return document
    document = _parse(path, raw)
    if cached is not None:
        text = json.dumps(document, ensure_ascii=False)
        if json.loads(text) == document:  # only documents JSON holds exactly are cached
            with contextlib.suppress(OSError):
                _atomic_write(cached, text.encode("utf-8"))
    return document


def _parse(path: Path, raw: bytes) -> dict[str, Any]:
    if path.name.endswith(COMPRESSED_SUFFIX):
        try:
            raw = lz4.frame.decompress(raw)
        except RuntimeError as exc:
            raise CassetteFormatError(
                f"{path}: not an lz4 frame ({exc})",
                path=str(path),
                hint="a .yaml.lz4 cassette must be written by pytest-crs; delete it and record "
                "again",
            ) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CassetteFormatError(
            f"{path}: not UTF-8 text (byte {exc.start})", path=str(path)
        ) from exc
    return load_text(text, path=str(path))


def write_cassette(path: Path, document: Mapping[str, Any]) -> None:
    """Write atomically: a temporary file in the same directory, synced, then renamed."""
    check_document(document, str(path))
    data = dump_text(document).encode("utf-8")
    if path.name.endswith(COMPRESSED_SUFFIX):
        data = lz4.frame.compress(data)
    _atomic_write(path, data)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise


# -- structure ----------------------------------------------------------------------------------


def check_document(document: object, path: str) -> None:
    """Raise :class:`CassetteFormatError` unless ``document`` is a well-formed cassette."""

    def fail(where: str, problem: str, hint: str | None = None) -> CassetteFormatError:
        return CassetteFormatError(
            f"{path}: {where}: {problem}",
            path=path,
            hint=hint or "fix the file by hand, or delete it and record again",
        )

    if not isinstance(document, Mapping):
        raise fail("top level", f"expected a mapping, found {type(document).__name__}")
    if document.get("format") != FORMAT:
        raise fail("format", f"expected {FORMAT!r}, found {document.get('format')!r}")
    version = document.get("version")
    if version != VERSION:
        newer = isinstance(version, int) and version > VERSION
        raise fail(
            "version",
            f"format version {version!r} is not supported (this pytest-crs reads {VERSION})",
            "upgrade pytest-crs to read it" if newer else "record the cassette again",
        )
    interactions = document.get("interactions")
    if not isinstance(interactions, list):
        raise fail("interactions", "expected a list")
    for index, interaction in enumerate(interactions):
        problem = _interaction_problem(interaction)
        if problem is not None:
            where, what = problem
            raise fail(f"interactions[{index}]{where}", what)


def _interaction_problem(item: object) -> tuple[str, str] | None:
    if not isinstance(item, Mapping):
        return "", "expected a mapping"
    kind = item.get("kind")
    if kind not in KINDS:
        return ".kind", f"expected one of {', '.join(sorted(KINDS))}, found {kind!r}"
    for part in ("request", "response"):
        if not isinstance(item.get(part), Mapping):
            return f".{part}", "expected a mapping"
    if is_seam_call(item):
        return _tool_problem(item["request"], item["response"])
    return _http_problem(item["request"], item["response"])


def is_seam_call(interaction: Mapping[str, Any]) -> bool:
    """Whether an interaction is a Python tool call made at the adapter seam (not HTTP).

    ``kind`` is only a label (an HTTP call to Composio is a ``tool`` too); the request's shape
    decides: an HTTP request has a ``method``, a seam call an ``app``.
    """
    request = interaction.get("request")
    return isinstance(request, Mapping) and "method" not in request and "app" in request


def _http_problem(
    request: Mapping[str, Any], response: Mapping[str, Any]
) -> tuple[str, str] | None:
    for key in ("method", "url"):
        if not isinstance(request.get(key), str) or not request[key]:
            return f".request.{key}", "expected a non-empty string"
    status = response.get("status")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return ".response.status", f"expected an HTTP status code, found {status!r}"
    for part, data in (("request", request), ("response", response)):
        problem = _headers_problem(data.get("headers", {}))
        if problem is not None:
            return f".{part}.headers{problem[0]}", problem[1]
        try:
            decode_body(data.get("body"), where="body")
        except ValueError as exc:
            return f".{part}.body", str(exc).removeprefix("body").lstrip(": ") or str(exc)
    return None


def _headers_problem(headers: object) -> tuple[str, str] | None:
    if not isinstance(headers, Mapping):
        return "", "expected a mapping of header names to values"
    for name, value in headers.items():
        values: Sequence[object] = value if isinstance(value, list) else [value]
        if not isinstance(name, str) or not all(isinstance(v, str) for v in values):
            return f"[{name!r}]", "expected a string or a list of strings"
    return None


def _tool_problem(
    request: Mapping[str, Any], response: Mapping[str, Any]
) -> tuple[str, str] | None:
    for key in ("app", "action", "user_id"):
        if not isinstance(request.get(key), str):
            return f".request.{key}", "expected a string"
    if not isinstance(request.get("params", {}), Mapping):
        return ".request.params", "expected a mapping"
    if not isinstance(response.get("successful"), bool):
        return ".response.successful", "expected true or false"
    return None

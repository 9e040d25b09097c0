"""``crs cassette``: read a cassette as a transcript, audit cassettes for secrets, prune them.

* ``show FILE`` — the session as a person reads it: each LLM turn, tool call and HTTP request
  with its status and duration, and for model calls what was asked and what came back.
* ``audit PATH...`` — scans cassettes (files or directories) with detect-secrets (when it is
  installed) and with crs's own credential patterns; exits 1 on any finding, so it can guard a
  commit hook or CI.
* ``prune FILE`` — drops the interactions the last replay of this cassette did not play (pytest
  records which were played in ``.pytest_cache``), after checking the file has not changed since.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import click

from crs._secrets import REDACTED, is_secret_name, redact_secrets
from crs.cassette._file import dump_text, read_cassette, write_cassette
from crs.errors import CassetteError

__all__ = ["PLAYS_KEY", "cassette", "file_digest", "plays_path"]

PLAYS_KEY = "crs/plays"
"""Where the plugin keeps, per cassette, which interactions the last replay played."""


@click.group(name="cassette")
def cassette() -> None:
    """Inspect, audit and prune record/replay cassettes."""


@cassette.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bodies/--no-bodies", default=False, help="Also print request and response bodies.")
def show(file: Path, bodies: bool) -> None:
    """Render FILE as a readable transcript."""
    from rich.console import Console
    from rich.table import Table

    document = _load(file)
    console = Console()
    table = Table(title=f"{file.name}: {len(document['interactions'])} interaction(s)", expand=True)
    for column, style in (
        ("#", "dim"),
        ("kind", "bold"),
        ("summary", ""),
        ("status", ""),
        ("ms", "dim"),
    ):
        table.add_column(column, style=style, overflow="fold")
    for index, item in enumerate(document["interactions"]):
        table.add_row(
            str(index),
            _kind_markup(str(item.get("kind", "?"))),
            str(item.get("summary", "")),
            _status(item),
            "" if item.get("duration_ms") is None else f"{item['duration_ms']:.1f}",
        )
    console.print(table)
    for index, item in enumerate(document["interactions"]):
        lines = list(_transcript(item, bodies))
        if lines:
            console.rule(f"#{index} {item.get('kind', '?')}")
            for line in lines:
                console.print(line, markup=False, highlight=False)


@cassette.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def audit(paths: tuple[Path, ...]) -> None:
    """Scan cassettes for credentials; exit 1 if any is found."""
    files = sorted(_cassette_files(paths))
    findings = [f for path in files for f in _findings(path)]
    for path, line, what in findings:
        click.echo(f"{path}:{line}: {what}")
    scanned = f"{len(files)} cassette(s) scanned"
    if findings:
        raise click.ClickException(f"{len(findings)} possible secret(s) in {scanned}")
    click.echo(f"no secrets found; {scanned}")


@cassette.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Say what would be dropped; change nothing.")
def prune(file: Path, dry_run: bool) -> None:
    """Drop the interactions of FILE that its last replay did not play."""
    document = _load(file)
    record = _last_plays(file)
    if record is None:
        raise click.ClickException(
            f"no replay of {file} is on record; run its tests (record mode none) first"
        )
    if record.get("sha256") != file_digest(file):
        raise click.ClickException(
            f"{file} changed since its last replay; replay it again before pruning"
        )
    played = set(record.get("played", []))
    kept = [item for i, item in enumerate(document["interactions"]) if i in played]
    dropped = len(document["interactions"]) - len(kept)
    if dry_run or dropped == 0:
        click.echo(f"{dropped} interaction(s) would be dropped" if dry_run else "nothing to prune")
        return
    write_cassette(file, {**document, "interactions": kept})
    click.echo(f"dropped {dropped} unplayed interaction(s); {len(kept)} kept")


# -- helpers shared with the plugin -------------------------------------------------------------


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def plays_path(cassette_file: Path) -> tuple[Path, str] | None:
    """The pytest cache directory above ``cassette_file`` and the cache key of its plays."""
    resolved = cassette_file.resolve()
    for parent in resolved.parents:
        cache = parent / ".pytest_cache"
        if cache.is_dir():
            return cache, f"{PLAYS_KEY}/{resolved.relative_to(parent).as_posix()}"
    return None


def _last_plays(file: Path) -> dict[str, Any] | None:
    found = plays_path(file)
    if found is None:
        return None
    cache, key = found
    entry = cache / "v" / key
    if not entry.is_file():
        return None
    data = json.loads(entry.read_text())
    return data if isinstance(data, dict) else None


# -- internals ----------------------------------------------------------------------------------


def _load(file: Path) -> dict[str, Any]:
    try:
        return read_cassette(file)
    except CassetteError as exc:
        raise click.ClickException(str(exc)) from exc


def _kind_markup(kind: str) -> str:
    colour = {"llm": "magenta", "tool": "cyan", "http": "blue"}.get(kind, "white")
    return f"[{colour}]{kind}[/{colour}]"


def _status(item: Mapping[str, Any]) -> str:
    response = item.get("response") or {}
    if "status" in response:
        status = int(response["status"])
        return f"[green]{status}[/green]" if status < 400 else f"[red]{status}[/red]"
    ok = response.get("successful")
    return "[green]ok[/green]" if ok else "[red]failed[/red]"


def _transcript(item: Mapping[str, Any], bodies: bool) -> Iterator[str]:
    request, response = item.get("request") or {}, item.get("response") or {}
    if "method" in request:
        yield f"{request['method']} {request['url']}"
    else:
        yield f"{request.get('app')} {request.get('action')} for {request.get('user_id')!r}"
        yield f"  params: {json.dumps(request.get('params'), ensure_ascii=False)}"
        yield f"  -> {json.dumps(response.get('data'), ensure_ascii=False)[:500]}"
        return
    sent = (
        (request.get("body") or {}).get("json")
        if isinstance(request.get("body"), Mapping)
        else None
    )
    if item.get("kind") == "llm" and isinstance(sent, Mapping):
        for message in sent.get("messages") or sent.get("input") or []:
            if isinstance(message, Mapping):
                content = message.get("content")
                text = (
                    content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
                )
                yield f"  {message.get('role', '?')}: {text[:300]}"
    if bodies:
        yield "  request body:"
        yield from _indented(dump_text({"body": request.get("body")}))
        yield "  response body:"
        yield from _indented(dump_text({"body": response.get("body")}))


def _indented(text: str) -> Iterator[str]:
    for line in text.splitlines():
        yield "    " + line


def _cassette_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from (p for p in path.rglob("*") if p.name.endswith((".yaml", ".yaml.lz4")))
        else:
            yield path


def _findings(path: Path) -> Iterator[tuple[Path, int | str, str]]:
    """Possible secrets in one cassette: detect-secrets' view and ours."""
    try:
        text = dump_text(read_cassette(path))
    except CassetteError as exc:
        yield path, "-", f"unreadable: {exc.message}"
        return
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if redact_secrets(line) != line:
            yield path, number, "looks like a credential (crs patterns)"
            continue
        key, sep, value = line.strip().lstrip("- ").partition(":")
        value = value.strip().strip("'\"")
        if (
            sep
            and value
            and value != REDACTED
            and is_secret_name(key)
            and value not in ("null", "{}", "[]")
        ):
            yield path, number, f"credential-named field {key!r} holds a value"
    yield from _detect_secrets(path, text, lines)


def _detect_secrets(
    path: Path, text: str, lines: list[str]
) -> Iterator[tuple[Path, int | str, str]]:
    try:
        from detect_secrets.core.secrets_collection import SecretsCollection
        from detect_secrets.settings import default_settings
    except ImportError:
        return
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / (path.name.removesuffix(".lz4"))
        plain.write_text(text)
        with default_settings():
            secrets = SecretsCollection()
            secrets.scan_file(str(plain))
        for _, secret in secrets:
            line = lines[secret.line_number - 1] if 0 < secret.line_number <= len(lines) else ""
            if REDACTED in line:
                continue  # a placeholder, flagged only for sitting next to a secret-sounding name
            yield path, secret.line_number, f"{secret.type} (detect-secrets)"

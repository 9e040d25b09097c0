"""Invent arguments that satisfy a tool's JSON Schema, the same ones every run.

The sandbox's default model answers a tool-calling request by calling the offered tools, like
pydantic-ai's ``TestModel``. Recordings are compared across runs and machines, so the arguments
must be a pure function of (schema, seed): all randomness comes from a ``random.Random`` seeded
with a SHA-256 of the seed and the value's location, never from global state or salted ``hash()``.

They must also be *valid*, or the agent under test fails on our fault rather than its own. So
every generated value is checked against its subschema by a small validator before it is
returned; a branch that fails the check is abandoned (the next ``anyOf`` branch is tried, an
optional property is left out) and a failure with no way around it is a ``ConfigError`` naming
the JSON pointer of the subschema. Decisions that follow from this:

* Optional properties are filled too (declaration order, within ``maxProperties``), so the
  agent's handling of every parameter is exercised; one that cannot be satisfied is left out.
* ``oneOf`` takes the first branch whose value matches *no other* branch, checked, not assumed.
* ``pattern`` is honoured by generating from the regex itself (literals, classes, groups,
  alternation, quantifiers); lookarounds or backreferences are checked after the fact, and a
  value that still does not match is an error, never returned.
* Keywords whose semantics we do not model (``if``, ``contains``, ``dependentSchemas``, ...) are
  rejected up front rather than ignored, because ignoring them could return invalid data.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import ipaddress
import random
import re
import string
import uuid
from collections.abc import Mapping
from datetime import date, timedelta
from math import ceil, floor
from typing import Any
from urllib.parse import unquote

from crs.errors import ConfigError

__all__ = ["example_for"]

_UNSUPPORTED = frozenset(
    {"if", "contains", "minContains", "maxContains", "dependentRequired", "dependentSchemas"}
    | {"dependencies", "unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "$recursiveRef"}
)
_TYPES = ("string", "integer", "number", "boolean", "object", "array", "null")
_INFER = (  # what an untyped schema's keywords suggest it describes
    ("object", {"properties", "required", "additionalProperties", "patternProperties"}),
    ("object", {"propertyNames", "minProperties", "maxProperties"}),
    ("array", {"items", "prefixItems", "minItems", "maxItems", "uniqueItems"}),
    ("string", {"minLength", "maxLength", "pattern", "format"}),
    ("number", {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}),
)
_PAIRS = [("min" + k, "max" + k) for k in ("imum", "Length", "Items", "Properties")]
_LOWER = frozenset([*(low for low, _ in _PAIRS), "exclusiveMinimum"])
_UPPER = frozenset([*(high for _, high in _PAIRS), "exclusiveMaximum"])
_DATE, _TIME = r"\d{4}-\d{2}-\d{2}", r"\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
_FORMAT_RE = {
    "email": r"[^@\s]+@[^@\s]+\.[^@\s]+",
    "uri": r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+",
    "date": _DATE,
    "date-time": rf"{_DATE}[Tt]{_TIME}",
    "time": _TIME,
    "uuid": r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}",
    "hostname": r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+",
}
_FORMAT_RE |= {"idn-email": _FORMAT_RE["email"], "url": _FORMAT_RE["uri"], "iri": _FORMAT_RE["uri"]}
_PEOPLE = ("alex", "sam", "jordan", "maria", "kim", "lee")
_CITIES = ("San Francisco, CA", "Paris, France", "Tokyo, Japan", "Lisbon, Portugal")
_CLASS = {
    "CATEGORY_DIGIT": string.digits,
    "CATEGORY_NOT_DIGIT": string.ascii_letters,
    "CATEGORY_WORD": string.ascii_letters + string.digits + "_",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_WORD": "-. ",
    "CATEGORY_NOT_SPACE": string.ascii_letters,
}
_PRINTABLE = string.ascii_letters + string.digits + "-_. @:/"
try:  # CPython's own regex parser turns a pattern into a tree we can walk to build a match.
    _sre: Any = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover - only if CPython moves it; patterns are then checked only
    _sre = None


class _Unsat(Exception):
    """This subschema has no value here; callers with an alternative catch it and move on."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{reason} at {path}")
        self.path, self.reason = path, reason


def example_for(schema: Mapping[str, Any], *, seed: int | str = 0, name: str = "") -> Any:
    """Return a JSON value valid against ``schema``, the same one for the same schema and seed.

    ``name`` is the parameter's name, used to make strings look like what they stand for (an
    ``email`` gets an address, an ``owner`` a GitHub-ish login) so recorded transcripts read well.
    """
    try:
        return _Generator(schema, seed).gen(schema, "#", "", name, frozenset())
    except _Unsat as exc:
        raise ConfigError(
            f"cannot invent a value for {name or 'the schema'}: {exc}",
            hint="fix or simplify that subschema; the path is a JSON pointer into the schema",
        ) from None


def _canon(value: Any) -> Any:
    """JSON equality as a hashable key: ``1 == 1.0`` but ``True != 1`` (unlike Python's ``==``)."""
    if isinstance(value, bool) or value is None:
        return (type(value).__name__, value)
    if isinstance(value, list):
        return ("list", tuple(_canon(v) for v in value))
    if isinstance(value, dict):
        return ("dict", frozenset((k, _canon(v)) for k, v in value.items()))
    return ("num" if isinstance(value, int | float) else "str", value)


def _is_type(value: Any, kind: str) -> bool:
    if kind in ("integer", "number"):
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (kind == "number" or float(value).is_integer())
        )
    kinds = {"string": str, "boolean": bool, "object": dict, "array": list}
    return value is None if kind == "null" else isinstance(value, kinds[kind])


def _bounds(s: Mapping[str, Any]) -> tuple[Any, Any, Any, Any]:
    """(minimum, exclusive minimum, maximum, exclusive maximum), reading OpenAPI 3.0 booleans."""
    lo, xlo, hi, xhi = (
        s.get(k) for k in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
    )
    if isinstance(xlo, bool):
        lo, xlo = (None, lo) if xlo else (lo, None)
    if isinstance(xhi, bool):
        hi, xhi = (None, hi) if xhi else (hi, None)
    return lo, xlo, hi, xhi


def _items(s: Mapping[str, Any]) -> tuple[list[Any], Any]:
    """(positional item schemas, schema for the rest), accepting draft-07's array ``items``."""
    if isinstance(s.get("items"), list):
        return s["items"], s.get("additionalItems", True)
    return list(s.get("prefixItems", [])), s.get("items", True)


def _merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Conjunction of two schemas, as far as keywords combine; otherwise ``a`` wins.

    Losing keywords are harmless: the generated value is validated against the original schema.
    """
    out = dict(a)
    for key, value in b.items():
        if key not in out or _canon(out[key]) == _canon(value):
            out[key] = value
        elif key == "type":
            sides = [{v} if isinstance(v, str) else set(v) for v in (out[key], value)]
            out[key] = [
                t
                for t in _TYPES
                if all(t in side or (t == "integer" and "number" in side) for side in sides)
            ]
        elif key in ("properties", "patternProperties"):
            out[key] = {
                **out[key],
                **{
                    k: {"allOf": [out[key][k], v]} if k in out[key] else v for k, v in value.items()
                },
            }
        elif key == "required":
            out[key] = list(dict.fromkeys([*out[key], *value]))
        elif key in _LOWER or key in _UPPER:
            pick = max if key in _LOWER else min
            out[key] = value if isinstance(value, bool) else pick(out[key], value)
        elif key == "enum":
            out[key] = [v for v in out[key] if _canon(v) in {_canon(w) for w in value}]
        elif key in ("items", "additionalProperties", "propertyNames"):
            out[key] = {"allOf": [out[key], value]}
        elif key == "anyOf":
            out[key] = [{"allOf": [x, y]} for x in out[key] for y in value]
    return out


def _words(name: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower())


def _from_name(name: str, rng: random.Random, tag: str) -> str:
    """A string that reads like the parameter it fills: ``title`` -> ``"title 1f3a"``."""
    words = _words(name)
    slug, last, has = "-".join(words) or "value", (words or [""])[-1], set(words).intersection
    if has({"email", "to", "cc", "bcc", "recipient", "sender", "from"}):
        return f"{rng.choice(_PEOPLE)}.{tag}@example.com"
    if has({"url", "uri", "link", "href", "website", "homepage", "endpoint", "webhook"}):
        return f"https://example.com/{slug}/{tag}"
    if has({"owner", "org", "organization", "workspace", "team", "company"}):
        return f"acme-{tag}"
    if has({"repo", "repository", "project"}):
        return f"{rng.choice(('widgets', 'api-server', 'docs-site'))}-{tag}"
    if has({"user", "username", "login", "assignee", "author", "reviewer", "member", "handle"}):
        return f"{rng.choice(_PEOPLE)}-{tag}"
    if has({"city", "location", "place", "address"}):
        return rng.choice(_CITIES)
    if has({"date", "day", "deadline", "due", "birthday"}):
        return _format("date", rng, slug, tag)
    if last in ("at", "time", "timestamp"):
        return _format("date-time", rng, slug, tag)
    if last in ("id", "key", "sha", "token"):
        return f"{'-'.join(words[:-1]) or last}-{tag}{rng.getrandbits(16):04x}"
    if has({"channel"}):
        return f"general-{tag}"
    if has({"path", "file", "filename"}):
        return f"docs/notes-{tag}.md"
    if has({"body", "description", "text", "message", "content", "comment", "summary", "note"}):
        return f"Sample {' '.join(words)} written by the crs sandbox ({tag})."
    return f"{' '.join(words) or 'value'} {tag}"


def _format(fmt: str, rng: random.Random, slug: str, tag: str) -> str:
    fmt = {"idn-email": "email", "idn-hostname": "hostname"}.get(fmt, fmt)
    day = (date(2024, 1, 1) + timedelta(days=rng.randrange(366))).isoformat()
    clock = f"{rng.randrange(8, 19):02d}:{rng.randrange(0, 60, 5):02d}:00Z"
    return {
        "email": f"{rng.choice(_PEOPLE)}.{tag}@example.com",
        "date": day,
        "date-time": f"{day}T{clock}",
        "time": clock,
        "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "ipv4": f"192.0.2.{rng.randint(1, 254)}",
        "ipv6": f"2001:db8::{tag}",
        "hostname": f"{slug[:40].strip('-') or 'host'}-{tag}.example.com",
    }.get(fmt, f"https://example.com/{slug}/{tag}")


_FORMATS = frozenset(
    {"email", "idn-email", "date", "date-time", "time", "uuid", "ipv4", "ipv6", "hostname"}
    | {"idn-hostname", "uri", "url", "iri", "uri-reference", "iri-reference"}
)


def _format_ok(fmt: str, value: str) -> bool:
    if fmt in ("ipv4", "ipv6"):
        try:
            return ipaddress.ip_address(value).version == int(fmt[-1])
        except ValueError:
            return False
    if not re.fullmatch(_FORMAT_RE.get(fmt, r"[\s\S]*"), value):
        return False
    try:
        return fmt not in ("date", "date-time") or bool(date.fromisoformat(value[:10]))
    except ValueError:
        return False


def _from_regex(tree: Any, rng: random.Random) -> str:
    """Build a string matching a parsed regex; lookarounds are skipped and checked afterwards."""
    out: list[str] = []
    for op, arg in tree:
        kind = op.name
        if kind == "LITERAL":
            out.append(chr(arg))
        elif kind == "NOT_LITERAL":
            out.append("b" if arg == ord("a") else "a")
        elif kind == "ANY":
            out.append(rng.choice(string.ascii_lowercase))
        elif kind == "IN":
            negate = arg[0][0].name == "NEGATE"
            chars: set[str] = set()
            for item, val in arg[negate:]:
                if item.name == "LITERAL":
                    chars.add(chr(val))
                elif item.name == "RANGE":
                    chars.update(chr(c) for c in range(val[0], min(val[1], val[0] + 255) + 1))
                else:
                    chars.update(_CLASS.get(val.name, ""))
            pool = sorted(set(_PRINTABLE) - chars if negate else chars)
            out.append(rng.choice(pool) if pool else "")
        elif kind.endswith("_REPEAT"):
            low, high, sub = arg
            out.extend(_from_regex(sub, rng) for _ in range(rng.randint(low, min(high, low + 2))))
        elif kind == "SUBPATTERN":
            out.append(_from_regex(arg[-1], rng))
        elif kind == "BRANCH":
            out.append(_from_regex(rng.choice(arg[1]), rng))
        elif kind not in ("AT", "ASSERT", "ASSERT_NOT"):
            raise ValueError(kind)  # backreferences and conditionals: cannot construct
    return "".join(out)


class _Generator:
    def __init__(self, root: Any, seed: int | str) -> None:
        self.root, self.seed, self.vary = root, seed, False

    def rng(self, where: str) -> random.Random:
        digest = hashlib.sha256(f"{self.seed!r}\0{where}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def resolve(self, ref: Any, path: str) -> Any:
        node = self.root
        if isinstance(ref, str) and (ref == "#" or ref.startswith("#/")):
            for raw in ref[2:].split("/") if ref != "#" else []:
                part = unquote(raw).replace("~1", "/").replace("~0", "~")
                if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                elif isinstance(node, Mapping) and part in node:
                    node = node[part]
                else:
                    break
            else:
                return node
        raise ConfigError(
            f"$ref {ref!r} at {path} does not resolve to a local definition",
            hint="definitions must live under #/$defs or #/definitions",
        )

    def gen(self, schema: Any, path: str, where: str, name: str, stack: frozenset[str]) -> Any:
        flat, stack = self.flatten(schema, path, stack)
        value = self.gen_flat(flat, path, where, name, stack)
        failure = self.check(schema, value, path, frozenset())
        if failure:
            raise _Unsat(*failure)
        return value

    def flatten(self, schema: Any, path: str, stack: frozenset[str]) -> tuple[Any, frozenset[str]]:
        """Inline ``$ref`` and ``allOf`` into one schema; ``stack`` holds refs being expanded."""
        if schema is False:
            raise _Unsat(path, "the false schema admits no value")
        out = {} if schema is True else dict(self.schema_at(schema, path))
        while "$ref" in out or "allOf" in out:
            if "$ref" in out:
                ref = out.pop("$ref")
                if ref in stack:
                    raise _Unsat(ref, "recursive $ref has no finite value on this branch")
                target, stack = self.flatten(self.resolve(ref, path), ref, stack | {ref})
                out = _merge(out, target)
            for i, sub in enumerate(out.pop("allOf", [])):
                part, stack = self.flatten(sub, f"{path}/allOf/{i}", stack)
                out = _merge(out, part)
        return out, stack

    def schema_at(self, schema: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(schema, Mapping):
            raise ConfigError(f"schema at {path} must be an object or a boolean, got {schema!r}")
        unsupported = sorted(_UNSUPPORTED & schema.keys())
        if unsupported:
            raise ConfigError(
                f"keyword {unsupported[0]!r} at {path} is not supported",
                hint="the sandbox model cannot invent values for that keyword; "
                "script the tool call explicitly instead",
            )
        declared = schema.get("type", [])
        for kind in declared if isinstance(declared, list) else [declared]:
            if kind not in _TYPES:
                raise ConfigError(f"unknown type {kind!r} at {path}", hint=f"use one of {_TYPES}")
        return schema

    def gen_flat(
        self, s: dict[str, Any], path: str, where: str, name: str, stack: frozenset[str]
    ) -> Any:
        rng = self.rng(where)
        for low, high in _PAIRS:
            if low in s and high in s and s[low] > s[high]:
                raise _Unsat(path, f"{low} {s[low]!r} exceeds {high} {s[high]!r}")
        if "const" in s:
            return copy.deepcopy(s["const"])
        realistic = [] if self.vary else [s["default"]] if "default" in s else []
        for candidate in [*realistic, *([] if self.vary else s.get("examples", []))]:
            if candidate is not None and not self.check(s, candidate, path, frozenset()):
                return copy.deepcopy(candidate)
        for key in ("anyOf", "oneOf"):
            if key in s:
                return self.pick_branch(s, key, path, where, name, stack)
        if "enum" in s:
            if not s["enum"]:
                raise _Unsat(path, "enum is empty")
            ok = [v for v in s["enum"] if not self.check(s, v, path, frozenset())]
            if not ok:
                raise _Unsat(path, f"no value of enum {s['enum']!r} satisfies the other keywords")
            return copy.deepcopy(rng.choice([v for v in ok if v is not None] or ok))
        declared = s.get("type")
        kinds = [declared] if isinstance(declared, str) else list(declared or [])
        if declared is None:
            kinds = [k for k, keys in _INFER if keys & s.keys()] + ["string", *_TYPES]
        elif s.get("nullable") is True:
            kinds.append("null")
        first: _Unsat | None = None
        for kind in sorted(dict.fromkeys(kinds), key=lambda k: k == "null"):
            try:
                return self.gen_type(kind, s, path, where, name, stack, rng)
            except _Unsat as exc:
                first = first or exc
        raise first or _Unsat(path, f"type {declared!r} admits no value here")

    def pick_branch(
        self, s: dict[str, Any], key: str, path: str, where: str, name: str, stack: frozenset[str]
    ) -> Any:
        rest = {k: v for k, v in s.items() if k != key}
        first: _Unsat | None = None
        order = sorted(enumerate(s[key]), key=lambda ib: ib[1] == {"type": "null"})
        for i, branch in order:
            try:
                merged, inner = self.flatten(branch, f"{path}/{key}/{i}", stack)
                value = self.gen_flat(_merge(rest, merged), f"{path}/{key}/{i}", where, name, inner)
                failure = self.check(s, value, path, frozenset())
                if failure:
                    raise _Unsat(*failure)
                return value
            except _Unsat as exc:
                first = first or exc
        raise first or _Unsat(path, f"{key} is empty")

    def gen_type(
        self,
        kind: str,
        s: dict[str, Any],
        path: str,
        where: str,
        name: str,
        stack: frozenset[str],
        rng: random.Random,
    ) -> Any:
        if kind == "object":
            return self.gen_object(s, path, where, name, stack)
        if kind == "array":
            return self.gen_array(s, path, where, name, stack)
        if kind in ("integer", "number"):
            return self.gen_number(s, path, rng, kind == "integer")
        if kind == "string":
            return self.gen_string(s, path, rng, name)
        return None if kind == "null" else rng.random() < 0.5

    def gen_string(self, s: Mapping[str, Any], path: str, rng: random.Random, name: str) -> str:
        tag, low, high = f"{rng.getrandbits(16):04x}", s.get("minLength", 0), s.get("maxLength")
        fmt = s.get("format")
        value = _format(fmt, rng, "-".join(_words(name)), tag) if fmt in _FORMATS else None
        if value is None:
            value = _from_name(name, rng, tag)
            value = (value + (" " + tag) * low)[: max(low, len(value))][:high]
        pattern = s.get("pattern")
        if pattern is None or self.matches(pattern, value, path):
            return value
        tree = _sre.parse(pattern) if _sre else None
        for _ in range(20 if tree is not None else 0):
            try:
                value = _from_regex(tree, rng)
            except ValueError:
                break
            if self.matches(pattern, value, path) and low <= len(value) <= (
                len(value) if high is None else high
            ):
                return value
        raise _Unsat(path, f"cannot construct a string matching pattern {pattern!r}")

    def matches(self, pattern: str, value: str, path: str) -> bool:
        try:
            return re.search(pattern, value) is not None
        except re.error as exc:
            raise ConfigError(
                f"pattern {pattern!r} at {path} is not a valid regex: {exc}",
                hint="JSON Schema patterns must compile as regexes",
            ) from None

    def gen_number(
        self, s: Mapping[str, Any], path: str, rng: random.Random, integer: bool
    ) -> int | float:
        lo, xlo, hi, xhi = _bounds(s)
        if integer:  # integers have exact exclusive bounds, so the sweep below cannot miss
            lo = None if lo is None else ceil(lo)
            hi = None if hi is None else floor(hi)
            lo = lo if xlo is None else max(floor(xlo) + 1, lo if lo is not None else xlo)
            hi = hi if xhi is None else min(ceil(xhi) - 1, hi if hi is not None else xhi)
            xlo = xhi = None
        low = max([b for b in (lo, xlo) if b is not None], default=None)
        high = min([b for b in (hi, xhi) if b is not None], default=None)
        if low is not None and high is not None and low > high:
            raise _Unsat(path, f"lower bound {low!r} exceeds upper bound {high!r}")
        low = low if low is not None else 1 if high is None else min(1, high - 1)
        high = high if high is not None else low + 100
        step = s.get("multipleOf") or (1 if integer else None)
        if step is not None:  # random multiples first, then the ends in case a bound is exclusive
            k_lo, k_hi = ceil(low / step), floor(high / step)
            ks = (
                [*(rng.randint(k_lo, k_hi) for _ in range(20)), k_lo, k_lo + 1, k_hi - 1, k_hi]
                if k_lo <= k_hi
                else []
            )
            candidates = [k * step for k in ks]
        else:
            candidates = [round(rng.uniform(low, high), 2), (low + high) / 2]
        for candidate in candidates:
            value = int(candidate) if integer and float(candidate).is_integer() else candidate
            if not self.check(
                {**s, "type": "integer" if integer else "number"}, value, path, frozenset()
            ):
                return value
        raise _Unsat(
            path,
            f"no {'integer' if integer else 'number'} satisfies "
            f"bounds [{low!r}, {high!r}] and multipleOf {step!r}",
        )

    def gen_object(
        self, s: Mapping[str, Any], path: str, where: str, name: str, stack: frozenset[str]
    ) -> dict[str, Any]:
        props, required = s.get("properties", {}), list(s.get("required", []))
        room = s.get("maxProperties", len(props) + len(required)) - len(required)
        out: dict[str, Any] = {}
        for key in dict.fromkeys([*props, *required]):
            if key not in required and room <= 0:
                continue
            try:
                if "propertyNames" in s and self.check(s["propertyNames"], key, path, frozenset()):
                    raise _Unsat(f"{path}/propertyNames", f"property name {key!r} is not allowed")
                out[key] = self.gen_member(s, key, path, f"{where}/{key}", stack)
            except _Unsat:
                if key in required:
                    raise
                continue
            if key not in required:
                room -= 1
        patterns = list(s.get("patternProperties", {}))
        for n in range(s.get("minProperties", 0) + 20):  # extra keys, for minProperties
            if len(out) >= s.get("minProperties", 0):
                break
            extra: Any = f"{'_'.join(_words(name)) or 'key'}_{n + 1}"
            try:
                if s.get("additionalProperties") is False and patterns and _sre is not None:
                    tree = _sre.parse(patterns[n % len(patterns)])
                    extra = _from_regex(tree, self.rng(f"{where}#{n}"))
                if "propertyNames" in s:
                    extra = self.gen(
                        s["propertyNames"], f"{path}/propertyNames", f"{where}#{n}", name, stack
                    )
                if isinstance(extra, str) and extra not in out:
                    out[extra] = self.gen_member(s, extra, path, f"{where}/{extra}", stack)
            except (_Unsat, ValueError, re.error):
                continue
        return out

    def gen_member(
        self, s: Mapping[str, Any], key: str, path: str, where: str, stack: frozenset[str]
    ) -> Any:
        subs = self.member_schemas(s, key, path) or [(True, path)]
        schema = subs[0][0] if len(subs) == 1 else {"allOf": [sub for sub, _ in subs]}
        return self.gen(schema, subs[0][1], where, key, stack)

    def member_schemas(self, s: Mapping[str, Any], key: str, path: str) -> list[tuple[Any, str]]:
        """The subschemas a property's value must satisfy, with their JSON pointers."""
        esc = key.replace("~", "~0").replace("/", "~1")
        subs = (
            [(s["properties"][key], f"{path}/properties/{esc}")]
            if key in s.get("properties", {})
            else []
        )
        subs += [
            (sub, f"{path}/patternProperties/{pattern.replace('~', '~0').replace('/', '~1')}")
            for pattern, sub in s.get("patternProperties", {}).items()
            if self.matches(pattern, key, path)
        ]
        if not subs and "additionalProperties" in s:
            subs = [(s["additionalProperties"], f"{path}/additionalProperties")]
        return subs

    def gen_array(
        self, s: Mapping[str, Any], path: str, where: str, name: str, stack: frozenset[str]
    ) -> list[Any]:
        prefix, rest = _items(s)
        least, most = s.get("minItems", 0), s.get("maxItems")
        want = max(least, len(prefix) or 1)
        want = min(want, most) if most is not None else want
        item_name = name[:-1] if name.endswith("s") and len(name) > 3 else name
        out: list[Any] = []
        seen: set[Any] | None = set() if s.get("uniqueItems") is True else None
        for i in range(want):
            sub, spath = (
                (prefix[i], f"{path}/prefixItems/{i}")
                if i < len(prefix)
                else (rest, f"{path}/items")
            )
            try:
                out.append(self.gen_item(sub, spath, f"{where}/{i}", item_name, stack, seen))
            except _Unsat:
                if i >= least:
                    break
                raise
        return out

    def gen_item(
        self,
        sub: Any,
        path: str,
        where: str,
        name: str,
        stack: frozenset[str],
        seen: set[Any] | None,
    ) -> Any:
        """One array item; for ``uniqueItems`` (``seen`` is not None) retry until it is new.

        Retries use fresh randomness and skip defaults and examples, which would only repeat.
        """
        previous = self.vary
        for attempt in range(1 if seen is None else 12):
            self.vary = previous or attempt > 0
            try:
                item = self.gen(sub, path, f"{where}~{attempt}" if attempt else where, name, stack)
            finally:
                self.vary = previous
            if seen is None:
                return item
            if _canon(item) not in seen:
                seen.add(_canon(item))
                return item
        raise _Unsat(path, "cannot find enough distinct items for uniqueItems")

    def check(
        self, schema: Any, value: Any, path: str, seen: frozenset[tuple[str, int]]
    ) -> tuple[str, str] | None:
        """The first way ``value`` fails ``schema`` as (pointer, reason), or None if it is valid."""
        if schema is True or schema is False:
            return None if schema else (path, "the false schema admits no value")
        s = self.schema_at(schema, path)
        if value is None and s.get("nullable") is True:
            return None
        if "$ref" in s:
            if (s["$ref"], id(value)) in seen:
                return (s["$ref"], "recursive $ref does not terminate")
            target = self.resolve(s["$ref"], path)
            failure = self.check(target, value, s["$ref"], seen | {(s["$ref"], id(value))})
            if failure:
                return failure
        declared = s.get("type")
        kinds = [declared] if isinstance(declared, str) else declared
        if kinds is not None and not any(_is_type(value, k) for k in kinds):
            return (path, f"{value!r} is not of type {declared!r}")
        if "const" in s and _canon(value) != _canon(s["const"]):
            return (path, f"{value!r} is not const {s['const']!r}")
        if "enum" in s and _canon(value) not in {_canon(v) for v in s["enum"]}:
            return (path, f"{value!r} is not one of enum {s['enum']!r}")
        for i, sub in enumerate(s.get("allOf", [])):
            failure = self.check(sub, value, f"{path}/allOf/{i}", seen)
            if failure:
                return failure
        if "anyOf" in s and all(self.check(b, value, path, seen) for b in s["anyOf"]):
            return (path, "value matches no anyOf branch")
        hits = sum(not self.check(b, value, path, seen) for b in s.get("oneOf", []))
        if "oneOf" in s and hits != 1:
            return (path, f"value matches {hits} oneOf branches, not exactly one")
        if "not" in s and not self.check(s["not"], value, f"{path}/not", seen):
            return (path, "value matches the schema under not")
        if isinstance(value, str):
            return self.check_string(s, value, path)
        if isinstance(value, dict):
            return self.check_object(s, value, path, seen)
        if isinstance(value, list):
            return self.check_array(s, value, path, seen)
        if _is_type(value, "number"):
            return self.check_number(s, value, path)
        return None

    def check_string(self, s: Mapping[str, Any], value: str, path: str) -> tuple[str, str] | None:
        if not s.get("minLength", 0) <= len(value) <= s.get("maxLength", len(value)):
            return (path, f"length of {value!r} is outside minLength/maxLength")
        if "pattern" in s and not self.matches(s["pattern"], value, path):
            return (path, f"{value!r} does not match pattern {s['pattern']!r}")
        if "format" in s and not _format_ok(s["format"], value):
            return (path, f"{value!r} is not a valid {s['format']}")
        return None

    def check_number(self, s: Mapping[str, Any], value: float, path: str) -> tuple[str, str] | None:
        lo, xlo, hi, xhi = _bounds(s)
        if (
            (lo is not None and value < lo)
            or (xlo is not None and value <= xlo)
            or (hi is not None and value > hi)
            or (xhi is not None and value >= xhi)
        ):
            return (path, f"{value!r} is outside the bounds")
        step = s.get("multipleOf")
        if step is not None:  # the same arithmetic as the jsonschema library, so we agree on floats
            try:
                bad = int(value / step) != value / step if isinstance(step, float) else value % step
            except OverflowError:
                bad = True
            if bad:
                return (path, f"{value!r} is not a multiple of {step!r}")
        return None

    def check_object(
        self,
        s: Mapping[str, Any],
        value: dict[str, Any],
        path: str,
        seen: frozenset[tuple[str, int]],
    ) -> tuple[str, str] | None:
        missing = [k for k in s.get("required", []) if k not in value]
        if missing:
            return (path, f"required property {missing[0]!r} is missing")
        if not s.get("minProperties", 0) <= len(value) <= s.get("maxProperties", len(value)):
            return (path, f"{len(value)} properties is outside minProperties/maxProperties")
        for key, item in value.items():
            if "propertyNames" in s and self.check(s["propertyNames"], key, path, seen):
                return (f"{path}/propertyNames", f"property name {key!r} is not allowed")
            for sub, spath in self.member_schemas(s, key, path):
                failure = self.check(sub, item, spath, seen)
                if failure:
                    return failure
        return None

    def check_array(
        self, s: Mapping[str, Any], value: list[Any], path: str, seen: frozenset[tuple[str, int]]
    ) -> tuple[str, str] | None:
        if not s.get("minItems", 0) <= len(value) <= s.get("maxItems", len(value)):
            return (path, f"{len(value)} items is outside minItems/maxItems")
        if s.get("uniqueItems") is True and len({_canon(v) for v in value}) != len(value):
            return (path, "items are not unique")
        prefix, rest = _items(s)
        for i, item in enumerate(value):
            sub, spath = (
                (prefix[i], f"{path}/prefixItems/{i}")
                if i < len(prefix)
                else (rest, f"{path}/items")
            )
            failure = self.check(sub, item, spath, seen)
            if failure:
                return failure
        return None

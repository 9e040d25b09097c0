"""Invent arguments that satisfy a tool's JSON Schema, the same ones every run.

The sandbox's default model answers a tool-calling request by calling the offered tools, like
pydantic-ai's ``TestModel``. Recordings are compared across runs and machines, so the arguments
must be a pure function of (schema, seed): all randomness comes from a ``random.Random`` seeded
with a SHA-256 of the seed and the value's location, never from global state or salted ``hash()``.

They must also be *valid*, or the agent under test fails on our fault rather than its own. So
every generated value is checked against its subschema by ``jsonschema`` before it is returned;
a branch that fails the check is abandoned (the next ``anyOf`` branch is tried, an optional
property is left out) and a failure with no way around it is a ``ConfigError`` naming the JSON
pointer of the subschema. Decisions that follow from this:

* Optional properties are filled too (declaration order, within ``maxProperties``), so the
  agent's handling of every parameter is exercised; one that cannot be satisfied is left out.
* ``oneOf`` takes the first branch whose value matches *no other* branch, checked, not assumed.
* ``pattern`` is honoured by generating from the regex itself (literals, classes, groups,
  alternation, quantifiers); lookarounds or backreferences are checked after the fact, and a
  value that still does not match is an error, never returned.
* Keywords whose semantics we do not model (``if``, ``contains``, ``dependentSchemas``, ...) are
  rejected up front rather than left to fail the check with a less helpful message.
* Schemas are read as 2020-12, whatever their ``$schema`` says; draft-07's array ``items`` and
  OpenAPI 3.0's ``nullable`` and boolean ``exclusiveMinimum``/``Maximum`` are rewritten first.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib
import random
import re
import string
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, time, timedelta
from math import ceil, floor
from typing import Any, TypeAlias

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import UnknownType, ValidationError, best_match
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from crs.errors import ConfigError

__all__ = ["example_for"]

_Refs: TypeAlias = frozenset[str]  # the $refs being expanded on this branch, to stop recursion
_Schema: TypeAlias = Mapping[str, Any]

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
_FORMATS = frozenset(  # what _format can write; any other format gets a name-based string
    {"email", "idn-email", "date", "date-time", "time", "uuid", "ipv4", "ipv6", "hostname"}
    | {"idn-hostname", "uri", "url", "iri", "uri-reference", "iri-reference"}
)
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

# Format assertion uses a fixed set of checkers, so whether jsonschema's optional format packages
# are installed cannot change which defaults are accepted, and so the output. jsonschema checks
# these without extras; date-time, time, uri and hostname need extras, so get stdlib checks here.
_CHECKER = FormatChecker(["email", "idn-email", "date", "uuid", "ipv4", "ipv6"])


def _conforms(shape: str, parse: Callable[[str], object] = str) -> Callable[[object], bool]:
    """A format check: not a string (format does not apply), or the shape with in-range fields."""
    return lambda value: (
        not isinstance(value, str) or bool(re.fullmatch(shape, value) and parse(value.upper()))
    )


_TIME = r"\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_URI = _conforms(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
for _format_name, _check in {
    "date-time": _conforms(rf"\d{{4}}-\d{{2}}-\d{{2}}[Tt]{_TIME}", datetime.fromisoformat),
    "time": _conforms(_TIME, time.fromisoformat),
    "hostname": _conforms(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?"),
    **dict.fromkeys(["uri", "url", "iri"], _URI),
}.items():
    _CHECKER.checks(_format_name, raises=ValueError)(_check)

_DATA = frozenset({"const", "default", "enum", "examples"})  # values, not schemas
_NAMED = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})


def _modern(schema: Any) -> Any:
    """``schema`` copied into 2020-12 spelling, so generating and checking speak one dialect.

    Draft-07's positional ``items`` become ``prefixItems``; OpenAPI 3.0's ``nullable`` adds null
    to ``type``, and its boolean ``exclusiveMinimum``/``Maximum`` make the bound exclusive.
    """
    if isinstance(schema, list):
        return [_modern(sub) for sub in schema]
    if not isinstance(schema, Mapping):
        return schema
    s: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$schema":
            continue  # whatever dialect it named, the copy is 2020-12
        if key in _DATA:
            s[key] = value
        elif key in _NAMED and isinstance(value, Mapping):
            s[key] = {name: _modern(sub) for name, sub in value.items()}
        else:
            s[key] = _modern(value)
    if isinstance(s.get("items"), list):
        s["prefixItems"] = s.pop("items")
        if "additionalItems" in s:
            s["items"] = s.pop("additionalItems")
    for bound, flag in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(s.get(flag), bool) and s.pop(flag) and bound in s:
            s[flag] = s.pop(bound)
    if s.get("nullable") is True and "type" in s:
        kinds = s["type"] if isinstance(s["type"], list) else [s["type"]]
        s["type"] = list(dict.fromkeys([*kinds, "null"]))
    return s


class _Unsat(Exception):
    """This subschema has no value here; callers with an alternative catch it and move on."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{reason} at {path}")


def example_for(schema: Mapping[str, Any], *, seed: int | str = 0, name: str = "") -> Any:
    """Return a JSON value valid against ``schema``, the same one for the same schema and seed.

    ``name`` is the parameter's name, used to make strings look like what they stand for (an
    ``email`` gets an address, an ``owner`` a GitHub-ish login) so recorded transcripts read well.
    """
    try:
        generator = _Generator(schema, seed)
        return generator.gen(generator.root, "#", "", name, frozenset())
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
            both = {k: {"allOf": [out[key][k], v]} for k, v in value.items() if k in out[key]}
            out[key] = {**out[key], **value, **both}
        elif key == "required":
            out[key] = list(dict.fromkeys([*out[key], *value]))
        elif key in _LOWER or key in _UPPER:
            out[key] = (max if key in _LOWER else min)(out[key], value)
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


def _escape(part: object) -> str:
    """One JSON pointer segment."""
    return str(part).replace("~", "~0").replace("/", "~1")


def _no_ref(ref: Any, path: str) -> ConfigError:
    return ConfigError(
        f"$ref {ref!r} at {path} does not resolve to a local definition",
        hint="definitions must live under #/$defs or #/definitions",
    )


def _bad_pattern(pattern: Any, path: str, exc: re.error) -> ConfigError:
    return ConfigError(
        f"pattern {pattern!r} at {path} is not a valid regex: {exc}",
        hint="JSON Schema patterns must compile as regexes",
    )


class _Generator:
    """One ``example_for`` call: the schema in 2020-12 spelling, the seed, one validator over it."""

    def __init__(self, root: Any, seed: int | str) -> None:
        if not isinstance(root, bool):
            self.schema_at(root, "#")  # a clear error for a non-schema, before jsonschema sees it
        self.root, self.seed, self.vary = _modern(root), seed, False
        # Empty registries: refs resolve within the schema itself, nothing is ever fetched.
        self.refs = Registry().resolver_with_root(DRAFT202012.create_resource(self.root))
        self.validator = Draft202012Validator(
            self.root, registry=Registry(), format_checker=_CHECKER
        )

    def rng(self, where: str) -> random.Random:
        digest = hashlib.sha256(f"{self.seed!r}\0{where}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def resolve(self, ref: Any, path: str) -> Any:
        if isinstance(ref, str):
            with contextlib.suppress(Unresolvable):
                return self.refs.lookup(ref).contents
        raise _no_ref(ref, path)

    def errors(self, schema: Any, value: Any, path: str) -> Iterator[ValidationError]:
        """jsonschema's objections to ``value``; a schema it cannot apply is a ``ConfigError``."""
        try:
            yield from self.validator.evolve(schema=schema).iter_errors(value)
        except Unresolvable as exc:  # in a part we did not generate from, like a "not"
            ref = str(exc.ref)
            raise _no_ref("#" + ref if ref.startswith("/") else ref, path) from None
        except re.error as exc:
            raise _bad_pattern(exc.pattern, path, exc) from None
        except UnknownType as exc:
            raise ConfigError(
                f"unknown type {exc.type!r} at {path}", hint=f"use one of {_TYPES}"
            ) from None
        except RecursionError:
            yield ValidationError("recursive $ref does not terminate")

    def valid(self, schema: Any, value: Any, path: str) -> bool:
        return next(self.errors(schema, value, path), None) is None

    def check(self, schema: Any, value: Any, path: str) -> None:
        """Raise ``_Unsat`` naming the failing subschema and the offending value, if invalid."""
        error = best_match(self.errors(schema, value, path))
        if error is None:
            return
        node, where, parts = schema, path, list(error.absolute_schema_path)
        with contextlib.suppress(LookupError, TypeError):  # if resolved otherwise (nested $id)
            for depth, part in enumerate(parts, 1):  # walk to the keyword, through $refs
                while isinstance(node, Mapping) and part not in node and "$ref" in node:
                    where = node["$ref"]
                    node = self.resolve(where, where)
                if depth < len(parts):
                    node, where = node[part], f"{where}/{_escape(part)}"
        raise _Unsat(where, error.message)

    def gen(self, schema: Any, path: str, where: str, name: str, stack: _Refs) -> Any:
        flat, stack = self.flatten(schema, path, stack)
        value = self.gen_flat(flat, path, where, name, stack)
        self.check(schema, value, path)
        return value

    def flatten(self, schema: Any, path: str, stack: _Refs) -> tuple[Any, _Refs]:
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

    def gen_flat(self, s: _Schema, path: str, where: str, name: str, stack: _Refs) -> Any:
        rng = self.rng(where)
        for low, high in _PAIRS:
            if low in s and high in s and s[low] > s[high]:
                raise _Unsat(path, f"{low} {s[low]!r} exceeds {high} {s[high]!r}")
        if "const" in s:
            return copy.deepcopy(s["const"])
        realistic = [] if self.vary else [s["default"]] if "default" in s else []
        for candidate in [*realistic, *([] if self.vary else s.get("examples", []))]:
            if candidate is not None and self.valid(s, candidate, path):
                return copy.deepcopy(candidate)
        for key in ("anyOf", "oneOf"):
            if key in s:
                return self.pick_branch(s, key, path, where, name, stack)
        if "enum" in s:
            if not s["enum"]:
                raise _Unsat(path, "enum is empty")
            ok = [v for v in s["enum"] if self.valid(s, v, path)]
            if not ok:
                raise _Unsat(path, f"no value of enum {s['enum']!r} satisfies the other keywords")
            return copy.deepcopy(rng.choice([v for v in ok if v is not None] or ok))
        declared = s.get("type")
        kinds = [declared] if isinstance(declared, str) else list(declared or [])
        if declared is None:
            kinds = [k for k, keys in _INFER if keys & s.keys()] + ["string", *_TYPES]
        first: _Unsat | None = None
        for kind in sorted(dict.fromkeys(kinds), key=lambda k: k == "null"):
            try:
                if kind in ("object", "array"):
                    make = self.gen_object if kind == "object" else self.gen_array
                    return make(s, path, where, name, stack)
                if kind in ("integer", "number"):
                    return self.gen_number(s, path, rng, kind == "integer")
                if kind == "string":
                    return self.gen_string(s, path, rng, name)
                return None if kind == "null" else rng.random() < 0.5
            except _Unsat as exc:
                first = first or exc
        raise first or _Unsat(path, f"type {declared!r} admits no value here")

    def pick_branch(
        self, s: _Schema, key: str, path: str, where: str, name: str, stack: _Refs
    ) -> Any:
        rest = {k: v for k, v in s.items() if k != key}
        first: _Unsat | None = None
        order = sorted(enumerate(s[key]), key=lambda ib: ib[1] == {"type": "null"})
        for i, branch in order:
            try:
                merged, inner = self.flatten(branch, f"{path}/{key}/{i}", stack)
                value = self.gen_flat(_merge(rest, merged), f"{path}/{key}/{i}", where, name, inner)
                self.check(s, value, path)
                return value
            except _Unsat as exc:
                first = first or exc
        raise first or _Unsat(path, f"{key} is empty")

    def gen_string(self, s: _Schema, path: str, rng: random.Random, name: str) -> str:
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
            raise _bad_pattern(pattern, path, exc) from None

    def gen_number(self, s: _Schema, path: str, rng: random.Random, integer: bool) -> int | float:
        lo, xlo, hi, xhi = (
            s.get(k) for k in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
        )
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
        kind = "integer" if integer else "number"
        for candidate in candidates:
            value = int(candidate) if integer and float(candidate).is_integer() else candidate
            if self.valid({**s, "type": kind}, value, path):
                return value
        raise _Unsat(
            path, f"no {kind} satisfies bounds [{low!r}, {high!r}] and multipleOf {step!r}"
        )

    def gen_object(
        self, s: _Schema, path: str, where: str, name: str, stack: _Refs
    ) -> dict[str, Any]:
        props, required = s.get("properties", {}), list(s.get("required", []))
        room = s.get("maxProperties", len(props) + len(required)) - len(required)
        out: dict[str, Any] = {}
        for key in dict.fromkeys([*props, *required]):
            if key not in required and room <= 0:
                continue
            try:
                if "propertyNames" in s and not self.valid(s["propertyNames"], key, path):
                    raise _Unsat(f"{path}/propertyNames", f"property name {key!r} is not allowed")
                out[key] = self.gen_member(s, key, path, f"{where}/{key}", stack)
                room -= key not in required  # only optional properties use up the room
            except _Unsat:
                if key in required:
                    raise
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

    def gen_member(self, s: _Schema, key: str, path: str, where: str, stack: _Refs) -> Any:
        """A property's value: it must satisfy its property, pattern or additional schemas."""
        props = s.get("properties", {})
        subs = [(props[key], f"{path}/properties/{_escape(key)}")] if key in props else []
        subs += [
            (sub, f"{path}/patternProperties/{_escape(pattern)}")
            for pattern, sub in s.get("patternProperties", {}).items()
            if self.matches(pattern, key, path)
        ]
        if not subs and "additionalProperties" in s:
            subs = [(s["additionalProperties"], f"{path}/additionalProperties")]
        subs = subs or [(True, path)]
        schema = subs[0][0] if len(subs) == 1 else {"allOf": [sub for sub, _ in subs]}
        return self.gen(schema, subs[0][1], where, key, stack)

    def gen_array(self, s: _Schema, path: str, where: str, name: str, stack: _Refs) -> list[Any]:
        prefix, rest = s.get("prefixItems", []), s.get("items", True)
        least, most = s.get("minItems", 0), s.get("maxItems")
        want = max(least, len(prefix) or 1)
        want = min(want, most) if most is not None else want
        item_name = name[:-1] if name.endswith("s") and len(name) > 3 else name
        out: list[Any] = []
        seen: set[Any] | None = set() if s.get("uniqueItems") is True else None
        slots = [(sub, f"{path}/prefixItems/{i}") for i, sub in enumerate(prefix)]
        for i in range(want):
            sub, spath = slots[i] if i < len(slots) else (rest, f"{path}/items")
            try:
                out.append(self.gen_item(sub, spath, f"{where}/{i}", item_name, stack, seen))
            except _Unsat:
                if i >= least:
                    break
                raise
        return out

    def gen_item(
        self, sub: Any, path: str, where: str, name: str, stack: _Refs, seen: set[Any] | None
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

"""example_for: invented tool arguments are valid, realistic and the same on every run.

Validity is judged by a fresh ``jsonschema`` validator with this file's own format checks for
the formats the generator produces, so the test does not reuse the generator's configured
validator (or its format checker) to judge the generator's output.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from datetime import datetime, time
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from crs.errors import ConfigError
from crs.sandbox._schema_data import example_for

CHECKER = FormatChecker(formats=list(Draft202012Validator.FORMAT_CHECKER.checkers))


# jsonschema needs optional packages for these four; stdlib parsers are independent enough.
@CHECKER.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return value[10:11] in ("T", "t") and datetime.fromisoformat(value).tzinfo is not None


@CHECKER.checks("time", raises=ValueError)
def _time(value: object) -> bool:
    return not isinstance(value, str) or time.fromisoformat(value).tzinfo is not None


@CHECKER.checks("uri", raises=ValueError)
def _uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and (parts.netloc or parts.path)) and not re.search(r"\s", value)


@CHECKER.checks("hostname")
def _hostname(value: object) -> bool:
    label = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    return not isinstance(value, str) or (
        len(value) <= 253 and re.fullmatch(rf"{label}(\.{label})*\.?", value) is not None
    )


def assert_valid(schema: Any, value: Any) -> None:
    Draft202012Validator(schema, format_checker=CHECKER).validate(value)
    assert json.loads(json.dumps(value)) == value  # plain JSON: no tuples, sets or NaN


# --- realistic schemas -------------------------------------------------------------------------

WEATHER = {  # the OpenAI function-calling guide's example, in strict mode
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "City and country e.g. Bogotá, Colombia"},
        "units": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit", None]},
    },
    "required": ["location", "units"],
    "additionalProperties": False,
}

GITHUB_CREATE_ISSUE = {  # Composio's GITHUB_CREATE_AN_ISSUE parameters, trimmed
    "title": "CreateAnIssueRequest",
    "type": "object",
    "properties": {
        "owner": {
            "description": "The account owner of the repository.",
            "examples": ["octocat"],
            "title": "Owner",
            "type": "string",
        },
        "repo": {
            "description": "The name of the repository without the .git extension.",
            "examples": ["hello-world"],
            "title": "Repo",
            "type": "string",
        },
        "title": {"description": "The title of the issue.", "title": "Title", "type": "string"},
        "body": {
            "default": None,
            "description": "The contents of the issue.",
            "nullable": True,
            "title": "Body",
            "type": "string",
        },
        "assignee": {"default": None, "nullable": True, "title": "Assignee", "type": "string"},
        "milestone": {
            "anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}],
            "default": None,
            "title": "Milestone",
        },
        "labels": {
            "default": None,
            "items": {"type": "string"},
            "title": "Labels",
            "type": "array",
            "uniqueItems": True,
        },
        "assignees": {
            "default": None,
            "items": {"type": "string"},
            "title": "Assignees",
            "type": "array",
        },
    },
    "required": ["owner", "repo", "title"],
}

GMAIL_SEND = {  # Composio's GMAIL_SEND_EMAIL, trimmed
    "type": "object",
    "properties": {
        "recipient_email": {"type": "string", "format": "email"},
        "subject": {"type": "string", "minLength": 1, "maxLength": 200},
        "body": {"type": "string"},
        "cc": {"type": "array", "items": {"type": "string", "format": "email"}, "default": []},
        "is_html": {"type": "boolean", "default": False},
        "send_at": {"type": "string", "format": "date-time"},
    },
    "required": ["recipient_email", "body"],
}

SLACK_POST = {
    "type": "object",
    "properties": {
        "channel": {"type": "string", "description": "Channel ID or name"},
        "text": {"type": "string"},
        "thread_ts": {"type": "string", "pattern": r"^\d{10}\.\d{6}$"},
        "mrkdwn": {"type": "boolean"},
    },
    "required": ["channel", "text"],
}

PYDANTIC_ORDER = {  # what pydantic v2's model_json_schema() emits for a nested model
    "$defs": {
        "Address": {
            "properties": {
                "street": {"title": "Street", "type": "string"},
                "city": {"title": "City", "type": "string"},
                "zip_code": {"pattern": r"^\d{5}(-\d{4})?$", "title": "Zip Code", "type": "string"},
            },
            "required": ["street", "city", "zip_code"],
            "title": "Address",
            "type": "object",
        },
        "LineItem": {
            "properties": {
                "sku": {"pattern": "^[A-Z]{3}-[0-9]{4}$", "title": "Sku", "type": "string"},
                "quantity": {
                    "exclusiveMinimum": 0,
                    "maximum": 99,
                    "title": "Quantity",
                    "type": "integer",
                },
                "unit_price": {
                    "multipleOf": 0.01,
                    "minimum": 0,
                    "maximum": 10000,
                    "title": "Unit Price",
                    "type": "number",
                },
            },
            "required": ["sku", "quantity", "unit_price"],
            "title": "LineItem",
            "type": "object",
        },
        "Status": {"enum": ["pending", "paid", "shipped"], "title": "Status", "type": "string"},
    },
    "properties": {
        "order_id": {"format": "uuid", "title": "Order Id", "type": "string"},
        "customer_email": {"format": "email", "title": "Customer Email", "type": "string"},
        "status": {"$ref": "#/$defs/Status", "default": "pending"},
        "shipping": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}], "default": None},
        "items": {
            "items": {"$ref": "#/$defs/LineItem"},
            "minItems": 1,
            "maxItems": 5,
            "title": "Items",
            "type": "array",
        },
        "placed_on": {"format": "date", "title": "Placed On", "type": "string"},
        "pickup_time": {"format": "time", "type": "string"},
        "website": {"format": "uri", "maxLength": 2083, "minLength": 1, "type": "string"},
        "server": {"format": "hostname", "type": "string"},
        "client_ip": {"format": "ipv4", "type": "string"},
        "tags": {"items": {"type": "string"}, "type": "array", "uniqueItems": True, "minItems": 2},
        "discount": {
            "anyOf": [
                {"exclusiveMaximum": 1, "exclusiveMinimum": 0, "type": "number"},
                {"type": "null"},
            ],
            "default": None,
        },
    },
    "required": ["order_id", "customer_email", "items"],
    "title": "Order",
    "type": "object",
}

DRAFT7_TREE = {  # draft-07 style, recursive, with a pydantic-v1 allOf-wrapped ref
    "definitions": {
        "Color": {"enum": ["red", "green", "blue"], "type": "string"},
        "Node": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "color": {"allOf": [{"$ref": "#/definitions/Color"}], "default": "green"},
                "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}},
            },
            "required": ["name", "children"],
        },
    },
    "$ref": "#/definitions/Node",
}

PETS = {  # a discriminated union: oneOf must pick a branch that no other branch matches
    "$defs": {
        "Cat": {
            "properties": {"pet_type": {"const": "cat"}, "lives": {"type": "integer"}},
            "required": ["pet_type"],
            "type": "object",
        },
        "Dog": {
            "properties": {"pet_type": {"const": "dog"}, "barks": {"type": "boolean"}},
            "required": ["pet_type"],
            "type": "object",
        },
    },
    "type": "object",
    "properties": {
        "pet": {
            "oneOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}],
            "discriminator": {"propertyName": "pet_type"},
        }
    },
    "required": ["pet"],
}

MISC = {
    "type": "object",
    "properties": {
        "point": {
            "type": "array",
            "prefixItems": [{"type": "number"}, {"type": "number"}],
            "items": False,
            "minItems": 2,
        },
        "env": {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 2},
        "headers": {
            "type": "object",
            "patternProperties": {"^X-[A-Za-z]+$": {"type": "string"}},
            "additionalProperties": False,
            "minProperties": 1,
        },
        "page": {"type": "integer", "minimum": 1, "maximum": 100, "multipleOf": 5},
        "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "odd": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 2},
        "anything": {},
        "always": True,
        "limits": {"allOf": [{"type": "integer", "minimum": 10}, {"maximum": 20}]},
        "not_null": {"not": {"type": "null"}},
        "version": {"type": "string", "pattern": r"^v\d+\.\d+\.\d+$"},
        "matrix": {
            "type": "array",
            "minItems": 2,
            "items": {"type": "array", "minItems": 2, "items": {"type": "integer"}},
        },
    },
    "required": ["point", "env", "headers", "odd", "limits", "not_null", "matrix"],
}

REALISTIC = {
    "weather": WEATHER,
    "github": GITHUB_CREATE_ISSUE,
    "gmail": GMAIL_SEND,
    "slack": SLACK_POST,
    "pydantic": PYDANTIC_ORDER,
    "draft7": DRAFT7_TREE,
    "oneof": PETS,
    "misc": MISC,
}


@pytest.mark.parametrize("schema", REALISTIC.values(), ids=REALISTIC.keys())
def test_realistic_schema_examples_validate(schema: dict[str, Any]) -> None:
    for seed in range(25):
        assert_valid(schema, example_for(schema, seed=seed, name="arguments"))


def test_real_pydantic_model_accepts_its_example() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Reviewer(pydantic.BaseModel):
        login: str = pydantic.Field(min_length=2, max_length=39)
        email: str | None = None

    class CreatePullRequest(pydantic.BaseModel):
        owner: str
        repo: str
        title: str = pydantic.Field(max_length=256)
        draft: bool = False
        reviewers: list[Reviewer] = pydantic.Field(default_factory=list)
        labels: dict[str, int] = pydantic.Field(default_factory=dict)
        priority: int = pydantic.Field(default=3, ge=1, le=5)

    schema = CreatePullRequest.model_json_schema()
    for seed in range(10):
        example = example_for(schema, seed=seed)
        assert_valid(schema, example)
        CreatePullRequest.model_validate(example)


def test_strings_look_like_what_the_parameter_names() -> None:
    example = example_for(
        {
            "type": "object",
            "properties": {
                "email": {"type": "string"},
                "to": {"type": "string"},
                "title": {"type": "string"},
                "owner": {"type": "string"},
                "repo": {"type": "string"},
                "channel": {"type": "string"},
                "html_url": {"type": "string"},
                "due_date": {"type": "string"},
                "location": {"type": "string"},
            },
        },
        seed=3,
    )
    assert re.fullmatch(r"[a-z]+\.[0-9a-f]{4}@example\.com", example["email"])
    assert re.fullmatch(r"[a-z]+\.[0-9a-f]{4}@example\.com", example["to"])
    assert re.fullmatch(r"title [0-9a-f]{4}", example["title"])
    assert re.fullmatch(r"[a-z-]+-[0-9a-f]{4}", example["owner"])
    assert re.fullmatch(r"[a-z-]+-[0-9a-f]{4}", example["repo"])
    assert "channel" not in example["channel"] or "general" in example["channel"]
    assert example["html_url"].startswith("https://example.com/html-url/")
    assert re.fullmatch(r"2024-\d{2}-\d{2}", example["due_date"])
    assert "," in example["location"]


def test_examples_and_defaults_are_preferred_but_null_defaults_are_not() -> None:
    example = example_for(GITHUB_CREATE_ISSUE, seed=0)
    assert (example["owner"], example["repo"]) == ("octocat", "hello-world")
    assert isinstance(example["body"], str)  # default None skipped in favour of a real value
    assert example_for({"type": "integer", "default": 7}) == 7
    assert example_for({"type": "integer", "minimum": 10, "default": 7}) >= 10  # invalid default
    assert example_for({"type": "string", "examples": [5, "second"]}) == "second"


def test_non_null_types_and_branches_are_preferred() -> None:
    for seed in range(10):
        assert isinstance(example_for({"type": ["null", "string"]}, seed=seed), str)
        assert isinstance(
            example_for({"anyOf": [{"type": "null"}, {"type": "integer"}]}, seed=seed), int
        )
        assert example_for({"type": "string", "nullable": True}, seed=seed) is not None
        assert example_for({"enum": [None, "x"]}, seed=seed) == "x"


def test_optional_properties_are_filled_within_max_properties() -> None:
    assert set(example_for(GITHUB_CREATE_ISSUE)) == set(GITHUB_CREATE_ISSUE["properties"])
    limited = {**GITHUB_CREATE_ISSUE, "maxProperties": 4}
    example = example_for(limited)
    assert list(example) == ["owner", "repo", "title", "body"]
    broken = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"minimum": 5, "maximum": 1}},
    }
    assert set(example_for(broken)) == {"a"}  # an unsatisfiable optional property is left out


def test_one_of_never_matches_two_branches() -> None:
    schema = {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 0}]}
    for seed in range(20):
        value = example_for(schema, seed=seed)
        assert isinstance(value, float)
        assert not value.is_integer()
    pets = [example_for(PETS, seed=seed)["pet"]["pet_type"] for seed in range(5)]
    assert set(pets) == {"cat"}  # first satisfiable branch, deterministically


def test_exact_integer_bounds_and_patterns() -> None:
    assert example_for({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 2}) == 1
    assert example_for({"type": "integer", "minimum": 1.5, "maximum": 2.5}) == 2
    assert (
        example_for({"type": "integer", "minimum": 0, "maximum": 10, "exclusiveMinimum": True}) >= 1
    )  # OpenAPI 3.0 boolean form
    for seed in range(20):
        code = example_for(
            {"type": "string", "pattern": "^[A-Z]{3}-(alpha|beta)-[0-9]{2}$"}, seed=seed
        )
        assert re.fullmatch("[A-Z]{3}-(alpha|beta)-[0-9]{2}", code)


def test_recursion_stops_at_the_first_optional_exit() -> None:
    tree = example_for(DRAFT7_TREE, seed=1)
    assert tree["children"] == []  # a Node inside a Node would recurse: the array stays empty
    assert tree["color"] == "green"
    optional = {
        "$defs": {
            "L": {
                "type": "object",
                "properties": {
                    "value": {"type": "integer"},
                    "next": {"anyOf": [{"$ref": "#/$defs/L"}, {"type": "null"}]},
                },
                "required": ["value", "next"],
            }
        },
        "$ref": "#/$defs/L",
    }
    assert example_for(optional)["next"] is None


def test_enum_choice_depends_on_the_seed() -> None:
    schema = {"enum": ["low", "medium", "high", "urgent"]}
    assert len({example_for(schema, seed=seed) for seed in range(30)}) > 1
    assert example_for(schema, seed="abc") == example_for(schema, seed="abc")


def test_seed_and_name_change_the_strings() -> None:
    titles = {example_for({"type": "string"}, seed=seed, name="title") for seed in range(20)}
    assert len(titles) == 20
    assert example_for({"type": "string"}, seed=0) != example_for({"type": "string"}, seed="0")


def test_same_output_in_a_fresh_interpreter_with_another_hash_seed() -> None:
    code = (
        "import json, sys; from crs.sandbox._schema_data import example_for; "
        "print(json.dumps(example_for(json.loads(sys.argv[1]), seed='run-7')))"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", code, json.dumps(PYDANTIC_ORDER)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.add(result.stdout.strip())
    assert outputs == {json.dumps(example_for(PYDANTIC_ORDER, seed="run-7"))}


# --- errors ------------------------------------------------------------------------------------

ERRORS = {
    "unresolvable ref": (
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/Missing"}}},
        ["'#/$defs/Missing'", "#/properties/a"],
    ),
    "false at required": (
        {"type": "object", "properties": {"a": False}, "required": ["a"]},
        ["false schema", "#/properties/a"],
    ),
    "required not allowed": (
        {"type": "object", "additionalProperties": False, "required": ["zz"]},
        ["#/additionalProperties"],
    ),
    "min over max": (
        {
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 3}},
            "required": ["n"],
        },
        ["#/properties/n", "minimum 5", "maximum 3"],
    ),
    "empty enum": (
        {"type": "object", "properties": {"e": {"enum": []}}, "required": ["e"]},
        ["enum is empty", "#/properties/e"],
    ),
    "unknown type": (
        {"$defs": {"T": {"type": "strng"}}, "$ref": "#/$defs/T"},
        ["'strng'", "#/$defs/T"],
    ),
    "unsupported keyword": (
        {
            "type": "object",
            "properties": {"a": {"if": {"type": "string"}, "then": {"minLength": 2}}},
            "required": ["a"],
        },
        ["'if'", "#/properties/a"],
    ),
    "impossible pattern": ({"type": "string", "pattern": "^(?=x)y$"}, ["'^(?=x)y$'", "at #"]),
    "pattern vs length": (
        {"type": "string", "pattern": "^[a-z]{5}$", "maxLength": 3},
        ["'^[a-z]{5}$'"],
    ),
    "endless recursion": (
        {
            "$defs": {
                "N": {
                    "type": "object",
                    "properties": {"next": {"$ref": "#/$defs/N"}},
                    "required": ["next"],
                }
            },
            "$ref": "#/$defs/N",
        },
        ["recursive", "#/$defs/N"],
    ),
    "no multiple in range": (
        {"type": "integer", "minimum": 1, "maximum": 4, "multipleOf": 5},
        ["multipleOf 5", "at #"],
    ),
    "oneOf overlap": (
        {"oneOf": [{"type": "string"}, {"type": "string"}]},
        ["'create issue", "is valid under each of", "at #"],
    ),
    "bad regex": ({"type": "string", "pattern": "(["}, ["'(['", "at #"]),
    "remote ref": ({"$ref": "https://example.com/schema.json"}, ["https://example.com"]),
}


@pytest.mark.parametrize(("schema", "fragments"), ERRORS.values(), ids=ERRORS.keys())
def test_errors_name_the_path_and_value(schema: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        example_for(schema, name="create_issue")
    for fragment in fragments:
        assert fragment in caught.value.message
    assert caught.value.hint


# --- property: any satisfiable schema from the supported subset -------------------------------

NAMES = [
    "title",
    "owner",
    "repo",
    "email",
    "channel",
    "to",
    "count",
    "tags",
    "url",
    "created_at",
    "issue_id",
    "body",
    "x",
]
FORMATS = ["email", "uri", "date", "date-time", "time", "uuid", "ipv4", "ipv6", "hostname"]
PATTERNS = [
    r"^[a-z]+$",
    r"^[A-Z]{3}-\d{2,4}$",
    r"^(open|closed)$",
    r"^#[0-9a-fA-F]{6}$",
    r"\d",
    r"^[a-z0-9_-]{3,16}$",
    r"^v\d+\.\d+\.\d+$",
    r"^[^@\s]+@example\.org$",
    "x+y?z*",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from(["open", "closed", "a"]),
    st.sampled_from([0.5, -2.25]),
)
GAPS = st.sampled_from([0, 0.5, 1, 3, 100])
KEYS = st.lists(st.sampled_from(NAMES), unique=True, max_size=4)


@st.composite
def string_schemas(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    kind = draw(st.sampled_from(["plain", "length", "format", "pattern"]))
    if kind == "plain" and draw(st.booleans()):
        schema["examples"] = ["octocat"]
    if kind == "length":
        schema["minLength"] = low = draw(st.integers(0, 8))
        if draw(st.booleans()):
            schema["maxLength"] = low + draw(st.integers(0, 12))
    if kind in ("format", "pattern"):
        schema[kind] = draw(st.sampled_from(FORMATS if kind == "format" else PATTERNS))
    return schema


@st.composite
def numeric_schemas(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """Bounds and multipleOf are drawn around a witness value, so the schema is satisfiable."""
    step = draw(
        st.sampled_from([None, 1, 2, 3, 5] if kind == "integer" else [None, 0.5, 0.25, 2.5])
    )
    witness = draw(st.integers(-40, 40)) * (step or 1)
    if kind == "number" and step is None:
        witness += draw(st.sampled_from([0, 0.125, 0.7]))
    schema: dict[str, Any] = {"type": kind} | ({"multipleOf": step} if step else {})
    for side, sign in (("inimum", -1), ("aximum", 1)):
        if draw(st.booleans()):
            gap, exclusive = draw(GAPS), draw(st.booleans())
            prefix = "exclusiveM" if exclusive and gap > 0 else "m"
            schema[prefix + side] = witness + sign * gap
    if draw(st.booleans()):
        schema["default"] = witness
    return schema


LEAVES = st.one_of(
    string_schemas(),
    numeric_schemas("integer"),
    numeric_schemas("number"),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.just({}),
    st.just(True),
    st.just({"type": ["string", "null"]}),
    st.lists(SCALARS, min_size=1, max_size=4, unique_by=json.dumps).map(lambda e: {"enum": e}),
    SCALARS.map(lambda c: {"const": c}),
)


def schemas(refs: tuple[str, ...]) -> st.SearchStrategy[Any]:
    leaves = LEAVES | st.sampled_from(refs).map(lambda r: {"$ref": r}) if refs else LEAVES
    return st.recursive(leaves, containers, max_leaves=8)


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        objects(children),
        arrays(children),
        one_ofs(children),
        split_objects(children),
        st.lists(children, min_size=1, max_size=3).map(lambda bs: {"anyOf": bs}),
        children.map(lambda c: {"allOf": [c, {"description": "annotated"}]}),
    )


@st.composite
def one_ofs(draw: st.DrawFn, children: st.SearchStrategy[Any]) -> dict[str, Any]:
    """Branches of pairwise-disjoint types, so exactly one can match and oneOf is satisfiable."""
    kinds = draw(
        st.lists(
            st.sampled_from(["string", "integer", "boolean", "null", "array", "object"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    simple = {
        "string": string_schemas(),
        "integer": numeric_schemas("integer"),
        "boolean": st.just({"type": "boolean"}),
        "null": st.just({"type": "null"}),
        "array": children.map(lambda c: {"type": "array", "items": c}),
        "object": children.map(
            lambda c: {"type": "object", "properties": {"v": c}, "required": ["v"]}
        ),
    }
    return {"oneOf": [draw(simple[kind]) for kind in kinds]}


@st.composite
def split_objects(draw: st.DrawFn, children: st.SearchStrategy[Any]) -> dict[str, Any]:
    """One object model written as an allOf of two parts (pydantic inheritance, mixins)."""
    props = {key: draw(children) for key in draw(KEYS)}
    required = draw(st.lists(st.sampled_from(sorted(props)), unique=True)) if props else []
    halves = ([k for i, k in enumerate(props) if i % 2 == side] for side in (0, 1))
    return {
        "allOf": [
            {
                "type": "object",
                "properties": {k: props[k] for k in half},
                "required": [k for k in half if k in required],
            }
            for half in halves
        ]
    }


@st.composite
def objects(draw: st.DrawFn, children: st.SearchStrategy[Any]) -> dict[str, Any]:
    props = {key: draw(children) for key in draw(KEYS)}
    schema: dict[str, Any] = {"type": "object", "properties": props}
    required = draw(st.lists(st.sampled_from(sorted(props)), unique=True)) if props else []
    if required:
        schema["required"] = required
    extra = draw(st.sampled_from(["absent", "false", "schema", "pattern"]))
    if extra == "false":
        schema["additionalProperties"] = False
    elif extra == "schema":
        schema["additionalProperties"] = draw(children)
    elif extra == "pattern":
        schema["patternProperties"] = {"^meta_[a-z]+$": {"type": "string"}}
        schema["additionalProperties"] = False
    most = len(props) + (0 if extra == "false" else 2)
    if draw(st.booleans()):
        schema["minProperties"] = draw(st.integers(0, most))
    if draw(st.booleans()):
        schema["maxProperties"] = draw(
            st.integers(max(len(required), schema.get("minProperties", 0)), most + 2)
        )
    if extra == "absent" and draw(st.booleans()):
        schema["propertyNames"] = {"pattern": "^[a-z_]+$"}
    return schema


@st.composite
def arrays(draw: st.DrawFn, children: st.SearchStrategy[Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array"}
    prefix = draw(st.lists(children, max_size=2))
    if prefix:
        schema["prefixItems"] = prefix
    closed = bool(prefix) and draw(st.booleans())
    schema["items"] = False if closed else draw(children)
    least = draw(st.integers(0, len(prefix) if closed else 2))
    if least:
        schema["minItems"] = least
    if draw(st.booleans()):
        schema["maxItems"] = least + draw(st.integers(0, 2))
    if least <= 1 and draw(st.booleans()):
        schema["uniqueItems"] = True
    return schema


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A root schema, sometimes with definitions (2020-12 or draft-07 style) that it refers to."""
    defs = draw(st.lists(schemas(()), max_size=2))
    home = draw(st.sampled_from(["$defs", "definitions"]))
    body = draw(schemas(tuple(f"#/{home}/D{i}" for i in range(len(defs)))))
    root: dict[str, Any] = {"allOf": [body]} if body is True or home in body else dict(body)
    if defs:
        root[home] = {f"D{i}": d for i, d in enumerate(defs)}
    return root


@settings(max_examples=150)
@given(
    documents(),
    st.one_of(st.integers(0, 2**32), st.text(max_size=8)),
    st.sampled_from(["", *NAMES]),
)
def test_any_satisfiable_schema_gets_a_valid_deterministic_example(
    schema: dict[str, Any], seed: int | str, name: str
) -> None:
    example = example_for(schema, seed=seed, name=name)
    assert_valid(schema, example)
    again = example_for(copy.deepcopy(schema), seed=seed, name=name)
    assert json.dumps(again) == json.dumps(example)

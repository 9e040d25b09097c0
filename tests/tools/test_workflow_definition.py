"""Workflow definitions: the seed's JSON shape, validated and compiled when defined."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from crs.errors import ConfigError, WorkflowDefinitionError
from crs.tools._workflow_definition import (
    ActionStep,
    Branch,
    ConditionStep,
    StepKind,
    TransformStep,
    WorkflowDefinition,
)

SEED: dict[str, Any] = {
    "description": "open an issue and tell the team",
    "steps": [
        {
            "name": "create_github_issue",
            "type": "action",
            "app": "github",
            "action": "create_issue",
            "params": {"repo": "owner/repo", "title.$": "input.title"},
        },
        {"type": "condition", "condition": "steps.create_github_issue.success"},
        {
            "name": "notify_team",
            "app": "slack",
            "action": "send_message",
            "params": {"text": "Issue {{ steps.create_github_issue.data.number }}"},
            "continue_on_error": True,
        },
        {
            "name": "summary",
            "type": "transform",
            "transform": {"ok.$": "steps.notify_team.success"},
        },
    ],
}


def parse(steps: list[Any], **extra: Any) -> WorkflowDefinition:
    return WorkflowDefinition.parse("wf", {"steps": steps, **extra})


def action(**fields: Any) -> dict[str, Any]:
    return {"name": "a", "type": "action", "app": "github", "action": "list", **fields}


class TestParsing:
    def test_the_seed_shape_parses_with_defaults_filled_in(self) -> None:
        definition = WorkflowDefinition.parse("issue_flow", SEED)

        create, check, notify, summary = definition.steps
        assert isinstance(create, ActionStep)
        assert (create.index, create.app, create.action) == (0, "github", "create_issue")
        assert create.continue_on_error is False
        assert isinstance(check, ConditionStep)
        assert check.name == "step_1"
        assert (check.if_true, check.if_false) == (Branch("continue"), Branch("end"))
        assert isinstance(notify, ActionStep)
        assert notify.continue_on_error is True
        assert isinstance(summary, TransformStep)
        assert summary.kind is StepKind.TRANSFORM
        assert definition.description == "open an issue and tell the team"
        assert definition.index_of("notify_team") == 2

    def test_to_json_round_trips_and_is_explicit(self) -> None:
        definition = WorkflowDefinition.parse("issue_flow", SEED)
        data = definition.to_json()

        assert WorkflowDefinition.parse("issue_flow", data) == definition
        assert data["steps"][1] == {
            "name": "step_1",
            "type": "condition",
            "condition": "steps.create_github_issue.success",
            "if_true": "continue",
            "if_false": "end",
        }
        assert data["steps"][0]["continue_on_error"] is False

    def test_branches_round_trip(self) -> None:
        steps = [
            {
                "type": "condition",
                "condition": "input.a",
                "if_true": {"skip": 1},
                "if_false": "fail",
            },
            action(name="b"),
            {"type": "condition", "condition": "input.b", "if_true": {"goto": "d"}},
            action(name="c"),
            action(name="d"),
        ]
        definition = parse(steps)

        assert definition.to_json()["steps"][0]["if_true"] == {"skip": 1}
        assert definition.to_json()["steps"][2]["if_true"] == {"goto": "d"}
        assert parse(definition.to_json()["steps"]) == definition

    def test_a_step_without_type_is_an_action_and_params_default_to_empty(self) -> None:
        definition = parse([{"app": "slack", "action": "send"}])

        (step,) = definition.steps
        assert isinstance(step, ActionStep)
        assert step.name == "step_0"
        assert step.params.render({}) == {}

    def test_the_definition_is_a_private_copy(self) -> None:
        data = copy.deepcopy(SEED)
        definition = WorkflowDefinition.parse("issue_flow", data)
        data["steps"][0]["params"]["repo"] = "changed"
        dumped = definition.to_json()
        dumped["steps"][0]["params"]["repo"] = "changed too"

        assert definition.to_json()["steps"][0]["params"]["repo"] == "owner/repo"

    def test_definitions_compare_by_content(self) -> None:
        assert parse([action()]) == parse([action()])
        assert parse([action()]) != parse([action(params={"x": 1})])


BAD_STEPS: list[tuple[list[Any], list[str]]] = [
    ([action(app="")], ["step 0 'a'", "field app", "non-empty string", "got ''"]),
    ([action(action=7)], ["step 0 'a'", "field action", "got 7"]),
    ([action(params=["x"])], ["step 0 'a'", "field params", "must be an object", "got ['x']"]),
    ([action(continue_on_error="yes")], ["field continue_on_error", "got 'yes'"]),
    ([action(type="loop")], ["step 0 'a'", "field type", "got 'loop'"]),
    ([action(retries=3)], ["step 0 'a'", "field retries", "not a field of action steps", "got 3"]),
    ([action(), action()], ["step 1 'a'", "field name", "duplicates the name of step 0"]),
    ([action(name="step_1"), {"app": "x", "action": "y"}], ["step 1 'step_1'", "duplicates"]),
    ([action(name=5)], ["step 0 'step_0'", "field name", "got 5"]),
    (["action"], ["step 0 must be an object", "got 'action'"]),
    (
        [{"name": "c", "type": "condition"}],
        ["step 0 'c'", "field condition", "JMESPath string", "got None"],
    ),
    (
        [{"name": "c", "type": "condition", "condition": "input.["}],
        ["step 0 'c' field condition", "'input.['", "not a valid JMESPath"],
    ),
    (
        [{"name": "c", "type": "condition", "condition": "size(input)"}],
        ["step 0 'c' field condition", "unknown function size()"],
    ),
    (
        [{"name": "c", "type": "condition", "condition": "input", "if_true": "stop"}],
        ["step 0 'c'", "field if_true", "is not a branch", "got 'stop'"],
    ),
    (
        [{"name": "c", "type": "condition", "condition": "input", "if_false": {"skip": 0}}],
        ["step 0 'c'", "field if_false", "at least 1", "got 0"],
    ),
    (
        [{"name": "c", "type": "condition", "condition": "input", "if_true": {"skip": True}}],
        ["field if_true", "got True"],
    ),
    (
        [
            {"name": "c", "type": "condition", "condition": "input", "if_true": {"skip": 2}},
            action(),
        ],
        ["step 0 'c'", "field if_true", "skips 2 step(s) but only 1 follow", "got 2"],
    ),
    (
        [{"name": "c", "type": "condition", "condition": "input", "if_true": {"goto": "nope"}}],
        ["step 0 'c'", "field if_true", "names no step", "got 'nope'"],
    ),
    (
        [
            action(),
            {"name": "c", "type": "condition", "condition": "input", "if_true": {"goto": "a"}},
        ],
        ["step 1 'c'", "field if_true", "only jump forward", "'a' is step 0", "got 'a'"],
    ),
    (
        [{"name": "c", "type": "condition", "condition": "input", "if_false": {"goto": "c"}}],
        ["step 0 'c'", "field if_false", "only jump forward"],
    ),
    (
        [
            {
                "name": "c",
                "type": "condition",
                "condition": "input",
                "if_true": {"goto": "a", "x": 1},
            }
        ],
        ["field if_true", "is not a branch"],
    ),
    ([{"name": "t", "type": "transform"}], ["step 0 't'", "field transform", "got None"]),
    (
        [{"name": "t", "type": "transform", "transform": {"n": "{{ input.n"}}],
        ["step 0 't' field transform.n", "'{{ input.n'", "without a closing"],
    ),
    (
        [action(params={"blocks": [{"text.$": "input..x"}]})],
        ["step 0 'a' field params.blocks[0].text.$", "'input..x'"],
    ),
]


class TestDefinitionErrors:
    @pytest.mark.parametrize(("steps", "fragments"), BAD_STEPS)
    def test_each_error_names_step_field_and_value(
        self, steps: list[Any], fragments: list[str]
    ) -> None:
        with pytest.raises(WorkflowDefinitionError) as caught:
            parse(steps)

        message = str(caught.value)
        assert "workflow 'wf'" in message
        for fragment in fragments:
            assert fragment in message
        assert caught.value.workflow == "wf"
        assert isinstance(caught.value, ConfigError)

    @pytest.mark.parametrize(
        ("data", "fragment"),
        [
            ({"steps": []}, "field steps must be a non-empty list, got []"),
            ({"steps": {"a": 1}}, "field steps must be a non-empty list"),
            ({}, "field steps must be a non-empty list, got None"),
            ({"steps": [action()], "step": []}, "unknown field(s) 'step'"),
            ({"steps": [action()], "description": 3}, "field description must be a string, got 3"),
            (
                {"steps": [action(params={"when": (1, 2)})]},
                "not plain JSON at $.steps[0].params.when",
            ),
            ({"steps": [action(params={"x": math.nan})]}, "not plain JSON at $.steps[0].params.x"),
        ],
    )
    def test_the_document_itself_is_checked(self, data: dict[str, Any], fragment: str) -> None:
        with pytest.raises(WorkflowDefinitionError) as caught:
            WorkflowDefinition.parse("wf", data)

        assert fragment in str(caught.value)

    @pytest.mark.parametrize("name", ["", "  ", None])
    def test_the_workflow_needs_a_name(self, name: Any) -> None:
        with pytest.raises(WorkflowDefinitionError, match="workflow name"):
            WorkflowDefinition.parse(name, {"steps": [action()]})

    def test_the_definition_must_be_a_mapping(self) -> None:
        with pytest.raises(WorkflowDefinitionError, match="defined by a mapping, got list"):
            WorkflowDefinition.parse("wf", [action()])  # type: ignore[arg-type]

    def test_hints_say_what_a_branch_may_be(self) -> None:
        with pytest.raises(WorkflowDefinitionError) as caught:
            parse([{"type": "condition", "condition": "input", "if_true": 1}])

        assert caught.value.hint is not None
        assert '{"goto":' in caught.value.hint

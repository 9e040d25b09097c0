"""The workflow expression language: JMESPath expressions and parameter templates."""

from __future__ import annotations

from typing import Any

import pytest

from crs.errors import ConfigError, WorkflowDefinitionError, WorkflowError
from crs.tools._expressions import compile_expression, compile_template, truthy

WHERE = "step 1 'notify'"
CONTEXT: dict[str, Any] = {
    "input": {"title": "Flaky test", "count": 3, "labels": ["bug", "ci"], "none": None},
    "steps": {"create": {"data": {"number": 42, "url": "https://x/42"}, "success": True}},
    "output": {},
}


def render(value: Any, context: dict[str, Any] | None = None) -> Any:
    template = compile_template(value, where=WHERE, path="params", workflow="w")
    return template.render(CONTEXT if context is None else context)


class TestExpressions:
    def test_evaluates_over_the_context(self) -> None:
        expression = compile_expression("steps.create.data.number", where=WHERE)

        assert expression.evaluate(CONTEXT) == 42
        assert compile_expression("length(input.labels)", where=WHERE).evaluate(CONTEXT) == 2

    def test_a_syntax_error_names_the_location_and_the_text(self) -> None:
        with pytest.raises(WorkflowDefinitionError) as caught:
            compile_expression("input.", where=f"{WHERE} field params.text", workflow="w")

        message = str(caught.value)
        assert "step 1 'notify' field params.text" in message
        assert "'input.'" in message
        assert "\n" not in caught.value.message
        assert caught.value.workflow == "w"
        assert isinstance(caught.value, ConfigError)

    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            ("lenght(input.labels)", "unknown function lenght()"),
            ("length(input.labels, input.title)", "length() with 2 argument(s); it takes 1"),
            ("merge()", "merge() with 0 argument(s); it takes at least 1"),
            ("input.labels[?starts_with(@)]", "starts_with() with 1 argument(s); it takes 2"),
        ],
    )
    def test_function_calls_are_checked_when_compiled(self, text: str, problem: str) -> None:
        with pytest.raises(WorkflowDefinitionError, match="calls") as caught:
            compile_expression(text, where=WHERE)

        assert problem in str(caught.value)
        assert text in str(caught.value)

    def test_variadic_functions_accept_extra_arguments(self) -> None:
        expression = compile_expression('merge(input, output, `{"x": 1}`)', where=WHERE)

        assert expression.evaluate(CONTEXT)["x"] == 1

    @pytest.mark.parametrize("text", ["", None, 3, ["a"]])
    def test_only_non_empty_strings_are_expressions(self, text: object) -> None:
        with pytest.raises(WorkflowDefinitionError, match="step 1 'notify'"):
            compile_expression(text, where=WHERE)

    def test_a_runtime_error_names_the_location_expression_and_cause(self) -> None:
        expression = compile_expression(
            "length(input.count)", where=f"{WHERE} field x", workflow="w"
        )

        with pytest.raises(WorkflowError) as caught:
            expression.evaluate(CONTEXT)

        assert not isinstance(caught.value, WorkflowDefinitionError)
        message = caught.value.message
        assert message.startswith("step 1 'notify' field x: expression 'length(input.count)'")
        assert "invalid type for value: 3" in message
        assert caught.value.workflow == "w"

    def test_a_comparison_of_mismatched_types_is_a_workflow_error_too(self) -> None:
        expression = compile_expression("input.labels[?@ > `1`]", where=WHERE)

        with pytest.raises(WorkflowError, match=r"failed: TypeError\("):
            expression.evaluate(CONTEXT)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (False, False),
            (None, False),
            ("", False),
            ([], False),
            ({}, False),
            (0, True),
            (0.0, True),
            (True, True),
            ("false", True),
            ([0], True),
            ({"a": None}, True),
        ],
    )
    def test_truthiness_is_jmespaths(self, value: object, expected: bool) -> None:
        assert truthy(value) is expected

    def test_expressions_compare_by_text(self) -> None:
        first = compile_expression("input.title", where="a")
        second = compile_expression("input.title", where="b")

        assert first == second
        assert first != compile_expression("input.count", where="a")


class TestKeySuffixForm:
    def test_a_dollar_key_becomes_the_plain_key_with_the_value(self) -> None:
        rendered = render(
            {"title.$": "input.title", "count.$": "input.count", "labels.$": "input.labels"}
        )

        assert rendered == {"title": "Flaky test", "count": 3, "labels": ["bug", "ci"]}

    def test_nested_objects_and_lists_are_rendered_and_literals_kept(self) -> None:
        rendered = render(
            {
                "issue": {"number.$": "steps.create.data.number", "state": "open"},
                "blocks": [{"text.$": "input.title"}, "literal", 7, None, True],
                "missing.$": "input.nope",
            }
        )

        assert rendered == {
            "issue": {"number": 42, "state": "open"},
            "blocks": [{"text": "Flaky test"}, "literal", 7, None, True],
            "missing": None,
        }

    def test_each_render_builds_fresh_containers(self) -> None:
        template = compile_template({"a": {"b": [1]}}, where=WHERE, path="params")
        first = template.render(CONTEXT)
        first["a"]["b"].append(2)

        assert template.render(CONTEXT) == {"a": {"b": [1]}}

    @pytest.mark.parametrize(
        ("value", "fragment"),
        [
            ({"text.$": 5}, "params.text.$: an expression must be a JMESPath string, got 5"),
            ({".$": "input"}, "params..$: a '.$' key needs a name"),
            ({"text": "x", "text.$": "input.title"}, "key 'text' is given both literally"),
            ({"blocks": [{}, {"text.$": "input["}]}, "field params.blocks[1].text.$: 'input['"),
            ({1: "x"}, "keys must be strings, got 1"),
        ],
    )
    def test_mistakes_name_the_exact_field(self, value: Any, fragment: str) -> None:
        with pytest.raises(WorkflowDefinitionError) as caught:
            compile_template(value, where=WHERE, path="params", workflow="w")

        assert fragment in str(caught.value)
        assert "step 1 'notify'" in str(caught.value)


class TestTemplateForm:
    @pytest.mark.parametrize(
        ("template", "expected"),
        [
            ("{{ input.count }}", 3),
            ("{{input.labels}}", ["bug", "ci"]),
            ("{{ steps.create.data }}", {"number": 42, "url": "https://x/42"}),
            ("{{ input.none }}", None),
            ("{{ steps.create.success }}", True),
        ],
    )
    def test_a_whole_string_placeholder_keeps_the_type(self, template: str, expected: Any) -> None:
        assert render({"value": template}) == {"value": expected}

    def test_placeholders_inside_text_are_interpolated(self) -> None:
        rendered = render(
            {
                "text": "Issue #{{ steps.create.data.number }}: {{ input.title }}",
                "labels": "labels={{ input.labels }} none={{ input.none }} ok={{ `true` }}",
                "unicode": '{{ `"café"` }} and {{ [`"é"`] }}',
            }
        )

        assert rendered == {
            "text": "Issue #42: Flaky test",
            "labels": 'labels=["bug", "ci"] none=null ok=true',
            "unicode": 'café and ["é"]',
        }

    def test_text_without_placeholders_is_a_literal(self) -> None:
        assert render({"a": "no braces }} here", "b": "{ single }"}) == {
            "a": "no braces }} here",
            "b": "{ single }",
        }

    def test_templates_work_in_lists_too(self) -> None:
        assert render(["{{ input.count }}", "n={{ input.count }}"]) == [3, "n=3"]

    def test_an_unclosed_placeholder_is_a_definition_error(self) -> None:
        with pytest.raises(WorkflowDefinitionError, match=r"field params\.text: 'Hi \{\{ input'"):
            render({"text": "Hi {{ input"})

    def test_a_bad_placeholder_expression_names_field_and_text(self) -> None:
        with pytest.raises(WorkflowDefinitionError) as caught:
            render({"text": "Hi {{ input..title }}"})

        assert "step 1 'notify' field params.text: 'input..title'" in str(caught.value)

    def test_a_runtime_failure_in_a_placeholder_names_the_field(self) -> None:
        with pytest.raises(
            WorkflowError, match=r"field params\.n: expression 'abs\(input\.title\)'"
        ):
            render({"n": "n={{ abs(input.title) }}"})

    def test_a_value_that_is_not_json_cannot_be_interpolated(self) -> None:
        with pytest.raises(WorkflowError, match="cannot be written into text"):
            render({"text": "at {{ input.when }}"}, {"input": {"when": object()}})

    def test_templates_compare_by_their_source(self) -> None:
        first = compile_template({"a.$": "input"}, where="x", path="params")
        second = compile_template({"a.$": "input"}, where="y", path="transform")

        assert first == second
        assert first.source == {"a.$": "input"}

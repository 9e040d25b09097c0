"""Workflow definitions: the seed's JSON shape, checked and compiled before anything runs.

A definition is ``{"steps": [...], "description"?: str}``; each step is an ``action`` (call one
tool), a ``condition`` (branch on a JMESPath expression) or a ``transform`` (compute values into
the run's ``output_data``). Everything that can be wrong with one is found here, when it is
defined: a typo that surfaced halfway through a run would leave the steps before it executed
with their side effects. Each :class:`~crs.errors.WorkflowDefinitionError` names the step (index
and name), the field and the offending value.

Branches only go forward (``goto`` a later step, ``skip`` the next *n*), so every run ends after
at most one visit per step: a resumable run never loops, and checkpoints stay bounded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Final, Literal

from crs.errors import ContentTypeError, WorkflowDefinitionError
from crs.store._codec import serialize
from crs.tools._expressions import Expression, Template, compile_expression, compile_template

__all__ = [
    "ActionStep",
    "Branch",
    "ConditionStep",
    "Step",
    "StepKind",
    "TransformStep",
    "WorkflowDefinition",
]

_COMMON_FIELDS: Final = frozenset({"name", "type"})
_FIELDS: Final = {
    "action": frozenset({"app", "action", "params", "continue_on_error"}),
    "condition": frozenset({"condition", "if_true", "if_false"}),
    "transform": frozenset({"transform"}),
}
_BRANCH_HINT: Final = (
    'a branch is "continue", "end", "fail", {"skip": n} with n >= 1, '
    'or {"goto": "<name of a later step>"}'
)


class StepKind(StrEnum):
    """The three kinds of step (``type`` in the JSON)."""

    ACTION = "action"
    CONDITION = "condition"
    TRANSFORM = "transform"


@dataclass(frozen=True)
class Branch:
    """Where a condition sends the run: on, stop, fail, skip ``count`` steps, or ``goto``."""

    kind: Literal["continue", "end", "fail", "skip", "goto"]
    count: int = 0
    target: str = ""

    def to_json(self) -> str | dict[str, Any]:
        if self.kind == "skip":
            return {"skip": self.count}
        if self.kind == "goto":
            return {"goto": self.target}
        return self.kind


@dataclass(frozen=True)
class ActionStep:
    """Call ``action`` of ``app`` with ``params`` rendered from the run's data."""

    kind: ClassVar[StepKind] = StepKind.ACTION
    index: int
    name: str
    app: str
    action: str
    params: Template
    continue_on_error: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.kind.value,
            "app": self.app,
            "action": self.action,
            "params": _copy(self.params.source),
            "continue_on_error": self.continue_on_error,
        }


@dataclass(frozen=True)
class ConditionStep:
    """Evaluate ``condition`` (JMESPath truthiness) and follow ``if_true`` or ``if_false``."""

    kind: ClassVar[StepKind] = StepKind.CONDITION
    index: int
    name: str
    condition: Expression
    if_true: Branch
    if_false: Branch

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.kind.value,
            "condition": self.condition.text,
            "if_true": self.if_true.to_json(),
            "if_false": self.if_false.to_json(),
        }


@dataclass(frozen=True)
class TransformStep:
    """Render ``transform`` and merge the result into the run's ``output_data``."""

    kind: ClassVar[StepKind] = StepKind.TRANSFORM
    index: int
    name: str
    transform: Template

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.kind.value,
            "transform": _copy(self.transform.source),
        }


Step = ActionStep | ConditionStep | TransformStep

_PLAIN_BRANCHES: Final = {kind: Branch(kind) for kind in ("continue", "end", "fail")}


@dataclass(frozen=True)
class WorkflowDefinition:
    """A named, validated workflow; build it with :meth:`parse`."""

    name: str
    steps: tuple[Step, ...]
    description: str | None = None

    @classmethod
    def parse(cls, name: str, data: Mapping[str, Any]) -> WorkflowDefinition:
        """Check and compile ``data`` (the seed's JSON shape) as the workflow called ``name``.

        A step without ``name`` is called ``step_<index>``; a step without ``type`` is an
        action (as in the seed). Defaults are filled in, so :meth:`to_json` is explicit.

        Raises:
            WorkflowDefinitionError: anything malformed; the message names the step (index
                and name), the field and the value.
        """
        if not isinstance(name, str) or not name.strip():
            raise WorkflowDefinitionError(
                f"a workflow name must be a non-empty string, got {name!r}", workflow=str(name)
            )
        doc = _json_copy(name, data)
        unknown = sorted(set(doc) - {"steps", "description"})
        if unknown:
            raise WorkflowDefinitionError(
                f"workflow {name!r} has unknown field(s) {', '.join(map(repr, unknown))}",
                workflow=name,
                hint='a definition is {"steps": [...], "description": "..."}',
            )
        description = doc.get("description")
        if description is not None and not isinstance(description, str):
            raise WorkflowDefinitionError(
                f"workflow {name!r} field description must be a string, got {description!r}",
                workflow=name,
            )
        raw_steps = doc.get("steps")
        if not isinstance(raw_steps, list) or not raw_steps:
            raise WorkflowDefinitionError(
                f"workflow {name!r} field steps must be a non-empty list, got {raw_steps!r}",
                workflow=name,
            )
        names = _step_names(name, raw_steps)
        steps = tuple(
            _parse_step(_At(name, i, names[i]), raw, names) for i, raw in enumerate(raw_steps)
        )
        return cls(name, steps, description)

    def to_json(self) -> dict[str, Any]:
        """The definition as :meth:`parse` reads it back (defaults written out)."""
        doc: dict[str, Any] = {"steps": [step.to_json() for step in self.steps]}
        if self.description is not None:
            doc["description"] = self.description
        return doc

    def index_of(self, step_name: str) -> int:
        for step in self.steps:
            if step.name == step_name:
                return step.index
        raise KeyError(step_name)


@dataclass(frozen=True)
class _At:
    """A step being parsed, for error messages and expression locations."""

    workflow: str
    index: int
    name: str

    def __str__(self) -> str:
        return f"workflow {self.workflow!r} step {self.index} {self.name!r}"

    def error(
        self, field: str, problem: str, value: object, hint: str | None = None
    ) -> WorkflowDefinitionError:
        return WorkflowDefinitionError(
            f"{self} field {field}: {problem}, got {value!r}", workflow=self.workflow, hint=hint
        )


def _json_copy(workflow: str, data: object) -> dict[str, Any]:
    """A private deep copy of ``data``, which must be a JSON object (checkpoints hold it)."""
    if not isinstance(data, Mapping):
        raise WorkflowDefinitionError(
            f"workflow {workflow!r} must be defined by a mapping, got {type(data).__name__}",
            workflow=workflow,
            hint='a definition is {"steps": [...], "description": "..."}',
        )
    try:
        _kind, raw = serialize(dict(data))
    except ContentTypeError as exc:
        raise WorkflowDefinitionError(
            f"workflow {workflow!r} is not plain JSON at {exc.path}: {exc.type_name} values "
            "cannot be kept in a checkpoint",
            workflow=workflow,
            hint="use dicts with string keys, lists, strings, finite numbers, booleans and null",
        ) from exc
    copied: dict[str, Any] = json.loads(raw)
    return copied


def _step_names(workflow: str, raw_steps: Sequence[Any]) -> list[str]:
    names: list[str] = []
    for index, raw in enumerate(raw_steps):
        if not isinstance(raw, Mapping):
            raise WorkflowDefinitionError(
                f"workflow {workflow!r} step {index} must be an object, got {raw!r}",
                workflow=workflow,
            )
        name = raw.get("name", f"step_{index}")
        if not isinstance(name, str) or not name:
            raise _At(workflow, index, f"step_{index}").error(
                "name", "must be a non-empty string", name
            )
        if name in names:
            raise _At(workflow, index, name).error(
                "name",
                f"duplicates the name of step {names.index(name)}",
                name,
                hint="step names are how expressions (steps.<name>) and goto find a step; "
                "unnamed steps are called step_<index>",
            )
        names.append(name)
    return names


def _parse_step(at: _At, raw: Mapping[str, Any], names: list[str]) -> Step:
    kind = raw.get("type", StepKind.ACTION.value)
    if kind not in _FIELDS:
        raise at.error("type", "must be one of 'action', 'condition', 'transform'", kind)
    allowed = _COMMON_FIELDS | _FIELDS[kind]
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise at.error(
            unknown[0],
            f"is not a field of {kind} steps (they take {', '.join(sorted(allowed))})",
            raw[unknown[0]],
        )
    if kind == StepKind.ACTION:
        return ActionStep(
            at.index,
            at.name,
            _text(at, raw, "app"),
            _text(at, raw, "action"),
            _mapping(at, raw, "params", required=False),
            _flag(at, raw, "continue_on_error"),
        )
    if kind == StepKind.CONDITION:
        condition = raw.get("condition")
        if not isinstance(condition, str) or not condition.strip():
            raise at.error("condition", "must be a JMESPath string", condition)
        return ConditionStep(
            at.index,
            at.name,
            compile_expression(condition, where=f"{at} field condition", workflow=at.workflow),
            _branch(at, "if_true", raw.get("if_true", "continue"), names),
            _branch(at, "if_false", raw.get("if_false", "end"), names),
        )
    return TransformStep(at.index, at.name, _mapping(at, raw, "transform", required=True))


def _text(at: _At, raw: Mapping[str, Any], field: str) -> str:
    value = raw.get(field)
    if not isinstance(value, str) or not value.strip():
        raise at.error(field, "must be a non-empty string", value)
    return value


def _flag(at: _At, raw: Mapping[str, Any], field: str) -> bool:
    value = raw.get(field, False)
    if not isinstance(value, bool):
        raise at.error(field, "must be true or false", value)
    return value


def _mapping(at: _At, raw: Mapping[str, Any], field: str, *, required: bool) -> Template:
    value = raw.get(field) if required or field in raw else {}
    if not isinstance(value, Mapping):
        raise at.error(field, "must be an object", value)
    return compile_template(value, where=str(at), path=field, workflow=at.workflow)


def _branch(at: _At, field: str, value: object, names: list[str]) -> Branch:
    if isinstance(value, str) and value in _PLAIN_BRANCHES:
        return _PLAIN_BRANCHES[value]
    if isinstance(value, Mapping) and len(value) == 1:
        ((key, argument),) = value.items()
        if key == "skip":
            return _skip(at, field, argument, len(names))
        if key == "goto":
            return _goto(at, field, argument, names)
    raise at.error(field, "is not a branch", value, hint=_BRANCH_HINT)


def _skip(at: _At, field: str, count: object, total: int) -> Branch:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise at.error(field, "skip needs a whole number of steps of at least 1", count)
    following = total - at.index - 1
    if count > following:
        raise at.error(
            field,
            f"skips {count} step(s) but only {following} follow",
            count,
            hint='use "end" to stop the run here',
        )
    return Branch("skip", count=count)


def _goto(at: _At, field: str, target: object, names: list[str]) -> Branch:
    if not isinstance(target, str) or target not in names:
        raise at.error(field, "goto names no step of this workflow", target, hint=f"steps: {names}")
    if names.index(target) <= at.index:
        raise at.error(
            field,
            f"goto may only jump forward, but {target!r} is step {names.index(target)}",
            target,
            hint="branches only go forward so that every run ends; repeat steps by running "
            "the workflow again",
        )
    return Branch("goto", target=target)


def _copy(value: Any) -> Any:
    """A fresh copy of definition JSON, so callers cannot change a definition by mutation."""
    return json.loads(json.dumps(value))

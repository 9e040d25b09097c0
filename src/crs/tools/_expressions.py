"""The workflow expression language: JMESPath, compiled once, never ``eval``.

Workflow definitions come from JSON a user (or a model) wrote, so the language that reads run
data must be unable to do anything but read: JMESPath is a pure query language over JSON values
with no access to Python, and it is what the AWS States Language (the ``.$`` convention below)
and most JSON tooling already use.

Everything is compiled when a workflow is *defined*: a syntax error, an unknown function or a
wrong number of arguments is a :class:`~crs.errors.WorkflowDefinitionError` naming the step, the
field and the text, before any step had a side effect. Only errors that depend on the data
(``length(5)``) can surface during a run; they raise :class:`~crs.errors.WorkflowError` naming
the same location.

Two ways to put run data into parameter and transform mappings, both compiled by
:func:`compile_template`:

* a key ending in ``.$`` holds an expression; the output has the key without the suffix and the
  expression's value: ``{"title.$": "input.title"}``;
* a string with ``{{ expr }}`` placeholders is a template. A string that is exactly one
  placeholder keeps the value's type (``"{{ input.count }}"`` renders the number); otherwise each
  placeholder is replaced by the value as text (strings as they are, anything else as JSON).

Any other value is a literal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import jmespath
import jmespath.functions
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from crs.errors import WorkflowDefinitionError, WorkflowError

__all__ = ["Expression", "Template", "compile_expression", "compile_template", "truthy"]

EXPRESSION_KEY_SUFFIX: Final = ".$"
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_FUNCTIONS: Final[dict[str, Any]] = jmespath.functions.Functions().FUNCTION_TABLE
_LITERAL_HINT: Final = (
    "write a literal '{{' as a JMESPath raw string under a '.$' key, e.g. "
    '{"text.$": "\'{{ not a placeholder }}\'"}'
)


def truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null, ``""``, ``[]`` and ``{}`` are false; ``0`` is true."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | Mapping):
        return len(value) > 0
    return True


@dataclass(frozen=True)
class Expression:
    """One compiled JMESPath expression and where in a workflow it was written.

    Two expressions are equal when their text is, so definitions compare by what they say.
    """

    text: str
    where: str = field(compare=False)
    """Location in the workflow, e.g. ``step 2 'notify' field params.text``."""
    workflow: str = field(default="", compare=False)
    _parsed: ParsedResult | None = field(default=None, compare=False, repr=False)

    def evaluate(self, context: Any) -> Any:
        """The expression's value over ``context``.

        Raises:
            WorkflowError: the data does not fit the expression (e.g. a function given a value
                of the wrong type); the message names the location and the expression.
        """
        try:
            parsed = self._parsed if self._parsed is not None else jmespath.compile(self.text)
            return parsed.search(context)
        except (JMESPathError, TypeError, ValueError, ArithmeticError) as exc:
            # jmespath checks function arguments itself, but ordering a string against a
            # number (a filter like [?a > `1`]) surfaces as Python's own TypeError.
            cause = _one_line(exc) if isinstance(exc, JMESPathError) else f"{exc!r}"
            raise WorkflowError(
                f"{self.where}: expression {self.text!r} failed: {cause}",
                workflow=self.workflow,
                hint="check the expression against the data the run had at that step "
                "(input, output and earlier steps' results)",
            ) from exc


def compile_expression(text: object, *, where: str, workflow: str = "") -> Expression:
    """Parse ``text`` as JMESPath and check its function calls.

    Raises:
        WorkflowDefinitionError: ``text`` is not a string, not valid JMESPath, calls an unknown
            function or passes a function the wrong number of arguments. The message names
            ``where`` and the text.
    """
    if not isinstance(text, str):
        raise WorkflowDefinitionError(
            f"{where}: an expression must be a JMESPath string, got {text!r}",
            workflow=workflow,
        )
    try:
        parsed = jmespath.compile(text)
    except JMESPathError as exc:
        raise WorkflowDefinitionError(
            f"{where}: {text!r} is not a valid JMESPath expression: {_one_line(exc)}",
            workflow=workflow,
            hint="see https://jmespath.org/specification.html for the syntax",
        ) from exc
    problem = _function_problem(parsed.parsed)
    if problem is not None:
        raise WorkflowDefinitionError(
            f"{where}: expression {text!r} {problem}",
            workflow=workflow,
            hint="the built-in JMESPath functions are: " + ", ".join(sorted(_FUNCTIONS)),
        )
    return Expression(text, where, workflow, parsed)


class _Node(Protocol):
    def render(self, context: Any) -> Any: ...


@dataclass(frozen=True)
class _Literal:
    value: Any

    def render(self, _context: Any) -> Any:
        return self.value


@dataclass(frozen=True)
class _Evaluated:
    expression: Expression

    def render(self, context: Any) -> Any:
        return self.expression.evaluate(context)


@dataclass(frozen=True)
class _Interpolated:
    parts: tuple[str | Expression, ...]

    def render(self, context: Any) -> str:
        return "".join(
            part if isinstance(part, str) else _as_text(part, part.evaluate(context))
            for part in self.parts
        )


@dataclass(frozen=True)
class _Object:
    items: tuple[tuple[str, _Node], ...]

    def render(self, context: Any) -> dict[str, Any]:
        return {key: node.render(context) for key, node in self.items}


@dataclass(frozen=True)
class _Array:
    items: tuple[_Node, ...]

    def render(self, context: Any) -> list[Any]:
        return [node.render(context) for node in self.items]


@dataclass(frozen=True)
class Template:
    """A parameter or transform value compiled by :func:`compile_template`."""

    source: Any
    """The value as written in the definition."""
    _root: _Node = field(compare=False, repr=False)

    def render(self, context: Any) -> Any:
        """The value with every expression evaluated over ``context`` (fresh containers).

        Raises:
            WorkflowError: an expression failed on this data (see :meth:`Expression.evaluate`).
        """
        return self._root.render(context)


def compile_template(value: Any, *, where: str, path: str, workflow: str = "") -> Template:
    """Compile ``value`` (found at field ``path`` of ``where``) into a :class:`Template`.

    ``where`` names the owner (``step 2 'notify'``) and ``path`` the field (``params``); nested
    locations extend the path (``params.blocks[0].text``) so every error points at one value.

    Raises:
        WorkflowDefinitionError: a bad expression, a ``.$`` key whose value is not a string or
            whose name is taken by a literal key, or an unclosed ``{{``.
    """
    return Template(value, _compile(value, where, path, workflow))


def _compile(value: Any, where: str, path: str, workflow: str) -> _Node:
    if isinstance(value, Mapping):
        return _compile_object(value, where, path, workflow)
    if isinstance(value, list):
        return _Array(
            tuple(_compile(item, where, f"{path}[{i}]", workflow) for i, item in enumerate(value))
        )
    if isinstance(value, str) and "{{" in value:
        return _compile_string(value, where, path, workflow)
    return _Literal(value)


def _compile_object(value: Mapping[Any, Any], where: str, path: str, workflow: str) -> _Object:
    items: dict[str, _Node] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise WorkflowDefinitionError(
                f"{where} field {path}: keys must be strings, got {key!r}", workflow=workflow
            )
        location = f"{path}.{key}"
        if not key.endswith(EXPRESSION_KEY_SUFFIX):
            if key in items:
                raise _collision(where, location, key, workflow)
            items[key] = _compile(item, where, location, workflow)
            continue
        name = key.removesuffix(EXPRESSION_KEY_SUFFIX)
        if not name:
            raise WorkflowDefinitionError(
                f"{where} field {location}: a '.$' key needs a name before the suffix",
                workflow=workflow,
            )
        if name in items:
            raise _collision(where, location, name, workflow)
        items[name] = _Evaluated(
            compile_expression(item, where=f"{where} field {location}", workflow=workflow)
        )
    return _Object(tuple(items.items()))


def _compile_string(value: str, where: str, path: str, workflow: str) -> _Node:
    location = f"{where} field {path}"
    parts: list[str | Expression] = []
    expressions: list[Expression] = []
    position = 0
    for match in _PLACEHOLDER.finditer(value):
        expression = compile_expression(match.group(1).strip(), where=location, workflow=workflow)
        parts += [value[position : match.start()], expression]
        expressions.append(expression)
        position = match.end()
    parts.append(value[position:])
    if "{{" in "".join(part for part in parts if isinstance(part, str)):
        raise WorkflowDefinitionError(
            f"{location}: {value!r} has a '{{{{' without a closing '}}}}'",
            workflow=workflow,
            hint=_LITERAL_HINT,
        )
    if len(expressions) == 1 and parts[0] == parts[-1] == "":
        return _Evaluated(expressions[0])  # the whole string is one placeholder: keep the type
    return _Interpolated(tuple(part for part in parts if part != ""))


def _collision(where: str, location: str, name: str, workflow: str) -> WorkflowDefinitionError:
    return WorkflowDefinitionError(
        f"{where} field {location}: key {name!r} is given both literally and as {name + '.$'!r}",
        workflow=workflow,
        hint="keep one of the two",
    )


def _as_text(expression: Expression, value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise WorkflowError(
            f"{expression.where}: the value of {{{{ {expression.text} }}}} cannot be written "
            f"into text: {exc}",
            workflow=expression.workflow,
            hint="use a whole-string placeholder or a '.$' key to pass the value unchanged",
        ) from exc


def _function_problem(node: Any) -> str | None:
    """What is wrong with the function calls in a parsed expression, or ``None``."""
    if not isinstance(node, dict):
        return None
    if node.get("type") == "function_expression":
        name, args = node.get("value"), len(node.get("children", ()))
        entry = _FUNCTIONS.get(name) if isinstance(name, str) else None
        if entry is None:
            return f"calls unknown function {name}()"
        signature = entry["signature"]
        variadic = bool(signature) and bool(signature[-1].get("variadic"))
        if (variadic and args < len(signature)) or (not variadic and args != len(signature)):
            wanted = f"at least {len(signature)}" if variadic else str(len(signature))
            return f"calls {name}() with {args} argument(s); it takes {wanted}"
    for child in node.get("children", ()):
        problem = _function_problem(child)
        if problem is not None:
            return problem
    return None


def _one_line(exc: Exception) -> str:
    """A jmespath error as one line (its parse errors append the expression and a caret)."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return first.removesuffix(":").removesuffix(", for expression").strip()

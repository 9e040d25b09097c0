"""Every Python example in README.md runs, so the docs cannot drift from the code.

Most blocks are scripts and run as they are. The blocks of the sections named in
``TEST_SECTIONS`` are test modules (they define ``test_`` functions using the plugin's
fixtures), so they are run by pytest itself, where the fixtures exist, and every test in them
must pass.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, re.S)

TEST_SECTIONS = (
    "Quick start: the three uses",
    "Break it on purpose",
    "A tool agent that survives a crash",
)


def _section(title: str) -> str:
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", TEXT, re.S | re.M)
    assert found is not None, f"README.md lost its {title!r} section"
    return found.group(1)


FAULT_TESTS = [
    block
    for title in TEST_SECTIONS
    for block in re.findall(r"```python\n(.*?)```", _section(title), re.S)
    if re.search(r"^def test_", block, re.M)
]


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 6
    assert len(FAULT_TESTS) >= 8


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code: str) -> None:
    exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})


@pytest.mark.parametrize("code", FAULT_TESTS, ids=[f"faults{i}" for i in range(len(FAULT_TESTS))])
def test_readme_fault_recipes_pass_under_pytest(pytester: pytest.Pytester, code: str) -> None:
    pytester.makepyfile(test_readme_recipe=code)
    # Record mode "once": a cassette example records its session (from the sandbox) on this
    # first and only run, as a user's first run would; crs-ci: reproducible Hypothesis draws.
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-q", "--crs-record-mode=once", "--crs-hypothesis-profile=crs-ci"
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) == len(re.findall(r"^def test_", code, re.M)), result.stdout
    assert set(outcomes) <= {"passed", "seconds"}, result.stdout

"""Import hygiene: ``crs`` is usable in production code, so it must not drag in the test stack."""

from __future__ import annotations

import json
import subprocess
import sys


def _run(code: str) -> str:
    """Run ``code`` in a fresh interpreter, so modules this pytest process loaded don't count."""
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_import_crs_does_not_import_pytest_or_the_plugin() -> None:
    out = _run(
        "import json, sys, crs\n"
        "print(json.dumps(sorted(m for m in sys.modules"
        " if m.split('.')[0] in {'pytest', '_pytest', 'pytest_crs', 'hypothesis'})))"
    )
    assert json.loads(out) == []


def test_import_crs_leaves_optional_extras_unimported() -> None:
    out = _run(
        "import json, sys, crs\n"
        "optional = {'zstandard', 'openai', 'httpx', 'httpx2', 'requests', 'urllib3', 'anyio',"
        " 'composio', 'composio_client', 'starlette', 'uvicorn', 'jsonschema'}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in optional)))"
    )
    assert json.loads(out) == []


def test_public_names_resolve() -> None:
    out = _run(
        "import json, crs\n"
        "missing = [n for n in crs.__all__ if not hasattr(crs, n)]\n"
        "print(json.dumps({'missing': missing, 'count': len(crs.__all__),"
        " 'unique': len(set(crs.__all__))}))"
    )
    result = json.loads(out)
    assert result["missing"] == []
    assert result["count"] == result["unique"] > 0


def test_star_import_matches_all() -> None:
    out = _run(
        "import json, crs\n"
        "ns = {}\n"
        "exec('from crs import *', ns)\n"
        "print(json.dumps(sorted(set(crs.__all__) - set(ns))))"
    )
    assert json.loads(out) == []


def test_sandbox_names_load_lazily_from_crs() -> None:
    out = _run(
        "import json, sys, crs\n"
        "before = 'crs.sandbox' in sys.modules\n"
        "from crs import Sandbox, ToolCall\n"
        "import crs.sandbox\n"
        "print(json.dumps([before, Sandbox is crs.sandbox.Sandbox,"
        " ToolCall is crs.sandbox.ToolCall]))"
    )
    assert json.loads(out) == [False, True, True]

"""``crs serve``: its options, its refusal without a key, and the app it would serve.

The command itself blocks in uvicorn, so tests exercise what it is made of: ``serve_setup``
(the store, the runner, the app, and with ``--sandbox`` a sandbox of its own), and the command
up to the point where it would start listening.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from crs import ConfigError
from crs.cli import main
from crs.service import serve_setup


def test_crs_help_lists_serve() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output


def test_serve_help_documents_the_options() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--host", "--port", "--model", "--sandbox", "--store-path", "--redis-url"):
        assert option in result.output
    assert "127.0.0.1" in result.output
    assert "OPENAI_API_KEY" in result.output


def test_serve_without_a_key_or_sandbox_says_what_to_do() -> None:
    result = CliRunner().invoke(main, ["serve", "--port", "0"], env={"OPENAI_API_KEY": ""})
    assert result.exit_code == 1
    assert "OPENAI_API_KEY is not set" in result.output
    assert "--sandbox" in result.output


def test_serve_with_two_stores_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["serve", "--sandbox", "--store-path", str(tmp_path), "--redis-url", "redis://127.0.0.1"],
    )
    assert result.exit_code == 1
    assert "--store-path and --redis-url were both given" in result.output


def test_the_sandbox_setup_serves_offline_out_of_the_box() -> None:
    with serve_setup(model="gpt-4o-mini", sandbox=True, environ={}) as setup:
        assert setup.backend.startswith("the crs sandbox at http://127.0.0.1:")
        assert setup.store == "memory (lost when the service stops)"
        with TestClient(setup.app) as client:
            body = client.post("/agent/run", json={"task": "Say hello"}).json()
    assert body["status"] == "succeeded"
    assert isinstance(body["result"], str)
    assert body["result"]


def test_the_setup_keeps_tasks_on_disk_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "tasks"
    with serve_setup(model="m", sandbox=True, store_path=path, environ={}) as setup:
        assert str(path) in setup.store
        with TestClient(setup.app) as client:
            ran = client.post("/agent/run", json={"task": "remember"}).json()
    with (
        serve_setup(model="m", sandbox=True, store_path=path, environ={}) as again,
        TestClient(again.app) as client,
    ):
        assert client.get(f"/agent/status/{ran['task_id']}").json() == ran


def test_the_setup_uses_openai_with_the_key_from_the_environment() -> None:
    environ = {
        "OPENAI_API_KEY": "sk-test-not-a-real-key-0000",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    }
    with serve_setup(model="gpt-4o", sandbox=False, environ=environ) as setup:
        assert setup.backend == "http://127.0.0.1:9/v1"
        assert setup.model == "gpt-4o"


def test_the_setup_without_a_key_is_a_config_error() -> None:
    with (
        pytest.raises(ConfigError, match="OPENAI_API_KEY is not set") as caught,
        serve_setup(model="m", sandbox=False, environ={"OPENAI_API_KEY": "  "}),
    ):
        pass  # pragma: no cover
    assert "--sandbox" in str(caught.value)


def test_importing_crs_or_crs_service_does_not_import_fastapi() -> None:
    code = (
        "import sys, crs, crs.service\n"
        "from crs.service import TaskBoard, AgentService\n"
        "assert 'fastapi' not in sys.modules, 'fastapi imported'\n"
        "assert 'uvicorn' not in sys.modules, 'uvicorn imported'\n"
        "from crs.service import create_app\n"
        "assert 'fastapi' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr

"""Running the sandbox: lifecycle, addresses, refusals, the CLI and the pytest fixture."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest

from crs import ConfigError, CrsError
from crs.sandbox import DEFAULT_API_KEY, Sandbox


def test_start_serve_stop_release_the_port() -> None:
    sandbox = Sandbox(api_key="sk-secret-value")
    with sandbox:
        port = sandbox.port
        assert sandbox.running
        assert httpx.get(f"{sandbox.url}/_sandbox/health").json() == {"status": "ok"}
        assert sandbox.openai_base_url == f"http://127.0.0.1:{port}/v1"
        assert sandbox.composio_core_base_url == f"http://127.0.0.1:{port}/api"
        assert sandbox.composio_base_url == f"http://127.0.0.1:{port}"
        assert "sk-secret-value" not in repr(sandbox)
    assert not sandbox.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/_sandbox/health")
    sandbox.stop()  # a second stop is harmless


def test_a_stopped_sandbox_can_start_again_with_its_state() -> None:
    sandbox = Sandbox()
    with sandbox:
        sandbox.composio.connect("carol", "slack")
    with sandbox:
        assert sandbox.composio.accounts(user_ids=["carol"])
        assert httpx.get(f"{sandbox.url}/_sandbox/health").status_code == 200


def test_starting_twice_is_refused() -> None:
    with Sandbox() as sandbox, pytest.raises(CrsError, match="already running"):
        sandbox.start()


def test_a_busy_port_is_a_config_error_naming_it() -> None:
    with Sandbox() as first, pytest.raises(ConfigError, match=f"127.0.0.1:{first.port}"):
        Sandbox(port=first.port).start()


def test_address_of_a_stopped_sandbox_is_refused() -> None:
    with pytest.raises(CrsError, match="not running"):
        _ = Sandbox().url


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.com"])
def test_only_loopback_hosts_are_accepted(host: str) -> None:
    with pytest.raises(ConfigError, match="not a loopback address"):
        Sandbox(host=host)


@pytest.mark.parametrize("port", [-1, 70000, "80", True])
def test_bad_ports_are_refused(port: object) -> None:
    with pytest.raises(ConfigError, match="port must be"):
        Sandbox(port=port)  # type: ignore[arg-type]


def test_cli_serves_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-u", "-c", "from crs.cli import main; main()", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("crs sandbox listening on http://127.0.0.1:")
        url = first.rsplit(" ", 1)[1].strip()
        banner = [process.stdout.readline() for _ in range(6)]
        response = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "ping"}]},
            headers={"authorization": f"Bearer {DEFAULT_API_KEY}"},
        )
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
        process.wait()
    assert f"OPENAI_BASE_URL={url}/v1\n" in banner[0]
    assert response.status_code == 200
    assert "stopping" in out
    assert process.returncode == 0, err


def test_cli_refuses_a_non_loopback_host() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from crs.cli import main; main()", "sandbox", "--host",
         "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert "not a loopback address" in result.stderr


def test_fixture_resets_between_tests_and_fails_unused_setup(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import httpx

        def test_creates_state(crs_sandbox):
            crs_sandbox.composio.connect("dave", "github")
            crs_sandbox.fault("server_error", api="openai", strict=False)

        def test_sees_a_fresh_world(crs_sandbox):
            assert crs_sandbox.composio.accounts(user_ids=["dave"]) == []
            assert crs_sandbox.state.faults.rules() == []

        def test_unused_turn(crs_sandbox):
            crs_sandbox.script(["never asked for"], model="m")

        def test_unfired_fault(crs_sandbox):
            crs_sandbox.fault("rate_limit", api="composio", tool="GMAIL_SEND_EMAIL")
        """
    )

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*crs_sandbox: the script for model 'm' used 0 of its 1 turns*",
            "*crs_sandbox: the fault rate_limit x1 on api='composio', tool='GMAIL_SEND_EMAIL'"
            " (fired 0) never fired*",
        ]
    )

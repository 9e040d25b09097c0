"""The crs_cassette marker and fixture, as a user's suite meets them (run through pytester)."""

from __future__ import annotations

import pytest

from crs.cassette._file import read_cassette

CONFTEST = """
import pytest
from crs.tools import CallableBackend

CALLS = []

def lookup(order_id):
    CALLS.append(order_id)
    return {"id": order_id, "status": "paid"}

@pytest.fixture
def crs_tool_backend():
    return CallableBackend({"lookup": lookup})
"""

TESTS = """
import pytest

@pytest.mark.crs_cassette
def test_orders(crs_adapter):
    for n in (1, 2):
        done = crs_adapter.execute_tool_with_context("shop", "lookup", {"order_id": n}, "u")
        assert done.data["id"] == n

@pytest.mark.crs_cassette
def test_model(crs_sandbox):
    client = crs_sandbox.openai_client()
    messages = [{"role": "user", "content": "ping"}]
    reply = client.chat.completions.create(model="gpt-4o", messages=messages)
    assert "ping" in reply.choices[0].message.content
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_shop=TESTS)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_record_once_then_replay_by_default(suite: pytest.Pytester) -> None:
    recorded = run(suite, "--crs-record-mode=once")
    recorded.assert_outcomes(passed=2)
    recorded.stdout.fnmatch_lines(
        ["*0 replayed, 2 recorded, 0 rewritten*", "*wrote*test_orders.yaml*"]
    )
    orders = read_cassette(suite.path / "cassettes" / "test_shop" / "test_orders.yaml")
    assert [i["summary"] for i in orders["interactions"]] == ["shop lookup: ok"] * 2

    replayed = run(suite)  # default mode: none

    replayed.assert_outcomes(passed=2)
    replayed.stdout.fnmatch_lines(
        ["*2 replayed, 0 recorded*interactions: 3 played, 0 new, 0 unused*"]
    )


def test_a_missing_cassette_fails_and_says_how_to_record(suite: pytest.Pytester) -> None:
    result = run(suite, "-k", "orders")
    result.assert_outcomes(failed=1, errors=1)  # the call raises; teardown says why
    result.stdout.fnmatch_lines(["*does not exist*--crs-record-mode=once*"])
    assert not (suite.path / "cassettes").exists()


def test_unused_recordings_fail_unless_allowed(suite: pytest.Pytester) -> None:
    run(suite, "--crs-record-mode=once").assert_outcomes(passed=2)
    suite.makepyfile(
        test_shop=TESTS.replace("for n in (1, 2)", "for n in (1,)").replace(
            "@pytest.mark.crs_cassette\ndef test_model",
            "@pytest.mark.crs_cassette(allow_unused=True)\ndef test_model",
        )
    )
    result = run(suite)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*1 recorded interaction(s) were never played*shop lookup: ok*"])


def test_a_failing_test_writes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_fail="""
        import pytest

        @pytest.mark.crs_cassette
        def test_boom(crs_adapter):
            crs_adapter.execute_tool_with_context("shop", "lookup", {"order_id": 1}, "u")
            assert False, "deliberate"
        """
    )
    run(pytester, "--crs-record-mode=once").assert_outcomes(failed=1)
    assert not (pytester.path / "cassettes").exists()


def test_names_options_and_config(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        CONFTEST + '\n@pytest.fixture\ndef crs_config():\n    return {"compress": True}\n'
    )
    pytester.makeini("[pytest]\ncrs_cassette_dir = recordings\n")
    pytester.makepyfile(
        test_names="""
        import pytest

        @pytest.mark.crs_cassette
        @pytest.mark.parametrize("who", ["a/b c", "x"], ids=["a/b c", "y" * 300])
        def test_param(crs_adapter, crs_cassette, who):
            crs_adapter.execute_tool_with_context("shop", "lookup", {"order_id": 1}, who)
            assert crs_cassette.mode.value == "once"

        @pytest.mark.crs_cassette("shared", record_mode="once")
        def test_named(crs_adapter):
            crs_adapter.execute_tool_with_context("shop", "lookup", {"order_id": 9}, "u")

        @pytest.mark.crs_cassette(recordmode="once")
        def test_typo():
            pass
        """
    )
    result = run(pytester, "--crs-record-mode=once")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*crs_cassette marker has unknown key(s) 'recordmode'*"])
    names = sorted(p.name for p in (pytester.path / "recordings" / "test_names").iterdir())
    assert "test_param_a_b_c.yaml.lz4" in names
    assert "shared.yaml.lz4" in names
    long = [n for n in names if n.startswith("test_param_yyy")]
    assert len(long) == 1
    assert len(long[0]) < 140


def test_xdist_workers_share_a_cassette_without_corrupting_it(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_parallel="""
        import pytest

        @pytest.mark.crs_cassette("shared")
        @pytest.mark.parametrize("n", range(8))
        def test_n(crs_adapter, n):
            crs_adapter.execute_tool_with_context("shop", "lookup", {"order_id": n}, "u")
        """
    )
    recorded = run(pytester, "-n", "2", "--crs-record-mode=new_episodes")
    recorded.assert_outcomes(passed=8)
    recorded.stdout.fnmatch_lines(["*wrote*shared.yaml*"])  # reported from the workers
    shared = read_cassette(pytester.path / "cassettes" / "test_parallel" / "shared.yaml")
    orders = sorted(i["request"]["params"]["order_id"] for i in shared["interactions"])
    assert orders == list(range(8))
    replay = run(pytester, "-n", "2", "-p", "no:randomly")
    replay.assert_outcomes(passed=8, errors=8)  # each test uses 1 of 8 recordings: 7 unused each
    files = [p.name for p in (pytester.path / "cassettes" / "test_parallel").iterdir()]
    assert files == ["shared.yaml"]  # no temporary or lock files left behind


def test_without_vcrpy_the_fixture_says_what_to_install(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        CONFTEST + "\nimport importlib.util\n_real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'vcr' else _real(name, *a)\n"
    )
    pytester.makepyfile(
        test_x="import pytest\n\n@pytest.mark.crs_cassette\ndef test_x():\n    pass\n"
    )
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*UsageError: crs_cassette needs vcrpy*"])
    assert "pip install 'pytest-crs[record]'" in result.stdout.str()

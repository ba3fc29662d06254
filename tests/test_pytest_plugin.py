"""The exec_spans fixture, tested as users run it (pytester, in fresh subprocesses)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.conftest import needs_fsm

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

HEADER = '''
import asyncio
import pytest
import otel_exec

@otel_exec.traced(name="load_config")
def load_config():
    return {"env": "prod"}

@otel_exec.traced(name="push")
def push(config):
    raise RuntimeError("registry unavailable")

@otel_exec.traced(name="Deploy")
def deploy():
    config = load_config()
    try:
        push(config)
    except RuntimeError:
        return "rolled back"
'''


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _importable_workloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The subprocess runs can import tests.instrumentation's real-framework workloads."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    """Run ``source`` as a test file in a fresh pytest process (a fresh tracer provider)."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n"
                     "asyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_it=HEADER + source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_each_test_sees_only_its_own_executions(pytester: pytest.Pytester) -> None:
    result = run(pytester, '''
@otel_exec.traced(name="background")
def background():
    return 1

def test_first(exec_spans):
    deploy()
    assert exec_spans.names() == ["load_config", "push", "Deploy"]
    exec_spans.assert_failed("push", RuntimeError, match="registry")
    exec_spans.assert_succeeded("Deploy")
    exec_spans.assert_parent("push", "Deploy")
    assert exec_spans.tree() == (
        "Deploy [function] completed\\n"
        "  load_config [function] completed\\n"
        "  push [function] failed RuntimeError\\n")

def test_second(exec_spans):
    background()
    assert exec_spans.names() == ["background"]
    assert exec_spans.registry.get_latest().result == 1

def test_no_fixture_no_collection():
    deploy()
''')
    result.assert_outcomes(passed=3)


def test_async_tests_work(pytester: pytest.Pytester) -> None:
    result = run(pytester, '''
@otel_exec.traced(name="fetch")
async def fetch(i):
    await asyncio.sleep(0)
    return i

async def test_async(exec_spans):
    assert await asyncio.gather(*(fetch(i) for i in range(5))) == list(range(5))
    assert len(exec_spans.find("fetch")) == 5
    assert exec_spans.find("fetch", exec__result="3")
''')
    result.assert_outcomes(passed=1)


def test_failing_assertions_show_the_tree_and_the_report_section(
        pytester: pytest.Pytester) -> None:
    result = run(pytester, '''
def test_wrong(exec_spans):
    deploy()
    exec_spans.assert_failed("Deploy")
''')
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*expected 'Deploy' to fail, it is completed*",
        "*Deploy [[]function[]] completed*",
        "*otel-exec executions*",
        "*Execution History*",
    ])


def test_the_report_section_can_be_turned_off_or_on_for_all(pytester: pytest.Pytester) -> None:
    source = '''
def test_fails(exec_spans):
    deploy()
    assert False

def test_passes(exec_spans):
    deploy()
'''
    quiet = run(pytester, source, "--otel-exec-report=none")
    quiet.assert_outcomes(passed=1, failed=1)
    assert "otel-exec executions" not in quiet.stdout.str()
    loud = run(pytester, source, "--otel-exec-report=all", "-rA")
    loud.assert_outcomes(passed=1, failed=1)
    assert loud.stdout.str().count("otel-exec executions") == 2


def test_parallel_runs_with_xdist(pytester: pytest.Pytester) -> None:
    tests = "\n".join(f'''
def test_{i}(exec_spans):
    for _ in range({i + 1}):
        deploy()
    assert exec_spans.names().count("Deploy") == {i + 1}
''' for i in range(8))
    result = run(pytester, tests, "-n", "2")
    result.assert_outcomes(passed=8)


@needs_fsm
def test_with_each_framework(pytester: pytest.Pytester) -> None:
    result = run(pytester, '''
import sys
from tests.instrumentation import fsm_workload, routilux_workload
from falyx.action import Action, ChainedAction
from routilux.core.error import ErrorStrategy
from routilux.core.runtime import Runtime

async def step():
    return 1

async def test_falyx(exec_spans):
    await ChainedAction("chain", [Action("a", step), Action("b", step)])()
    assert exec_spans.names() == ["a", "b", "chain"]
    exec_spans.assert_parent("a", "chain")
    assert [c.name for c in exec_spans.registry.get_all()] == ["a", "b", "chain"]

def test_fsm(exec_spans):
    fsm_workload.loans().process({"amount": 3})
    history = exec_spans.history()
    assert [s.state_name for s in history.steps][-1] == "approved"

def test_routilux(exec_spans):
    runtime = Runtime()
    routilux_workload.fan_out_flow("plugin_flow", ErrorStrategy.CONTINUE)
    _, job = runtime.post("plugin_flow", "src", "trigger", {"count": 2})
    exec_spans.wait_for(lambda spans: spans.find(kind="job"))
    assert exec_spans.job_state(job.job_id).routine_states["bad"]["status"] == "error_continued"
    runtime.shutdown(wait=True, timeout=5)

@pytest.mark.otel_exec(instrument=False)
async def test_opt_out(exec_spans):
    await Action("plain", step)()
    assert len(exec_spans) == 0
''')
    result.assert_outcomes(passed=4)


def test_a_session_wide_instrumentation_survives_the_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('''
import otel_exec
otel_exec.configure()
otel_exec.instrument("falyx")
''')
    result = run(pytester, '''
from falyx.action import Action

async def step():
    return 1

def test_uses_the_fixture(exec_spans):
    asyncio.run(Action("inside", step)())
    assert exec_spans.names() == ["inside"]

def test_after_it_falyx_is_still_instrumented():
    otel_exec.store().clear()
    asyncio.run(Action("after", step)())
    assert [e.name for e in otel_exec.registry.get_all()] == ["after"]
''')
    result.assert_outcomes(passed=2)


def test_a_later_test_can_set_its_own_provider(pytester: pytest.Pytester) -> None:
    result = run(pytester, '''
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

def test_first_uses_the_fixture(exec_spans):
    deploy()
    assert exec_spans.names() == ["load_config", "push", "Deploy"]

def test_then_its_own_provider():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    assert trace.get_tracer_provider() is provider
    deploy()
    assert [s.name for s in exporter.get_finished_spans()] == ["load_config", "push", "Deploy"]
''')
    result.assert_outcomes(passed=2)


def test_an_endpoint_in_the_environment_makes_the_fixture_export_nothing(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_config import closed_port

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    result = run(pytester, '''
def test_one(exec_spans):
    deploy()
    from opentelemetry import trace
    assert not hasattr(trace.get_tracer_provider(), "add_span_processor")

def test_two(exec_spans):
    deploy()
    assert len(exec_spans) == 3
''')
    result.assert_outcomes(passed=2)
    output = result.stdout.str() + result.stderr.str()
    for failure in ("Failed to export", "Transient error", "Connection refused",
                    "Max retries exceeded"):
        assert failure not in output


def test_a_session_without_the_fixture_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_it='''
import sys

def test_nothing_of_ours_was_loaded():
    heavy = [name for name in ("opentelemetry.sdk.trace", "rich.console", "otel_exec.config",
                               "falyx", "routilux", "dataknobs_fsm") if name in sys.modules]
    assert heavy == []
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["otel-exec: exec_spans instruments *"])


@needs_fsm
def test_the_documented_examples_run_as_they_are(pytester: pytest.Pytester) -> None:
    """docs/testing.md promises every example is a complete test file."""
    import re

    text = (ROOT / "docs" / "testing.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    examples = [block for block in blocks if "def test_" in block]
    assert len(examples) == 4
    for number, block in enumerate(examples):
        pytester.makepyfile(**{f"test_doc_{number}": block})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_a_name_that_ran_twice_is_asserted_by_index_any_or_all(pytester: pytest.Pytester) -> None:
    result = run(pytester, textwrap.dedent('''
        @otel_exec.traced(name="sync")
        def sync(ok):
            if not ok:
                raise ValueError("remote gone")
            return "synced"

        def test_which(exec_spans):
            sync(True)
            with pytest.raises(ValueError):
                sync(False)
            with pytest.raises(AssertionError, match="found 2 .say which: which=0 ... 1"):
                exec_spans.assert_failed("sync")
            assert exec_spans.assert_failed("sync", ValueError, "gone", which=1).index == 1
            assert exec_spans.assert_failed("sync", which=-1).index == 1
            assert exec_spans.assert_succeeded("sync", which=0).index == 0
            assert exec_spans.assert_failed("sync", which="any").index == 1
            with pytest.raises(AssertionError, match="not all of the 2 runs of 'sync'"):
                exec_spans.assert_failed("sync", which="all")
            with pytest.raises(AssertionError, match="which=5: 'sync' ran 2 time"):
                exec_spans.assert_succeeded("sync", which=5)
            with pytest.raises(AssertionError, match="to succeed, it failed with"):
                exec_spans.assert_succeeded("sync", which=1)
    '''))
    result.assert_outcomes(passed=1)

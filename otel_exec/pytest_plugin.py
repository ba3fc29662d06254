"""pytest plugin: ``exec_spans`` collects the executions of one test (installed with otel-exec).

```python
def test_deploy(exec_spans):
    run_my_falyx_command("deploy --env prod")
    assert exec_spans.names() == ["load_config", "push", "Deploy"]
    exec_spans.assert_failed("push", RuntimeError)
    assert exec_spans.tree() == '''
Deploy [command] failed RuntimeError
  load_config [action] completed
  push [action] failed RuntimeError
'''.lstrip()
```

Isolation without touching what the program under test set up: when the global tracer
provider is an SDK provider (the application's, or ``otel_exec.configure()``'s), the plugin adds
one routing processor to it, and each test's collector receives exactly the spans that
*started* during that test (from any thread or task), the application's own spans included.
Otherwise it never sets the set-once global: otel_exec's spans go, for the test's duration, to
a private provider with no exporter. Every supported framework that is installed and not
already instrumented is instrumented for the test, and only those are uninstrumented after it;
``@pytest.mark.otel_exec(instrument=False)`` opts out. On a failing test that used
``exec_spans``, the report gets an "otel-exec executions" section with the summary and the tree
(``--otel-exec-report=all|failed|none``, ini ``otel_exec_report``). The plugin costs nothing
in a session that never asks for ``exec_spans``; ``-p no:otel_exec`` turns it off.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator

    from otel_exec.execution import Execution
    from otel_exec.execution_store import ExecutionStore
    from otel_exec.semconv import ExecStatus

_REPORT_CHOICES = ("failed", "all", "none")

Which = int | Literal["any", "all"] | None
"""Which run of a name an assertion is about: the only one (None), an index, any or all."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("otel-exec", "otel-exec execution spans")
    group.addoption("--otel-exec-report", dest="otel_exec_report", choices=_REPORT_CHOICES,
                    default=None, help="add the executions of tests using exec_spans to the "
                    "report: failed (default), all, none")
    parser.addini("otel_exec_report", "default for --otel-exec-report", default="failed")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "otel_exec(instrument=True): exec_spans options; instrument=False leaves "
        "the frameworks uninstrumented for this test")


def pytest_report_header(config: pytest.Config) -> str:
    from otel_exec.instrumentation import FRAMEWORKS

    installed = [name for name, framework in FRAMEWORKS.items() if framework.installed()]
    return (f"otel-exec: exec_spans instruments {', '.join(installed) or 'no framework'}; "
            f"report={_report_mode(config)}")


def _report_mode(config: pytest.Config) -> str:
    mode = config.getoption("otel_exec_report") or config.getini("otel_exec_report")
    return str(mode) if mode in _REPORT_CHOICES else "failed"


class ExecSpans:
    """The executions of one test, in registry order (completion order, children first)."""

    __test__ = False

    def __init__(self, store: ExecutionStore) -> None:
        from otel_exec.instrumentation.record import record_context
        from otel_exec.views import Views

        views = Views(store, recorder=record_context)
        self.store = store
        """Every span this test started (in-memory, bounded)."""
        self.registry = views.registry
        """falyx's ExecutionRegistry API over this test's executions."""
        self.history = views.history
        """dataknobs-fsm's ExecutionHistory of this test's FSM runs."""
        self.tracker = views.tracker
        """routilux's ExecutionTracker of this test's jobs."""
        self.job_state = views.job_state
        """routilux's JobState of this test's jobs."""

    # querying --------------------------------------------------------------------------------
    def all(self) -> list[Execution]:
        """Every finished execution of the test, registry order."""
        return list(self.store.executions())

    def __iter__(self) -> Iterator[Execution]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self.store)

    def find(self, name: str | None = None, *, kind: str | None = None,
             framework: str | None = None, status: str | ExecStatus | None = None,
             **attributes: Any) -> list[Execution]:
        """Executions matching all the criteria given (attribute names with ``.`` as ``__``)."""
        wanted = {key.replace("__", "."): value for key, value in attributes.items()}
        return [e for e in self.all()
                if (name is None or e.name == name) and (kind is None or e.kind == kind)
                and (framework is None or e.framework == framework)
                and (status is None or e.status == status)
                and all(e.attributes.get(key) == value for key, value in wanted.items())]

    def names(self, *, kind: str | None = None, framework: str | None = None) -> list[str]:
        """Names of the executions the frameworks themselves recorded, registry order."""
        return [e.name for e in self.registry.get_all()
                if (kind is None or e.kind == kind)
                and (framework is None or e.framework == framework)]

    def one(self, name: str | None = None, **criteria: Any) -> Execution:
        """The single execution matching; fails with the tree when there are none or several."""
        found = self.find(name, **criteria)
        if len(found) != 1:
            raise AssertionError(f"expected one execution matching {_criteria(name, criteria)}, "
                                 f"found {len(found)}\n{self.tree()}")
        return found[0]

    def parent(self, execution: Execution) -> Execution | None:
        """The parent execution, if it is one of this test's."""
        return None if execution.parent_span_id is None else self.store.find(
            execution.parent_span_id)

    def children(self, execution: Execution) -> list[Execution]:
        """Direct children, registry order."""
        return list(self.store.children(execution.span_id))

    def wait_for(self, predicate: Callable[[ExecSpans], bool] | str, timeout: float = 5.0,
                 ) -> None:
        """Wait (at most ``timeout`` s) until ``predicate(self)`` holds, or a name is recorded;
        for work that finishes on other threads (routilux jobs, thread pools)."""
        check = predicate if callable(predicate) else (
            lambda spans: bool(spans.find(predicate)))
        deadline = time.monotonic() + timeout
        while not check(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout}s for {predicate!r}\n{self.tree()}")
            time.sleep(0.01)

    # asserting -------------------------------------------------------------------------------
    def _runs(self, name: str, which: Which) -> list[Execution]:
        """The executions named ``name`` that an assertion is about: the only one (``None``),
        the ``which``-th in registry order (negative from the end), or every one."""
        found = self.find(name)
        if which is None:
            if len(found) != 1:
                hint = (f" (say which: which=0 ... {len(found) - 1}, -1, 'any' or 'all')"
                        if found else "")
                raise AssertionError(f"expected one execution named {name!r}, found "
                                     f"{len(found)}{hint}\n{self.tree()}")
            return found
        if which in ("any", "all"):
            if not found:
                raise AssertionError(f"no execution named {name!r}\n{self.tree()}")
            return found
        if not isinstance(which, int) or isinstance(which, bool) or not (
                -len(found) <= which < len(found)):
            raise AssertionError(f"which={which!r}: {name!r} ran {len(found)} time(s); give "
                                 f"an index, 'any' or 'all'\n{self.tree()}")
        return [found[which]]

    def _assert_each(self, name: str, which: Which,
                     check: Callable[[Execution], None]) -> Execution:
        """Run ``check`` on the executions ``which`` picks: with ``'any'``, one passing is
        enough; otherwise each must pass. Returns the (last) execution that passed."""
        runs = self._runs(name, which)
        failures: list[str] = []
        passed = None
        for execution in runs:
            try:
                check(execution)
            except AssertionError as failure:
                failures.append(str(failure).split("\n", 1)[0])
                continue
            passed = execution
            if which == "any":
                return execution
        if failures or passed is None:
            said = "; ".join(dict.fromkeys(failures))
            scope = "none of" if which == "any" else "not all of" if which == "all" else ""
            prefix = f"{scope} the {len(runs)} runs of {name!r}: " if scope else ""
            raise AssertionError(f"{prefix}{said}\n{self.tree()}")
        return passed

    def assert_failed(self, name: str, exception: type[BaseException] | None = None,
                      match: str | None = None, *, which: Which = None) -> Execution:
        """Assert the execution failed (with this exception type / message pattern).

        ``which`` says which run when ``name`` ran more than once: an index in registry order
        (``-1``: the last), ``'any'`` (one of them) or ``'all'`` (every one).
        """
        return self._assert_each(name, which, lambda execution: self._failed(
            execution, name, exception, match))

    def _failed(self, execution: Execution, name: str, exception: type[BaseException] | None,
                match: str | None) -> None:
        if execution.success:
            raise AssertionError(f"expected {name!r} to fail, it is {execution.status.value}\n"
                                 f"{self.tree()}")
        actual = execution.exception
        if exception is not None:
            type_name = execution.error_type or ""
            matches = (isinstance(actual, exception) if actual is not None
                       else type_name.rsplit(".", 1)[-1] == exception.__name__)
            if not matches:
                raise AssertionError(f"expected {name!r} to fail with {exception.__name__}, "
                                     f"it failed with {type_name}\n{self.tree()}")
        text = execution.exception_text or execution.status_description or ""
        if match is not None and not re.search(match, text):
            raise AssertionError(f"{name!r} failed with {text!r}, which does not match "
                                 f"{match!r}\n{self.tree()}")

    def assert_succeeded(self, name: str, *, which: Which = None) -> Execution:
        """Assert the execution did not fail (``which``: as for ``assert_failed``)."""

        def succeeded(execution: Execution) -> None:
            if not execution.success:
                raise AssertionError(
                    f"expected {name!r} to succeed, it failed with "
                    f"{execution.exception_text or execution.status_description}"
                    f"\n{self.tree()}")

        return self._assert_each(name, which, succeeded)

    def assert_parent(self, child: str, parent: str) -> None:
        """Assert ``child`` ran directly under ``parent``."""
        found = self.parent(self.one(child))
        if found is None or found.name != parent:
            actual = "no parent" if found is None else repr(found.name)
            raise AssertionError(f"expected {child!r} under {parent!r}, it has {actual}\n"
                                 f"{self.tree()}")

    # showing ---------------------------------------------------------------------------------
    def tree_data(self) -> list[dict[str, Any]]:
        """The execution tree as nested dicts, without ids or timings."""
        from otel_exec.views.tree import forest

        return forest(self.all(), stable=True)

    def tree(self) -> str:
        """The execution tree as stable text (no ids, no timings), for snapshots and messages:
        ``name [kind] status error`` per line, two spaces per level (control characters shown
        as escapes)."""
        from otel_exec.values import visible

        lines: list[str] = []
        stack = [(node, 0) for node in reversed(self.tree_data())]
        while stack:
            node, depth = stack.pop()
            error = f" {node['error']}" if node.get("error") else ""
            lines.append(visible(f"{'  ' * depth}{node['name']} [{node['kind']}] "
                                 f"{node['status']}{error}"))
            lines.extend(visible(f"{'  ' * (depth + 1)}| {record}")
                         for record in node.get("logs", ()))
            stack.extend((child, depth + 1) for child in reversed(node["children"]))
        return "\n".join(lines) + ("\n" if lines else "")

    def summary_text(self) -> str:
        """The falyx-style history table of the test, as plain text."""
        from rich.console import Console

        console = Console(color_system=None, width=120)
        with console.capture() as capture:
            self.registry.summary(console=console)
        return capture.get()


def _criteria(name: str | None, criteria: dict[str, Any]) -> str:
    parts = [] if name is None else [repr(name)]
    return ", ".join(parts + [f"{key}={value!r}" for key, value in criteria.items()]) or "anything"


_SPANS_KEY = pytest.StashKey[ExecSpans]()


@pytest.fixture
def exec_spans(request: pytest.FixtureRequest) -> Iterator[ExecSpans]:
    """The executions (spans) of this test only, with query helpers and assertions."""
    import otel_exec
    from otel_exec._test_routing import route, router
    from otel_exec.execution_store import ExecutionStore
    from otel_exec.spans import override_provider

    marker = request.node.get_closest_marker("otel_exec")
    instrument = marker.kwargs.get("instrument", True) if marker is not None else True
    private = route()
    previous = override_provider(private) if private is not None else None
    instrumented = otel_exec.instrument() if instrument else []
    spans = ExecSpans(ExecutionStore())
    router.started = set()
    router.store = spans.store
    request.node.stash[_SPANS_KEY] = spans
    try:
        yield spans
    finally:
        router.store = None
        router.started = set()
        if instrumented:
            otel_exec.uninstrument(*instrumented)
        if private is not None:
            override_provider(previous)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None],
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    spans = item.stash.get(_SPANS_KEY, None)
    mode = _report_mode(item.config)
    if spans is not None and report.when == "call" and mode != "none" and (
            mode == "all" or report.failed):
        report.sections.append(("otel-exec executions",
                                spans.summary_text() + "\n" + spans.tree()))
    return report

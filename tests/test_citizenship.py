"""otel_exec as a good OpenTelemetry citizen: instrumentors never configure the SDK, each span
is exported once whoever set up the provider, the SDK's variables mean what they mean there,
and a missing optional piece is one warning. Each case runs in a fresh interpreter (the global
provider is set once per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import needs_fsm, run_python
from tests.test_config import closed_port

APP = """
import asyncio, json, sys
from falyx.action import Action
import otel_exec

@otel_exec.traced
def work(n):
    return n * 2

async def step():
    return 42

def run():
    for n in range(3):
        work(n)
    asyncio.run(Action("falyx_step", step)())
"""


def run_app(*code: str, zero_code: bool = False, **env: str) -> tuple[dict[str, object], str]:
    """Run ``APP`` and the ``code`` pieces (each dedented); returns the last stdout line as
    JSON and the whole stdout."""
    script = "".join(textwrap.dedent(piece) for piece in (APP, *code))
    if not zero_code:
        done = run_python(script, env=env)
    else:
        full = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        full |= {"OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
                 "PYTHONPATH": str(Path(__file__).resolve().parents[1]), **env}
        instrument = Path(sys.executable).with_name("opentelemetry-instrument")
        done = subprocess.run([str(instrument), sys.executable, "-c", script],
                              capture_output=True, text=True, env=full, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stdout


def exported(stdout: str, name: str) -> int:
    """How many times the console exporter printed a span called ``name``."""
    return stdout.count(f'"name": "{name}"')


@pytest.mark.parametrize("framework", ["falyx", "dataknobs_fsm", "routilux"])
def test_instrumentors_leave_the_global_provider_to_the_application(framework: str) -> None:
    result, _ = run_app(f"""
        import logging
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from otel_exec.instrumentation import FRAMEWORKS

        warnings = []
        logging.getLogger("opentelemetry.trace").addHandler(
            type("H", (logging.Handler,), {{"emit": lambda self, r: warnings.append(r.msg)}})())
        mine_exporter, app_exporter = InMemorySpanExporter(), InMemorySpanExporter()
        mine = TracerProvider()
        mine.add_span_processor(SimpleSpanProcessor(mine_exporter))
        FRAMEWORKS["{framework}"].load().instrument(tracer_provider=mine)
        untouched = isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
        app = TracerProvider()
        app.add_span_processor(SimpleSpanProcessor(app_exporter))
        trace.set_tracer_provider(app)
        with trace.get_tracer("app").start_as_current_span("app span"):
            pass
        print(json.dumps({{"untouched": untouched,
                          "app_is_global": trace.get_tracer_provider() is app,
                          "refused": [w for w in warnings if "Overriding" in str(w)],
                          "app": [s.name for s in app_exporter.get_finished_spans()]}}))
    """)
    assert result == {"untouched": True, "app_is_global": True, "refused": [],
                      "app": ["app span"]}


def test_instrument_without_a_provider_follows_the_global_one_set_later() -> None:
    result, _ = run_app("""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        otel_exec.instrument("falyx")
        exporter = InMemorySpanExporter()
        app = TracerProvider()
        app.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(app)
        run()
        print(json.dumps({"exported": sorted(s.name for s in exporter.get_finished_spans()),
                          "stored": sorted(e.name for e in otel_exec.registry.get_all())}))
    """)
    assert result == {"exported": ["falyx_step", "work", "work", "work"],
                      "stored": ["falyx_step", "work", "work", "work"]}


EXACTLY_ONCE = """
run()
otel_exec.shutdown()
print(json.dumps({"stored": len(otel_exec.registry.get_all())}))
"""
SHUTDOWN_GLOBAL = EXACTLY_ONCE.replace(
    "otel_exec.shutdown()",
    "from opentelemetry import trace\ntrace.get_tracer_provider().shutdown()")


def test_configure_alone_exports_each_span_once() -> None:
    result, stdout = run_app("otel_exec.configure()\notel_exec.instrument('falyx')\n",
                             EXACTLY_ONCE, OTEL_TRACES_EXPORTER="console")
    assert result == {"stored": 4}
    assert (exported(stdout, "work"), exported(stdout, "falyx_step")) == (3, 1)


def test_zero_code_alone_exports_once_and_fills_the_store() -> None:
    result, stdout = run_app(SHUTDOWN_GLOBAL, zero_code=True, OTEL_TRACES_EXPORTER="console")
    assert result == {"stored": 4}
    assert (exported(stdout, "work"), exported(stdout, "falyx_step")) == (3, 1)


def test_zero_code_and_configure_export_each_span_once() -> None:
    result, stdout = run_app("otel_exec.configure(service_name='svc')\n", SHUTDOWN_GLOBAL,
                             zero_code=True, OTEL_TRACES_EXPORTER="console",
                             OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{closed_port()}")
    assert result == {"stored": 4}
    assert (exported(stdout, "work"), exported(stdout, "falyx_step")) == (3, 1)


def test_the_applications_provider_and_configure_export_each_span_once() -> None:
    result, stdout = run_app("""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

        app = TracerProvider()
        app.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        trace.set_tracer_provider(app)
        otel_exec.configure()
        otel_exec.instrument("falyx")
    """, EXACTLY_ONCE, OTEL_TRACES_EXPORTER="console")
    assert result == {"stored": 4}
    assert (exported(stdout, "work"), exported(stdout, "falyx_step")) == (3, 1)


def test_otel_traces_exporter_none_and_lists() -> None:
    _, stdout = run_app("otel_exec.configure()\n", EXACTLY_ONCE, OTEL_TRACES_EXPORTER="none",
                        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{closed_port()}")
    assert exported(stdout, "work") == 0
    result, stdout = run_app("""
        otel_exec.configure(exit_timeout=0.5)
        from otel_exec import config
        kinds = sorted(type(p._batch_processor._exporter).__name__ for p in config._setup.exporters)
    """, EXACTLY_ONCE.replace('"stored"', '"kinds": kinds, "stored"'),
        OTEL_TRACES_EXPORTER="console,otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{closed_port()}")
    assert result == {"kinds": ["ConsoleSpanExporter", "HttpSpanExporter"], "stored": 3}
    assert exported(stdout, "work") == 3


def test_an_unknown_exporter_name_is_one_warning() -> None:
    done = run_python(textwrap.dedent(APP) + textwrap.dedent("""
        otel_exec.configure()
        run()
        print(json.dumps(len(otel_exec.registry.get_all())))
    """), env={"OTEL_TRACES_EXPORTER": "zipkin_json"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("3")  # the three @traced calls (falyx not instrumented)
    assert done.stderr.count("OTEL_TRACES_EXPORTER names 'zipkin_json'") == 1


def test_grpc_without_its_exporter_is_one_warning_and_the_store_goes_on() -> None:
    done = run_python(textwrap.dedent("""
        import sys
        sys.modules["opentelemetry.exporter.otlp.proto.grpc"] = None  # the gRPC exporter is missing
        sys.modules["opentelemetry.exporter.otlp.proto.grpc.trace_exporter"] = None
    """) + textwrap.dedent(APP) + textwrap.dedent("""
        otel_exec.configure()
        otel_exec.configure(otlp_endpoint="http://127.0.0.1:1", otlp_protocol="grpc")
        run()
        print(json.dumps(len(otel_exec.registry.get_all())))
    """), env={"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
               "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{closed_port()}"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("3")  # the three @traced calls (falyx not instrumented)
    assert done.stderr.count("pip install opentelemetry-exporter-otlp-proto-grpc") == 1


@pytest.mark.parametrize(("sampler", "argument"), [("always_off", ""), ("traceidratio", "0.3")])
def test_the_store_records_what_the_sampler_keeps_from_export(sampler: str, argument: str,
                                                              ) -> None:
    result, stdout = run_app("""
        otel_exec.configure()
        for n in range(200):
            work(n)
        otel_exec.shutdown()
        print(json.dumps({"stored": len(otel_exec.registry.get_all())}))
    """, OTEL_TRACES_EXPORTER="console", OTEL_TRACES_SAMPLER=sampler,
        OTEL_TRACES_SAMPLER_ARG=argument)
    assert result == {"stored": 200}
    sent = exported(stdout, "work")
    assert sent == 0 if sampler == "always_off" else 0 < sent < 200


def test_without_configure_the_views_work_and_nothing_global_is_set() -> None:
    """Before (or without) configure(), otel_exec's spans feed the store through a local
    provider that exports nothing; the global provider stays the application's to set."""
    result, _ = run_app("""
        from opentelemetry import trace
        otel_exec.instrument("falyx")
        run()
        print(json.dumps({"global": type(trace.get_tracer_provider()).__name__,
                          "stored": sorted(e.name for e in otel_exec.registry.get_all())}))
    """, OTEL_TRACES_EXPORTER="console")
    assert result == {"global": "ProxyTracerProvider",
                      "stored": ["falyx_step", "work", "work", "work"]}


def test_an_empty_summary_says_why_nothing_was_recorded() -> None:
    never = run_python(textwrap.dedent(APP) + "otel_exec.summary()\n", env={"COLUMNS": "200"})
    assert never.returncode == 0, never.stderr
    assert "nothing has been traced yet" in never.stdout
    disabled = run_python(textwrap.dedent(APP) + "otel_exec.configure()\nrun()\n"
                          "otel_exec.summary()\n",
                          env={"COLUMNS": "200", "OTEL_SDK_DISABLED": "true"})
    assert disabled.returncode == 0, disabled.stderr
    assert "OTEL_SDK_DISABLED" in disabled.stdout
    sampled_out = run_python(textwrap.dedent(APP) + textwrap.dedent("""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
        trace.set_tracer_provider(TracerProvider(sampler=ALWAYS_OFF))
        run()
        otel_exec.summary()
    """), env={"COLUMNS": "200"})
    assert sampled_out.returncode == 0, sampled_out.stderr
    assert "sampler dropped them" in sampled_out.stdout


@needs_fsm
def test_every_framework_view_works_without_configure() -> None:
    """A program that only calls ``otel_exec.instrument()`` still gets falyx's numbering, the
    FSM history and the routilux job state (a local provider feeds the store)."""
    done = run_python(textwrap.dedent("""
        import asyncio, json, time
        import otel_exec
        from falyx.execution_registry import ExecutionRegistry as FalyxRegistry
        from routilux.core.error import ErrorStrategy
        from routilux.core.runtime import Runtime
        from tests.instrumentation import falyx_workload, fsm_workload, routilux_workload

        otel_exec.instrument(quiet_period=0.05)
        asyncio.run(falyx_workload.run_actions({"chain": falyx_workload.build_actions()["chain"]}))
        fsm_workload.loans().process({"amount": 50})
        runtime = Runtime()
        routilux_workload.fan_out_flow("no_configure", ErrorStrategy.CONTINUE)
        _, job = runtime.post("no_configure", "src", "trigger", {"count": 2})
        state = routilux_workload.wait_for_job(job.job_id)
        runtime.shutdown(wait=True, timeout=5)
        falyx = [(c.name, c.index) for c in FalyxRegistry.get_all()]
        ours = [(e.name, e.index) for e in otel_exec.registry.get_all() if e.framework == "falyx"]
        print(json.dumps({"falyx": falyx == ours, "steps": len(otel_exec.history().steps),
                          "job": state.status}))
    """))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["falyx"] is True and result["steps"] >= 5 and result["job"] == "completed"


def test_the_live_console_prints_each_finished_root_as_a_tree() -> None:
    code = textwrap.dedent("""
        import otel_exec
        otel_exec.configure(%s)

        @otel_exec.traced(name="charge")
        def charge(amount):
            raise ValueError(f"card declined for {amount}")

        @otel_exec.traced(name="checkout")
        def checkout():
            try:
                charge(3)
            except ValueError:
                return "retry later"

        checkout()
        print("program output")
    """)
    shown = run_python(code % "console=True", env={"COLUMNS": "120"})
    assert shown.returncode == 0, shown.stderr
    tree = shown.stderr
    assert "checkout" in tree and "charge" in tree
    assert "ValueError('card declined for 3')" in tree
    assert tree.index("charge") > tree.index("checkout")  # the child under its root
    assert shown.stdout == "program output\n"
    by_variable = run_python(code % "", env={"COLUMNS": "120", "OTEL_EXEC_CONSOLE": "1"})
    assert "checkout" in by_variable.stderr
    off = run_python(code % "", env={"COLUMNS": "120"})
    assert off.stderr == ""


def test_instrument_imports_no_framework_and_patches_each_when_it_is_imported() -> None:
    """instrument() before the program imports anything: nothing imported by otel_exec, each
    framework patched as the program imports it, an uninstrumented one never patched."""
    done = run_python(textwrap.dedent("""
        import json, sys
        import otel_exec
        from otel_exec.instrumentation._patching import is_patched

        names = otel_exec.instrument()
        imported = [m for m in ("falyx", "dataknobs_fsm", "routilux") if m in sys.modules]
        otel_exec.uninstrument("routilux")
        import falyx.action, routilux.core.runtime
        print(json.dumps({
            "names": names, "imported_by_instrument": imported,
            "falyx": is_patched("falyx.action.base_action", "BaseAction.__call__"),
            "routilux": is_patched("routilux.core.runtime", "Runtime.post"),
        }))
    """))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "falyx" in result["names"] and "routilux" in result["names"]
    assert result["imported_by_instrument"] == []
    assert result["falyx"] is True and result["routilux"] is False


def test_a_framework_that_cannot_be_patched_at_its_import_is_logged_not_raised() -> None:
    """A wrap point renamed in the installed falyx: the program's import goes on, nothing is
    patched, the reason is logged and falyx counts as not instrumented."""
    done = run_python(textwrap.dedent("""
        import json, sys
        import otel_exec
        from otel_exec.instrumentation import FRAMEWORKS
        from otel_exec.instrumentation import falyx as ours
        from otel_exec.instrumentation._patching import Patch

        ours.PATCHES = (*ours.PATCHES, Patch("falyx.action.action", "Action.no_such_method",
                                             lambda *a: None))
        assert "falyx" not in sys.modules
        otel_exec.instrument("falyx")
        from falyx.action import Action
        print(json.dumps({"instrumented":
                          FRAMEWORKS["falyx"].load().is_instrumented_by_opentelemetry,
                          "patched": hasattr(Action.__call__, "__otel_exec_replaced__")}))
    """))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"instrumented": False,
                                                                "patched": False}
    assert "Action.no_such_method is missing" in done.stderr


def test_the_console_variable_works_without_configure_and_says_a_long_root_as_it_runs() -> None:
    """OTEL_EXEC_CONSOLE=1 with instrument() alone (no configure()): a falyx chain's tree on
    standard error, and a root running past a second said once while it runs."""
    done = run_python(textwrap.dedent("""
        import asyncio, sys, time
        import otel_exec
        otel_exec.instrument("falyx")
        from falyx.action import Action

        async def slow():
            await asyncio.sleep(1.6)
            sys.stderr.write("MARK still inside\\n")
            return 1

        asyncio.run(Action("long_release", slow)())
    """), env={"COLUMNS": "120", "OTEL_EXEC_CONSOLE": "1"})
    assert done.returncode == 0, done.stderr
    err = done.stderr
    assert err.count("running since") == 1, err
    assert err.index("long_release  running since") < err.index("MARK still inside")
    assert err.index("MARK still inside") < err.rindex("long_release")


def test_the_doctor_says_where_spans_go_and_hides_header_values(tmp_path: Path) -> None:
    """OTEL_EXEC_DOCTOR=1: at exit, the provider's owner, its exporters with endpoint and
    protocol, the frameworks' state, the store, and the variables with header values hidden;
    ``otel-exec doctor`` runs in a fresh process too."""
    done = run_python(textwrap.dedent(f"""
        import otel_exec
        otel_exec.configure(service_name="billing", file={str(tmp_path / "t.jsonl")!r},
                            exit_timeout=0)
        otel_exec.instrument("falyx")
        with otel_exec.span("work"):
            pass
    """), env={"OTEL_EXEC_DOCTOR": "1", "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{1}",
               "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=hunter2-secret,tenant=acme",
               "OTEL_RESOURCE_ATTRIBUTES": "team=\x1b[31mred"})
    assert done.returncode == 0, done.stderr
    err = done.stderr
    for expected in ("tracer provider: the SDK's, otel_exec.configure()", "service.name: billing",
                     "exporter: HttpSpanExporter http/protobuf http://127.0.0.1:1/v1/traces",
                     f"exporter: FileSpanExporter {tmp_path / 't.jsonl'}",
                     "falyx ", "instrumented when the program imports it",
                     "store: 1 executions kept", "fast span path: "):
        assert expected in err, (expected, err)
    assert "hunter2" not in err and "\x1b" not in err
    assert "OTEL_RESOURCE_ATTRIBUTES=team=\\x1b[31mred" in err
    cli = Path(sys.executable).with_name("otel-exec")
    report = subprocess.run([str(cli), "doctor"], capture_output=True, text=True, timeout=60,
                            check=False)
    assert report.returncode == 0 and "tracer provider: none set" in report.stdout

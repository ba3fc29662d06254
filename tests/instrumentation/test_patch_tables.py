"""Patch tables against the installed frameworks: every target resolves with the parameters the
wrappers read by position, a renamed target leaves nothing patched, instrument / uninstrument
are safe from many threads, and the declared version ranges agree with the extras."""

from __future__ import annotations

import inspect
import logging
import threading
import tomllib
from pathlib import Path

import pytest
from falyx.action.chained_action import ChainedAction
from falyx.execution_registry import ExecutionRegistry
from opentelemetry.instrumentation.dependencies import get_dependency_conflicts
from packaging.requirements import Requirement

import otel_exec
from otel_exec.instrumentation import FRAMEWORKS
from otel_exec.instrumentation._patching import _owner, _replaced, check, is_patched
from otel_exec.instrumentation.dataknobs_fsm import PATCHES as FSM_PATCHES
from otel_exec.instrumentation.falyx import PATCHES as FALYX_PATCHES
from otel_exec.instrumentation.falyx import PROCESS_PATCHES, FalyxInstrumentor
from otel_exec.instrumentation.routilux import PATCHES as ROUTILUX_PATCHES
from tests.conftest import HAS_FSM, needs_fsm

TABLES = {"falyx": (*FALYX_PATCHES, *PROCESS_PATCHES), "dataknobs_fsm": FSM_PATCHES,
          "routilux": ROUTILUX_PATCHES}


FRAMEWORK_PARAMS = [pytest.param(name, marks=needs_fsm if name == "dataknobs_fsm" else ())
                    for name in TABLES]


@pytest.mark.parametrize("framework", FRAMEWORK_PARAMS)
def test_every_target_resolves_with_the_parameters_its_wrapper_reads(framework: str) -> None:
    problems = [reason for patch in TABLES[framework] if (reason := check(patch)) is not None]
    assert problems == []


def test_a_changed_signature_is_caught() -> None:
    from otel_exec.instrumentation._patching import Patch

    patch = Patch("falyx.execution_registry", "ExecutionRegistry.record", lambda *a: None,
                  params=("ctx",))
    assert "the wrapper expects (ctx, ...)" in str(check(patch))


def test_a_replacing_function_stands_in_for_a_function_or_classmethod_only() -> None:
    from otel_exec.instrumentation._patching import Replace

    def patch(attribute: str, module: str = "falyx.bottom_bar") -> Replace:
        return Replace(module, attribute, lambda original: original)

    assert check(patch("ExecutionRegistry.record", "falyx.execution_registry")) is None
    assert check(patch("BottomBar.add_static")) is None
    assert "not a plain function or classmethod" in str(check(patch("BottomBar.default_render")))


def test_a_wrapper_of_the_wrong_kind_is_refused_before_anything_is_patched() -> None:
    """A maker given as a Patch's wrapper (or the reverse) would make every call raise: the
    table check refuses it instead."""
    from otel_exec.instrumentation._patching import Patch, Replace

    maker = Replace("falyx.execution_registry", "ExecutionRegistry.record",
                    lambda original: original).make
    wrong = Patch("falyx.execution_registry", "ExecutionRegistry.record", maker)  # type: ignore[arg-type]
    assert "its wrapper does not take 4 arguments" in str(check(wrong))
    reverse = Replace("falyx.execution_registry", "ExecutionRegistry.record",
                      lambda wrapped, instance, args, kwargs: None)  # type: ignore[arg-type,misc]
    assert "its make does not take 1 argument" in str(check(reverse))


def test_a_missing_essential_target_leaves_falyx_uninstrumented(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delattr(ExecutionRegistry, "record")  # a release renamed it
    with caplog.at_level(logging.ERROR):
        assert otel_exec.instrument("falyx") == []  # no exception into the caller
    assert "ExecutionRegistry.record is missing" in caplog.text
    assert not FalyxInstrumentor().is_instrumented_by_opentelemetry
    assert not any(is_patched(p.module, p.attribute) for p in FALYX_PATCHES
                   if p.attribute != "ExecutionRegistry.record")


def test_a_routilux_without_a_function_its_wrappers_call_is_left_uninstrumented(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import routilux.core.context

    monkeypatch.delattr(routilux.core.context, "get_current_job")  # a release moved it
    with caplog.at_level(logging.ERROR):
        assert otel_exec.instrument("routilux") == []  # no exception into the caller
    assert "cannot import name 'get_current_job'" in caplog.text
    assert not any(is_patched(p.module, p.attribute) for p in ROUTILUX_PATCHES)


def test_a_missing_optional_target_is_skipped_with_one_warning(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delattr(ChainedAction, "_rollback")
    with caplog.at_level(logging.WARNING):
        assert otel_exec.instrument("falyx") == ["falyx"]
    try:
        assert caplog.text.count("ChainedAction._rollback is missing") == 1
        assert is_patched("falyx.action.base_action", "BaseAction.__call__")
    finally:
        otel_exec.uninstrument("falyx")
    assert not any(is_patched(p.module, p.attribute) for p in FALYX_PATCHES
                   if p.attribute != "ChainedAction._rollback")


def test_instrument_and_uninstrument_from_many_threads_never_stack_wrappers() -> None:
    barrier = threading.Barrier(8)

    def flip(worker: int) -> None:
        barrier.wait()
        for turn in range(25):
            if (worker + turn) % 2:
                otel_exec.instrument("falyx")
            else:
                otel_exec.uninstrument("falyx")

    originals = {patch: vars(_owner(patch.module, patch.attribute)[0])[
        _owner(patch.module, patch.attribute)[1]] for patch in FALYX_PATCHES}
    threads = [threading.Thread(target=flip, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    otel_exec.instrument("falyx")
    try:
        for patch, original in originals.items():
            owner, name = _owner(patch.module, patch.attribute)
            assert is_patched(patch.module, patch.attribute), patch.target
            assert _replaced(vars(owner)[name]) is original, patch.target  # one layer
    finally:
        otel_exec.uninstrument("falyx")
    assert not any(is_patched(p.module, p.attribute) for p in FALYX_PATCHES)
    assert all(vars(_owner(p.module, p.attribute)[0])[_owner(p.module, p.attribute)[1]]
               is original for p, original in originals.items())


def test_declared_versions_agree_with_the_extras_and_the_installed_frameworks() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    declared = {Requirement(r).name: Requirement(r) for r in extras["instruments-any"]}
    for name, framework in FRAMEWORKS.items():
        if name == "dataknobs_fsm" and not HAS_FSM:
            continue
        (requirement,) = framework.load().instrumentation_dependencies()
        parsed = Requirement(requirement)
        assert parsed.specifier == declared[parsed.name].specifier, name
        assert list(parsed.specifier.filter(["99"])) == [], f"{name} has no version ceiling"
        assert get_dependency_conflicts([requirement]) is None, name
        extra = extras.get(framework.distribution, [])
        supported = {Requirement(r).name: Requirement(r).specifier for r in extra}
        for extra_name, specifier in supported.items():
            assert all(parsed.specifier.contains(v) for v in _bounds(specifier)), extra_name


def _bounds(specifier: object) -> list[str]:
    """The lowest version an extra allows (it must be inside the instrumentor's range)."""
    return [s.version for s in specifier if s.operator == ">="]  # type: ignore[attr-defined]


@pytest.mark.parametrize("framework", FRAMEWORK_PARAMS)
def test_replaced_methods_come_back_as_they_were(framework: str) -> None:
    replaced = [patch for patch in TABLES[framework] if patch not in PROCESS_PATCHES]
    originals = [vars(_owner(p.module, p.attribute)[0])[_owner(p.module, p.attribute)[1]]
                 for p in replaced]
    otel_exec.instrument(framework)
    try:
        for patch, original in zip(replaced, originals, strict=True):
            owner, name = _owner(patch.module, patch.attribute)
            current = vars(owner)[name]
            assert current is not original and _replaced(current) is original
            assert type(current) is type(original)  # a classmethod stays one
            function = getattr(current, "__func__", current)
            assert function.__wrapped__ is getattr(original, "__func__", original)
            assert inspect.signature(function) == inspect.signature(function.__wrapped__)
            assert inspect.iscoroutinefunction(function) == inspect.iscoroutinefunction(
                function.__wrapped__)
    finally:
        otel_exec.uninstrument(framework)
    assert [vars(_owner(p.module, p.attribute)[0])[_owner(p.module, p.attribute)[1]]
            for p in replaced] == originals

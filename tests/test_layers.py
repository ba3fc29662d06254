"""Imports point one way: each module imports only its own layer and the layers below it.
Every import counts (inside functions too); only ``if TYPE_CHECKING:`` blocks are left out."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "otel_exec"

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("entry points", ("otel_exec", "otel_exec.__main__", "otel_exec.cli", "otel_exec.demo",
                      "otel_exec.pytest_plugin", "otel_exec.serve")),
    ("setup", ("otel_exec.config", "otel_exec.logs_setup", "otel_exec.metrics_setup",
               "otel_exec.duration_histogram", "otel_exec.otlp_signals",
               "otel_exec.diagnostics",
               "otel_exec._test_routing")),
    ("instrumentation", ("otel_exec.instrumentation",)),
    ("spans", ("otel_exec.spans",)),
    ("pages", ("otel_exec.viewer",)),
    ("SQL over traces", ("otel_exec.trace_sql",)),
    ("views", ("otel_exec.views",)),
    ("presentation and files", ("otel_exec.render", "otel_exec.live_console",
                                "otel_exec.trace_files")),
    ("store", ("otel_exec.execution_store",)),
    ("model and SDK boundary", ("otel_exec.execution", "otel_exec.semconv", "otel_exec.values",
                                "otel_exec.rows", "otel_exec._context", "otel_exec._wiring",
                                "otel_exec.sampling",
                                "otel_exec._sdk")),
)
"""Top to bottom: a module may import from its own layer and any layer after it."""


def layer_of(module: str) -> int:
    """The layer of a module: the longest prefix listed (a package covers its modules)."""
    best = (-1, -1)
    for number, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = (len(prefix), number)
    assert best[1] >= 0, f"{module} is in no layer: add it to LAYERS"
    return best[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, module) of every otel_exec import the module in ``path`` makes at run time."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    pending: list[ast.AST] = [ast.parse(path.read_text())]
    while pending:
        node = pending.pop()
        if _type_checking(node):
            pending.extend(getattr(node, "orelse", []))
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found += [(node.lineno, f"{base}.{alias.name}" if _is_module(f"{base}.{alias.name}")
                       else base) for alias in node.names]
        pending.extend(ast.iter_child_nodes(node))
    return [(line, name) for line, name in found if name.split(".")[0] == "otel_exec"]


def _is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    return ((PACKAGE / relative).with_suffix(".py").exists()
            or (PACKAGE / relative / "__init__.py").exists())


def upward_imports(files: list[tuple[Path, str]] | None = None) -> list[str]:
    """Every import that runs up a layer, in the package (or in ``files``: path, module)."""
    found = []
    for path, importer in files or [(path, module_name(path))
                                    for path in sorted(PACKAGE.rglob("*.py"))]:
        for line, imported in imports(path, importer):
            if layer_of(imported) < layer_of(importer):
                found.append(f"{path.name}:{line}: {importer} "
                             f"({LAYERS[layer_of(importer)][0]}) imports {imported} "
                             f"({LAYERS[layer_of(imported)][0]})")
    return found


def test_imports_point_down_the_layers() -> None:
    assert upward_imports() == []


def test_the_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    """The rule can fail: an import placed in a function body is found."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from otel_exec.spans import get_tracer\n"
                     "    return get_tracer\n")
    assert upward_imports([(probe, "otel_exec.views.probe")]) == [
        "probe.py:2: otel_exec.views.probe (views) imports otel_exec.spans (spans)"]

"""The docs a reader follows: every span kind listed, nothing cited that a reader cannot open."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from otel_exec import semconv

ROOT = Path(__file__).resolve().parents[1]


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:end if end != -1 else None]


def test_semconv_lists_every_exec_kind() -> None:
    kinds = _section((ROOT / "docs" / "semconv.md").read_text(), "## `exec.kind`")
    ours = {value for name, value in vars(semconv).items() if name.startswith("KIND_")}
    assert ours and {kind for kind in ours if f"`{kind}`" not in kinds} == set()


def test_semconv_lists_every_falyx_kind() -> None:
    falyx_action = pytest.importorskip("falyx.action")
    from falyx.action.base_action import BaseAction

    from otel_exec.instrumentation.falyx import _snake

    kinds = _section((ROOT / "docs" / "semconv.md").read_text(), "## `exec.kind`")
    classes = [cls for _, cls in inspect.getmembers(falyx_action, inspect.isclass)
               if issubclass(cls, BaseAction)]
    assert classes
    assert [cls.__name__ for cls in classes if f"`{_snake(cls.__name__)}`" not in kinds] == []


CITATIONS = re.compile(
    r"\bissues? #?\d+|\bthe seeds\b|\bseeds/|DESIGN\.md|\bnotes/|\bfield notes?\b", re.IGNORECASE)
COMMIT = re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,12}\b")


def _project_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", ROOT / "Makefile",
             ROOT / "pyproject.toml"]
    for folder, pattern in (("docs", "*.md"), ("otel_exec", "*.py"), ("tests", "*.py"),
                            ("bench", "*.py"), ("examples", "*.py"), ("scripts", "*"),
                            ("collector-config", "*")):
        files += [path for path in (ROOT / folder).rglob(pattern) if path.is_file()]
    return [path for path in files if path.exists() and path != Path(__file__)
            and "__pycache__" not in path.parts]


def test_no_file_cites_what_a_reader_cannot_open() -> None:
    cited = []
    for path in _project_files():
        text = path.read_text(errors="replace")
        cited += [f"{path.relative_to(ROOT)}: {match.group()}"
                  for match in CITATIONS.finditer(text)]
        if path.suffix == ".md":  # commit hashes in prose (code may hold made-up ones)
            cited += [f"{path.relative_to(ROOT)}: {match.group()}"
                      for match in COMMIT.finditer(text)]
    assert cited == []


def test_architecture_names_only_files_that_exist() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text()
    named = set(re.findall(r"`((?:otel_exec/|tests/|instrumentation/|_sdk/|views/|trace_files/)?"
                           r"[\w/]+\.py)`", text))
    package = ROOT / "otel_exec"
    missing = [name for name in named
               if not any((base / name).exists() for base in (
                   ROOT, package, package / "instrumentation", package / "_sdk",
                   ROOT / "tests" / "instrumentation"))]
    assert named and missing == []

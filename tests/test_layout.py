"""The package's shape, as issue 7 set it: the pipeline readable from the folder names,
the edges (command line, sockets) apart from the pure core, modules small and named
apart, each opening with a docstring."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "src" / "tlslens"
GENERATED = {PACKAGE / "registry" / "_generated.py"}
EDGES = ("tlslens.cli", "tlslens.net", "tlslens.report", "tlslens.tables")
MAX_LINES = 600
MAX_FUNCTION_LINES = 100

MODULES = sorted(PACKAGE.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _module_names() -> dict[str, list[Path]]:
    """Every module and subpackage of tlslens by its bare name."""
    names: dict[str, list[Path]] = {}
    for path in MODULES:
        name = path.parent.name if path.name == "__init__.py" else path.stem
        if path == PACKAGE / "__init__.py" or name == "__main__":
            continue
        names.setdefault(name.lstrip("_").lower(), []).append(path)
    return names


def test_pipeline_stages_are_folders() -> None:
    stages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert {
        "capture",
        "flows",
        "tls",
        "handshake",
        "keys",
        "decrypt",
        "x509",
        "explain",
        "registry",
        "cli",
        "net",
        "report",
    } <= stages


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_hand_written_module_over_600_lines(path: Path) -> None:
    if path in GENERATED:
        return
    assert len(path.read_text().splitlines()) <= MAX_LINES


def _long_functions(path: Path) -> list[str]:
    """Functions and methods of ``path`` longer than MAX_FUNCTION_LINES, counted from the
    ``def`` line to the last line of the body (decorators not counted), as name:lines."""
    long = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                long.append(f"{node.name}:{lines}")
    return long


@pytest.mark.parametrize(
    "path",
    MODULES,
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_no_function_over_100_lines(path: Path) -> None:
    if path in GENERATED:
        return
    assert _long_functions(path) == []


def test_no_two_modules_share_a_name_up_to_a_suffix() -> None:
    names = _module_names()
    clashes = [
        (a, b)
        for a, b in itertools.combinations(sorted(names), 2)
        if b.startswith(a) or a.startswith(b)
    ]
    repeated = {name: paths for name, paths in names.items() if len(paths) > 1}
    assert clashes == []
    assert repeated == {}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_imports_nothing_from_the_edges(path: Path) -> None:
    relative = path.relative_to(PACKAGE).parts
    if relative[0] in ("cli", "net", "report", "tables") or relative == ("__main__.py",):
        return
    leaks = sorted(n for n in _imports(path) if n.startswith(EDGES))
    assert leaks == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_opens_with_a_docstring(path: Path) -> None:
    if path.name == "__main__.py" or path in GENERATED:  # its header comment gives the source
        return
    assert ast.get_docstring(ast.parse(path.read_text())), f"{path} has no module docstring"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_other_edges_import_nothing_from_the_cli(path: Path) -> None:
    """`report`, `extract` and `connect` judge a capture as `show` does through
    tlslens.judge, not through the command line's modules (issue 23, item 4)."""
    if path.relative_to(PACKAGE).parts[0] not in ("net", "report", "tables"):
        return
    leaks = sorted(n for n in _imports(path) if n == "tlslens.cli" or n.startswith("tlslens.cli."))
    assert leaks == []


def test_only_the_cli_prints() -> None:
    printers = []
    for path in MODULES:
        if path.relative_to(PACKAGE).parts[0] == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                printers.append(str(path.relative_to(PACKAGE)))
    assert printers == []

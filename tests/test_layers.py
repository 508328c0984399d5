"""Imports point down only: core ← api ← client ← server ← candor (docs/architecture.md).

`core/` is the floor and imports none of the packages above it; `api/` (generated code,
protobuf conversions, status table, identity folders, certificates) imports only the core;
`client/` imports the core and `api/`, never `server/`; `server/` may also use the client
library (a trustee or witness talks to other parties through it); neither imports the
application `candor/` (the CLI and the demo) that sits on top of them. Every import counts,
including one inside a function. Benchmarks and tests sit beside the application and no
package imports them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: For each package, the first-party packages it must never import.
FORBIDDEN = {
    "core": {"api", "client", "server", "candor", "bench", "tests"},
    "api": {"client", "server", "candor", "bench", "tests"},
    "client": {"server", "candor", "bench", "tests"},
    "server": {"candor", "bench", "tests"},
    "candor": {"bench", "tests"},
}


def imported_packages(path: Path) -> set[tuple[int, str]]:
    """(line, top-level package) of every absolute import in `path`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {(node.lineno, alias.name.split(".")[0]) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import; name the package"
            assert node.module is not None
            found.add((node.lineno, node.module.split(".")[0]))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_down(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no modules found under {package}/"
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in files
        for line, name in sorted(imported_packages(path))
        if name in FORBIDDEN[package]
    ]
    assert not upward, f"{package}/ imports a package above it:\n" + "\n".join(upward)


def test_import_check_sees_violations(tmp_path: Path) -> None:
    """The scan finds an upward import wherever it is written, top level or in a function."""
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom api.v1 import ledger_pb2\n\ndef f():\n    import candor.cli\n")
    assert imported_packages(module) == {(1, "os"), (2, "api"), (5, "candor")}

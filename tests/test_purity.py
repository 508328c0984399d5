"""The core stays pure: importing every core module loads no transport or storage."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import core

FORBIDDEN = ("grpc", "google.protobuf", "sqlite3", "psycopg")


def test_core_imports_no_transport_or_storage() -> None:
    modules = [f"core.{m.name}" for m in pkgutil.iter_modules(core.__path__)]
    assert modules, "the core package has no modules"
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = [f for f in {FORBIDDEN!r} if f in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core loaded {out.stdout.strip()}"

"""The committed generated code matches what the one codegen entry point produces now."""

from __future__ import annotations

from pathlib import Path

from api import protoc


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    generated = protoc.generate(tmp_path)
    committed = protoc.ROOT / "api" / "v1"
    names = {p.name for p in generated}
    assert names == {p.name for p in committed.iterdir() if p.is_file()}, (
        "generated files differ from api/v1: run `python -m api.protoc`"
    )
    for path in generated:
        assert path.read_bytes() == (committed / path.name).read_bytes(), (
            f"api/v1/{path.name} is stale: run `python -m api.protoc`"
        )

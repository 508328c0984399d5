"""Shared fixtures: a test alliance (test-only 1024-bit key, small registry) and a running
operator on localhost with mTLS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

KEYS = Path(__file__).parent / "keys"
TEST_CATEGORIES = ("contract_default", "fake_traffic", "false_advertising")


@pytest.fixture(scope="session")
def alliance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh alliance (3 members, 2-of-3 trustees, 2 witnesses, quorum 1) made once."""
    from server.ceremony import Plan, init_alliance

    root = tmp_path_factory.mktemp("alliance") / "alliance"
    init_alliance(Plan(
        directory=root, members=("a", "b", "c"), trustees=3, threshold=2, witnesses=2, quorum=1,
        key_file=KEYS / "test_only_threshold_1024_t2_n3.json", categories=TEST_CATEGORIES,
    ))
    return root


@pytest.fixture()
def operator(alliance_dir: Path, tmp_path: Path) -> Iterator[object]:
    """A running operator over a fresh SQLite ledger holding the alliance's genesis."""
    from api.identity import Identity
    from server.app import Settings, create_server
    from server.ceremony import bootstrap_entries
    from server.database import open_store

    store = open_store(str(tmp_path / "ledger.db"))
    op = create_server(Settings(identity=Identity.load(alliance_dir / "operator")), store)
    op.ledger.append_now(bootstrap_entries(alliance_dir / "operator"))
    yield op
    op.stop(grace=1)
    store.close()

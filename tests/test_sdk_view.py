"""The member SDK's persisted ledger view (client/ledger_view.py, docs/ledger.md).

A run loads the view a previous run verified and fetches only the entries after it. Attacks:
a view file with a changed state entry, a changed size or another alliance's genesis is
detected and the view rebuilt from genesis, never used, whether or not the attacker could
recompute the file's MAC; a view ahead of the ledger the operator now serves (a rollback), or
of another log of the same size (a fork), is refused by the verifier's rollback and fork rules.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from api.identity import Identity
from client import ledger_view
from client.sdk import Member
from core.errors import VerificationError

DAY = (_dt.date.today() - _dt.timedelta(days=3)).isoformat()


def open_member(alliance_dir: Path, name: str, address: str, state_dir: Path) -> Member:
    return Member(Identity.load(alliance_dir / f"member-{name}"), address, state_dir, pool_size=0,
                  coupon_pool_size=0)


def fetched_from(member: Member) -> list[int]:
    """Record the start of every range of entries `member` fetches from now on."""
    starts: list[int] = []
    fetch: Callable[[int, int], list[bytes]] = member.conn.entries

    def spy(start: int, end: int) -> list[bytes]:
        starts.append(start)
        return fetch(start, end)

    member.conn.entries = spy  # type: ignore[method-assign]
    return starts


def honest_state(alliance_dir: Path, address: str, tmp_path: Path) -> dict[str, bytes]:
    with open_member(alliance_dir, "c", address, tmp_path / "honest") as m:
        m.refresh()
        return dict(m._view.kv.items())


@pytest.fixture()
def synced(alliance_dir: Path, operator: Any, tmp_path: Path) -> tuple[Path, str]:
    """Member a's state folder holding a view of a ledger with two reports, and the address."""
    address = f"127.0.0.1:{operator.port}"
    with open_member(alliance_dir, "b", address, tmp_path / "state-b") as bob:
        bob.submit_report("view-1", "fake_traffic", "minor", DAY)
        bob.submit_report("view-2", "fake_traffic", "serious", DAY)
    folder = tmp_path / "state-a"
    with open_member(alliance_dir, "a", address, folder) as alice:
        alice.refresh()
    assert (folder / "view.state").exists()
    return folder, address


def parts(path: Path) -> tuple[dict[str, Any], bytes]:
    raw = path.read_bytes()
    body = raw[len(ledger_view.MAGIC):-32]
    line, _, blocks = body.partition(b"\n")
    return json.loads(line), blocks


def rewrite(path: Path, header: dict[str, Any], blocks: bytes, key: bytes | None) -> None:
    """Write a view file; `key` None: keep the old MAC (an attacker without the member's key)."""
    body = ledger_view.MAGIC + json.dumps(header, separators=(",", ":")).encode() + b"\n" + blocks
    mac = path.read_bytes()[-32:] if key is None else hmac.new(key, body, hashlib.sha256).digest()
    path.write_bytes(body + mac)


def member_key(alliance_dir: Path, genesis_hash: bytes) -> bytes:
    secret = int(Identity.load(alliance_dir / "member-a").read("reporting.key").decode().strip(), 16)
    return ledger_view.view_key(secret.to_bytes(32, "big"), genesis_hash)


def test_a_later_run_loads_the_view_and_fetches_only_new_entries(alliance_dir: Path, operator: Any, tmp_path: Path,
                                                                 synced: tuple[Path, str]) -> None:
    folder, address = synced
    with open_member(alliance_dir, "a", address, folder) as alice:
        kept = alice._view.size
        assert kept == operator.ledger.store.size()
        starts = fetched_from(alice)
        receipt = alice.submit_report("view-3", "fake_traffic", "minor", DAY)
        assert starts == []  # nothing new before the report: the persisted view was current
    with open_member(alliance_dir, "a", address, folder) as alice:
        assert alice._view.size == kept
        starts = fetched_from(alice)
        assert alice.refresh() == receipt.index + 1
        assert starts == [kept]
        assert dict(alice._view.kv.items()) == honest_state(alliance_dir, address, tmp_path)


def _changed_state_entry(header: dict[str, Any], blocks: bytes) -> tuple[dict[str, Any], bytes]:
    old = b'"revoked_at":null'
    assert old in blocks
    return header, blocks.replace(old, b'"revoked_at":1234', 1)  # same length: only the MAC tells


def _changed_size(header: dict[str, Any], blocks: bytes) -> tuple[dict[str, Any], bytes]:
    return {**header, "size": header["size"] + 1}, blocks


def _other_genesis(header: dict[str, Any], blocks: bytes) -> tuple[dict[str, Any], bytes]:
    return {**header, "genesis": hashlib.sha256(b"another alliance").hexdigest()}, blocks


def _fewer_peaks(header: dict[str, Any], blocks: bytes) -> tuple[dict[str, Any], bytes]:
    return {**header, "peaks": header["peaks"][1:]}, blocks


# The MAC: kept from the honest file (a forger without the member's key), recomputed with the
# member's own key (so that the checks behind the MAC are what refuses), or made with the key
# this member would have in another alliance. Only the MAC protects the state entries: a forger
# holding the member's reporting key is the member, so that one case is not listed.
CASES = [(tamper, mac) for tamper in (_changed_state_entry, _changed_size, _other_genesis, _fewer_peaks)
         for mac in ("kept", "recomputed", "other-genesis key")
         if (tamper, mac) != (_changed_state_entry, "recomputed")]


@pytest.mark.parametrize(("tamper", "mac"), CASES)
def test_a_tampered_view_is_rebuilt_from_genesis_never_used(
        alliance_dir: Path, operator: Any, tmp_path: Path, synced: tuple[Path, str],
        tamper: Callable[[dict[str, Any], bytes], tuple[dict[str, Any], bytes]], mac: str) -> None:
    folder, address = synced
    path = folder / "view.state"
    header, blocks = tamper(*parts(path))
    genesis = bytes.fromhex(parts(path)[0]["genesis"])
    key = {"kept": None, "recomputed": member_key(alliance_dir, genesis),
           "other-genesis key": member_key(alliance_dir, hashlib.sha256(b"another alliance").digest())}[mac]
    rewrite(path, header, blocks, key)
    with open_member(alliance_dir, "a", address, folder) as alice:
        assert alice.genesis_hash == genesis
        assert alice._view.size == 0  # discarded: nothing of the file is used
        starts = fetched_from(alice)
        assert alice.refresh() == operator.ledger.store.size()
        assert starts == [0]
        assert dict(alice._view.kv.items()) == honest_state(alliance_dir, address, tmp_path)
    assert parts(path)[0]["size"] == operator.ledger.store.size()  # the rebuilt view replaced it


def test_a_view_of_another_log_of_the_same_size_is_a_fork(alliance_dir: Path, tmp_path: Path,
                                                          synced: tuple[Path, str]) -> None:
    from server.app import Settings, create_server
    from server.ceremony import bootstrap_entries
    from server.database import open_store

    folder, _ = synced
    kept = parts(folder / "view.state")[0]
    store = open_store(str(tmp_path / "forked.db"))  # same genesis, other reports, same size
    forked = create_server(Settings(identity=Identity.load(alliance_dir / "operator")), store)
    try:
        forked.ledger.append_now(bootstrap_entries(alliance_dir / "operator"))
        address = f"127.0.0.1:{forked.port}"
        with open_member(alliance_dir, "b", address, tmp_path / "state-b-fork") as bob:
            while forked.ledger.store.size() < kept["size"]:
                bob.submit_report("fork", "fake_traffic", "general", DAY)
        assert forked.ledger.store.size() == kept["size"]
        with open_member(alliance_dir, "a", address, folder) as alice:
            assert alice._view.size == kept["size"]
            with pytest.raises(VerificationError, match="fork"):
                alice.refresh()
    finally:
        forked.stop(grace=0)
        store.close()


def test_a_view_ahead_of_the_served_ledger_is_a_rollback(alliance_dir: Path, operator: Any, tmp_path: Path,
                                                         synced: tuple[Path, str]) -> None:
    from server.app import Settings, create_server
    from server.ceremony import bootstrap_entries
    from server.database import open_store

    folder, _ = synced
    kept = parts(folder / "view.state")[0]["size"]
    store = open_store(str(tmp_path / "restored.db"))  # the operator restored an older backup
    restored = create_server(Settings(identity=Identity.load(alliance_dir / "operator")), store)
    try:
        restored.ledger.append_now(bootstrap_entries(alliance_dir / "operator"))
        assert restored.ledger.store.size() < kept
        with open_member(alliance_dir, "a", f"127.0.0.1:{restored.port}", folder) as alice:
            assert alice._view.size == kept
            with pytest.raises(VerificationError, match="rollback"):
                alice.refresh()
            with pytest.raises(VerificationError, match="rollback"):
                alice.submit_report("after-rollback", "fake_traffic", "minor", DAY)
        assert parts(folder / "view.state")[0]["size"] == kept  # kept as evidence, not replaced
    finally:
        restored.stop(grace=0)
        store.close()

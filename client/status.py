"""`candor status`: one look at an alliance from any party's seat (docs/operations.md).

What it gathers, each from the most trustworthy place that has it:
- the operator: reachable or not, at which address;
- the ledger: its size and the age of its newest entry, read from entries that hash to the
  operator-signed checkpoint's root (the checkpoint is opened with the operator's key and
  every cosignature on it is verified; the quorum itself is reported, not required, since
  a missing witness is one of the things this screen exists to show);
- each witness of the genesis: whether it cosigned the latest checkpoint and how long ago;
  missing ones are named;
- trustees: whether each accepts an mTLS connection, for the parties that know where they
  listen (the operator's identity lists them; a trustee knows its own address);
- the rule set in force today, the last rating epoch and what it did, open and overdue
  disputes: derived from the ledger entries themselves (core/record.py), so they are what
  any auditor would derive;
- optionally the operator's Prometheus endpoint (`--metrics HOST:PORT`) for the time since
  its last completed epoch, which also covers epochs that had nothing to rate (those append
  nothing to the ledger).

Anything that keeps a party from doing its job (an unreachable party, a checkpoint without
the witness quorum, entries that do not match the checkpoint) is a *problem*; overdue
disputes are a *warning*. The result is a JSON-ready dict.
"""

from __future__ import annotations

import datetime as _dt
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from api import wire
from api.identity import Identity
from client.connection import Connection, secure_channel
from client.verifier import LogVerifier
from core import entries as e
from core import merkle, record
from core.errors import CandorError, VerificationError
from core.rules import RuleSet, check_canonical

EPOCH_GAP_S = 600
"""Two rating requests further apart than this belong to different epochs (an epoch appends
all its requests first, then their answers; see `last_epoch`)."""


def trustee_reachable(identity: Identity, address: str, peer: str, timeout: float = 3.0) -> str | None:
    """None if an mTLS connection to `peer` at `address` comes up within `timeout`, else why not."""
    import grpc

    try:
        with secure_channel(identity, address, peer) as channel:
            grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        return f"no mTLS connection to {address} within {timeout:g} s: is `candor trustee serve` running there?"
    except ValueError as exc:
        return str(exc)
    return None


def last_epoch(located: list[record.Located], now_ms: int) -> dict[str, Any] | None:
    """The last rating epoch seen on the ledger, or None if there was none.

    An epoch appends one RatingRequested per subject whose inputs changed, then answers
    them (RatingPublished, RatingHeld or RatingWithdrawn). So the last epoch's requests are
    the newest run of requests with no answer between them and no gap over EPOCH_GAP_S;
    its answers are those naming these requests. An epoch with nothing to rate appends
    nothing and is not seen here (the operator's epoch-lag metric covers it).
    """
    requests: list[tuple[int, int, str]] = []  # (index, timestamp_ms, rule set version), newest first
    for item in reversed(located):
        body = item.entry.body
        if isinstance(body, e.RatingRequested):
            if requests and requests[-1][1] - item.entry.timestamp_ms > EPOCH_GAP_S * 1000:
                break
            requests.append((item.index, item.entry.timestamp_ms, body.rule_set_version))
        elif requests and isinstance(body, (e.RatingPublished, e.RatingHeld, e.RatingWithdrawn)):
            break  # an answer before the run: the previous epoch's
    if not requests:
        return None
    asked = {index for index, _, _ in requests}
    answers = {"published": 0, "held": 0, "withdrawn": 0}
    answered: set[int] = set()
    for item in located:
        body = item.entry.body
        if isinstance(body, (e.RatingPublished, e.RatingHeld, e.RatingWithdrawn)) and body.request_index in asked:
            answers[_ANSWERS[type(body)]] += 1
            answered.add(body.request_index)
    started = requests[-1][1]
    return {"started": _iso(started), "age_s": max(0, round((now_ms - started) / 1000)),
            "requests": len(requests), **answers, "unanswered": len(asked - answered), "rule_set": requests[0][2]}


_ANSWERS: dict[type, str] = {e.RatingPublished: "published", e.RatingHeld: "held", e.RatingWithdrawn: "withdrawn"}


def _iso(ms: int) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC).isoformat(timespec="seconds")


def ledger_facts(leaves: list[bytes], size: int, root: bytes, categories: tuple[str, ...],
                 now_ms: int) -> dict[str, Any]:
    """Rule set in force, last epoch and disputes, from the ledger's first `size` leaves
    (VerificationError unless they hash to `root`)."""
    if len(leaves) < size or merkle.root([merkle.leaf_hash(leaf) for leaf in leaves[:size]]) != root:
        raise VerificationError("the entries served do not hash to the checkpoint's root")
    located = []
    for index, leaf in enumerate(leaves[:size]):
        signed = wire.signed_entry_from_bytes(leaf, check_canonical=False)
        located.append(record.Located(index, signed.entry, "ring" if signed.ring_signature else "signed"))
    today = _dt.datetime.fromtimestamp(now_ms / 1000, tz=_dt.UTC).date()
    rule_sets: list[tuple[int, RuleSet]] = [(i.index, check_canonical(i.entry.body.canonical_toml, categories))
                                            for i in located if isinstance(i.entry.body, e.RuleSetPublished)]
    in_force = record.rules_in_force([r for _, r in rule_sets], today)
    rules = None
    if in_force is not None:
        entry = max(i for i, r in rule_sets if r is in_force)
        rules = {"version": in_force.version, "effective_from": in_force.effective_from.isoformat(), "entry": entry}
    disputes = record.disputes_of(located)
    open_ = [d for d in disputes if d.open]
    overdue = [d for d in open_ if d.overdue(today)]
    newest = max((i.entry.timestamp_ms for i in located), default=0)
    return {
        "latest_entry_age_s": max(0, round((now_ms - newest) / 1000)) if located else None,
        "rules_in_force": rules,
        "last_epoch": last_epoch(located, now_ms),
        "disputes": {"open": len(open_), "overdue": len(overdue),
                     "overdue_ids": [d.dispute_id for d in overdue], "oldest_due": min((d.due for d in open_),
                                                                                      default=None)},
    }


def epoch_lag(metrics: str, timeout: float = 3.0) -> float | None:
    """Seconds since the operator's last completed epoch, from its Prometheus endpoint
    (None if that server runs no epochs); CandorError if the endpoint does not answer."""
    from core.errors import Unavailable

    url = metrics if "://" in metrics else f"http://{metrics}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - an operator-given URL
            text = resp.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise Unavailable(f"the operator's metrics at {url} do not answer: {getattr(exc, 'reason', exc)}") from None
    for line in text.splitlines():
        if line.startswith("candor_epoch_lag_seconds "):
            return float(line.split()[1])
    return None


def gather(identity: Identity, address: str | None = None, *, metrics: str | None = None,
           clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """The status of the alliance as `identity` sees it (module docstring)."""
    verifier = LogVerifier(identity.genesis_leaf())
    genesis = verifier.alliance.genesis
    address = address or identity.server
    now_ms = int(clock() * 1000)
    status: dict[str, Any] = {"party": f"{identity.role} {identity.name}", "operator": address}
    problems: list[str] = []
    warnings: list[str] = []
    try:
        with Connection(identity, address, timeout=10) as conn:
            note = conn.checkpoint().note
            cp = verifier.open(note, quorum=0)
            leaves = conn.entries(0, cp.checkpoint.size)
        status.update({"operator_reachable": True, "ledger_size": cp.checkpoint.size,
                       "witness_quorum": f"{genesis.witness_quorum} of {len(genesis.witnesses)}"})
        stamps = {s.name: s.timestamp for s in cp.cosignatures if s.timestamp is not None}
        status["witnesses"] = {
            w.name: {"cosigned_latest": w.name in stamps,
                     "age_s": max(0, round(now_ms / 1000 - stamps[w.name])) if w.name in stamps else None}
            for w in genesis.witnesses}
        status["newest_cosignature_age_s"] = (max(0, round(now_ms / 1000 - max(stamps.values())))
                                              if stamps else None)
        if len(stamps) < genesis.witness_quorum:
            missing = [w.name for w in genesis.witnesses if w.name not in stamps]
            problems.append(f"latest checkpoint (size {cp.checkpoint.size}) lacks the witness quorum "
                            f"({genesis.witness_quorum}); missing {', '.join(missing)}: is `candor witness "
                            f"--identity <alliance>/{missing[0]}` running?")
        try:
            status.update(ledger_facts(leaves, cp.checkpoint.size, cp.checkpoint.root_hash, genesis.categories,
                                       now_ms))
            overdue = status["disputes"]["overdue"]
            if overdue:
                warnings.append(f"{overdue} open dispute(s) past their 20-day answer date: "
                                f"{', '.join(status['disputes']['overdue_ids'])}")
        except CandorError as exc:
            problems.append(f"the ledger could not be read: {exc}")
    except CandorError as exc:
        status["operator_reachable"] = False
        problems.append(str(exc))
    if metrics:
        try:
            lag = epoch_lag(metrics)
            status["epoch_lag_s"] = None if lag is None else round(lag)
            if lag is None:
                warnings.append(f"the operator at {metrics} runs no epochs (no candor_epoch_lag_seconds)")
        except CandorError as exc:
            problems.append(str(exc))
    trustees = {str(i): str(a) for i, a in identity.info.get("trustees", {}).items()}
    if identity.role == "trustee":
        trustees = {str(identity.info.get("index")): str(identity.info.get("listen"))}
    if trustees:
        with ThreadPoolExecutor(max_workers=len(trustees)) as pool:
            checks = {i: pool.submit(trustee_reachable, identity, a, f"trustee-{i}") for i, a in trustees.items()}
        status["trustees"] = {}
        for index, trustee_address in sorted(trustees.items()):
            why = checks[index].result()
            status["trustees"][f"trustee-{index}"] = {"address": trustee_address, "reachable": why is None}
            if why is not None:
                problems.append(f"trustee {index} at {trustee_address}: {why}")
    status["ok"] = not problems
    status["problems"] = problems
    status["warnings"] = warnings
    return status

"""The intake queue, sequencer lease and notifications of the PostgreSQL store.

Several servers, one ledger (server/shared_sequencer.py). Beyond the `LedgerStore` contract this
store offers what a multi-server deployment needs:

* `try_sequencer_lease`: a session-level advisory lock (`pg_try_advisory_lock`) taken on a
  connection of its own. Only the holder sequences, and it commits through that very
  connection, so a holder whose session died (and with it the lock) cannot commit any more:
  its next call raises Unavailable. The compare-and-set on the ledger size stays the last
  line: a writer that bypasses the lease still cannot fork the log.
* The `intake` table (migration 2): `intake_submit` queues verified entries from any server;
  the lease holder reads `pending` rows and `commit`s a batch together with every row's
  outcome in ONE transaction, so an outcome "appended at index i" exists if and only if entry
  i is durably that leaf. Deciding a row moves it: it leaves `intake` and its outcome enters
  `intake_outcome` (migration 4), in one statement, so a row is decided at most once (by the
  sequencer or by `intake_cancel`, whichever deletes it first). `intake_collect` hands
  outcomes back to the accepting server.
* LISTEN/NOTIFY on one channel per schema ("intake", "outcome", "checkpoint", "cosigned") so that nobody
  has to poll fast; every waiter still polls slowly in case a notification is lost.

`IntakeQueue` is mixed into `server.postgres_store.PostgresStore`; `SequencerLease` and
`IntakeListener` hold a connection of their own, taken from that store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from itertools import repeat

import psycopg
from psycopg import sql

from core.errors import Conflict, InvalidInput, Unavailable
from server.postgres_connection import Conn, copy_rows, has_input, mapped
from server.sql_store import as_bytes, as_int
from server.storage import AppendBatch, check_batch, check_bytes, check_index, check_limit, check_name

__all__ = ["IntakeListener", "IntakeOutcome", "IntakeQueue", "IntakeRow", "SequencerLease"]


@dataclass(frozen=True)
class IntakeRow:
    """A queued entry as the sequencer sees it. `expired`: older than the sequencer's limit."""

    id: int
    leaf: bytes
    verified: bool
    request_id: str
    expired: bool


@dataclass(frozen=True)
class IntakeOutcome:
    """What became of intake row `id`: appended at `index`, or refused with an error."""

    id: int
    index: int | None = None
    error_class: str | None = None
    error_message: str | None = None

    def __post_init__(self) -> None:
        check_index(self.id, "intake id")
        if (self.index is None) == (self.error_class is None):
            raise InvalidInput(f"intake outcome {self.id} needs exactly one of an index or an error class")
        if self.index is not None:
            check_index(self.index, "intake outcome index")
        if self.error_class is not None:
            check_name(self.error_class, "intake error class")


class IntakeQueue:
    """The multi-server half of `PostgresStore`: the intake queue, the sequencer lease, and
    LISTEN/NOTIFY on the schema's channel. The store provides the connections and the append."""

    _channel: str
    _sequencer_lock_key: int
    _lease_lock: threading.Lock
    _lease_candidate: tuple[str, Conn] | None  # a follower's kept connection (`try_sequencer_lease`)

    def _use(self) -> AbstractContextManager[Conn]:
        raise NotImplementedError

    def _connect(self, *, migrating: bool = False, application_name: str | None = None) -> Conn:
        raise NotImplementedError

    def _forget(self, conn: Conn) -> None:
        raise NotImplementedError

    def _commit_in(self, conn: Conn, batch: AppendBatch) -> None:
        raise NotImplementedError

    @property
    def channel(self) -> str:
        """The LISTEN/NOTIFY channel of this schema (a hash: schema names may be 63 bytes)."""
        return self._channel

    def intake_submit(self, entries: Sequence[tuple[bytes, bool, str]], *, server: str) -> list[int]:
        """Queue `entries` (leaf, verified, request id) for the sequencer, durably, and wake it;
        return their intake ids in the same order.

        `verified`: the accepting server already ran the expensive crypto checks, so the
        sequencer runs only the state checks. One transaction, one commit for the whole group:
        the rows and the notification commit together. The ids are drawn from the table's
        identity sequence first and given to the entries by position; the rows are then
        written with one binary COPY (`copy_rows`, which writes an identity column's given
        values as they are).
        """
        check_name(server, "intake server")
        leaves, verified, request_ids = [], [], []
        for leaf, checked, request_id in entries:
            check_bytes(leaf, "intake leaf", allow_empty=False)
            check_name(request_id, "intake request id", allow_empty=True)
            if not isinstance(checked, bool):
                raise InvalidInput(f"verified must be a bool, got {type(checked).__name__}")
            leaves.append(leaf)
            verified.append(checked)
            request_ids.append(request_id)
        if not leaves:
            return []
        with self._use() as conn, conn.transaction():
            ids = [as_int(i) for i, in conn.execute(
                "SELECT nextval(pg_get_serial_sequence('intake', 'id')) FROM generate_series(1, %s)",
                (len(leaves),)).fetchall()]
            if len(set(ids)) != len(leaves):  # rolls the group back
                raise Unavailable(f"the database returned {len(set(ids))} intake ids for {len(leaves)} entries; "
                                  "nothing was queued: resend")
            copy_rows(conn, "intake", (("id", "int8"), ("leaf", "bytea"), ("verified", "bool"), ("server", "text"),
                                       ("request_id", "text")),
                      zip(ids, leaves, verified, repeat(server), request_ids))
            conn.execute("SELECT pg_notify(%s, 'intake')", (self._channel,))
        return ids

    def intake_collect(self, ids: Sequence[int]) -> list[IntakeOutcome]:
        """The outcomes of the decided rows among `ids`, removing those rows (read once)."""
        wanted = [check_index(i, "intake id") for i in ids]
        if not wanted:
            return []
        with self._use() as conn:
            rows = conn.execute(
                "DELETE FROM intake_outcome WHERE id = ANY(%b::bigint[])"
                " RETURNING id, idx, error_class, error_message", (wanted,)).fetchall()
        return [IntakeOutcome(as_int(i), None if x is None else as_int(x),
                              None if c is None else str(c), None if m is None else str(m))
                for i, x, c, m in rows]

    def intake_cancel(self, ids: Sequence[int], error_class: str, message: str) -> int:
        """Decide the still-pending rows among `ids` as refused; return how many were.

        Definitive: a row the sequencer is committing right now is row-locked by it, so this
        waits and then finds it gone (decided: its real outcome stands); a row cancelled here
        can never be appended, because the sequencer's commit must delete every row it decides
        and fails if one is gone.
        """
        wanted = [check_index(i, "intake id") for i in ids]
        check_name(error_class, "intake error class")
        if not wanted:
            return 0
        with self._use() as conn:
            cur = conn.execute(
                "WITH decided AS (DELETE FROM intake WHERE id = ANY(%b::bigint[]) AND NOT done RETURNING id)"
                " INSERT INTO intake_outcome (id, error_class, error_message)"
                " SELECT id, %s, %s FROM decided",
                (wanted, error_class, message))
            conn.execute("SELECT pg_notify(%s, 'outcome')", (self._channel,))
        return max(0, cur.rowcount)

    def intake_purge(self, older_than: float) -> int:
        """Delete outcomes nobody collected for `older_than` seconds (their server died)."""
        with self._use() as conn:
            cur = conn.execute("DELETE FROM intake_outcome WHERE decided_at"
                               " < clock_timestamp() - make_interval(secs => %s)", (float(older_than),))
        return max(0, cur.rowcount)

    def intake_pending(self) -> int:
        """How many queued entries await the sequencer."""
        with self._use() as conn:
            row = conn.execute("SELECT count(*) FROM intake WHERE NOT done").fetchone()
        assert row is not None
        return as_int(row[0])

    def notify(self, payload: str) -> None:
        """Send `payload` to every listener of this schema's channel."""
        check_name(payload, "notification")
        with self._use() as conn:
            conn.execute("SELECT pg_notify(%s, %s)", (self._channel, payload))

    def listener(self) -> IntakeListener:
        """A new connection LISTENing on this schema's channel (close it when done)."""
        return IntakeListener(self)

    def try_sequencer_lease(self, holder: str) -> SequencerLease | None:
        """Take the schema's sequencer lock if it is free, without waiting; None if it is held.

        A follower tries every `lease_poll` seconds on one kept connection (one PostgreSQL
        backend, not a new one each try): a try that finds the lock held keeps it for the
        next, and the try that gets the lock hands it to the lease. One that the server
        closed meanwhile (a restart, a terminated backend) is replaced first."""
        check_name(holder, "lease holder")
        with self._lease_lock:
            kept, self._lease_candidate = self._lease_candidate, None
        conn = None
        if kept is not None:
            kept_holder, kept_conn = kept
            if kept_holder == holder and not kept_conn.closed and not kept_conn.broken and not has_input(kept_conn):
                conn = kept_conn
            else:
                self._forget(kept_conn)
        try:
            if conn is None:
                conn = self._connect(application_name=f"candor-sequencer {holder}"[:63])
                with mapped(conn):
                    # Notice a vanished holder within ~10 s even if its host dies without closing
                    # the socket (a process kill closes it at once, releasing the lock immediately).
                    conn.execute("SET tcp_keepalives_idle = 5")
                    conn.execute("SET tcp_keepalives_interval = 2")
                    conn.execute("SET tcp_keepalives_count = 3")
            with mapped(conn):
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._sequencer_lock_key,)).fetchone()
        except BaseException:
            if conn is not None:
                self._forget(conn)
            raise
        if row is None or row[0] is not True:
            with self._lease_lock:
                if self._lease_candidate is None:
                    self._lease_candidate, conn = (holder, conn), None
            if conn is not None:  # another caller kept one meanwhile
                self._forget(conn)
            return None
        return SequencerLease(self, conn, holder)

    def sequencer_holder(self) -> tuple[str, int] | None:
        """(application name, backend pid) of the session holding the sequencer lock, or None."""
        key = self._sequencer_lock_key
        with self._use() as conn:
            row = conn.execute(
                "SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.database ="
                " (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND l.classid::bigint = %s AND l.objid::bigint = %s AND l.objsubid = 1",
                ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF)).fetchone()
        return None if row is None else (str(row[0]), as_int(row[1]))


class SequencerLease:
    """The right to sequence one schema's ledger: a session advisory lock on a connection.

    Everything the sequencer writes goes through this connection, inside the lock's session.
    If the session ends (process killed, connection terminated, network gone) PostgreSQL drops
    the lock and another server may take it; this object then refuses every call with
    Unavailable, so the old holder can never commit after losing the lock. Not thread-safe:
    one sequencer thread owns it.
    """

    def __init__(self, store: IntakeQueue, conn: Conn, holder: str) -> None:
        self._store = store
        self._conn = conn
        self.holder = holder
        self._lost: str | None = None

    @property
    def alive(self) -> bool:
        return self._lost is None and not self._conn.closed and not self._conn.broken

    @property
    def backend_pid(self) -> int:
        """The PostgreSQL backend holding the lock (tests terminate it to simulate a crash)."""
        return int(self._conn.info.backend_pid)

    @contextmanager
    def _guard(self) -> Iterator[Conn]:
        if not self.alive:
            raise Unavailable(f"sequencer lease lost ({self._lost or 'connection closed'}); another "
                              "server may be sequencing: take a new lease before appending")
        try:
            with mapped(self._conn):
                yield self._conn
        except Unavailable as exc:
            if self._conn.broken or self._conn.closed:
                self._lost = str(exc)
            raise

    def pending(self, limit: int, expire_after: float) -> list[IntakeRow]:
        """Up to `limit` undecided intake rows, oldest first; rows queued more than
        `expire_after` seconds ago are marked expired (their server has given up on them)."""
        check_limit(limit)
        with self._guard() as conn:
            rows = conn.execute(
                "SELECT id, leaf, verified, request_id,"
                " submitted_at <= clock_timestamp() - make_interval(secs => %s)"
                " FROM intake WHERE NOT done ORDER BY id LIMIT %s",
                (float(expire_after), limit), binary=True).fetchall()  # leaves: not as hex text
        return [IntakeRow(as_int(i), as_bytes(leaf), bool(v), str(rid), bool(exp))
                for i, leaf, v, rid, exp in rows]

    def commit(self, batch: AppendBatch, outcomes: Sequence[IntakeOutcome], expire_after: float, *,
               direct: Sequence[int] = ()) -> None:
        """Append `batch` and record `outcomes`, in one transaction, or raise and write nothing.

        `direct`: the indices of the batch's entries that came from the lease holder itself
        and not from intake rows (they have no outcome to record). Every index of the batch
        is named exactly once, by an outcome or here.

        Conflict if the ledger moved (compare-and-set on its size), if any row was decided
        meanwhile (cancelled by its server) or has expired, or if an outcome's index does not
        hold exactly that row's leaf. Unavailable if the lease is lost.
        """
        check_batch(batch)
        appended = sorted([o.index for o in outcomes if o.index is not None]
                          + [check_index(i, "direct index") for i in direct])
        expected = list(range(batch.first_index, batch.first_index + len(batch.entries)))
        if appended != expected:
            raise InvalidInput(f"outcomes name indices {appended[:3]}..., expected exactly the batch's "
                               f"{len(expected)} indices from {batch.first_index}")
        with self._guard() as conn, conn.transaction():
            self._store._commit_in(conn, batch)
            if outcomes:
                cur = conn.execute(
                    "WITH decided AS (DELETE FROM intake"
                    "  USING unnest(%b::bigint[], %b::bigint[], %b::text[], %b::text[]) AS u(id, idx, cls, msg)"
                    "  WHERE intake.id = u.id AND NOT intake.done AND (u.idx IS NULL OR ("
                    "   intake.submitted_at > clock_timestamp() - make_interval(secs => %s)"
                    "   AND intake.leaf = (SELECT e.data FROM entries e WHERE e.idx = u.idx)))"
                    "  RETURNING u.id, u.idx, u.cls, u.msg)"
                    " INSERT INTO intake_outcome (id, idx, error_class, error_message)"
                    " SELECT id, idx, cls, msg FROM decided",
                    ([o.id for o in outcomes], [o.index for o in outcomes],
                     [o.error_class for o in outcomes], [o.error_message for o in outcomes],
                     float(expire_after)))
                if cur.rowcount != len(outcomes):
                    raise Conflict(f"{len(outcomes) - cur.rowcount} of {len(outcomes)} intake rows were "
                                   "decided meanwhile (cancelled or expired) or do not hold the entry "
                                   "appended at their index; rebuild the batch")
            conn.execute("SELECT pg_notify(%s, 'outcome')", (self._store.channel,))

    def release(self) -> None:
        """Unlock and close (idempotent; closing alone would also release the lock)."""
        if self.alive:
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._store._sequencer_lock_key,))
            except psycopg.Error:
                pass
        self._lost = self._lost or "released"
        self._store._forget(self._conn)


class IntakeListener:
    """A connection LISTENing on a store's channel; `wait` returns the payloads received."""

    def __init__(self, store: IntakeQueue) -> None:
        self._store = store
        self._conn = store._connect(application_name="candor-listener")
        try:
            with mapped(self._conn):
                self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(store.channel)))
        except BaseException:
            store._forget(self._conn)
            raise

    def wait(self, timeout: float) -> set[str]:
        """Payloads that arrived within `timeout` seconds (returns at the first; may be empty)."""
        with mapped(self._conn):
            return {n.payload for n in self._conn.notifies(timeout=timeout, stop_after=1)}

    def close(self) -> None:
        self._store._forget(self._conn)

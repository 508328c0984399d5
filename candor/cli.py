"""`candor`: the one command-line interface of Candor.

Every subcommand takes its settings from flags, with `CANDOR_*` environment variables as
defaults (`--identity` from CANDOR_IDENTITY, `--data` from CANDOR_DATA, `--listen` from
CANDOR_LISTEN). Results print as tables, or as JSON with `--json`. Errors exit with status 1
and one clear line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as _dt
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import CandorError
from core.querylog import PURPOSES

if TYPE_CHECKING:
    from rich.console import Console as RichConsole

    from client.receipt import Receipt
    from client.regulator import Regulator
    from client.sdk import Member, ReportSpec

#: `candor witness` exit status when it stopped on fork evidence (docs/operations.md).
FORK_EXIT = 3


class _LazyConsole:
    """A rich Console made on first use: importing rich costs every command about 25 ms of
    start-up, and a command run with --json prints nothing through it."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: RichConsole | None = None

    def get(self) -> RichConsole:
        """The Console itself (for rich objects that take one)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


console = _LazyConsole(stderr=True)
out = _LazyConsole(stderr=False)


def Table(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 - stands in for rich's class, imported late
    from rich.table import Table as RichTable

    return RichTable(*args, **kwargs)


def escape(text: str) -> str:
    """rich markup escaped (rich imported on first use, as for `console`)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"CANDOR_{name}", default)


def _receipt_json(receipt: Receipt) -> dict[str, Any]:
    """A receipt as text: hex hashes and ids, the signed checkpoint note, the leaf in base64."""
    report_id = getattr(receipt, "report_id", None)
    return {**({"report_id": report_id.hex()} if isinstance(report_id, bytes) else {}),
            "index": receipt.index, "checkpoint_size": receipt.checkpoint_size, "leaf_hash": receipt.leaf_hash.hex(),
            "checkpoint": receipt.checkpoint.decode(), "inclusion_proof": [h.hex() for h in receipt.inclusion_proof],
            "leaf": base64.b64encode(receipt.leaf).decode()}


def _emit(args: argparse.Namespace, data: dict[str, Any], title: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, sort_keys=True))
        return
    table = Table(title=title, show_header=False)
    for k, v in data.items():
        table.add_row(str(k), v if isinstance(v, str) else json.dumps(v))
    out.print(table)


# -- alliance ------------------------------------------------------------------------------


def cmd_alliance_init(args: argparse.Namespace) -> None:
    from core.errors import InvalidInput
    from server.ceremony import Plan, init_alliance

    plan = Plan(
        directory=Path(args.dir),
        members=tuple(m.strip() for m in args.members.split(",") if m.strip()),
        trustees=args.trustees,
        threshold=args.threshold,
        witnesses=args.witnesses,
        quorum=args.quorum,
        key_bits=args.key_bits,
        server=args.server,
        trustee_addresses=tuple(a.strip() for a in args.trustee_addresses.split(",") if a.strip())
        if args.trustee_addresses else (),
        key_file=Path(args.test_key_file) if args.test_key_file else None,
        min_rule_interval_days=args.min_rule_interval_days,
    )
    from server.serving import check_listen

    check_listen(plan.server, "--server")
    for address in plan.trustee_addresses:
        check_listen(address, "--trustee-addresses")
    if args.key_bits < 2048 and not args.test_key_file:
        raise InvalidInput(f"--key-bits {args.key_bits} is too small: a real alliance needs at least 2048 bits "
                           "(3072, the default, is recommended)")
    if args.key_bits >= 3072 and not args.test_key_file:
        console.print(f"[dim]Generating two {args.key_bits // 2}-bit safe primes: usually 5-30 s, "
                      "occasionally a minute.[/dim]")
    with console.status("key ceremony") as status:
        summary = init_alliance(plan, progress=lambda msg: status.update(f"key ceremony: {msg}"))
    _emit(args, summary, "Alliance created")


# -- operator, witness ---------------------------------------------------------------------


def _fatal_threads(stop: threading.Event, failures: list[str]) -> None:
    """A background thread that dies logs one line and stops the process (exit 1), instead of
    a traceback and a process that runs on half-alive."""

    def hook(hook_args: threading.ExceptHookArgs) -> None:
        name = hook_args.thread.name if hook_args.thread is not None else "?"
        failures.append(f"background loop {name} died: {hook_args.exc_type.__name__}: {hook_args.exc_value}")
        if hook_args.exc_value is not None:
            logging.getLogger("candor").debug("background loop %s died", name, exc_info=hook_args.exc_value)
        stop.set()

    threading.excepthook = hook


def _service_logs() -> None:
    """Long-running parties log one line per request or action at info level (docs/operations.md,
    "Logs"); one-shot commands stay at warning unless -v."""
    root = logging.getLogger()
    root.setLevel(min(root.level, logging.INFO))


def _serve_settings(args: argparse.Namespace) -> None:
    from core.errors import InvalidInput

    if args.checkpoint_ms < 1:
        raise InvalidInput(f"--checkpoint-ms {args.checkpoint_ms}: give at least 1 (milliseconds between checkpoints)")
    if args.epoch_interval < 0:
        raise InvalidInput(f"--epoch-interval {args.epoch_interval:g}: give 0 (epochs only on `candor epoch run`) or "
                           "a positive number of seconds")


def cmd_serve(args: argparse.Namespace) -> None:
    from api.identity import Identity
    from client.cpu import settle_gc
    from server.app import Settings, create_server
    from server.database import lock_data, open_for_serving, redact
    from server.serving import check_bindable

    _serve_settings(args)
    if args.log_json:
        from server.logging_setup import configure_json_logs

        configure_json_logs(logging.DEBUG if args.verbose else logging.INFO)
    _service_logs()
    identity = Identity.load(args.identity)
    listen = args.listen or identity.server
    check_bindable(listen, "operator")  # before touching the store
    data = args.data or str(identity.path / "ledger.db")
    lock = lock_data(data, "candor serve")  # SQLite: one process per file, held until exit
    store = open_for_serving(data, schema=args.schema)  # PostgreSQL: refuses an unmigrated schema
    stop = threading.Event()
    failures: list[str] = []
    _fatal_threads(stop, failures)
    for sig in (signal.SIGINT, signal.SIGTERM):  # SIGTERM drains appends and releases the sequencer lease
        signal.signal(sig, lambda *_: stop.set())
    try:
        op = create_server(Settings(identity=identity, listen=listen,
                                    checkpoint_interval=args.checkpoint_ms / 1000,
                                    epoch_interval=args.epoch_interval or None, epoch_workers=None,
                                    metrics_listen=args.metrics_listen, verify_workers=args.verify_workers), store)
    except BaseException:
        store.close()
        raise
    try:
        op.bootstrap(identity.path)
    except BaseException:
        op.stop(grace=0)
        store.close()
        raise
    settle_gc()  # after start-up: what lives now lives as long as the process
    # With --log-json, stderr carries JSON lines only.
    say = logging.getLogger("candor.serve").info if args.log_json else console.print
    say(f"candor operator serving {op.ledger.origin} on port {op.port} "
        f"(ledger size {store.size()}, data {redact(data)}{f', schema {args.schema}' if args.schema else ''})")
    print(f"listening on {op.port}", flush=True)
    if op.metrics_port is not None:
        print(f"metrics on {op.metrics_port}", flush=True)
    try:
        op.wait(stop)
    finally:
        say("shutting down: finishing in-flight appends")
        op.stop()
        store.close()
        if lock is not None:
            lock.close()
    if failures:
        raise CandorError(failures[0] + "; the operator stopped rather than serve without it")


def cmd_db_migrate(args: argparse.Namespace) -> None:
    from server.database import migrate_data

    result = migrate_data(args.data, schema=args.schema)
    _emit(args, result, "Database migrated" if result["applied"] else "Database schema already up to date")


def cmd_db_backup(args: argparse.Namespace) -> None:
    from server.database import backup_data

    _emit(args, backup_data(args.data, args.out), "Backup written (safe while the operator serves)")


def cmd_db_restore(args: argparse.Namespace) -> None:
    from server.database import restore_data

    _emit(args, restore_data(getattr(args, "from"), args.data), "Ledger restored")


def cmd_witness(args: argparse.Namespace) -> None:
    from api.identity import Identity
    from client.witness import Witness

    witness = Witness.open(Identity.load(args.identity), args.server)
    if not args.once:
        _service_logs()
    if args.once:
        size = witness.step()
        _emit(args, {"witness": witness.identity.name, "cosigned_size": size}, "Witness")
        return
    console.print(f"witness {witness.identity.name} polling the operator at {witness.conn.address} "
                  f"every {args.interval}s")
    witness.run(args.interval, say=lambda line: console.print(escape(line), soft_wrap=True))
    # Exit status 3, not 1: a service manager must not restart a witness over fork evidence.
    console.print(f"[red]error:[/red] witness stopped: fork evidence in {escape(str(witness.evidence_path))}; "
                  "tell the regulator", soft_wrap=True)
    sys.exit(FORK_EXIT)


def cmd_audit(args: argparse.Namespace) -> None:
    from rich.progress import Progress

    from api.identity import Identity
    from client.audit import check_root, replay
    from client.connection import Connection
    from client.verifier import LogVerifier

    identity = Identity.load(args.identity)
    verifier = LogVerifier(identity.genesis_leaf())
    with Connection(identity, args.server) as conn:
        resp = conn.checkpoint()
        cp = verifier.open(resp.note, quorum=0 if args.no_quorum else None)
        verifier.accept(resp.note, conn, quorum=0 if args.no_quorum else None)  # and the pinned genesis at 0
        leaves = conn.entries(0, cp.checkpoint.size)
    from client.audit import PARALLEL_FROM
    from client.cpu import CpuPool

    # one worker per core verifies the reports' proofs and ring signatures, if it pays
    pool = CpuPool() if len(leaves) >= PARALLEL_FROM else None
    try:
        with Progress(console=console.get(), transient=True) as progress:
            task = progress.add_task("replaying ledger", total=len(leaves))
            _, report = replay(leaves, lambda done, total: progress.update(task, completed=done), pool=pool)
    finally:
        if pool is not None:
            pool.close()
    check_root(report, cp.checkpoint.size, cp.checkpoint.root_hash)
    _emit(args, {
        "ok": True, "size": report.size, "root": report.root.hex(), "cosigned_by": list(cp.witnesses),
        "members": report.members, "reports": report.reports, "retracted": report.retracted,
        "entries": report.kinds,
    }, "Audit passed: every entry re-verified, root matches the cosigned checkpoint")


def _age(seconds: Any) -> str:
    if seconds is None:
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit} ago"
    return f"{seconds} s ago"


def cmd_status(args: argparse.Namespace) -> None:
    """One screen for any party (client/status.py); exit status 1 if anything is wrong."""
    from api.identity import Identity
    from client.status import gather

    status = gather(Identity.load(args.identity), args.server, metrics=args.metrics)
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        ok, bad = "[green]ok[/green]", "[red]PROBLEM[/red]"
        table = Table(title=f"Candor status, as {escape(status['party'])}", show_header=False)
        table.add_column("", style="bold")
        table.add_column("")
        table.add_column("")
        table.add_row("operator", ok if status["operator_reachable"] else bad,
                      escape(f"{status['operator']}" + (" reachable" if status["operator_reachable"] else
                                                        " unreachable")))
        if status["operator_reachable"]:
            table.add_row("ledger", "", f"{status['ledger_size']} entries, newest "
                          f"{_age(status.get('latest_entry_age_s'))}; checkpoint cosigned "
                          f"{_age(status['newest_cosignature_age_s'])} (quorum {status['witness_quorum']})")
            quorum_met = not any("witness quorum" in p for p in status["problems"])
            for name, w in status["witnesses"].items():
                missing = "[yellow]missing[/yellow]" if quorum_met else bad  # a problem only below the quorum
                table.add_row(f"witness {escape(name)}", ok if w["cosigned_latest"] else missing,
                              f"cosigned the latest checkpoint {_age(w['age_s'])}" if w["cosigned_latest"]
                              else "has not cosigned the latest checkpoint")
        for name, t in status.get("trustees", {}).items():
            table.add_row(escape(name), ok if t["reachable"] else bad,
                          escape(t["address"] + (" reachable" if t["reachable"] else " unreachable")))
        rules = status.get("rules_in_force")
        if "rules_in_force" in status:
            table.add_row("rules in force", "", escape(f"{rules['version']} (since {rules['effective_from']}, "
                                                       f"entry {rules['entry']})") if rules else "none")
        if "last_epoch" in status:
            epoch = status["last_epoch"]
            table.add_row("last epoch", "", "none on the ledger" if epoch is None else
                          f"{_age(epoch['age_s'])}: {epoch['requests']} requested, {epoch['published']} published, "
                          f"{epoch['held']} held, {epoch['withdrawn']} withdrawn, {epoch['unanswered']} unanswered")
        if "epoch_lag_s" in status:
            table.add_row("epochs (metrics)", "", f"last completed {_age(status['epoch_lag_s'])}")
        if "disputes" in status:
            d = status["disputes"]
            table.add_row("disputes", "[yellow]OVERDUE[/yellow]" if d["overdue"] else "",
                          f"{d['open']} open, {d['overdue']} overdue" + (f"; oldest due {d['oldest_due']}"
                                                                         if d["oldest_due"] else ""))
        out.print(table)
        for line in status["problems"]:
            out.print(f"[red]problem:[/red] {escape(line)}", soft_wrap=True)
        for line in status["warnings"]:
            out.print(f"[yellow]warning:[/yellow] {escape(line)}", soft_wrap=True)
    if status["problems"]:
        sys.exit(1)


# -- reports (member SDK) ------------------------------------------------------------------


def cmd_report_submit(args: argparse.Namespace) -> None:
    from api.identity import Identity
    from client.sdk import Member

    evidence = Path(args.evidence).read_bytes() if args.evidence else b""
    with Member(Identity.load(args.identity), args.server, pool_size=0, coupon_pool_size=0) as member:
        receipt = member.submit_report(args.subject, args.category, args.tier, args.incident_date, evidence=evidence,
                                       notice_date=args.notice_date)
    _emit(args, {"report_id": receipt.report_id.hex(), "receipt": _receipt_json(receipt)},
          "Report recorded (receipt verified)")


def cmd_report_retract(args: argparse.Namespace) -> None:
    from api.identity import Identity
    from client.sdk import Member

    with Member(Identity.load(args.identity), args.server, pool_size=0, coupon_pool_size=0) as member:
        receipt = member.retract_report(args.report_id)
    _emit(args, {"report_id": args.report_id, "receipt": _receipt_json(receipt)}, "Report retracted (receipt verified)")


#: The most rows `candor report import` takes from one file (one SubmitReports stream).
IMPORT_MAX_ROWS = 10_000
_IMPORT_REQUIRED = ("subject", "category", "tier", "incident_date")
_IMPORT_OPTIONAL = ("notice_date", "evidence")


def _import_rows(path: Path, member: Member) -> list[tuple[int, ReportSpec]]:
    """The reports of a member's CSV batch file, each with its row number as a spreadsheet
    shows it (the header is row 1), all checked before anything is sent: one InvalidInput
    naming the first bad row and what to fix. Evidence paths are relative to the file's
    folder; only the SHA-256 of each evidence file leaves this machine."""
    import csv
    import io

    from client.sdk import ReportSpec
    from core.errors import InvalidInput
    from core.subject import normalise

    try:
        text = path.read_text(encoding="utf-8-sig")  # utf-8-sig: a spreadsheet's byte-order mark is no column name
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"--file {path} is not UTF-8 text (byte {exc.start}): save it as CSV UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    allowed = _IMPORT_REQUIRED + _IMPORT_OPTIONAL
    unknown = [h for h in header if h not in allowed]
    missing = [h for h in _IMPORT_REQUIRED if h not in header]
    doubled = sorted({h for h in header if header.count(h) > 1})
    if unknown or missing or doubled:
        problems = ([f"unknown column(s) {', '.join(repr(h) for h in unknown)}"] if unknown else []) + \
                   ([f"missing column(s) {', '.join(missing)}"] if missing else []) + \
                   ([f"column(s) {', '.join(doubled)} given twice"] if doubled else [])
        raise InvalidInput(f"--file {path}, row 1 (the header): {'; '.join(problems)}; the header names the columns "
                           f"{','.join(_IMPORT_REQUIRED)} and optionally {' and '.join(_IMPORT_OPTIONAL)}")
    today = _dt.datetime.now(_dt.timezone.utc).date()
    rows: list[tuple[int, ReportSpec]] = []
    for row, fields in enumerate(reader, start=2):
        if not any(f.strip() for f in fields):
            continue  # a blank line, as spreadsheets write at the end
        if len(rows) == IMPORT_MAX_ROWS:
            raise InvalidInput(f"--file {path} has more than {IMPORT_MAX_ROWS} reports (row {row} is one too many): "
                               "split it into several files")
        where = f"--file {path}, row {row}"
        if len(fields) != len(header):
            raise InvalidInput(f"{where} has {len(fields)} fields but the header names {len(header)} columns: "
                               "quote a field that contains a comma")
        values = {h: f.strip() for h, f in zip(header, fields)}
        empty = [h for h in _IMPORT_REQUIRED if not values[h]]
        if empty:
            raise InvalidInput(f"{where}: {', '.join(empty)} is empty; fill it in or delete the row")
        try:
            normalise(values["subject"])
            _, incident, _ = member.check_report_input(values["category"], values["tier"], values["incident_date"],
                                                       values.get("notice_date") or None, today)
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc}") from None
        evidence = b""
        if values.get("evidence"):
            file = path.parent / values["evidence"]
            try:
                evidence = file.read_bytes()
            except OSError as exc:
                raise InvalidInput(f"{where}: evidence file {file} cannot be read ({exc.strerror}); give a path "
                                   f"relative to {path.parent}, or leave the field empty") from None
        rows.append((row, ReportSpec(values["subject"], values["category"], values["tier"], incident,
                                     evidence=evidence, notice_date=values.get("notice_date") or None)))
    if not rows:
        raise InvalidInput(f"--file {path} has a header but no reports: add one row per report")
    return rows


def cmd_report_import(args: argparse.Namespace) -> None:
    """A member's batch file: every row checked first, then all sent on one SubmitReports
    stream; each row's receipt or refusal is shown. The subject identifiers are echoed to this
    terminal only: they are never logged."""
    from api.identity import Identity
    from client.sdk import Member

    path = Path(args.file)
    with Member(Identity.load(args.identity), args.server, pool_size=0, coupon_pool_size=0) as member:
        rows = _import_rows(path, member)
        with console.status(f"preparing and sending {len(rows)} reports"):
            outcomes = member.submit_reports([spec for _, spec in rows])
    refused = [row for (row, _), o in zip(rows, outcomes) if isinstance(o, CandorError) and not _is_pending(o)]
    pending = [row for (row, _), o in zip(rows, outcomes) if _is_pending(o)]
    if args.json:
        print(json.dumps([{"row": row, "report_id": o.report_id.hex(), "receipt": _receipt_json(o)}
                          if not isinstance(o, CandorError) else
                          {"row": row, "error": {"type": type(o).__name__, "message": str(o)}}
                          for (row, _), o in zip(rows, outcomes)], indent=2, sort_keys=True))
    else:
        table = Table(title=f"Reports from {escape(str(path))}")
        table.add_column("row", justify="right")
        table.add_column("subject")
        table.add_column("outcome")
        for (row, spec), o in zip(rows, outcomes):
            if not isinstance(o, CandorError):
                shown = f"{o.report_id.hex()} recorded (receipt verified)"
            else:
                shown = f"[yellow]pending:[/yellow] {escape(str(o))}" if _is_pending(o) else \
                    f"[red]refused:[/red] {escape(str(o))}"
            table.add_row(str(row), escape(spec.subject_id), shown)
        out.print(table)
    if refused or pending:
        said = ([f"row(s) {', '.join(map(str, refused))} refused (fix them and import those rows again)"]
                if refused else []) + \
               ([f"row(s) {', '.join(map(str, pending))} unanswered and kept pending: "
                 f"`candor report resend --identity {args.identity}` sends them again"] if pending else [])
        console.print(f"[red]error:[/red] {len(rows) - len(refused) - len(pending)} of {len(rows)} reports recorded; "
                      f"{escape('; '.join(said))}", soft_wrap=True)
        sys.exit(1)


def _is_pending(outcome: object) -> bool:
    """A report whose answer never came: `submit_reports` keeps it in `pending/`."""
    from core.errors import Unavailable

    return isinstance(outcome, Unavailable)


def cmd_report_resend(args: argparse.Namespace) -> None:
    from api.identity import Identity
    from client.sdk import Member

    with Member(Identity.load(args.identity), args.server, pool_size=0, coupon_pool_size=0) as member:
        receipts = member.resend_pending()
    if args.json:
        print(json.dumps([{"report_id": r.report_id.hex(), "receipt": _receipt_json(r)} for r in receipts],
                         indent=2, sort_keys=True))
    elif not receipts:
        out.print("nothing pending")
    else:
        table = Table(title="Pending reports sent again")
        table.add_column("report id")
        table.add_column("index", justify="right")
        table.add_column("outcome")
        for r in receipts:
            table.add_row(r.report_id.hex(), str(r.index), "recorded (receipt verified)")
        out.print(table)


# -- governance (regulator) -----------------------------------------------------------------


def _governance(args: argparse.Namespace, rpc: str, leaf: bytes) -> dict[str, Any]:
    """Submit an entry this identity signed (a dispute, filed by a member or a subject) and
    verify the receipt like any client."""
    from api.identity import Identity
    from api.v1 import governance_pb2
    from client.connection import Connection
    from client.verifier import LogVerifier

    identity = Identity.load(args.identity)
    with Connection(identity, args.server) as conn:
        receipt = conn.call(getattr(conn.governance, rpc), governance_pb2.SubmitEntryRequest(signed_entry=leaf))
        verifier = LogVerifier(identity.genesis_leaf())
        cp = verifier.accept(receipt.checkpoint.note, conn, quorum=0)
        verifier.verify_inclusion(leaf, receipt.index, receipt.inclusion_proof, cp)
    return {"index": receipt.index, "checkpoint_size": cp.size, "verified": True}


def _regulator(args: argparse.Namespace) -> Regulator:
    """The regulator's SDK (client/regulator.py): it signs every governance entry and verifies
    its receipt."""
    from api.identity import Identity
    from client.regulator import Regulator

    return Regulator(Identity.load(args.identity), args.server)


def _verified(receipt: Receipt) -> dict[str, Any]:
    """What a command prints of a receipt the SDK verified."""
    return {"index": receipt.index, "checkpoint_size": receipt.checkpoint_size, "verified": True}


def cmd_member_admit(args: argparse.Namespace) -> None:
    with _regulator(args) as regulator:
        folder, receipt = regulator.admit_member(args.member, Path(args.out) if args.out else None)
    _emit(args, {"member": args.member, "identity_folder": str(folder), **_verified(receipt)},
          "Member admitted (hand the identity folder to the member)")


def cmd_member_revoke(args: argparse.Namespace) -> None:
    with _regulator(args) as regulator:
        receipt = regulator.revoke_member(args.member, args.reason)
    _emit(args, {"member": args.member, **_verified(receipt)}, "Member revoked")


# -- disputes ------------------------------------------------------------------------------


def cmd_dispute_file(args: argparse.Namespace) -> None:
    import secrets
    import time as _time

    from api import wire
    from api.identity import Identity
    from core import entries as e
    from core.errors import InvalidInput
    from core.state import DISPUTE_DAYS

    identity = Identity.load(args.identity)
    dispute_id = secrets.token_bytes(16)
    try:
        report_id = bytes.fromhex(args.report_id)
    except ValueError:
        raise InvalidInput(f"--report-id {args.report_id!r} is not hex: give the 32 hex digits of a report id "
                           "(`candor report list` or `candor subject record` show them)") from None
    entry = e.LedgerEntry(e.DisputeFiled(dispute_id, report_id, args.statement),
                          timestamp_ms=int(_time.time() * 1000))
    leaf = wire.sign_leaf(entry, identity.signing_key())
    _emit(args, {"dispute_id": dispute_id.hex(), "report_id": args.report_id,
                 "answer_due": (_dt.datetime.fromtimestamp(entry.timestamp_ms / 1000, _dt.UTC).date()
                                + _dt.timedelta(days=DISPUTE_DAYS)).isoformat(),
                 **_governance(args, "FileDispute", leaf)}, "Dispute filed: the report is flagged")


def cmd_dispute_resolve(args: argparse.Namespace) -> None:
    with _regulator(args) as regulator:
        receipt = regulator.resolve_dispute(args.dispute_id, args.outcome, args.annotation)
    _emit(args, {"dispute_id": args.dispute_id, "outcome": args.outcome, **_verified(receipt)}, "Dispute resolved")


# -- escrow (regulator) ---------------------------------------------------------------------


def cmd_escrow_open(args: argparse.Namespace) -> None:
    from api.identity import Identity
    from client.regulator import Regulator

    with Regulator(Identity.load(args.identity), args.server) as regulator:
        opening = regulator.open_escrow(args.report_id, args.reason)
    _emit(args, dataclasses.asdict(opening),
          "Escrow opened (recorded on the ledger first)" if opening.signature_valid
          else "Escrow opened; it did not hold: OperatorFaulted recorded")
    if not opening.signature_valid:
        sys.exit(2)


# -- rules, trustees, epochs, ratings ------------------------------------------------------


def _registry(identity_dir: str) -> tuple[str, ...]:
    from api import wire
    from api.identity import Identity
    from core import entries as e

    body = wire.signed_entry_from_bytes(Identity.load(identity_dir).genesis_leaf()).entry.body
    assert isinstance(body, e.Genesis)
    return body.categories


def cmd_rules_publish(args: argparse.Namespace) -> None:
    from core.rules import parse_rules

    rules = parse_rules(Path(args.file).read_text(encoding="utf-8"), _registry(args.identity))
    with _regulator(args) as regulator:
        receipt = regulator.publish_rules(rules)
    _emit(args, {"version": rules.version, "effective_from": rules.effective_from.isoformat(), **_verified(receipt)},
          "Rule set published")


def cmd_rules_canonical(args: argparse.Namespace) -> None:
    from core.rules import DEFAULT_CATEGORIES, canonical_toml, parse_rules

    # No identity needed: without one, the rule set is checked against the default registry.
    registry = _registry(args.identity) if args.identity else DEFAULT_CATEGORIES
    print(canonical_toml(parse_rules(Path(args.file).read_text(encoding="utf-8"), registry)), end="")


def cmd_rules_show(args: argparse.Namespace) -> None:
    from api import wire
    from api.identity import Identity
    from client.audit import replay
    from client.connection import Connection
    from client.verifier import LogVerifier
    from core import entries as e
    from core import state

    identity = Identity.load(args.identity)
    with Connection(identity, args.server) as conn:
        cp = LogVerifier(identity.genesis_leaf()).open(conn.checkpoint().note, quorum=0).checkpoint
        leaves = conn.entries(0, cp.size)
    view, _ = replay(leaves)
    today = _dt.date.today()
    in_force, index = state.rules_in_force(view, today)
    published = state.rule_set_records(view)
    history = [{"version": r.rules.version, "effective_from": r.effective_from, "entry": r.index,
                "in_force": r.index == index} for r in published]
    body = wire.signed_entry_from_bytes(leaves[index]).entry.body
    assert isinstance(body, e.RuleSetPublished)
    if args.json:
        print(json.dumps({"in_force": in_force.to_json(), "history": history}, indent=2, default=str))
        return
    out.print(f"[bold]Rule set in force today: {in_force.version}[/bold] (entry {index}, verified by replay)")
    out.print(body.canonical_toml)
    table = Table(title="Rule set history")
    for col in ("version", "effective from", "entry", "in force"):
        table.add_column(col)
    for r in published:
        table.add_row(r.rules.version, r.effective_from, str(r.index), "yes" if r.index == index else "")
    out.print(table)


def cmd_trustee_serve(args: argparse.Namespace) -> None:
    from api.identity import Identity
    from client.cpu import settle_gc
    from server.database import lock_data, open_checked
    from server.serving import check_bindable
    from server.trustee import create_trustee_server

    _service_logs()
    identity = Identity.load(args.identity)
    listen = args.listen or str(identity.info.get("listen", ""))
    check_bindable(listen, "trustee")
    data = args.data or str(identity.path / "mirror.db")
    lock = lock_data(data, "candor trustee serve")
    store = open_checked(data)
    stop = threading.Event()
    failures: list[str] = []
    _fatal_threads(stop, failures)
    try:
        server, port, trustee = create_trustee_server(identity, store, listen, args.server, workers=None)
    except BaseException:
        store.close()
        raise
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    settle_gc()
    console.print(f"trustee {trustee.share.index} serving on port {port} (mirror size {store.size()}; "
                  f"following the operator at {trustee.mirror.conn.address})")
    print(f"listening on {port}", flush=True)
    follower = threading.Thread(target=trustee.mirror.follow, args=(stop,), name="candor-mirror",
                                kwargs={"say": lambda line: console.print(escape(line), soft_wrap=True)}, daemon=True)
    follower.start()
    stop.wait()
    server.stop(5).wait()
    follower.join(timeout=10)
    trustee.mirror.conn.close()
    store.close()
    if lock is not None:
        lock.close()
    if failures:
        raise CandorError(failures[0] + "; the trustee stopped rather than serve without it")


def cmd_trustee_log(args: argparse.Namespace) -> None:
    from api.identity import Identity
    from core.errors import NotFound
    from server.database import open_checked
    from server.trustee import SHARE_LOG

    identity = Identity.load(args.identity)
    data = args.data or str(identity.path / "mirror.db")
    if "://" not in data and not Path(data).exists():
        raise NotFound(f"no share log: {data} does not exist (give the trustee's --data, or start "
                       "`candor trustee serve` once)")
    store = open_checked(data)  # read-only use beside a running trustee (SQLite WAL)
    try:
        records: list[dict[str, Any]] = []
        after = 0
        while True:
            page = store.read_log(SHARE_LOG, after_id=after, limit=1000)
            records += [{"id": i, **json.loads(raw)} for i, raw in page]
            if len(page) < 1000:
                break
            after = page[-1][0]
    finally:
        store.close()
    if args.json:
        print(json.dumps({"trustee": identity.name, "shares": records}, indent=2, sort_keys=True))
        return
    table = Table(title=f"Shares issued by {identity.name} ({len(records)})")
    for col in ("#", "time (UTC)", "for", "reports", "combiner", "ledger size"):
        table.add_column(col)
    for r in records:
        when = _dt.datetime.fromtimestamp(r["time_ms"] / 1000, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        if "access" in r:
            what = f"access authorisation {r['access']}"
        elif r.get("investigation"):
            what = f"request {r['request']}, investigation step {r.get('step_index')}"
        else:
            what = f"rating request {r['request']}"
        table.add_row(str(r["id"]), when, what, str(len(r.get("entries", []))), str(r.get("combiner", "")),
                      str(r.get("ledger_size", "")))
    out.print(table)


def cmd_epoch_run(args: argparse.Namespace) -> None:
    from api.identity import Identity
    from client.ratings import RatingClient
    from core.errors import Conflict

    with RatingClient(Identity.load(args.identity), args.server) as client:
        _wait_cosigned(client, args.wait)
        resp = client.run_epoch()
    data = {"published": resp.published, "pending": resp.pending, "held": resp.held,
            "fraud_found": resp.fraud_found, "messages": list(resp.messages)}
    blocked = list(resp.blocked)
    if blocked and not (resp.published or resp.fraud_found):
        # Nothing could be rated because of a failure (no trustees, no cosigned checkpoint, trustees away).
        if not args.json:
            _emit(args, data, "Epoch: nothing rated")
        raise Conflict("the epoch could not rate anything: " + "; ".join(blocked))
    _emit(args, data, "Epoch")


def _wait_cosigned(client: Any, seconds: float) -> None:
    """Wait (at most `seconds`) until the witnesses have cosigned everything on the ledger
    now, so the epoch covers what was just reported; the epoch says why if they do not."""
    import time as _time

    from core.errors import VerificationError

    target = client.conn.checkpoint().size
    deadline = _time.monotonic() + seconds
    while _time.monotonic() < deadline:
        try:
            if client.verifier.open(client.conn.checkpoint().note).checkpoint.size >= target:
                return
        except VerificationError:
            pass  # the newest checkpoint lacks the quorum so far
        _time.sleep(0.2)


def cmd_investigate(args: argparse.Namespace) -> None:
    """`candor investigate` authorises the logged bisection of a held subject;
    `candor investigate conclude` checks the combiners' sealed evidence and appends
    FraudFound (or CombinerFaulted) (docs/ratings.md, "Investigations")."""
    import dataclasses

    from api.identity import Identity
    from client.regulator import Regulator

    with Regulator(Identity.load(args.identity), args.server) as regulator:
        if args.action == "conclude":
            conclusion = regulator.conclude_investigation(args.subject)
            data = dataclasses.asdict(conclusion)
            data["faulted"] = [{"combiner": c, "failure": f, "index": i} for c, f, i in conclusion.faulted]
            _emit(args, data, "Investigation concluded" if conclusion.fraud_index is not None
                  else "Investigation not concluded (no report found yet)")
            return
        appended = regulator.authorise_investigation(args.subject, args.reason)
    _emit(args, {"index": appended.index, "checkpoint_size": appended.checkpoint_size},
          "Investigation authorised")


def _connect(args: argparse.Namespace) -> Any:
    from api.identity import Identity
    from client.connection import Connection

    return Connection(Identity.load(args.identity), args.server)


def cmd_rating_get(args: argparse.Namespace) -> None:
    import dataclasses

    from api.identity import Identity
    from client.ratings import Rating, RatingClient

    with RatingClient(Identity.load(args.identity), args.server) as client:
        rating = client.get_rating(args.subject, args.purpose)
    data = dataclasses.asdict(rating)
    if isinstance(rating, Rating):
        # A score below zero is shown as 0 (graded D); the proven score is kept beside it.
        data.update({"score": rating.shown_score, "proven_score": rating.score, "pending": rating.pending > 0,
                     "pending_reports": rating.pending})
    else:
        data.update({"grade": None, "score": None, "pending": True, "pending_reports": rating.pending})
    explain = {
        "unrated": "no rating published",
        "below_k": f"below k: {data.get('reporters')} distinct reporter(s), k = {data.get('k')}",
        "rated": "rated",
        "rated_changes_waiting":
            f"rated; changes waiting since {data.get('waiting_since')} (the update rule holds them)",
        "held": "held: the aggregate did not open; awaiting the regulator's investigation",
        "disputed": "rated; an open dispute touches a counted report",
    }
    data["explanation"] = explain.get(str(data.get("state")), str(data.get("state")))
    _emit(args, data, f"Rating of {args.subject} (verified locally against the cosigned ledger)")


def cmd_rating_queries(args: argparse.Namespace) -> None:
    from api.identity import Identity
    from client.ratings import RatingClient

    with RatingClient(Identity.load(args.identity), args.server) as client:
        queries = client.queries(args.subject)
    if args.json:
        print(json.dumps({"subject": args.subject, "queries": [
            {"id": q.id, "time": q.time, "subject_tag": q.subject_tag, "role": q.role, "name": q.name,
             "purpose": q.purpose, "committed": q.committed} for q in queries]}, indent=2))
        return
    whose = f"about {args.subject}" if args.subject else "made by you"
    table = Table(title=f"Queries {whose} (last 2 years, verified against the ledger)")
    for col in ("time", "who", "purpose", "subject tag", "ledger"):
        table.add_column(col)
    for q in queries:
        table.add_row(q.time, f"{q.role} {q.name}", q.purpose, q.subject_tag[:16] + "…",
                      "committed" if q.committed else "not yet committed")
    out.print(table)


# -- subjects, dispute docket, a member's own reports (docs/subjects.md) --------------------


def _require_role(identity_dir: str, role: str, what: str) -> None:
    from api.identity import Identity
    from core.errors import PermissionDenied

    have = Identity.load(identity_dir).role
    if have != role:
        raise PermissionDenied(f"only the {role} {what}; {identity_dir} is a {have} identity: use the {role}'s folder")


def _subject_tag_of(args: argparse.Namespace) -> bytes:
    from api.identity import Identity
    from core.subject import subject_tag

    return subject_tag(Identity.load(args.identity).hex_file("subject.key"), args.subject)


def cmd_subject_enrol(args: argparse.Namespace) -> None:
    _require_role(args.identity, "regulator", "enrols subjects (after checking the anchor's identity offline)")
    with _regulator(args) as regulator:
        tag, receipt = regulator.enrol_subject(args.subject, Path(args.out))
    _emit(args, {"subject_tag": tag.hex(), "identity_folder": str(Path(args.out)), **_verified(receipt)},
          "Subject enrolled (hand the identity folder to the anchor)")


def cmd_subject_revoke(args: argparse.Namespace) -> None:
    _require_role(args.identity, "regulator", "revokes a subject's enrolment")
    with _regulator(args) as regulator:
        tag = regulator.subject_tag(args.subject)
        receipt = regulator.revoke_subject(tag, args.reason)
    _emit(args, {"subject_tag": tag.hex(), **_verified(receipt)}, "Subject enrolment revoked")


def cmd_subject_authorise_access(args: argparse.Namespace) -> None:
    _require_role(args.identity, "regulator", "authorises a subject's access to its tiers")
    with _regulator(args) as regulator:
        tag = regulator.subject_tag(args.subject)
        receipt = regulator.authorise_subject_access(tag, args.reason)
    _emit(args, {"subject_tag": tag.hex(), **_verified(receipt),
                 "tiers": "served at the next rating epoch: each report's designated combiner seals its tier to "
                          "the subject if the report opens its own commitment (`candor subject record --tiers`)"},
          "Subject access authorised (recorded on the ledger)")


def cmd_subject_withheld(args: argparse.Namespace) -> None:
    from api.identity import Identity
    from client.regulator import Regulator

    _require_role(args.identity, "regulator", "reads the evidence of withheld tiers")
    with Regulator(Identity.load(args.identity), args.server) as regulator:
        withheld = regulator.withheld_tiers(args.subject)
    _emit(args, {"withheld": [dataclasses.asdict(w) for w in withheld]},
          f"{len(withheld)} report(s) withheld from the subject; evidence re-checked: "
          f"{sum(w.checked for w in withheld)}")


def cmd_subject_record(args: argparse.Namespace) -> None:
    from api.identity import Identity
    from client.ratings import Rating
    from client.subject import SubjectClient

    with SubjectClient(Identity.load(args.identity), args.server) as client:
        rec = client.own_record(tiers=args.tiers)
    if args.json:
        data = dataclasses.asdict(rec)
        data["queries"] = [{**dataclasses.asdict(q), "time": q.time} for q in rec.queries]
        print(json.dumps(data, indent=2, sort_keys=True))
        return
    out.print(f"[bold]Your record[/bold] (subject {rec.subject_tag[:16]}…, enrolled at entry {rec.enrolled_at}; "
              f"verified against the cosigned ledger of {rec.checkpoint_size} entries)")
    rating = rec.rating
    if isinstance(rating, Rating):
        out.print(f"Rating: {rating.grade} (score {rating.shown_score}, as of {rating.as_of}, rule set "
                  f"{rating.rule_set}; state {rating.state})")
    else:
        out.print(f"Rating: none published (state {rating.state}"
                  + (f": {rating.reporters} distinct reporter(s), k = {rating.k})"
                     if rating.state == "below_k" else ")"))
    table = Table(title=f"Reports about you ({len(rec.reports)})")
    for col in ("report id", "category", "incident", "notified", "recorded", "status", "expires", "disputes"):
        table.add_column(col)
    for r in rec.reports:
        disputes = "; ".join(f"{d.dispute_id[:8]} {d.outcome or 'open, due ' + d.due}"
                             + (f" ({d.annotation})" if d.annotation else "") for d in r.disputes)
        table.add_row(r.report_id, r.category, r.incident_date, r.notice_date or "", r.recorded_on, r.status,
                      r.expires_on or "", disputes)
    out.print(table)
    table = Table(title="Rating history")
    for col in ("entry", "event", "as of", "rule set", "grade", "score", "why"):
        table.add_column(col)
    for ev in rec.ratings:
        table.add_row(str(ev.index), ev.kind, ev.as_of, ev.rule_set, ev.grade,
                      "" if ev.score is None else str(max(0, ev.score)), ev.reason)
    out.print(table)
    table = Table(title="Who queried you (last 2 years)")
    for col in ("time", "who", "purpose", "ledger"):
        table.add_column(col)
    for q in rec.queries:
        table.add_row(q.time, f"{q.role} {q.name}", q.purpose, "committed" if q.committed else "not yet committed")
    out.print(table)
    if rec.access_authorised_at is None:
        out.print("Tiers: not authorised (the regulator runs `candor subject authorise-access`)")
        return
    table = Table(title=f"Your tiers (authorised at entry {rec.access_authorised_at})")
    for col in ("report id", "category", "tier", "served at", "combiner"):
        table.add_column(col)
    shown = {"waiting": "not served yet (next epoch)", "sealed": "sealed to you (add --tiers to open)",
             "withheld": "withheld: did not open its own commitment; evidence went to the regulator"}
    for t in rec.tiers:
        table.add_row(t.report_id, t.category, t.tier or shown[t.state],
                      "" if t.served_at is None else str(t.served_at), "" if t.combiner is None else str(t.combiner))
    out.print(table)


def cmd_dispute_list(args: argparse.Namespace) -> None:
    from api.identity import Identity
    from client.subject import SubjectClient

    _require_role(args.identity, "regulator", "reads the dispute docket")
    today = _dt.datetime.now(_dt.UTC).date()
    with SubjectClient(Identity.load(args.identity), args.server) as client:
        docket = client.disputes(open_only=args.open or args.overdue)
    rows: list[dict[str, Any]] = [{"dispute_id": d.dispute_id, "report_id": d.report_id,
             "subject_tag": r.subject_tag.hex(), "category": r.category, "filed_on": d.filed_on, "filed_by": d.by,
             "due": d.due, "open": d.open,
             "overdue": d.overdue(today), "outcome": d.outcome, "statement": d.statement, "annotation": d.annotation}
            for d, r in docket if not args.overdue or d.overdue(today)]
    if args.json:
        print(json.dumps({"disputes": rows}, indent=2, sort_keys=True))
        return
    table = Table(title=f"Disputes ({len(rows)}; answer within 20 days; verified against the cosigned ledger)")
    for col in ("dispute id", "report id", "category", "filed", "by", "due", "state"):
        table.add_column(col)
    for row in rows:
        state = row["outcome"] or ("[red]OVERDUE[/red]" if row["overdue"] else "open")
        table.add_row(row["dispute_id"], row["report_id"], row["category"], row["filed_on"], row["filed_by"],
                      row["due"], state)
    out.print(table)


def cmd_report_list(args: argparse.Namespace) -> None:
    from api.identity import Identity
    from client.ratings import RatingClient
    from client.subject import own_reports

    _require_role(args.identity, "member", "lists its own reports (found on the ledger by its link tags)")
    identity = Identity.load(args.identity)
    key = int(identity.read("reporting.key").decode().strip(), 16)
    tag = _subject_tag_of(args) if args.subject else None
    with RatingClient(identity, args.server) as client:
        reports = own_reports(client, key, tag)
    rows: list[dict[str, Any]] = [{"report_id": r.report_id, "entry": r.index, "subject_tag": r.subject_tag,
             "category": r.category, "incident_date": r.incident_date, "status": r.status,
             "disputes": [dataclasses.asdict(d) for d in r.disputes]} for r in reports]
    if args.json:
        print(json.dumps({"reports": rows}, indent=2, sort_keys=True))
        return
    table = Table(title=f"Your reports ({len(rows)}; found on the cosigned ledger by your link tags)")
    for col in ("report id", "entry", "subject tag", "category", "incident", "status"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["report_id"], str(row["entry"]), row["subject_tag"][:16] + "…", row["category"],
                      row["incident_date"], row["status"])
    out.print(table)


def _add_subject_commands(sub: Any, rsub: Any, dsub: Any,
                          add: Callable[..., argparse.ArgumentParser]) -> None:
    subject = sub.add_parser("subject", help="the rated anchor as a party: enrol, record, access",
                             description="Enrol a rated anchor (regulator), read one's own record (subject), "
                                         "authorise access to its tiers (regulator).")
    ssub = subject.add_subparsers(dest="subject_command", required=True, metavar="COMMAND")
    p = add(ssub, "enrol", "Create a subject's identity folder (bound to its subject tag, never its raw id) and "
            "record SubjectEnrolled; the folder appears only once the ledger accepted it.",
            "candor subject enrol --identity ./alliance/regulator --subject streamer-42 --out ./streamer-42",
            cmd_subject_enrol)
    _identity(p, "./alliance/regulator")
    p.add_argument("--subject", required=True, help="the anchor's identifier (checked offline; only its tag is "
                   "written anywhere)")
    p.add_argument("--out", required=True, help="where to write the subject's identity folder")
    p = add(ssub, "revoke", "End a subject's enrolment (lost key, wrong person); it can be enrolled again.",
            "candor subject revoke --identity ./alliance/regulator --subject streamer-42", cmd_subject_revoke)
    _identity(p, "./alliance/regulator")
    p.add_argument("--subject", required=True, help="the anchor's identifier")
    p.add_argument("--reason", default="", help="why (recorded on the ledger)")
    p = add(ssub, "authorise-access", "Record SubjectAccessAuthorised: at the next rating epoch the subject gets "
            "the tier of each report about it that opens its own commitment (docs/subjects.md).",
            "candor subject authorise-access --identity ./alliance/regulator --subject streamer-42",
            cmd_subject_authorise_access)
    _identity(p, "./alliance/regulator")
    p.add_argument("--subject", required=True, help="the anchor's identifier")
    p.add_argument("--reason", default="the subject asked for its own record", help="recorded on the ledger")
    p = add(ssub, "withheld", "Regulator: the subject's reports whose tier was withheld (they did not open their "
            "own commitment), with the combiner's sealed evidence opened and re-checked.",
            "candor subject withheld --identity ./alliance/regulator --subject streamer-42", cmd_subject_withheld)
    _identity(p, "./alliance/regulator")
    p.add_argument("--subject", required=True, help="the anchor's identifier")
    p = add(ssub, "record", "Your own record: every report about you with its status and disputes, your "
            "rating history and who queried you, verified against the cosigned ledger.",
            "candor subject record --identity ./streamer-42 --tiers", cmd_subject_record)
    _identity(p, "./streamer-42")
    p.add_argument("--tiers", action="store_true",
                   help="open the tiers sealed to you under the regulator's SubjectAccessAuthorised (with this "
                        "folder's encryption.key)")

    p = add(dsub, "list", "The dispute docket (regulator): every dispute with its due date (20 days) and "
            "whether it is overdue, verified against the cosigned ledger.",
            "candor dispute list --identity ./alliance/regulator --open", cmd_dispute_list)
    _identity(p, "./alliance/regulator")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--open", action="store_true", help="only disputes not yet resolved")
    which.add_argument("--overdue", action="store_true", help="only open disputes past their due date")

    p = add(rsub, "list", "Your own reports with ids and status, found on the cosigned ledger by your link tags.",
            "candor report list --identity ./alliance/member-a --subject streamer-42", cmd_report_list)
    _identity(p, "./alliance/member-a")
    p.add_argument("--subject", help="only reports about this anchor")


# -- demo ----------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> None:
    from candor.demo import run_demo

    summary = run_demo(key_bits=args.key_bits, reports=args.reports, json_mode=args.json, console=console.get())
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        _emit(args, summary, "Demo summary")


# -- explore (docs/explorer.md) -------------------------------------------------------------


def cmd_explore(args: argparse.Namespace) -> None:
    from api.identity import Identity
    from client.explorer.app import Served, build

    identity = Identity.load(args.identity)
    explorer = build(identity, args.server, Path(args.state) if args.state else None, verify_all=args.verify_all)
    served = Served(explorer, args.listen).start()
    if explorer.mirror.error is not None:
        console.print(f"[red]the ledger does not verify:[/red] {escape(explorer.mirror.error)}", soft_wrap=True)
    console.print(f"explorer for the {identity.role} {identity.name}, read-only, at {served.url} "
                  f"(verified size {explorer.mirror.snapshot.size if explorer.mirror.snapshot else 0}); "
                  "Ctrl-C stops it",
                  soft_wrap=True)
    explorer.mirror.start(args.interval)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0) and served.thread.is_alive():
            pass
    finally:
        served.stop()
        explorer.mirror.close()
        explorer.close()


def _add_explore_command(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add(sub, "explore", "Serve a read-only web explorer of the verified ledger (health, entries, subjects, "
            "rule sets, the regulator desk).", "candor explore --identity ./alliance/regulator --listen 127.0.0.1:8080",
            cmd_explore, json_flag=False)
    _identity(p, "./alliance/regulator")
    p.add_argument("--listen", default=_env("EXPLORE_LISTEN", "127.0.0.1:8080"),
                   help="HOST:PORT to serve on (default 127.0.0.1:8080; env CANDOR_EXPLORE_LISTEN)")
    p.add_argument("--state", default=None, help="folder for the explorer's verified copy (default: IDENTITY/explorer)")
    p.add_argument("--interval", type=float, default=5.0,
                   help="seconds between refreshes from the operator (default 5)")
    p.add_argument("--verify-all", action="store_true",
                   help="also re-verify every ring signature and validity proof while syncing (as `candor audit`)")


# -- parser --------------------------------------------------------------------------------


def _identity(p: argparse.ArgumentParser, example: str) -> None:
    p.add_argument("--identity", default=_env("IDENTITY"), required=_env("IDENTITY") is None,
                   help=f"identity folder written by `candor alliance init` (e.g. {example}); env CANDOR_IDENTITY")
    p.add_argument("--server", default=_env("SERVER"), help="operator address HOST:PORT (default: from the identity)")


def _default_categories() -> tuple[str, ...]:
    from core.rules import DEFAULT_CATEGORIES

    return DEFAULT_CATEGORIES


class _Version(argparse.Action):
    """`--version`, looked up only when asked for (reading package metadata costs every
    other command ~25 ms of start-up)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **_kw: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="show the program's version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("candor")
        except PackageNotFoundError:
            found = "unknown"
        print(f"candor {found}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="candor",
        description="Privacy-preserving credit reporting for live-commerce alliances.",
        epilog="Example: candor demo",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the server does")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(parent: Any, name: str, summary: str, example: str, fn: Callable[[argparse.Namespace], None],
            json_flag: bool = True) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=summary, description=summary,
                                                       epilog=f"Example: {example}")
        if fn in (cmd_serve, cmd_witness, cmd_trustee_serve, cmd_explore):  # long-running: settings from a file
            p.add_argument("--config", metavar="FILE", help="TOML file of settings named like the flags "
                           "(listen = \"0.0.0.0:7400\", checkpoint_ms = 50, ...); flags override it")
        if json_flag:
            p.add_argument("--json", action="store_true", help="print the result as JSON")
        # -v after the subcommand too; SUPPRESS keeps a -v given before it
        p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log more")
        p.set_defaults(fn=fn)
        return p

    alliance = sub.add_parser("alliance", help="set up an alliance", description="Set up an alliance.")
    asub = alliance.add_subparsers(dest="alliance_command", required=True, metavar="COMMAND")
    p = add(asub, "init", "Run the key ceremony: CA, identities, threshold key, genesis.",
            "candor alliance init --dir ./alliance --members a,b,c --trustees 3 --threshold 2", cmd_alliance_init)
    p.add_argument("--dir", required=True, help="empty folder to create the alliance in")
    p.add_argument("--members", required=True, help="founding members, comma-separated")
    p.add_argument("--trustees", type=int, default=3, help="number of trustees n (default 3)")
    p.add_argument("--threshold", type=int, default=2, help="trustees needed to decrypt, t (default 2)")
    p.add_argument("--witnesses", type=int, default=1, help="number of witnesses (default 1)")
    p.add_argument("--quorum", type=int, default=None, help="cosignatures a client requires (default: all)")
    p.add_argument("--key-bits", type=int, default=3072, help="Paillier modulus size (default 3072)")
    p.add_argument("--server", default="127.0.0.1:7400", help="operator address HOST:PORT written into identities "
                   "(default 127.0.0.1:7400); witnesses, trustees and members connect there")
    p.add_argument("--trustee-addresses", default=None, metavar="HOST:PORT,...",
                   help="where each trustee listens, in order, one per trustee (default 127.0.0.1:7410, :7411, ...); "
                        "the operator asks them for decryption shares there")
    p.add_argument("--min-rule-interval-days", type=int, default=90,
                   help="days between two rule sets' effective dates, fixed in genesis (default 90)")
    p.add_argument("--test-key-file", default=None, help="TEST ONLY: use a precomputed threshold key file")

    p = add(sub, "serve", "Run the operator: ledger, intake, checkpoints, gRPC with mTLS.",
            "candor serve --identity ./alliance/operator --data ./ledger.db", cmd_serve, json_flag=False)
    p.add_argument("--identity", default=_env("IDENTITY"), required=_env("IDENTITY") is None,
                   help="the operator's identity folder; env CANDOR_IDENTITY")
    p.add_argument("--data", default=_env("DATA"), help="SQLite path or postgresql:// URL (default: "
                   "ledger.db in the identity folder); env CANDOR_DATA")
    p.add_argument("--listen", default=_env("LISTEN"), help="HOST:PORT to bind (default: from the identity)")
    p.add_argument("--checkpoint-ms", type=int, default=int(_env("CHECKPOINT_MS", "50") or 50),
                   help="sign a checkpoint at most this often (default 50 ms)")
    p.add_argument("--epoch-interval", type=float, default=float(_env("EPOCH_INTERVAL", "0") or 0),
                   help="run a rating epoch every this many seconds (default 0: only on `candor epoch run`)")
    p.add_argument("--schema", default=_env("SCHEMA"), help="PostgreSQL schema holding the ledger (default "
                   "candor); several servers given the same --data and --schema share one ledger; env CANDOR_SCHEMA")
    p.add_argument("--metrics-listen", default=_env("METRICS_LISTEN"), metavar="HOST:PORT",
                   help="serve Prometheus metrics at http://HOST:PORT/metrics (default: off); "
                        "env CANDOR_METRICS_LISTEN")
    p.add_argument("--log-json", action="store_true", help="log JSON lines (one per RPC, with a request id) on stderr")
    p.add_argument("--verify-workers", type=int, metavar="N",
                   default=int(_env("VERIFY_WORKERS") or 0) if _env("VERIFY_WORKERS") else None,
                   help="processes verifying incoming reports, in batches (default: one per core; "
                        "0: in the server process); env CANDOR_VERIFY_WORKERS")

    db = sub.add_parser("db", help="database administration", description="Database administration.")
    dbsub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    p = add(dbsub, "migrate", "Create or upgrade the database schema (versioned migrations; never drops "
            "anything; running it again is a no-op).",
            "candor db migrate --data postgresql://candor@db.example/candor", cmd_db_migrate)
    p.add_argument("--data", default=_env("DATA"), required=_env("DATA") is None,
                   help="postgresql:// URL or SQLite path; env CANDOR_DATA")
    p.add_argument("--schema", default=_env("SCHEMA"), help="PostgreSQL schema (default candor); env CANDOR_SCHEMA")

    p = add(dbsub, "backup", "Copy a SQLite ledger to a new file, consistently, even while the operator serves.",
            "candor db backup --data ./ledger.db --out ./ledger-2026-12-01.db", cmd_db_backup)
    p.add_argument("--data", default=_env("DATA"), required=_env("DATA") is None,
                   help="the SQLite ledger; env CANDOR_DATA (PostgreSQL: use pg_dump, see docs/operations.md)")
    p.add_argument("--out", required=True, help="the new backup file")
    p = add(dbsub, "restore", "Replace a SQLite ledger by a backup (stop the operator first). Clients that "
            "verified a newer checkpoint will detect the rollback.",
            "candor db restore --from ./ledger-2026-12-01.db --data ./ledger.db", cmd_db_restore)
    p.add_argument("--from", required=True, metavar="FILE", help="the backup written by `candor db backup`")
    p.add_argument("--data", default=_env("DATA"), required=_env("DATA") is None,
                   help="the SQLite ledger to replace; env CANDOR_DATA")

    p = add(sub, "witness", "Cosign the operator's checkpoints after checking consistency.",
            "candor witness --identity ./alliance/witness-1", cmd_witness)
    _identity(p, "./alliance/witness-1")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between polls (default 1)")
    p.add_argument("--once", action="store_true", help="check and cosign once, then exit")

    p = add(sub, "status", "One screen for any party: operator reachable, ledger size, each witness's "
            "cosignature of the latest checkpoint, trustees reachable, rule set in force, last epoch, open and "
            "overdue disputes; exit status 1 if a party is unreachable or the witness quorum is missing.",
            "candor status --identity ./alliance/operator", cmd_status)
    _identity(p, "./alliance/operator")
    p.add_argument("--metrics", default=_env("METRICS"), metavar="HOST:PORT",
                   help="the operator's --metrics-listen address, to show when its last epoch ran (also epochs that "
                        "rated nothing); env CANDOR_METRICS")

    p = add(sub, "audit", "Download the whole ledger, re-verify every entry, compare the root.",
            "candor audit --identity ./alliance/regulator", cmd_audit)
    _identity(p, "./alliance/regulator")
    p.add_argument("--no-quorum", action="store_true", help="accept a checkpoint without the witness quorum")

    report = sub.add_parser("report", help="submit (one or a batch), resend or retract reports",
                            description="Submit reports (one, or a CSV batch), resend pending ones, retract one.")
    rsub = report.add_subparsers(dest="report_command", required=True, metavar="COMMAND")
    p = add(rsub, "submit", "Submit an encrypted, committed, proven report and verify its receipt.",
            "candor report submit --identity ./alliance/member-a --subject streamer-42 --category fake_traffic "
            "--tier serious --incident-date 2026-10-01", cmd_report_submit)
    _identity(p, "./alliance/member-a")
    p.add_argument("--subject", required=True, help="the anchor's identifier (pseudonymised before it leaves)")
    p.add_argument("--category", required=True, help="category code from the alliance's registry (its genesis); "
                   f"the default registry's codes: {', '.join(_default_categories())}")
    p.add_argument("--tier", required=True, help="minor, general, serious or critical")
    p.add_argument("--incident-date", required=True, help="YYYY-MM-DD the dishonest act ended")
    p.add_argument("--notice-date", help="YYYY-MM-DD you told the subject of this report (on or after the incident, "
                   "not after today; default today, UTC)")
    p.add_argument("--evidence", help="file whose SHA-256 is recorded (the file stays with you)")
    p = add(rsub, "import", "Submit a CSV batch of reports on one stream; show each row's verified receipt or refusal "
            "(exit status 1 if any row was refused or left pending).",
            "candor report import --identity ./alliance/member-a --file reports.csv", cmd_report_import)
    _identity(p, "./alliance/member-a")
    p.add_argument("--file", required=True, help="CSV with a header row: subject,category,tier,incident_date and "
                   "optionally notice_date and evidence (a file, relative to the CSV's folder, whose SHA-256 is "
                   f"recorded); at most {IMPORT_MAX_ROWS} rows, all checked before any is sent")
    p = add(rsub, "resend", "Send again, byte for byte, the reports whose answer never came; verify their receipts.",
            "candor report resend --identity ./alliance/member-a", cmd_report_resend)
    _identity(p, "./alliance/member-a")
    p = add(rsub, "retract", "Retract one of your own reports.",
            "candor report retract --identity ./alliance/member-a --report-id 3f2a...", cmd_report_retract)
    _identity(p, "./alliance/member-a")
    p.add_argument("--report-id", required=True, help="hex report id from the submit receipt")

    member = sub.add_parser("member", help="admit or revoke members (regulator)",
                            description="Admit or revoke alliance members (regulator only).")
    msub = member.add_subparsers(dest="member_command", required=True, metavar="COMMAND")
    p = add(msub, "admit", "Create a new member's identity folder and admit it on the ledger.",
            "candor member admit --identity ./alliance/regulator --member pinduoduo", cmd_member_admit)
    _identity(p, "./alliance/regulator")
    p.add_argument("--member", required=True, help="the new member's id (lowercase letters, digits, . _ -)")
    p.add_argument("--out", help="where to write its identity folder (default: beside the regulator's)")
    p = add(msub, "revoke", "Revoke a member: it can no longer report, from the next entry on.",
            "candor member revoke --identity ./alliance/regulator --member pinduoduo", cmd_member_revoke)
    _identity(p, "./alliance/regulator")
    p.add_argument("--member", required=True, help="the member's id")
    p.add_argument("--reason", default="", help="why (recorded on the ledger)")

    dispute = sub.add_parser("dispute", help="file or resolve disputes (异议)",
                             description="File a dispute on a report (member, on the subject's behalf, or regulator) "
                                         "or resolve it (regulator, within 20 days).")
    dsub = dispute.add_subparsers(dest="dispute_command", required=True, metavar="COMMAND")
    p = add(dsub, "file", "Flag a report as disputed; the regulator must answer within 20 days.",
            "candor dispute file --identity ./alliance/member-b --report-id 3f2a... --statement 'refund was paid'",
            cmd_dispute_file)
    _identity(p, "./alliance/member-b")
    p.add_argument("--report-id", required=True, help="hex id of the disputed report")
    p.add_argument("--statement", required=True, help="the subject's objection")
    p = add(dsub, "resolve", "Decide a dispute: uphold the report, retract it, or annotate both sides.",
            "candor dispute resolve --identity ./alliance/regulator --dispute-id 9c1e... --outcome retract",
            cmd_dispute_resolve)
    _identity(p, "./alliance/regulator")
    p.add_argument("--dispute-id", required=True, help="hex id printed by `dispute file`")
    p.add_argument("--outcome", required=True, choices=("uphold", "retract", "annotate"))
    p.add_argument("--annotation", default="", help="the recorded explanation (for annotate)")

    escrow = sub.add_parser("escrow", help="open a report's escrow (regulator)",
                            description="Learn who submitted one report, for an open dispute or an investigation. "
                                        "The opening is appended to the ledger before anything is decrypted.")
    esc_sub = escrow.add_subparsers(dest="escrow_command", required=True, metavar="COMMAND")
    p = add(esc_sub, "open", "Record EscrowOpened, then decrypt the escrow and check the member's signature in it.",
            "candor escrow open --identity ./alliance/regulator --report-id 3f2a... --reason dispute:9c1e...",
            cmd_escrow_open)
    _identity(p, "./alliance/regulator")
    p.add_argument("--report-id", required=True, help="hex id of the report")
    p.add_argument("--reason", required=True,
                   help="dispute:<open dispute id on this report> or investigation:<index of the FraudFound or "
                        "InvestigationAuthorised entry covering it>")

    rules = sub.add_parser("rules", help="rating rule sets", description="Publish and show rating rule sets.")
    rlsub = rules.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")
    p = add(rlsub, "publish", "Validate, canonicalise, sign and publish a rule set (regulator).",
            "candor rules publish --identity ./alliance/regulator --file rules.toml", cmd_rules_publish)
    _identity(p, "./alliance/regulator")
    p.add_argument("--file", required=True, help="the rule set in TOML (see candor/rules/default.toml)")
    p = add(rlsub, "canonical", "Print the canonical form of a rule set (what gets signed).",
            "candor rules canonical --file rules.toml", cmd_rules_canonical, json_flag=False)
    p.add_argument("--identity", default=_env("IDENTITY"), help="any identity folder of the alliance, to check the "
                   "categories against its genesis registry (default: the default registry); env CANDOR_IDENTITY")
    p.add_argument("--file", required=True, help="the rule set in TOML")
    p = add(rlsub, "show", "Show the rule set in force and the history, verified by replaying the ledger.",
            "candor rules show --identity ./alliance/member-a", cmd_rules_show)
    _identity(p, "./alliance/member-a")

    trustee = sub.add_parser("trustee", help="run a trustee", description="Run a threshold-decryption trustee.")
    tsub = trustee.add_subparsers(dest="trustee_command", required=True, metavar="COMMAND")
    p = add(tsub, "serve", "Serve decryption shares over a verified mirror of the ledger.",
            "candor trustee serve --identity ./alliance/trustee-1", cmd_trustee_serve, json_flag=False)
    _identity(p, "./alliance/trustee-1")
    p.add_argument("--data", default=None, help="the mirror's store (default: mirror.db in the identity folder)")
    p.add_argument("--listen", default=None, help="HOST:PORT to bind (default: from the identity)")
    p = add(tsub, "log", "List the decryption shares this trustee issued (its share log), oldest first; "
            "--json adds each record as stored.", "candor trustee log --identity ./alliance/trustee-1",
            cmd_trustee_log)
    _identity(p, "./alliance/trustee-1")
    p.add_argument("--data", default=None, help="the mirror's store (default: mirror.db in the identity folder)")

    epoch = sub.add_parser("epoch", help="rating epochs", description="Rating epochs.")
    esub = epoch.add_subparsers(dest="epoch_command", required=True, metavar="COMMAND")
    p = add(esub, "run", "Run a rating epoch now (operator); exit status 1 if a failure (no cosigned checkpoint, "
            "trustees away) kept it from rating anything.", "candor epoch run --identity ./alliance/operator",
            cmd_epoch_run)
    _identity(p, "./alliance/operator")
    p.add_argument("--wait", type=float, default=30.0, metavar="SECONDS",
                   help="first wait up to this long for the witnesses to cosign what is on the ledger (default 30)")

    p = add(sub, "investigate", "Authorise a fraud investigation of a subject's held rating, or conclude it from "
            "the combiners' sealed evidence (regulator).",
            "candor investigate --identity ./alliance/regulator --subject streamer-42; then "
            "candor investigate conclude --identity ./alliance/regulator --subject streamer-42", cmd_investigate)
    _identity(p, "./alliance/regulator")
    p.add_argument("action", nargs="?", choices=("authorise", "conclude"), default="authorise",
                   help="authorise (default): InvestigationAuthorised at the held size; conclude: check the evidence "
                        "of the last judged step and append FraudFound or CombinerFaulted")
    p.add_argument("--subject", required=True, help="the anchor's identifier")
    p.add_argument("--reason", default="the aggregate did not open its commitments", help="recorded on the ledger")

    rating = sub.add_parser("rating", help="query ratings", description="Query ratings and their query log.")
    rtsub = rating.add_subparsers(dest="rating_command", required=True, metavar="COMMAND")
    p = add(rtsub, "get", "Get a subject's rating and verify it locally against the cosigned ledger.",
            "candor rating get --identity ./alliance/member-b --subject streamer-42 --purpose pre-contract",
            cmd_rating_get)
    _identity(p, "./alliance/member-b")
    p.add_argument("--subject", required=True, help="the anchor's identifier")
    p.add_argument("--purpose", required=True, choices=PURPOSES,
                   help="why you query (recorded in the subject's query log)")
    p = add(rtsub, "queries", "Show the query log you may read (2 years), verified against the ledger: "
            "the regulator sees who queried a subject; a member sees only its own queries.",
            "candor rating queries --identity ./alliance/regulator --subject streamer-42", cmd_rating_queries)
    _identity(p, "./alliance/regulator")
    p.add_argument("--subject", help="the anchor's identifier (required for the regulator; a member: "
                   "only its own queries about this subject)")

    _add_subject_commands(sub, rsub, dsub, add)
    _add_explore_command(sub, add)

    p = add(sub, "demo", "Run a whole alliance on localhost and show what happens.", "candor demo", cmd_demo)
    p.add_argument("--key-bits", type=int, default=2048, help="Paillier key size for the demo (default 2048)")
    p.add_argument("--reports", type=int, default=0, help="extra reports on top of the scripted story (default 0)")
    return parser


#: Error class -> (JSON error code, hint) for `--json` errors and the hint line.
_HINTS: tuple[tuple[str, str, str], ...] = (
    ("Unavailable", "unavailable", "start the party named above, or fix its address (docs/operations.md)"),
    ("AlreadyExists", "already_exists", "nothing to do twice; choose another name or id"),
    ("NotFound", "not_found", "check the identity folder, file or id named above"),
    ("PermissionDenied", "permission_denied", "use the identity folder of the role named above"),
    ("Unauthenticated", "unauthenticated", "use an identity folder from this alliance's ceremony"),
    ("InvalidInput", "invalid_argument", "fix the value named above; --help lists every flag"),
    ("VerificationError", "verification_failed", "do not trust this server's answer; tell the regulator"),
    ("Conflict", "failed_precondition", "the state named above must change first (docs/operations.md)"),
    ("ResourceExhausted", "resource_exhausted", "retry later, or with a smaller request"),
)


def _error_code(exc: BaseException) -> tuple[str, str]:
    for cls in type(exc).__mro__:
        for name, code, hint in _HINTS:
            if cls.__name__ == name:
                return code, hint
    return "error", "see docs/operations.md; rerun with -v for details"


def fail(args: argparse.Namespace | None, message: str, exc: BaseException | None = None) -> None:
    """Print one error line on stderr (with --json, also one JSON object {error, message,
    hint} on stdout, for scripts) and exit 1."""
    code, hint = _error_code(exc) if exc is not None else ("error", "")
    if args is not None and getattr(args, "json", False):
        print(json.dumps({"error": code, "message": message, "hint": hint}, sort_keys=True), flush=True)
    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    sys.exit(1)


def _command_parser(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.ArgumentParser:
    """The (sub)parser of the command `argv` names, e.g. that of `trustee serve`."""
    current = parser
    for token in argv:
        subs = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            break
        if token in subs[0].choices:
            current = subs[0].choices[token]
    return current


def _config_flags(argv: list[str], parser: argparse.ArgumentParser | None = None) -> list[str]:
    """The settings of `--config FILE` as extra flags, leaving out those given on the command
    line (flags override the file; the file overrides CANDOR_* environment defaults). With
    `parser`, every key must name a flag of the command exactly (no abbreviations, not
    --help or --config): anything else is refused in one line naming the keys."""
    import tomllib

    from core.errors import InvalidInput

    path = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--config"), None)
    path = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), path)
    if path is None:
        return []
    try:
        with open(path, "rb") as f:
            settings = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"--config {path} is not valid TOML: {exc}") from None
    if parser is not None:
        command = _command_parser(parser, argv)
        known = {o for a in command._actions for o in a.option_strings} - {"-h", "--help", "--config", "--version"}
        unknown = [key for key in settings if "--" + key.replace("_", "-") not in known]
        if unknown:
            raise InvalidInput(f"--config {path}: unknown setting(s) {', '.join(unknown)} for `{command.prog}`; "
                               "use the names of its flags without the dashes (see --help)")
    extra: list[str] = []
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        if key == "config" or any(a == flag or a.startswith(flag + "=") for a in argv):
            continue
        if isinstance(value, bool):
            extra += [flag] if value else []
        elif isinstance(value, (str, int, float)):
            extra += [flag, str(value)]
        else:
            raise InvalidInput(f"--config {path}: {key} must be a string, number or true/false")
    return extra


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        extra = _config_flags(argv, parser)
    except (CandorError, OSError) as exc:
        fail(None, str(exc) if isinstance(exc, CandorError) else f"--config: {exc.strerror}: {exc.filename}", exc)
    args, unknown = parser.parse_known_args(argv + extra)
    if unknown:
        if any(u in extra for u in unknown):
            fail(None, f"--config: unknown setting(s) {', '.join(u[2:] for u in unknown if u.startswith('--'))} "
                       "for this command; use the names of its flags (see --help)")
        parser.parse_args(argv)  # argparse's own message for an unknown flag on the command line
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        args.fn(args)
    except CandorError as exc:
        fail(args, str(exc), exc)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        fail(args, f"{exc.strerror or exc}{where}", exc)
    except Exception as exc:  # a bug: one line, the traceback only with -v
        if args.verbose:
            logging.getLogger("candor").exception("unexpected error")
        fail(args, f"unexpected {type(exc).__name__}: {exc} (rerun with -v for the traceback)", exc)


if __name__ == "__main__":
    main()

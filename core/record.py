"""A subject's record and the dispute docket, read from ledger entries (docs/subjects.md).

The rated anchor's rights (征信业管理条例 Arts 17, 25; FCRA §1681g) are to see every report
about it with its status, the disputes it raised and their outcomes, and its rating
history. This module derives all of that from the ledger entries themselves, in ledger
order, so a client that has checked each entry's inclusion in a cosigned checkpoint needs
to trust the operator for nothing but completeness (which `candor audit` checks).

A report's status, in this order of precedence:
- fraudulent: a FraudFound names it (it never counts again);
- retracted: its reporter retracted it, or a dispute outcome "retract" did;
- disputed: a dispute on it is open (the regulator answers within DISPUTE_DAYS);
- expired: past its category's retention under the rule set in force (it no longer counts);
- active: it counts.

Pure: the caller passes the day (`today`) and the entries; no clock, no I/O.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

from core import entries as e
from core.errors import VerificationError
from core.rules import RuleSet, expires_on
from core.state import DISPUTE_DAYS

STATUSES = ("active", "retracted", "expired", "disputed", "fraudulent")


def _day(ms: int) -> _dt.date:
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC).date()


@dataclass(frozen=True)
class Located:
    """A ledger entry at its index, already proven in a cosigned checkpoint, with its author
    as the caller established it ("regulator", "operator", "member", "subject", "ring")."""

    index: int
    entry: e.LedgerEntry
    author: str


@dataclass(frozen=True)
class Dispute:
    dispute_id: str
    report_id: str
    filed_index: int
    filed_on: str
    due: str
    by: str
    statement: str
    outcome: str | None = None
    resolved_index: int | None = None
    resolved_on: str | None = None
    annotation: str = ""

    @property
    def open(self) -> bool:
        return self.outcome is None

    def overdue(self, today: _dt.date) -> bool:
        """Open past its due day, or answered after it."""
        answered = _dt.date.fromisoformat(self.resolved_on) if self.resolved_on else today
        return answered > _dt.date.fromisoformat(self.due)


@dataclass(frozen=True)
class ReportStatus:
    report_id: str
    index: int
    category: str
    incident_date: str
    recorded_on: str
    status: str
    expires_on: str | None
    disputes: tuple[Dispute, ...]
    annotation: str = ""
    retracted_at: int | None = None
    fraud_at: int | None = None
    notice_date: str = ""  # the day the reporter told the subject (docs/subjects.md)


@dataclass(frozen=True)
class RatingEvent:
    """One step of the rating history: a request, and its answer (published, held, withdrawn)."""

    index: int
    kind: str
    as_of: str = ""
    rule_set: str = ""
    grade: str = ""
    score: int | None = None
    reporters: int | None = None
    reason: str = ""


def disputes_of(entries: Sequence[Located]) -> list[Dispute]:
    """Every dispute among `entries` (ascending index), with its resolution if present."""
    filed: dict[bytes, Dispute] = {}
    for item in entries:
        body = item.entry.body
        if isinstance(body, e.DisputeFiled):
            day = _day(item.entry.timestamp_ms)
            filed[body.dispute_id] = Dispute(
                dispute_id=body.dispute_id.hex(), report_id=body.report_id.hex(), filed_index=item.index,
                filed_on=day.isoformat(), due=(day + _dt.timedelta(days=DISPUTE_DAYS)).isoformat(), by=item.author,
                statement=body.statement)
        elif isinstance(body, e.DisputeResolved):
            d = filed.get(body.dispute_id)
            if d is None:
                raise VerificationError(f"entry {item.index} resolves dispute {body.dispute_id.hex()}, which no "
                                        "entry served files")
            filed[body.dispute_id] = replace(d, outcome=body.outcome, resolved_index=item.index,
                                             resolved_on=_day(item.entry.timestamp_ms).isoformat(),
                                             annotation=body.annotation)
    return sorted(filed.values(), key=lambda d: d.filed_index)


def rules_in_force(rule_sets: Sequence[RuleSet], today: _dt.date) -> RuleSet | None:
    """The rule set in force on `today` among `rule_sets` given in ledger order (the later
    entry wins a tie of effective dates), or None."""
    best: RuleSet | None = None
    for rules in rule_sets:
        if rules.effective_from <= today and (best is None or rules.effective_from >= best.effective_from):
            best = rules
    return best


def report_statuses(entries: Sequence[Located], rules: RuleSet | None, today: _dt.date) -> list[ReportStatus]:
    """Each ReportCommitted among `entries` with its status (module docstring)."""
    disputes = disputes_of(entries)
    retracted: dict[bytes, int] = {}
    fraud: dict[bytes, int] = {}
    by_dispute = {d.dispute_id: d for d in disputes}
    for item in entries:
        body = item.entry.body
        if isinstance(body, e.ReportRetracted):
            retracted.setdefault(body.report_id, item.index)
        elif isinstance(body, e.FraudFound):
            fraud.setdefault(body.report_id, item.index)
        elif isinstance(body, e.DisputeResolved) and body.outcome == "retract":
            rid = bytes.fromhex(by_dispute[body.dispute_id.hex()].report_id)
            retracted.setdefault(rid, item.index)
    out = []
    for item in entries:
        body = item.entry.body
        if not isinstance(body, e.ReportCommitted):
            continue
        mine = tuple(d for d in disputes if d.report_id == body.report_id.hex())
        incident = _dt.date.fromisoformat(body.incident_date)
        expiry = None if rules is None else expires_on(rules, body.category, incident)
        if body.report_id in fraud:
            status = "fraudulent"
        elif body.report_id in retracted:
            status = "retracted"
        elif any(d.open for d in mine):
            status = "disputed"
        elif expiry is not None and today >= expiry:
            status = "expired"
        else:
            status = "active"
        annotation = next((d.annotation for d in reversed(mine) if d.outcome == "annotate"), "")
        out.append(ReportStatus(
            report_id=body.report_id.hex(), index=item.index, category=body.category,
            incident_date=body.incident_date, recorded_on=_day(item.entry.timestamp_ms).isoformat(), status=status,
            expires_on=None if expiry is None else expiry.isoformat(), disputes=mine, annotation=annotation,
            retracted_at=retracted.get(body.report_id), fraud_at=fraud.get(body.report_id),
            notice_date=body.notice_date))
    return out


def rating_history(entries: Sequence[Located]) -> list[RatingEvent]:
    """The subject's rating requests and their answers, in ledger order."""
    out = []
    for item in entries:
        body = item.entry.body
        if isinstance(body, e.RatingRequested):
            out.append(RatingEvent(item.index, "requested", body.as_of, body.rule_set_version,
                                   reason=body.kind))
        elif isinstance(body, e.RatingPublished):
            out.append(RatingEvent(item.index, "published", body.as_of, body.rule_set_version, body.grade,
                                   body.score, body.reporters))
        elif isinstance(body, e.RatingHeld):
            out.append(RatingEvent(item.index, "held", reason="the aggregate did not open; awaiting an investigation"))
        elif isinstance(body, e.RatingWithdrawn):
            out.append(RatingEvent(item.index, "withdrawn", reason=body.reason))
    return out

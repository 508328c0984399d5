"""Verifying a report or retraction before it is sequenced (docs/reports.md, "Verification").

A report carries two expensive proofs: its validity proof (the commitment holds a tier) and
its ring signature (a member of the current ring wrote it); a retraction carries the ring
signature only. Both are group equations, and equations of many entries can be checked
together in one multi-scalar multiplication (`core.proofs.batch_verify_validity`,
`core.ring.batch_ring_verify`). `report_items` runs every other check of an entry, in the
order of the one-at-a-time verdict `verify_report`, and returns the equations' inputs; a
caller that batches (server/intake.py) gets from it exactly the refusal `verify_report`
would give, and for the rest checks the equations together, one at a time if a batch fails.
`core.state.apply` calls `verify_report` when it verifies an entry itself (the mirror, the
audit's slow path, a replay).

The state an entry is judged against is passed as data, read by the caller: the current
ring (reporting keys in admission order, `core.state.current_ring`), the index of the
membership change that made it, the ledger size, and for a retraction the subject of the
report it retracts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import gmpy2

from core import entries as e
from core.alliance import Alliance
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, StaleRing, VerificationError
from core.group import default_group
from core.pedersen import Generators
from core.proofs import ReportStatement, ValidityProof, batch_equation_holds, validity_batch_terms, verify_validity
from core.ring import RingItem, RingSignature, ring_batch_terms, ring_context, ring_verify

#: One validity-proof batch item: (statement, proof).
ValidityItem = tuple[ReportStatement, ValidityProof]


@dataclass(frozen=True)
class ReportItems:
    """What remains to verify of an entry: its validity proof (a report's; None for a
    retraction) and its ring signature, as batch items."""

    validity: ValidityItem | None
    ring: RingItem


def check_ciphertext(ally: Alliance, ciphertext: int) -> None:
    """A report's ciphertext must be a unit of Z*_{n²} (0 < c < n², gcd(c, n) = 1): a
    non-unit has no inverse, so every aggregate containing it would be undecryptable and
    the subject could never be rated again. It must also take exactly the bytes of n²
    (no leading zero byte), so its length is the same for every report (docs/reports.md)."""
    n, nsquare = ally.genesis.paillier_n, ally.nsquare
    if not 0 < ciphertext < nsquare:
        raise InvalidInput("ciphertext is outside 0 < c < n^2 of the alliance key: encrypt under the genesis key")
    if gmpy2.gcd(ciphertext, n) != 1:  # GMP: a third of math.gcd's time at 3072 bits
        raise InvalidInput("ciphertext is not a unit of Z*_{n^2} (it shares a factor with n), so no aggregate "
                           "containing it could be decrypted: encrypt as g^m * r^n mod n^2 with r coprime to n")
    width = (nsquare.bit_length() + 7) // 8
    if ciphertext.bit_length() <= 8 * (width - 1):
        raise InvalidInput(f"ciphertext is shorter than the {width} bytes of n^2; every report's ciphertext has that "
                           "length: encrypt again with a fresh randomiser")


def check_report(ally: Alliance, report: e.ReportCommitted) -> None:
    """The cheap checks of a report against the alliance: category and ciphertext. Run on
    every report: first by `report_items`, and by `core.state.apply` when it does not verify."""
    if report.category not in ally.genesis.categories:
        raise InvalidInput(
            f"category {report.category!r} is not in the registry; use one of {', '.join(ally.genesis.categories)}"
        )
    check_ciphertext(ally, report.ciphertext)


def check_ring_named(ring_change: int, changed_at: int, index: int) -> None:
    """A report or retraction names its ring by the membership-change entry that defines it
    (docs/reports.md): that must be the latest change, `changed_at`, as of entry `index`."""
    if ring_change == changed_at:
        return
    if ring_change < changed_at:
        raise StaleRing(
            f"the member set changed at entry {changed_at}; this entry names the ring of entry {ring_change}: "
            f"rebuild the ring signature with ring_change = {changed_at}"
        )
    if ring_change >= index:
        raise InvalidInput(f"ring_change {ring_change} names an entry beyond the ledger's {index} entries")
    raise InvalidInput(f"entry {ring_change} is not a membership change (the last one is entry {changed_at}): "
                       f"set ring_change = {changed_at}")


def report_items(ally: Alliance, signed: e.SignedEntry, ring: Sequence[bytes], changed_at: int, index: int,
                 retracted_subject: bytes | None = None) -> ReportItems:
    """Every check of a report or retraction to be entry `index` but its group equations.

    `ring` and `changed_at` are the current ring and its membership change;
    `retracted_subject` is, for a retraction, the subject tag of the report it retracts
    (None: no such report is on the ledger). Raises what `verify_report` raises for the
    entry unless that is the failure of a group equation, left to the caller; a report that
    fails a ring check has its proof verified first, so that it is refused for the proof,
    as `verify_report` would refuse it.
    """
    body = signed.entry.body
    validity: ValidityItem | None = None
    if isinstance(body, e.ReportCommitted):
        check_report(ally, body)
        validity = (ReportStatement(genesis_hash=ally.genesis_hash, report_id=body.report_id,
                                    subject_tag=body.subject_tag, category=body.category,
                                    event_date=body.incident_date, commitment=body.commitment),
                    ValidityProof.from_bytes(body.validity_proof))
        subject = body.subject_tag
    elif isinstance(body, e.ReportRetracted):
        if retracted_subject is None:
            raise NotFound(f"report {body.report_id.hex()} is not on the ledger")
        subject = retracted_subject
    else:
        raise VerificationError(f"{signed.entry.kind} is not verified in the intake path")
    try:
        return ReportItems(validity, _ring_item(ally, signed, subject, body.ring_change, ring, changed_at, index))
    except Exception:
        if validity is not None:
            verify_validity(ally.generators, *validity)  # the proof is judged before the ring
        raise


def _ring_item(ally: Alliance, signed: e.SignedEntry, subject_tag: bytes, ring_change: int,
               ring: Sequence[bytes], changed_at: int, index: int) -> RingItem:
    if signed.ring_signature is None:
        raise PermissionDenied(f"{signed.entry.kind} must carry a ring signature so its author stays anonymous")
    check_ring_named(ring_change, changed_at, index)
    if not ring:
        raise Conflict("no member is admitted: there is no ring to sign with")
    sig = RingSignature.from_bytes(signed.ring_signature)
    return ring_context(ally.genesis_hash, changed_at, tuple(ring)), subject_tag, signed.signed_message(), sig


def joint_batch_holds(gens: Generators, validity: Sequence[ValidityItem], rings: Sequence[RingItem]) -> bool:
    """Whether the validity proofs `validity` and the ring signatures `rings` all verify,
    checked as ONE batch equation: the terms of `core.proofs.batch_verify_validity`'s and of
    `core.ring.batch_ring_verify`'s batch equations, each with its own fresh coefficients,
    added together into one multi-scalar multiplication and one multiplication by the
    cofactor. False if any item fails (a bad challenge sum or point, or an equation): the
    caller then runs the two batches apart, and items alone, to name it.

    Why one equation: the MSM's cost per point falls with its size, so one MSM over both
    kinds of terms costs less than two (docs/performance.md, "One equation per batch").

    Soundness. Each batch equation is Σ ρ_k·D_k over its items' residues D_k, with
    independent uniform 128-bit ρ_k drawn after the items are fixed, multiplied by the
    cofactor h; the two docstrings cited above show that h·D_k = 0 for every k is exactly
    the items being valid. The sum of the two equations is again Σ ρ_k·D_k over the union
    of the residues, with independent uniform coefficients: if some h·D_k ≠ 0, fixing every
    other coefficient leaves the G1 part of the sum the identity for one residue of ρ_k mod
    q only, so the joint check accepts with probability at most 2^-128, as either batch
    alone does. It accepts nothing the two batches would refuse, and the same points are
    decoded with the same checks (the commitments C, the coupon commitments Cx and the link
    tags I subgroup-checked, the transient points on the curve only).
    """
    try:
        return batch_equation_holds(gens.group, validity_batch_terms(gens, validity),
                                    ring_batch_terms(gens.group, rings))
    except VerificationError:
        return False


def verify_report(ally: Alliance, signed: e.SignedEntry, ring: Sequence[bytes], changed_at: int, index: int,
                  retracted_subject: bytes | None = None) -> bytes:
    """Verify a report or retraction one at a time; return its ring signature's link tag.

    In order: the report's category and ciphertext (`check_report`), its
    validity proof, then the ring: a ring signature, naming the current ring, which must
    not be empty, and verifying over it. The arguments are those of `report_items`.
    """
    items = report_items(ally, signed, ring, changed_at, index, retracted_subject)
    if items.validity is not None:
        verify_validity(ally.generators, *items.validity)
    ring_verify(default_group(), *items.ring)
    return items.ring[3].link_tag

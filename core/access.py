"""Subject access to its own tiers (docs/subjects.md, "Your tiers").

After the regulator's SubjectAccessAuthorised at ledger index A for subject S, every report
about S below A is decrypted on its own by one designated combiner, never by the operator.
A single report's plaintext is never released unchecked: a member could have copied a
re-randomised ciphertext of another member's report into a report about a subject it
controls, to have that report's tier decrypted for it. So the combiner releases a tier only
when the plaintext opens the report's OWN commitment (`open_report`): it unpacks to exactly
one count of weight 1, in a slot of the report's category, with r < q and
C == G_{c,t} + r·H. A report that opens has its tier sealed (HPKE) to the subject's X25519
key; one that does not has the combiner's evidence (its t shares with proofs, and the
plaintext) sealed to the regulator's escrow key instead, and nothing goes to the subject.

These are the rules, written once: the ledger (`core.state`, SubjectAccessServed), the
trustees and the combiner (`server.trustee`), the operator (`server.epoch`), the subject's
client (`client.subject`) and the regulator call them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from core import combination as _combination
from core import entries as _e
from core import escrow as _escrow
from core import investigation as _investigation
from core import paillier as _paillier
from core import threshold as _threshold
from core.errors import InvalidInput, OpeningFailed, VerificationError
from core.group import ORDER
from core.pedersen import TIERS, Generators

__all__ = [
    "DOES_NOT_OPEN",
    "access_combiners",
    "check_access_combiner",
    "check_evidence",
    "check_served_signature",
    "evidence_aad",
    "open_evidence",
    "open_report",
    "open_tier",
    "seal_tier",
    "seal_evidence",
    "served_message",
    "share_aad",
    "tier_aad",
]

ACCESS_COMBINER_TAG = b"CANDOR-V1-ACCESS-COMBINER"
ACCESS_SHARE_TAG = b"CANDOR-V1-ACCESS-SHARE"
ACCESS_EVIDENCE_TAG = b"CANDOR-V1-ACCESS-EVIDENCE"
ACCESS_SERVED_TAG = b"CANDOR-V1-ACCESS-SERVED"
TIER_TAG = b"CANDOR-V1-TIER"
TIER_INFO = b"candor/v1/subject-tier"
DOES_NOT_OPEN = "the report does not open its own commitment"
"""The one verdict for every failure of the single-report check."""

_frame = _combination.frame  # the same length-prefixed framing as every other signed message


def _u64(value: int) -> bytes:
    return int(value).to_bytes(8, "big")


def access_combiners(genesis_hash: bytes, subject_tag: bytes, authorisation: int, report: int,
                     trustees: Sequence[int]) -> tuple[int, ...]:
    """The order in which trustees combine one report for subject access: sorted by
    SHA-256(seed ‖ index), seed = SHA-256(tag ‖ genesis ‖ subject ‖ A ‖ report). Nobody,
    the operator least, chooses it; each report gets its own draw."""
    seed = hashlib.sha256(_frame(ACCESS_COMBINER_TAG, genesis_hash, subject_tag, _u64(authorisation),
                                 _u64(report))).digest()
    return tuple(sorted(trustees, key=lambda i: hashlib.sha256(seed + int(i).to_bytes(4, "big")).digest()))


def check_access_combiner(genesis: _e.Genesis, genesis_hash: bytes, subject_tag: bytes, authorisation: int,
                          report: int, combiner: int) -> None:
    """`combiner` is the first in the report's order, or a later one when earlier ones were
    away: at most n − t may be skipped (fewer than t trustees would be left otherwise)."""
    order = access_combiners(genesis_hash, subject_tag, authorisation, report, [t.index for t in genesis.trustees])
    allowed = order[: len(order) - genesis.threshold + 1]
    if combiner not in allowed:
        raise VerificationError(f"combiner {combiner} is not designated for report {report} under access "
                                f"authorisation {authorisation}: the order is {list(order)} and only the first "
                                f"{len(allowed)} may combine")


def share_aad(genesis_hash: bytes, authorisation: int, subject_tag: bytes, report: int, combiner: int,
              trustee: int) -> bytes:
    """What a sealed share of one report is bound to: useless for any other report,
    authorisation, combiner or trustee slot (and for any rating request)."""
    return _frame(ACCESS_SHARE_TAG, genesis_hash, _u64(authorisation), subject_tag, _u64(report),
                  combiner.to_bytes(4, "big"), trustee.to_bytes(4, "big"))


def open_report(gens: Generators, category: str, commitment: bytes, plaintext: int) -> int:
    """The tier of one report whose decrypted plaintext opens its own commitment: it unpacks
    to exactly one count, equal to 1, in a slot of `category`, r < q, and
    C == G_{category,t} + r·H. Anything else raises OpeningFailed(DOES_NOT_OPEN),
    whatever the cause."""
    try:
        slot_of = gens.categories.index(category)
        opening = _paillier.unpack(plaintext, TIERS * len(gens.categories))
        filled = [s for s, count in enumerate(opening.counts) if count]
        if len(filled) != 1 or opening.counts[filled[0]] != 1 or filled[0] // TIERS != slot_of \
                or opening.r_sum >= ORDER:
            raise OpeningFailed(DOES_NOT_OPEN)
        _combination.check_opening(gens, [commitment], [1], list(opening.counts), opening.r_sum)
    except (ValueError, InvalidInput, VerificationError):
        raise OpeningFailed(DOES_NOT_OPEN) from None
    return filled[0] % TIERS


def tier_aad(genesis_hash: bytes, subject_tag: bytes, report_id: bytes, authorisation: int) -> bytes:
    """What a sealed tier is bound to: this ledger, subject, report and authorisation."""
    return _frame(TIER_TAG, genesis_hash, subject_tag, report_id, _u64(authorisation))


def seal_tier(subject_public: bytes, aad: bytes, tier: int) -> bytes:
    """HPKE-seal a tier (one byte, so every sealed tier has the same length)."""
    if not 0 <= tier < TIERS:
        raise InvalidInput(f"tier {tier} is outside 0..{TIERS - 1}")
    return _escrow.seal(subject_public, TIER_INFO, aad, bytes([tier]))


def open_tier(subject_private: bytes, aad: bytes, sealed: bytes) -> int:
    """The subject opens a sealed tier; VerificationError if it does not open."""
    try:
        data = _escrow.open_(subject_private, TIER_INFO, aad, sealed)
    except (InvalidInput, VerificationError):
        raise VerificationError("a sealed tier does not open with this subject's key for this report") from None
    if len(data) != 1 or data[0] >= TIERS:
        raise VerificationError("a sealed tier holds no tier")
    return data[0]


def evidence_aad(genesis_hash: bytes, authorisation: int, subject_tag: bytes, report: int, combiner: int) -> bytes:
    """What a combiner's evidence about a report that does not open is bound to."""
    return _frame(ACCESS_EVIDENCE_TAG, genesis_hash, _u64(authorisation), subject_tag, _u64(report),
                  combiner.to_bytes(4, "big"))


def seal_evidence(regulator_escrow_key: bytes, aad: bytes, combiner: int, plaintext: int,
                  shares: Sequence[_threshold.DecryptionShare]) -> bytes:
    """The combiner's evidence (plaintext, t shares with proofs) sealed to the regulator."""
    evidence = _investigation.Evidence(combiner, False, plaintext, tuple(shares))
    return _investigation.seal_evidence(regulator_escrow_key, aad, evidence)


def served_message(genesis_hash: bytes, authorisation: int, subject_tag: bytes, report: int, combiner: int,
                   opens: bool, sealed: bytes) -> bytes:
    """What the combiner signs for one report: which report, its verdict, and the digest of
    what it sealed (to the subject or to the regulator), so nobody swaps the sealed bytes."""
    return _frame(ACCESS_SERVED_TAG, genesis_hash, _u64(authorisation), subject_tag, _u64(report),
                  combiner.to_bytes(4, "big"), b"\x01" if opens else b"\x00", hashlib.sha256(sealed).digest())


def check_served_signature(genesis: _e.Genesis, genesis_hash: bytes, body: _e.SubjectAccessServed) -> None:
    """The entry's combiner is designated for its report and signed exactly this entry."""
    check_access_combiner(genesis, genesis_hash, body.subject_tag, body.authorisation, body.report, body.combiner)
    _combination.check_combiner_signature(genesis, body.combiner, served_message(
        genesis_hash, body.authorisation, body.subject_tag, body.report, body.combiner, body.opens, body.sealed),
        body.signature)


def open_evidence(regulator_escrow_private: bytes, aad: bytes, sealed: bytes) -> _investigation.Evidence:
    """The regulator opens a combiner's evidence about a report that did not open."""
    return _investigation.open_evidence(regulator_escrow_private, aad, sealed)


def check_evidence(gens: Generators, public_key: _threshold.ThresholdPublicKey, ciphertext: int, category: str,
                   commitment: bytes, evidence: _investigation.Evidence, combiner: int) -> None:
    """The regulator's re-check of a withheld report (`ciphertext`, `category` and
    `commitment` from the ledger): t distinct shares that verify, whose combination is the
    plaintext given, and that plaintext does NOT open the report's own commitment. Raises
    VerificationError (the combiner's evidence is false) otherwise."""
    if evidence.combiner != combiner or evidence.opens:
        raise VerificationError(f"the evidence is not combiner {combiner}'s verdict \"does not open\"")
    combined = _investigation.evidence_plaintext(public_key, ciphertext, evidence, combiner)
    try:
        open_report(gens, category, commitment, combined)
    except OpeningFailed:
        return
    raise VerificationError(f"combiner {combiner} withheld a report whose plaintext opens its own commitment")

"""Investigations (docs/ratings.md, "Investigations"): finding a report whose ciphertext
disagrees with its commitment, when a rating's aggregate does not open.

Some member then encrypted something other than it committed. A logged, canonical bisection
(`bisection`), each step judged by two combiners nobody chooses (`investigation_combiners`),
finds one such report in at most ⌈log2 m⌉ + 1 steps (`max_steps`). Each combiner signs its
verdict (`step_verdict_message`) and seals its evidence, the plaintext and the shares it
combined, to the regulator only (`Evidence`, `seal_evidence`, `open_evidence`), who re-checks
it (`check_evidence`). `find_inconsistent` is the unlogged search, kept for tests of the
algebra.
"""

from __future__ import annotations

import hashlib as _hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core import escrow as _escrow
from core import threshold as _threshold
from core.combination import frame, int_bytes, open_aggregate
from core.errors import Conflict, InvalidInput, NotFound, OpeningFailed, VerificationError
from core.pedersen import Generators
from core.rating import ledger_index

__all__ = [
    "EVIDENCE_INFO",
    "EVIDENCE_TAG",
    "INVESTIGATION_COMBINER_TAG",
    "STEP_VERDICT_TAG",
    "Bisection",
    "Evidence",
    "bisection",
    "check_evidence",
    "evidence_aad",
    "find_inconsistent",
    "investigation_combiners",
    "max_steps",
    "open_evidence",
    "seal_evidence",
    "step_verdict_message",
]


def find_inconsistent(items: Sequence[int], opens: Callable[[Sequence[int]], bool]) -> int:
    """One report of `items` whose ciphertext disagrees with its commitment, by bisection.

    `items` are the indices of an active set whose aggregate does not open;
    `opens(subset)` decrypts the weighted aggregate of `subset` and reports whether it
    opens that subset's commitments (`check_opening`). Both sides are linear, so if a set
    fails and one half opens, the other half fails: halving finds a failing single report
    in 1 + ⌈log2 n⌉ calls, plus one to confirm the last inferred half. With several
    culprits, mark the one found (FraudFound) and search again: O(log n) calls each.
    Raises NotFound if `items` opens as a whole (no culprit; reports that cheat in
    opposite directions can cancel out in the aggregate, and then the published counts
    are the committed ones anyway), and VerificationError if the oracle turns out not to
    be additive.

    Privacy: every call decrypts a sub-aggregate, smaller than the active set and
    eventually a single report, i.e. a report's tier. Trustees therefore serve these
    decryptions only under an InvestigationAuthorised entry by the regulator covering the
    subject at that ledger size (docs/ratings.md step 3); never call this without one.
    """
    current = [ledger_index(i, "item") for i in items]
    if not current:
        raise NotFound("the set is empty: there is no report to search")
    if len(set(current)) != len(current):
        raise InvalidInput("items must not repeat an index")
    if opens(tuple(current)):
        raise NotFound(
            f"the aggregate of these {len(current)} reports opens its commitments: "
            "no report is inconsistent"
        )
    inferred = False
    while len(current) > 1:
        half = len(current) // 2
        left, right = current[:half], current[half:]
        if not opens(tuple(left)):
            current, inferred = left, False
        else:
            current, inferred = right, True
    if inferred and opens(tuple(current)):
        raise VerificationError(
            "the decryption oracle is not additive: a failing set split into halves that "
            "both open; check the trustees' decryption shares"
        )
    return current[0]


# -- investigations: canonical, logged bisection (docs/ratings.md, "Investigations") -------


INVESTIGATION_COMBINER_TAG = b"CANDOR-V1-INVESTIGATION-COMBINERS"


STEP_VERDICT_TAG = b"CANDOR-V1-STEP-VERDICT"


EVIDENCE_TAG = b"CANDOR-V1-EVIDENCE"


EVIDENCE_INFO = b"candor/v1/investigation-evidence"


@dataclass(frozen=True)
class Bisection:
    """Where a canonical bisection of a held set stands after the logged verdicts.

    `next_subset`: the subset the next step must test (None once finished); `culprit`: the
    single report a step tested directly and found not to open (finished, fraud found);
    `cleared`: finished with nothing found (a single report inferred not to open opened
    when tested, so an earlier verdict was false). `step` is the number the next step gets.
    """

    next_subset: tuple[int, ...] | None
    culprit: int | None
    cleared: bool
    step: int

    @property
    def finished(self) -> bool:
        return self.next_subset is None


def max_steps(size: int) -> int:
    """At most ⌈log2 m⌉ + 1 steps bisect a held set of m reports."""
    return max(0, (size - 1).bit_length()) + 1


def bisection(held: Sequence[int], verdicts: Sequence[bool]) -> Bisection:
    """The canonical bisection (docs/ratings.md): one pure function that the ledger (to admit
    an InvestigationStep), every trustee (before it serves a share) and the operator (to
    name the next step) call with the held set's ledger indices and the logged verdicts
    (True = opens), in step order.

    The held set does not open (its RatingHeld). Of a set that does not open only the left
    half (its first ⌈m/2⌉ reports by ledger index) is tested: if it does not open it is the
    new set; if it opens, the right half is inferred not to open. A single report is always
    tested itself before anyone is named (the test that yields the regulator's evidence), so
    at most ⌈log2 m⌉ + 1 steps are taken. Raises InvalidInput for verdicts beyond the end.
    """
    current = tuple(ledger_index(i, "held report") for i in held)
    if not current or list(current) != sorted(set(current)):
        raise InvalidInput("the held set must be non-empty, sorted by ledger index, without repeats")
    direct = False  # `current` was itself tested (by two combiners) and did not open
    for n, opens in enumerate(verdicts, start=1):
        if len(current) == 1 and direct:
            raise InvalidInput(f"verdict {n} comes after the bisection finished at step {n - 1}")
        if len(current) == 1:  # the confirming test of a single report
            if opens:
                if n != len(verdicts):
                    raise InvalidInput(f"verdict {n} comes after the bisection finished at step {n}")
                return Bisection(None, None, True, n + 1)
            direct = True
            continue
        half = (len(current) + 1) // 2
        left, right = current[:half], current[half:]
        current, direct = (right, False) if opens else (left, True)
    step = len(verdicts) + 1
    if len(current) == 1 and direct:
        return Bisection(None, current[0], False, step)
    if len(current) == 1:
        return Bisection(current, None, False, step)
    return Bisection(current[: (len(current) + 1) // 2], None, False, step)


def investigation_combiners(genesis_hash: bytes, subject_tag: bytes, ledger_size: int, step: int,
                            trustees: Sequence[int], faulted: Sequence[int] = ()) -> tuple[int, int]:
    """The two combiners of an investigation step: the first two trustees, skipping any a
    CombinerFaulted names, in the order SHA-256(seed ‖ index) with
    seed = SHA-256(tag ‖ genesis ‖ subject ‖ L ‖ step). Nobody chooses them."""
    size = ledger_index(ledger_size, "ledger size")
    seed = _hashlib.sha256(frame(INVESTIGATION_COMBINER_TAG, genesis_hash, subject_tag, size.to_bytes(8, "big"),
                                  int(step).to_bytes(4, "big"))).digest()
    order = sorted((i for i in trustees if i not in set(faulted)),
                   key=lambda i: _hashlib.sha256(seed + int(i).to_bytes(4, "big")).digest())
    if len(order) < 2:
        raise Conflict("fewer than two trustees are left that no CombinerFaulted names: no step can be judged")
    return order[0], order[1]


def step_verdict_message(genesis_hash: bytes, authorisation: int, subject_tag: bytes, ledger_size: int, step: int,
                         digest: bytes, combiner: int, opens: bool, evidence: bytes) -> bytes:
    """What a combiner signs for an investigation step: the step, the subset's digest, its
    own index, its verdict and the digest of the evidence it sealed to the regulator (so
    nobody can swap the evidence behind a signed verdict)."""
    return frame(STEP_VERDICT_TAG, genesis_hash, authorisation.to_bytes(8, "big"), subject_tag,
                  ledger_size.to_bytes(8, "big"), step.to_bytes(4, "big"), digest, combiner.to_bytes(4, "big"),
                  b"\x01" if opens else b"\x00", _hashlib.sha256(evidence).digest())


def evidence_aad(genesis_hash: bytes, authorisation: int, subject_tag: bytes, ledger_size: int, step: int,
                 digest: bytes, combiner: int) -> bytes:
    """What sealed evidence is bound to: one combiner's evidence for one step."""
    return frame(EVIDENCE_TAG, genesis_hash, authorisation.to_bytes(8, "big"), subject_tag,
                  ledger_size.to_bytes(8, "big"), step.to_bytes(4, "big"), digest, combiner.to_bytes(4, "big"))


@dataclass(frozen=True)
class Evidence:
    """A combiner's evidence for a step, for the regulator's eyes only: its verdict, the
    plaintext it decrypted and the t shares (with their proofs) it combined."""

    combiner: int
    opens: bool
    plaintext: int
    shares: tuple[_threshold.DecryptionShare, ...]


def seal_evidence(regulator_escrow_key: bytes, aad: bytes, evidence: Evidence) -> bytes:
    """HPKE-seal a combiner's evidence to the regulator's X25519 escrow key."""
    parts = [evidence.combiner.to_bytes(4, "big"), b"\x01" if evidence.opens else b"\x00",
             int_bytes(evidence.plaintext)]
    for s in evidence.shares:
        parts += [s.index.to_bytes(4, "big"), int_bytes(s.c_i), int_bytes(s.challenge), int_bytes(s.response)]
    return _escrow.seal(regulator_escrow_key, EVIDENCE_INFO, aad, frame(*parts))


def open_evidence(regulator_escrow_private: bytes, aad: bytes, sealed: bytes) -> Evidence:
    """Open a combiner's sealed evidence; VerificationError if it does not open or parse."""
    try:
        data = _escrow.open_(regulator_escrow_private, EVIDENCE_INFO, aad, sealed)
        parts: list[bytes] = []
        at = 0
        while at < len(data):
            n = int.from_bytes(data[at:at + 4], "big")
            parts.append(data[at + 4:at + 4 + n])
            at += 4 + n
        if at != len(data) or len(parts) < 3 or (len(parts) - 3) % 4 or len(parts[0]) != 4 or \
                parts[1] not in (b"\x00", b"\x01"):
            raise InvalidInput("malformed evidence")
        shares = tuple(_threshold.DecryptionShare(
            index=int.from_bytes(parts[i], "big"), c_i=int.from_bytes(parts[i + 1], "big"),
            challenge=int.from_bytes(parts[i + 2], "big"), response=int.from_bytes(parts[i + 3], "big"))
            for i in range(3, len(parts), 4))
        return Evidence(int.from_bytes(parts[0], "big"), parts[1] == b"\x01", int.from_bytes(parts[2], "big"), shares)
    except (InvalidInput, VerificationError):
        raise VerificationError("the sealed evidence does not open for this step") from None


def evidence_plaintext(public_key: _threshold.ThresholdPublicKey, ciphertext: int, evidence: Evidence,
                       combiner: int) -> int:
    """The plaintext a combiner's evidence stands for, re-derived: exactly t distinct shares
    of `ciphertext`, each passing its Chaum–Pedersen proof, whose combination is the
    plaintext the evidence states. Raises VerificationError naming what is false."""
    indices = [s.index for s in evidence.shares]
    if len(indices) != public_key.threshold or len(set(indices)) != len(indices):
        raise VerificationError(f"combiner {combiner} gives {len(indices)} shares; exactly t = "
                                f"{public_key.threshold} distinct ones are needed")
    for share in evidence.shares:
        try:
            _threshold.verify_share(public_key, ciphertext, share)
        except (InvalidInput, VerificationError):
            raise VerificationError(f"combiner {combiner} gives a share of trustee {share.index} that fails its "
                                    "proof") from None
    combined = _threshold.combine(public_key, ciphertext, sorted(evidence.shares, key=lambda s: s.index),
                                  verify=False)
    if combined != evidence.plaintext:
        raise VerificationError(f"combiner {combiner}'s plaintext is not the combination of its shares")
    return combined


def check_evidence(gens: Generators, public_key: _threshold.ThresholdPublicKey, ciphertext: int,
                   commitments: Sequence[bytes], weights: Sequence[int], evidence: Evidence, combiner: int) -> bool:
    """The regulator's re-check of one combiner's evidence for a step whose aggregate
    ciphertext is `ciphertext` (recomputed from the ledger): t distinct shares that each
    verify, whose combination is the plaintext given, and a verdict that is what the
    strict check (`open_aggregate`) gives for that plaintext. Returns whether it opens;
    raises VerificationError (the combiner's evidence is false) otherwise."""
    if evidence.combiner != combiner:
        raise VerificationError(f"the evidence names combiner {evidence.combiner}, not {combiner}")
    combined = evidence_plaintext(public_key, ciphertext, evidence, combiner)
    try:
        open_aggregate(gens, commitments, weights, combined)
        opens = True
    except OpeningFailed:
        opens = False
    if opens != evidence.opens:
        raise VerificationError(f"combiner {combiner} said {'opens' if evidence.opens else 'does not open'}, but "
                                "its own plaintext says otherwise")
    return opens

"""The combiner's part of a rating (docs/ratings.md): who combines, how shares reach it,
whether a decrypted aggregate opens, and what a publication must prove.

1. The designated combiner (`combiner_order`, `check_designated`): trustees in an order
   derived from (genesis, subject, L) that nobody chooses; the first available one combines.
2. Shares are sealed (HPKE) to the combiner, bound to the request, set, combiner and trustee
   (`share_aad`, `seal_share`, `open_share`).
3. The combiner's strict check (`open_aggregate`, `check_opening`): the Pedersen commitments
   are linear, so with weights w_i

       Σ w_i·C_i = Σ_{c,t} N_{c,t}·G_{c,t} + R·H,    N = Σ w_i·onehot_i,  R = Σ w_i·r_i

   holds exactly when every report's ciphertext packs what its commitment commits to (up
   to a discrete-log relation between the nothing-up-my-sleeve generators, which nobody
   knows); the plaintext must also unpack, with N_s ≤ Σ w_i and R < q·Σ w_i as integers.
4. A publication states a score and grade and proves them against C*
   (`check_publication`, with `core.publication` and `core.score`); no count, R or D is
   ever published. The combiner signs it (`publication_message`), or signs that the
   aggregate does not open (`held_message`).
"""

from __future__ import annotations

import hashlib as _hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core import entries as _e
from core import escrow as _escrow
from core import paillier as _paillier
from core import threshold as _threshold
from core.errors import InvalidInput, OpeningFailed, VerificationError
from core.group import ORDER, Group, Point
from core.pedersen import TIERS, Generators
from core.publication import PublicationProof, PublicationStatement
from core.publication import verify as verify_publication
from core.rating import ReportInfo, count_reporters, ledger_index, reports_by_index
from core.rules import RuleSet, rule_set_hash
from core.score import grade_of, points_vector
from core.signing import VerifyKey

__all__ = [
    "COMBINER_TAG",
    "DOES_NOT_OPEN",
    "HELD_TAG",
    "PUBLICATION_SIGNATURE_TAG",
    "PublicationCrypto",
    "SHARE_INFO",
    "SHARE_TAG",
    "aggregate_commitment",
    "check_combiner_signature",
    "check_designated",
    "check_opening",
    "check_publication",
    "check_publication_crypto",
    "combiner_order",
    "frame",
    "held_message",
    "int_bytes",
    "open_aggregate",
    "open_share",
    "publication_message",
    "seal_share",
    "share_aad",
]


def _weights(weights: Sequence[int], n: int) -> list[int]:
    if len(weights) != n:
        raise InvalidInput(f"{n} commitments but {len(weights)} weights: give one weight each")
    out: list[int] = []
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, int) or w < 0:
            raise InvalidInput(f"weight {i} must be a non-negative integer, got {w!r}")
        out.append(w)
    return out


def _decode_all(group: Group, commitments: Sequence[bytes], *, checked: bool = True,
                xy: Sequence[bytes] | None = None) -> list[Point]:
    points: list[Point] = []
    if xy is not None:
        if checked or len(xy) != len(commitments):
            raise InvalidInput("uncompressed commitments are a hint for on-curve decoding only, one per commitment")
        for i, (data, hint) in enumerate(zip(commitments, xy)):
            try:
                points.append(group.decode_unchecked_via_xy(data, hint))
            except InvalidInput as exc:
                raise InvalidInput(f"commitment {i}: {exc}") from None
        return points
    decode = group.decode if checked else group.decode_unchecked
    for i, data in enumerate(commitments):
        try:
            points.append(decode(data))
        except InvalidInput as exc:
            raise InvalidInput(f"commitment {i}: {exc}") from None
    return points


def aggregate_commitment(
    group: Group, commitments: Sequence[bytes], weights: Sequence[int], *, subgroup_checked: bool = True,
    commitments_xy: Sequence[bytes] | None = None,
) -> Point:
    """C* = Σ w_i·C_i (docs/ratings.md), in one multi-scalar multiplication.

    `subgroup_checked=False` decodes on-curve only (a square root each, ≈26 µs against
    ≈80 µs with the subgroup check); `commitments_xy`, with it, gives each commitment's
    uncompressed form as an unverified hint, accepted only if it is exactly the point
    the compressed bytes encode (`Group.decode_unchecked_via_xy`, no square root): the
    same points either way. The result may then lie outside G1; what makes that sound is
    the caller's business (see `check_publication`)."""
    ws = _weights(weights, len(commitments))
    return group.msm(_decode_all(group, commitments, checked=subgroup_checked, xy=commitments_xy), ws)


def check_opening(
    gens: Generators,
    commitments: Sequence[bytes],
    weights: Sequence[int],
    counts: Sequence[int],
    r_sum: int,
    *,
    subgroup_checked: bool = True,
) -> None:
    """Verify Σ w_i·C_i == Σ N_{c,t}·G_{c,t} + R·H (docs/ratings.md step 5), R reduced mod q.

    Everything is moved to one side and checked with ONE multi-scalar multiplication:
    Σ w_i·C_i − Σ N_{c,t}·G_{c,t} − R·H must be the identity. `counts` are the decrypted
    weighted counts in slot order (4 per category of the registry). Raises
    VerificationError if the aggregate does not open, InvalidInput for malformed input.

    `subgroup_checked=False` is for a client re-checking a published rating: its
    commitments were subgroup-checked when they were appended (intake, and every audit
    replay), and the subgroup check is most of the cost (≈80 µs a point). The points are
    then decoded on-curve only and the sum is multiplied by the cofactor h before the
    identity test. That decides exactly whether the prime-order parts of the commitments
    open to the counts — the statement a rating makes — since h·P = 0 for a point P on
    the curve iff P has order dividing h, and multiplying by h is a bijection on the
    prime-order subgroup (h is prime to q).
    """
    n_slots = TIERS * len(gens.categories)
    if len(counts) != n_slots:
        raise InvalidInput(
            f"{len(counts)} counts for {len(gens.categories)} categories, expected {n_slots} "
            "(one per category and tier, in slot order)"
        )
    if isinstance(r_sum, bool) or not isinstance(r_sum, int) or r_sum < 0:
        raise InvalidInput("r_sum must be a non-negative integer (the decrypted R field)")
    ws = _weights(weights, len(commitments))
    group = gens.group
    points = _decode_all(group, commitments, checked=subgroup_checked)
    scalars = list(ws)
    for slot, count in enumerate(counts):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidInput(f"count of slot {slot} must be a non-negative integer")
        if count:  # a zero count contributes nothing; skip its generator
            points.append(gens.g(gens.categories[slot // TIERS], slot % TIERS))
            scalars.append(-count)
    points.append(gens.h)
    scalars.append(-(r_sum % ORDER))
    total = group.msm(points, scalars)
    if not subgroup_checked:
        total = group.mul_by_cofactor(total)
    if not group.is_identity(total):
        raise VerificationError(
            "the decrypted aggregate does not open the commitments: some report's "
            "ciphertext disagrees with its commitment"
        )


COMBINER_TAG = b"CANDOR-V1-COMBINER"


SHARE_INFO = b"candor/v1/share"


SHARE_TAG = b"CANDOR-V1-SHARE"


PUBLICATION_SIGNATURE_TAG = b"CANDOR-V1-PUBLICATION-SIGNATURE"


HELD_TAG = b"CANDOR-V1-HELD"


DOES_NOT_OPEN = "the aggregate does not open"
"""The one verdict for every failure of the strict plaintext check (docs/ratings.md)."""


def frame(*parts: bytes) -> bytes:
    """Length-prefixed concatenation: no two different field lists give the same bytes."""
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def combiner_order(genesis_hash: bytes, subject_tag: bytes, ledger_size: int,
                   trustees: Sequence[int]) -> tuple[int, ...]:
    """The order in which trustees combine for (subject, L): sorted by
    SHA-256(seed ‖ index) with seed = SHA-256(tag ‖ genesis hash ‖ subject ‖ L). The first
    available one is the designated combiner; nobody (the operator least) chooses it."""
    size = ledger_index(ledger_size, "ledger size")
    seed = _hashlib.sha256(frame(COMBINER_TAG, genesis_hash, subject_tag, size.to_bytes(8, "big"))).digest()
    return tuple(sorted(trustees, key=lambda i: _hashlib.sha256(seed + int(i).to_bytes(4, "big")).digest()))


# -- sealed decryption shares --------------------------------------------------------------


def share_aad(genesis_hash: bytes, request_index: int, subject_tag: bytes, ledger_size: int, digest: bytes,
              combiner: int, trustee: int) -> bytes:
    """What a sealed share is bound to: a share is useless for any other request, set,
    combiner or trustee slot."""
    return frame(SHARE_TAG, genesis_hash, request_index.to_bytes(8, "big"), subject_tag,
                  ledger_size.to_bytes(8, "big"), digest, combiner.to_bytes(4, "big"), trustee.to_bytes(4, "big"))


def int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


def seal_share(recipient_public: bytes, aad: bytes, share: _threshold.DecryptionShare) -> bytes:
    """HPKE-seal a decryption share and its Chaum–Pedersen proof to the combiner."""
    plaintext = share.index.to_bytes(4, "big") + frame(
        int_bytes(share.c_i), int_bytes(share.challenge), int_bytes(share.response))
    return _escrow.seal(recipient_public, SHARE_INFO, aad, plaintext)


def open_share(recipient_private: bytes, aad: bytes, sealed: bytes, trustee: int) -> _threshold.DecryptionShare:
    """Open a sealed share; VerificationError naming the trustee if it does not open or parse."""
    try:
        data = _escrow.open_(recipient_private, SHARE_INFO, aad, sealed)
        fields: list[int] = []
        at = 4
        while at < len(data):
            n = int.from_bytes(data[at:at + 4], "big")
            fields.append(int.from_bytes(data[at + 4:at + 4 + n], "big"))
            at += 4 + n
        if at != len(data) or len(fields) != 3 or int.from_bytes(data[:4], "big") != trustee:
            raise InvalidInput("malformed share")
        return _threshold.DecryptionShare(index=trustee, c_i=fields[0], challenge=fields[1], response=fields[2])
    except (InvalidInput, VerificationError):
        raise VerificationError(f"the sealed share of trustee {trustee} does not open for this request") from None


# -- the combiner's strict check -------------------------------------------------------------


def open_aggregate(gens: Generators, commitments: Sequence[bytes], weights: Sequence[int],
                   plaintext: int) -> _paillier.Opening:
    """The combiner's check of a decrypted aggregate (docs/ratings.md): it unpacks (a value
    beyond the last slot does not open), every count N_s ≤ Σ w_i, R < q·Σ w_i (both as
    integers), and C* = Σ N_s·G_s + R·H. Any failure raises OpeningFailed with the one
    message DOES_NOT_OPEN, whatever the cause: the verdict is published and must not say
    more about the plaintext than that."""
    ws = _weights(weights, len(commitments))
    total = sum(ws)
    n_slots = TIERS * len(gens.categories)
    try:
        opening = _paillier.unpack(plaintext, n_slots)
        if any(count > total for count in opening.counts) or opening.r_sum >= ORDER * total:
            raise OpeningFailed(DOES_NOT_OPEN)
        check_opening(gens, commitments, ws, list(opening.counts), opening.r_sum)
    except (InvalidInput, VerificationError):
        raise OpeningFailed(DOES_NOT_OPEN) from None
    return opening


# -- publications -------------------------------------------------------------------------


def publication_message(genesis_hash: bytes, body: _e.RatingPublished) -> bytes:
    """What the combiner signs: every field of the publication but its own signature."""
    digest = _hashlib.sha256(frame(
        body.request_index.to_bytes(8, "big"), body.subject_tag, body.rule_set_version.encode(),
        body.ledger_size.to_bytes(8, "big"), body.set_digest,
        b"".join(i.to_bytes(8, "big") for i in body.active_set), b"".join(w.to_bytes(2, "big") for w in body.weights),
        body.as_of.encode(), body.score.to_bytes(8, "big", signed=True), body.grade.encode(),
        body.reporters.to_bytes(4, "big"), body.proof, body.combiner.to_bytes(4, "big"),
    )).digest()
    return frame(PUBLICATION_SIGNATURE_TAG, genesis_hash, digest)


def held_message(genesis_hash: bytes, request_index: int, subject_tag: bytes, ledger_size: int, digest: bytes,
                 combiner: int) -> bytes:
    """What the combiner signs when the aggregate of a request does not open."""
    return frame(HELD_TAG, genesis_hash, request_index.to_bytes(8, "big"), subject_tag,
                  ledger_size.to_bytes(8, "big"), digest, combiner.to_bytes(4, "big"))


def check_designated(genesis: _e.Genesis, genesis_hash: bytes, subject_tag: bytes, ledger_size: int,
                     combiner: int) -> None:
    """The combiner is the designated one for (subject, L), or a later one in the order
    when earlier ones were unavailable: at most n − t may be skipped (beyond that fewer
    than t trustees would be left to serve shares). The operator cannot pick another."""
    order = combiner_order(genesis_hash, subject_tag, ledger_size, [t.index for t in genesis.trustees])
    allowed = order[: len(order) - genesis.threshold + 1]
    if combiner not in allowed:
        raise VerificationError(
            f"combiner {combiner} is not designated for this subject and size: the order is {list(order)} "
            f"and only the first {len(allowed)} may combine"
        )


def _trustee(genesis: _e.Genesis, index: int) -> _e.Trustee:
    for t in genesis.trustees:
        if t.index == index:
            return t
    raise VerificationError(f"combiner {index} is not a trustee of the genesis")


def check_combiner_signature(genesis: _e.Genesis, combiner: int, message: bytes, signature: bytes) -> None:
    """The combiner is a genesis trustee and `signature` is its Ed25519 signature."""
    try:
        VerifyKey.from_bytes(_trustee(genesis, combiner).signing_key).verify(message, signature)
    except VerificationError:
        raise VerificationError(f"the combiner signature of trustee {combiner} does not verify") from None


def check_publication(gens: Generators, genesis: _e.Genesis, genesis_hash: bytes, rules: RuleSet,
                      request_index: int, request: _e.RatingRequested, reports: Sequence[ReportInfo],
                      body: _e.RatingPublished, *, commitments_xy: Sequence[bytes] | None = None,
                      defer: Callable[[PublicationCrypto], None] | None = None) -> None:
    """Everything a RatingPublished claims, against the request it answers (docs/ratings.md).

    The one verification of a publication, run by the ledger on append and in every audit
    replay, and by the member SDK on GetRating. `reports` are the reports of the request's
    active set (at least); `rules` the rule set the request names. Checks: the entry
    answers `request` (subject, L, set, weights, digest, date, rule set); its reporter
    count is the number of distinct link tags and at least k; the combiner is a genesis
    trustee whose signature covers every field; the publication proof binds the score to
    C* = Σ w_i·C_i recomputed from the commitments (`check_publication_crypto`); the grade
    is the rule set's grade of the score. Raises VerificationError. `commitments_xy`
    (optional, one per entry of the active set, in its order): the commitments
    uncompressed, an unverified decoding hint (see `aggregate_commitment`); a hint that is
    not the same point is refused.

    `defer`: the crypto is handed to it instead of checked here, once every other check
    has passed (a mirror's or an auditor's pool checks it, as it checks reports). The
    caller then owns that check: nothing may rest on this entry until it holds, and a
    caller that needs the reason for a failure runs this again without `defer`, which
    names it with the message it gives here.
    """

    if body.request_index != request_index:
        raise VerificationError(f"the rating answers request {body.request_index}, not {request_index}")
    if (body.subject_tag, body.ledger_size, body.set_digest, body.active_set, body.weights, body.as_of,
            body.rule_set_version) != (request.subject_tag, request.ledger_size, request.set_digest,
                                       request.active_set, request.weights, request.as_of, request.rule_set_version):
        raise VerificationError("the rating's subject, size, active set, weights, date or rule set differ from "
                                f"the request {request_index} it answers")
    if rules.version != body.rule_set_version:
        raise VerificationError(f"rule set {rules.version} given, the rating names {body.rule_set_version}")
    table = reports_by_index(reports)
    active = tuple(zip(body.active_set, body.weights))
    reporters = count_reporters(table, [i for i, _ in active], "the rating's active set")
    if reporters != body.reporters:
        raise VerificationError(f"the rating claims {body.reporters} reporters; its active set has {reporters}")
    if reporters < rules.k_reporters:
        raise VerificationError(f"the rating rests on {reporters} distinct reporter(s); k = {rules.k_reporters}")
    check_designated(genesis, genesis_hash, body.subject_tag, body.ledger_size, body.combiner)
    check_combiner_signature(genesis, body.combiner, publication_message(genesis_hash, body),
                             body.combiner_signature)
    crypto = PublicationCrypto(
        commitments=tuple(table[i].commitment for i, _ in active), weights=tuple(w for _, w in active),
        genesis_hash=genesis_hash, subject_tag=body.subject_tag, ledger_size=body.ledger_size,
        set_digest=body.set_digest, rules_hash=rule_set_hash(rules),
        points=points_vector(rules, gens.categories), base_score=rules.base_score, score=body.score,
        proof=body.proof)
    if defer is None:
        check_publication_crypto(gens, crypto, commitments_xy=commitments_xy)
    grade = grade_of(rules, body.score)
    if grade != body.grade:
        raise VerificationError(f"the rating claims grade {body.grade}; score {body.score} gives grade {grade}")
    if defer is not None:
        defer(crypto)


@dataclass(frozen=True)
class PublicationCrypto:
    """What checking a publication costs once its claims hold: C* = Σ w_i·C_i over the
    active set's commitments, and the publication proof that binds the score to it. Plain
    values, so that a worker process can check it (`check_publication_crypto`)."""

    commitments: tuple[bytes, ...]
    weights: tuple[int, ...]
    genesis_hash: bytes
    subject_tag: bytes
    ledger_size: int
    set_digest: bytes
    rules_hash: bytes
    points: tuple[int, ...]
    base_score: int
    score: int
    proof: bytes


def check_publication_crypto(gens: Generators, crypto: PublicationCrypto, *,
                             commitments_xy: Sequence[bytes] | None = None) -> None:
    """The publication proof of `crypto.score` against C* recomputed from the commitments:
    `check_publication`'s crypto, with its messages. Raises VerificationError.

    The commitments are decoded on-curve only, without trusting that the ledger checked
    them on append: every point P of E(F_p) is uniquely P_q + P_h with P_q in G1 (order q)
    and P_h of order dividing the cofactor h (gcd(h, q) = 1). So C* = Σ w_i·C_i has G1 part
    Σ w_i·(C_i)_q and torsion part Σ w_i·(C_i)_h, and `publication.verify` decodes C* with
    the subgroup check: it is accepted only if the torsion part is 0, and then C* is exactly
    Σ w_i·(C_i)_q, whose opening is what the proof binds the score to — the G1 parts of the
    commitments, the statement check_opening decides too (cofactor-multiplied). A torsion
    part cannot change the score; it can only make the rating fail to verify, which honest
    commitments (all in G1: intake checks them) never do."""
    try:
        aggregate = aggregate_commitment(gens.group, crypto.commitments, crypto.weights, subgroup_checked=False,
                                         commitments_xy=commitments_xy)
    except InvalidInput as exc:
        raise VerificationError(f"the rating's commitments do not decode: {exc}") from None
    try:
        statement = PublicationStatement(crypto.genesis_hash, crypto.subject_tag, crypto.ledger_size,
                                         crypto.set_digest, crypto.rules_hash, gens.group.encode(aggregate),
                                         crypto.points, crypto.base_score, crypto.score)
        verify_publication(gens, statement, PublicationProof.from_bytes(crypto.proof, len(crypto.points)))
    except InvalidInput as exc:
        raise VerificationError(f"the publication proof does not verify: {exc}") from None
    except VerificationError as exc:
        raise VerificationError(f"the publication proof does not verify for score {crypto.score}: {exc}") from None

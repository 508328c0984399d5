"""Regenerate tests/vectors/threshold_share.json against the 1024-bit TEST-ONLY key.

Valid cases are fresh decryption shares (their proofs are randomised, so regeneration
changes the file; the share values c_i = c^(2*Delta*s_i) and the plaintexts do not).
Invalid cases are valid ones with exactly one thing broken, each saying what.

    python tests/vectors/make_threshold_share.py
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from api.identity import load_key_factors, load_key_file
from core import paillier
from core.errors import VerificationError
from core.threshold import (
    DecryptionShare,
    deal,
    decryption_share,
    verify_share,
)

HERE = Path(__file__).resolve().parent
KEY_FILE = "tests/keys/test_only_threshold_1024_t2_n3.json"


def main() -> None:
    root = HERE.parent.parent
    pk, shares = load_key_file(root / KEY_FILE)
    p, _ = load_key_factors(root / KEY_FILE)
    n, n2 = pk.n, pk.nsquare

    m1 = secrets.randbelow(2**64)
    c1 = int(pk.phe().encrypt(m1).ciphertext(be_secure=False))
    m2 = paillier.pack(secrets.randbelow(2**255), paillier.slot_index(2, 3))
    c2 = paillier.encrypt(pk.phe(), m2)
    ciphertexts: dict[str, dict[str, Any]] = {
        "c1": {"source": "phe.PaillierPublicKey.encrypt", "c": c1, "plaintext": m1},
        "c2": {"source": "core.paillier.encrypt of pack(r, slot 11)", "c": c2, "plaintext": m2},
    }
    s1 = {i: decryption_share(pk, shares[i - 1], c1) for i in (1, 2, 3)}
    s2 = {i: decryption_share(pk, shares[i - 1], c2) for i in (1, 2, 3)}

    other_pk, other_shares = deal(1024, 2, 3, allow_insecure=True)
    while True:
        # retry until the foreign share fails on its proof, not on a range check
        foreign = decryption_share(other_pk, other_shares[0], c1 % other_pk.nsquare)
        try:
            verify_share(pk, c1, foreign)
        except VerificationError as exc:
            if "fails its proof" in str(exc):
                break

    def sh(s: DecryptionShare, **changes: int) -> dict[str, Any]:
        d = {"index": s.index, "c_i": s.c_i, "challenge": s.challenge, "response": s.response}
        d.update(changes)
        return {k: v if k == "index" else format(v, "x") for k, v in d.items()}

    cases: list[dict[str, Any]] = []

    def add(case: dict[str, Any]) -> None:
        cases.append({"id": len(cases) + 1, **case})

    for name, table in (("c1", s1), ("c2", s2)):
        for i in (1, 2, 3):
            add({"op": "verify_share", "valid": True, "why": f"honest share of trustee {i}",
                 "ciphertext": name, "share": sh(table[i])})

    def bad(why: str, share: dict[str, Any], error: str, message: str,
            ciphertext: str = "c1", c: int | None = None) -> None:
        case: dict[str, Any] = {"op": "verify_share", "valid": False, "why": why,
                                "ciphertext": ciphertext, "share": share,
                                "error": error, "message": message}
        if c is not None:
            case["c"] = format(c, "x")
        add(case)

    fails = "fails its proof"
    bad("wrong index: trustee 1's share relabelled as trustee 2's",
        sh(s1[1], index=2), "VerificationError", "decryption share of trustee 2 fails its proof")
    bad("share of another ciphertext (c2) presented for c1", sh(s2[1]), "VerificationError",
        "decryption share of trustee 1 fails its proof")
    bad("tampered c_i: multiplied by 1 + n (still a unit)",
        sh(s1[2], c_i=s1[2].c_i * (1 + n) % n2), "VerificationError",
        f"trustee 2 {fails}")
    bad("negated c_i: same square, but the hash binds c_i itself",
        sh(s1[2], c_i=n2 - s1[2].c_i), "VerificationError", f"trustee 2 {fails}")
    bad("c_i = 1 with the original proof", sh(s1[3], c_i=1), "VerificationError",
        f"trustee 3 {fails}")
    bad("tampered challenge (e + 1)", sh(s1[1], challenge=s1[1].challenge + 1),
        "VerificationError", f"trustee 1 {fails}")
    bad("tampered response (z + 1)", sh(s1[1], response=s1[1].response + 1),
        "VerificationError", f"trustee 1 {fails}")
    bad("proof from another trustee (trustee 3's challenge and response on trustee 1's c_i)",
        sh(s1[1], challenge=s1[3].challenge, response=s1[3].response),
        "VerificationError", f"trustee 1 {fails}")
    bad("share from another key (another dealing, same ciphertext)", sh(foreign),
        "VerificationError", f"trustee 1 {fails}")
    bad("response far beyond the proof's range", sh(s1[1], response=s1[1].response << 400),
        "VerificationError", "response too large")
    bad("c_i = n, not a unit mod n^2", sh(s1[1], c_i=n), "VerificationError",
        "decryption share of trustee 1 is not in Z*_{n^2}")
    bad("c_i = p, shares a factor with n", sh(s1[2], c_i=p), "VerificationError",
        "decryption share of trustee 2 is not in Z*_{n^2}")
    bad("c_i out of range (c_i + n^2)", sh(s1[1], c_i=s1[1].c_i + n2), "VerificationError",
        "not in Z*_{n^2}")
    bad("c_i = 0", sh(s1[1], c_i=0), "InvalidInput", "must be a positive integer")
    bad("trustee index 4 of a 3-trustee key", sh(s1[1], index=4), "InvalidInput",
        "trustee index 4 is out of range")
    bad("trustee index 0", sh(s1[1], index=0), "InvalidInput", "must be an integer >= 1")
    bad("challenge of 257 bits", sh(s1[1], challenge=2**256), "InvalidInput",
        "challenge outside [0, 2^256)")
    bad("ciphertext 0", sh(s1[1]), "InvalidInput", "ciphertext must be", c=0)
    bad("ciphertext n^2, out of range", sh(s1[1]), "InvalidInput", "ciphertext must be", c=n2)
    bad("ciphertext sharing the factor p with n", sh(s1[1]), "InvalidInput",
        "not a unit", c=p)

    def comb(why: str, shares_: list[dict[str, Any]], ciphertext: str = "c1",
             error: str | None = None, message: str | None = None,
             verify: bool = True) -> None:
        case: dict[str, Any] = {"op": "combine", "valid": error is None, "why": why,
                                "ciphertext": ciphertext, "shares": shares_, "verify": verify}
        if error is not None:
            case.update({"error": error, "message": message})
        add(case)

    for name, table in (("c1", s1), ("c2", s2)):
        comb("trustees 1 and 2", [sh(table[1]), sh(table[2])], name)
        comb("trustees 1 and 3", [sh(table[1]), sh(table[3])], name)
        comb("trustees 3 and 2, out of order", [sh(table[3]), sh(table[2])], name)
    comb("all three trustees", [sh(s1[1]), sh(s1[2]), sh(s1[3])])
    comb("duplicate index: trustee 1 twice", [sh(s1[1]), sh(s1[1])],
         error="InvalidInput", message="duplicate decryption share from trustee 1")
    comb("too few shares", [sh(s1[2])], error="InvalidInput", message="need 2 shares, got 1")
    comb("no shares", [], error="InvalidInput", message="need 2 shares, got 0")
    comb("one share for another ciphertext", [sh(s1[1]), sh(s2[2])],
         error="VerificationError", message="decryption share of trustee 2 fails its proof")
    comb("tampered share among valid ones", [sh(s1[1]), sh(s1[3], response=1)],
         error="VerificationError", message="decryption share of trustee 3 fails its proof")
    comb("tampered c_i with verification off: the combination itself fails",
         [sh(s1[1]), sh(s1[3], c_i=s1[3].c_i * 4 % n2)], verify=False,
         error="VerificationError", message="some share is wrong")

    out = {
        "description": "Threshold Paillier decryption shares (Damgard-Jurik 2001 s=1, "
        "docs/ratings.md) under the 1024-bit TEST-ONLY key: verify_share and combine. "
        "Integers are lowercase hex. A valid share's c_i equals c^(2*Delta*s_i) for the "
        "key share in the key file; a valid combination yields the plaintext.",
        "generator": "tests/vectors/make_threshold_share.py",
        "key_file": KEY_FILE,
        "n": format(n, "x"),
        "ciphertexts": {
            k: {"source": v["source"], "c": format(int(v["c"]), "x"),
                "plaintext": format(int(v["plaintext"]), "x")}
            for k, v in ciphertexts.items()
        },
        "cases": cases,
    }
    (HERE / "threshold_share.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Regenerate pedersen.json: Candor's Pedersen generators and sample commitments.

Run: python tests/vectors/make_pedersen.py

Computed straight from the docs/reports.md definitions with py_ecc (RFC 9380 hash_to_G1), not
through core.pedersen, so the test compares the implementation with an independent
derivation: G_{c,t} = hash_to_curve("category/<code>/tier/<t>"), H = hash_to_curve("blinding"),
both under DST "CANDOR-V1-PEDERSEN", and C = G_{c,t} + r·H.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from py_ecc.bls.hash_to_curve import hash_to_G1
from py_ecc.bls.point_compression import compress_G1
from py_ecc.optimized_bls12_381.optimized_curve import add, curve_order, multiply

OUT = Path(__file__).with_name("pedersen.json")
DST = b"CANDOR-V1-PEDERSEN"
CATEGORIES = ["FRAUD", "COUNTERFEIT", "NON_DELIVERY"]


def h2c(msg: bytes):  # type: ignore[no-untyped-def]
    return hash_to_G1(msg, DST, hashlib.sha256)  # type: ignore[arg-type]


def enc(p) -> str:  # type: ignore[no-untyped-def]
    return int(compress_G1(p)).to_bytes(48, "big").hex()


def build() -> dict[str, object]:
    h = h2c(b"blinding")
    gens = {
        f"{c}/{t}": h2c(f"category/{c}/tier/{t}".encode()) for c in CATEGORIES for t in range(4)
    }
    commitments = []
    samples = [("FRAUD", 0, 0), ("FRAUD", 3, 1), ("COUNTERFEIT", 2, curve_order - 1),
               ("NON_DELIVERY", 1, int.from_bytes(hashlib.sha256(b"r").digest(), "big") % curve_order)]
    for i, (c, t, r) in enumerate(samples):
        point = add(gens[f"{c}/{t}"], multiply(h, r))
        commitments.append({"id": i + 1, "category": c, "tier": t, "r": hex(r), "commitment": enc(point)})
    return {
        "description": "Pedersen generators G_{c,t} and H (RFC 9380 BLS12381G1_XMD:SHA-256_SSWU_RO_, "
        "DST CANDOR-V1-PEDERSEN) and commitments C = G_{c,t} + r*H, computed with py_ecc by "
        "make_pedersen.py.",
        "dst": DST.decode(),
        "categories": CATEGORIES,
        "H": enc(h),
        "G": {k: enc(v) for k, v in gens.items()},
        "commitments": commitments,
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {OUT}")

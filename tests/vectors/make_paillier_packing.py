"""Regenerate tests/vectors/paillier_packing.json (packing and registry-fit known answers).

Expected values are computed here from the formulas of docs/reports.md with plain
integer arithmetic, independently of core/paillier.py:

    pack(r, slot) = r + 2^320 * 2^(48*slot)
    a registry of k categories fits n iff 2^(320 + 48*4*k) <= n // 3  (phe's max_int + 1)

    python tests/vectors/make_paillier_packing.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
KEYS = HERE.parent / "keys"
R_BITS, SLOT_BITS, TIERS = 320, 48, 4
Q = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001  # BLS12-381 order


def fits(n: int, k: int) -> bool:
    return 1 << (R_BITS + SLOT_BITS * TIERS * k) <= n // 3


def max_k(n: int) -> int:
    k = 0
    while fits(n, k + 1):
        k += 1
    return k


def main() -> None:
    cases: list[dict[str, Any]] = []

    def add(case: dict[str, Any]) -> None:
        cases.append({"id": len(cases) + 1, **case})

    for r, slot, why in [
        (0, 0, "smallest r, first slot"),
        (1, 0, "r = 1, first slot"),
        (Q - 1, 0, "largest BLS12-381 scalar, first slot"),
        (Q - 1, 31, "largest scalar, last slot of the 8-category default registry"),
        (2**R_BITS - 1, 5, "largest r the 320-bit field holds"),
        (0x1234, 57, "last slot that fits a 3072-bit key"),
    ]:
        add({"op": "pack", "valid": True, "why": why, "r": format(r, "x"), "slot": slot,
             "m": format(r + 2 ** (R_BITS + SLOT_BITS * slot), "x")})
    for r, slot, why, msg in [
        (2**R_BITS, 0, "r one past the 320-bit field", "0 <= r < 2^320"),
        (-1, 0, "negative r", "0 <= r < 2^320"),
        (5, -1, "negative slot", "slot -1 is negative"),
    ]:
        add({"op": "pack", "valid": False, "why": why, "r": format(r, "x"), "slot": slot,
             "error": "InvalidInput", "message": msg})

    for counts, r_sum, why in [
        ([0] * 32, 0, "empty aggregate of the default registry"),
        ([1] + [0] * 31, 7, "one report, slot 0"),
        ([0] * 31 + [2**SLOT_BITS - 1], 2**R_BITS - 1, "every field at its maximum"),
        ([1000, 0, 2500, 0, 0, 0, 0, 750] + [0] * 24, 3 * Q, "weighted counts (per mille)"),
        ([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 9], 2**300 + 17, "three categories (1024-bit key)"),
    ]:
        m = r_sum + sum(c << (R_BITS + SLOT_BITS * i) for i, c in enumerate(counts))
        add({"op": "unpack", "valid": True, "why": why, "m": format(m, "x"),
             "n_slots": len(counts), "counts": counts, "r_sum": format(r_sum, "x")})
    for m, n_slots, why in [
        (1 << (R_BITS + SLOT_BITS * 32), 32, "a carry out of the last of 32 slots"),
        ((1 << (R_BITS + SLOT_BITS * 4)) + 5, 4, "a count in slot 4 of a 4-slot registry"),
        (1 << R_BITS, 0, "no slots but a count bit set"),
    ]:
        add({"op": "unpack", "valid": False, "why": why, "m": format(m, "x"),
             "n_slots": n_slots, "error": "InvalidInput", "message": "a count overflowed"})

    moduli: list[tuple[str, int]] = []
    for bits in (1024, 2048, 3072):
        moduli.append((f"smallest odd {bits}-bit n", 2 ** (bits - 1) + 1))
        moduli.append((f"largest {bits}-bit n", 2**bits - 1))
        key = KEYS / f"test_only_threshold_{bits}_t2_n3.json"
        n = int(json.loads(key.read_text())["public_key"]["n"], 16)
        moduli.append((f"the {bits}-bit test-only key", n))
    for why, n in moduli:
        k = max_k(n)
        add({"op": "max_categories", "valid": True, "why": why, "n": format(n, "x"),
             "n_bits": n.bit_length(), "categories": k})
        add({"op": "check_registry_fits", "valid": True, "why": f"{why}: {k} categories fit",
             "n": format(n, "x"), "n_categories": k})
        add({"op": "check_registry_fits", "valid": False,
             "why": f"{why}: {k + 1} categories do not fit", "n": format(n, "x"),
             "n_categories": k + 1, "error": "InvalidInput",
             "message": f"a {n.bit_length()}-bit key holds at most {k} categories; "
                        f"the registry has {k + 1}: use a larger key"})

    out = {
        "description": "Candor packed Paillier plaintexts (docs/reports.md): "
        "m = r + 2^320 * 2^(48*slot); known answers for pack/unpack and the registry-fit "
        "rule 2^(320 + 48*4*k) <= n // 3. Integers are lowercase hex unless stated.",
        "constants": {"R_BITS": R_BITS, "SLOT_BITS": SLOT_BITS, "TIERS": TIERS},
        "generator": "tests/vectors/make_paillier_packing.py",
        "cases": cases,
    }
    (HERE / "paillier_packing.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()

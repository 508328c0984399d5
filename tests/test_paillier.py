"""Packed Paillier plaintexts and fast encryption (core/paillier.py, docs/reports.md)."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import phe
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.identity import load_key_factors, load_key_file
from core import errors, paillier
from core.paillier import (
    MAX_WEIGHT_SUM,
    R_BITS,
    SLOT_BITS,
    TIERS,
    Opening,
    RnPool,
    aggregate,
    check_ciphertext,
    check_registry_fits,
    encrypt,
    from_encrypted_number,
    max_categories,
    pack,
    slot_index,
    to_encrypted_number,
    unpack,
)

TESTS = Path(__file__).resolve().parent
KEY_1024 = TESTS / "keys" / "test_only_threshold_1024_t2_n3.json"
KEY_2048 = TESTS / "keys" / "test_only_threshold_2048_t2_n3.json"
KEY_3072 = TESTS / "keys" / "test_only_threshold_3072_t2_n3.json"
VECTORS = json.loads((TESTS / "vectors" / "paillier_packing.json").read_text())
BLS_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
PROPS = settings(max_examples=30, deadline=None)

Keypair = tuple[phe.PaillierPublicKey, phe.PaillierPrivateKey]


def _keypair(path: Path) -> Keypair:
    p, q = load_key_factors(path)
    public_key = phe.PaillierPublicKey(p * q)
    return public_key, phe.PaillierPrivateKey(public_key, p, q)


@pytest.fixture(scope="module")
def keys() -> Keypair:
    """phe's own key pair for the 1024-bit test-only threshold key (3 categories fit)."""
    return _keypair(KEY_1024)


@pytest.fixture(scope="module")
def keys_2048() -> Keypair:
    return _keypair(KEY_2048)


# ------------------------------------------------------------------ known answers


def _case_ids(op: str) -> list[dict[str, Any]]:
    return [c for c in VECTORS["cases"] if c["op"] == op]


def test_vector_constants_match_the_module() -> None:
    assert VECTORS["constants"] == {"R_BITS": R_BITS, "SLOT_BITS": SLOT_BITS, "TIERS": TIERS}
    assert (R_BITS, SLOT_BITS, TIERS) == (320, 48, 4)


@pytest.mark.parametrize("case", _case_ids("pack"), ids=lambda c: f"{c['id']}-{c['why']}")
def test_pack_vectors(case: dict[str, Any]) -> None:
    r = int(case["r"], 16)
    if case["valid"]:
        assert pack(r, case["slot"]) == int(case["m"], 16)
    else:
        with pytest.raises(getattr(errors, case["error"]), match=_fragment(case)):
            pack(r, case["slot"])


@pytest.mark.parametrize("case", _case_ids("unpack"), ids=lambda c: f"{c['id']}-{c['why']}")
def test_unpack_vectors(case: dict[str, Any]) -> None:
    m = int(case["m"], 16)
    if case["valid"]:
        opening = unpack(m, case["n_slots"])
        assert opening == Opening(tuple(case["counts"]), int(case["r_sum"], 16))
        assert opening.plaintext() == m
    else:
        with pytest.raises(getattr(errors, case["error"]), match=_fragment(case)):
            unpack(m, case["n_slots"])


@pytest.mark.parametrize(
    "case", _case_ids("max_categories"), ids=lambda c: f"{c['id']}-{c['why']}"
)
def test_max_categories_vectors(case: dict[str, Any]) -> None:
    n = int(case["n"], 16)
    assert n.bit_length() == case["n_bits"]
    assert max_categories(n) == case["categories"]


@pytest.mark.parametrize(
    "case", _case_ids("check_registry_fits"), ids=lambda c: f"{c['id']}-{c['why']}"
)
def test_registry_fit_vectors(case: dict[str, Any]) -> None:
    n = int(case["n"], 16)
    if case["valid"]:
        check_registry_fits(n, case["n_categories"])
        top = R_BITS + SLOT_BITS * TIERS * case["n_categories"]
        # the largest packed value of a fitting registry decodes as a positive phe integer
        assert 2**top - 1 <= phe.PaillierPublicKey(n).max_int
    else:
        with pytest.raises(getattr(errors, case["error"]), match=_fragment(case)):
            check_registry_fits(n, case["n_categories"])


def _fragment(case: dict[str, Any]) -> str:
    return re.escape(str(case["message"]))


def test_default_registry_fits_production_keys() -> None:
    for path in (KEY_2048, KEY_3072):
        n = int(json.loads(path.read_text())["public_key"]["n"], 16)
        check_registry_fits(n, 8)  # 320 + 32*48 = 1856 bits
    n2048 = int(json.loads(KEY_2048.read_text())["public_key"]["n"], 16)
    with pytest.raises(errors.InvalidInput, match="holds at most 8 categories; the registry"):
        check_registry_fits(n2048, 9)


def test_registry_fit_rejects_nonsense() -> None:
    with pytest.raises(errors.InvalidInput, match="non-negative"):
        check_registry_fits(2**2048 - 1, -1)
    with pytest.raises(errors.InvalidInput, match="greater than 3"):
        max_categories(3)
    assert max_categories(2**300 + 1) == 0


# ------------------------------------------------------------------ packing


def test_slot_index() -> None:
    assert slot_index(0, 0) == 0
    assert slot_index(2, 3) == 11
    with pytest.raises(errors.InvalidInput, match="tier 4 is out of range"):
        slot_index(0, 4)
    with pytest.raises(errors.InvalidInput, match="category slot -1 is negative"):
        slot_index(-1, 0)


def test_no_floats() -> None:
    with pytest.raises(errors.InvalidInput, match="integers only"):
        pack(1.5, 0)  # type: ignore[arg-type]
    public_key = phe.PaillierPublicKey(int(json.loads(KEY_1024.read_text())["public_key"]["n"], 16))
    with pytest.raises(errors.InvalidInput, match="no floats"):
        encrypt(public_key, 1.0)  # type: ignore[arg-type]


def test_opening_validates() -> None:
    with pytest.raises(errors.InvalidInput, match="count of slot 1"):
        Opening((0, 2**SLOT_BITS), 0)
    with pytest.raises(errors.InvalidInput, match="r_sum"):
        Opening((0,), 2**R_BITS)
    with pytest.raises(errors.InvalidInput, match="tuple"):
        Opening([0], 0)  # type: ignore[arg-type]


@PROPS
@given(r=st.integers(0, 2**R_BITS - 1), slot=st.integers(0, 31))
def test_pack_unpack_round_trip(r: int, slot: int) -> None:
    opening = unpack(pack(r, slot), 32)
    assert opening.r_sum == r
    assert opening.counts == tuple(1 if i == slot else 0 for i in range(32))


@PROPS
@given(
    counts=st.lists(st.integers(0, 2**SLOT_BITS - 1), min_size=0, max_size=40),
    r_sum=st.integers(0, 2**R_BITS - 1),
)
def test_opening_round_trip(counts: list[int], r_sum: int) -> None:
    opening = Opening(tuple(counts), r_sum)
    assert unpack(opening.plaintext(), len(counts)) == opening


# ------------------------------------------------------------------ encryption


def test_encrypt_matches_phe(keys: Keypair) -> None:
    public_key, private_key = keys
    n, n2 = public_key.n, public_key.nsquare
    lam = (private_key.p - 1) * (private_key.q - 1)
    m = pack(BLS_ORDER - 1, 11)
    for c in (encrypt(public_key, m), encrypt(public_key, m, RnPool(public_key, 1))):
        assert isinstance(c, int)
        assert private_key.decrypt(to_encrypted_number(public_key, c)) == m
        assert private_key.raw_decrypt(c) == m
        # c / (1 + m*n) must be an n-th power r^n, i.e. vanish under the exponent phi(n)
        rn = c * pow(1 + m * n, -1, n2) % n2
        assert pow(rn, lam, n2) == 1
    assert encrypt(public_key, m) != encrypt(public_key, m), "encryption must be randomised"


@PROPS
@given(a=st.integers(0, 2**1000), b=st.integers(0, 2**1000), pooled=st.booleans())
def test_additive_homomorphism(keys: Keypair, a: int, b: int, pooled: bool) -> None:
    public_key, private_key = keys
    pool = RnPool(public_key, 2) if pooled else None
    ca, cb = encrypt(public_key, a, pool), encrypt(public_key, b, pool)
    assert private_key.raw_decrypt(ca * cb % public_key.nsquare) == (a + b) % public_key.n
    assert private_key.raw_decrypt(aggregate(public_key, [ca, cb], [1, 1])) == a + b


def test_encrypt_rejects_out_of_range(keys: Keypair) -> None:
    public_key, _ = keys
    with pytest.raises(errors.InvalidInput, match="0 <= m < n"):
        encrypt(public_key, public_key.n)
    with pytest.raises(errors.InvalidInput, match="0 <= m < n"):
        encrypt(public_key, -1)
    with pytest.raises(errors.InvalidInput, match="phe.PaillierPublicKey"):
        encrypt(public_key.n, 1)


def test_pool_for_another_key_is_refused(keys: Keypair, keys_2048: Keypair) -> None:
    with pytest.raises(errors.InvalidInput, match="another public key"):
        encrypt(keys[0], 5, RnPool(keys_2048[0], 1))


def test_check_ciphertext(keys: Keypair) -> None:
    public_key, private_key = keys
    check_ciphertext(public_key, encrypt(public_key, 3))
    with pytest.raises(errors.InvalidInput, match="0 < c < n"):
        check_ciphertext(public_key, public_key.nsquare)
    with pytest.raises(errors.InvalidInput, match="shares a factor"):
        check_ciphertext(public_key, private_key.p)


# ------------------------------------------------------------------ the r^n pool


def test_pool_take_and_refill(keys: Keypair) -> None:
    public_key, private_key = keys
    pool = RnPool(public_key, 3)
    assert len(pool) == 3 and pool.n == public_key.n
    values = {int(pool.take()) for _ in range(3)}
    assert len(values) == 3 and len(pool) == 0
    extra = pool.take()  # empty pool: computed on the spot, still a valid obfuscator
    assert private_key.raw_decrypt(int(extra)) == 0
    pool.refill(2)
    assert len(pool) == 2
    with pytest.raises(errors.InvalidInput, match="negative"):
        pool.refill(-1)


def test_pool_is_thread_safe(keys: Keypair) -> None:
    public_key, _ = keys
    pool = RnPool(public_key, 40)
    taken: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            value = int(pool.take())
            with lock:
                taken.append(value)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 40 and len(set(taken)) == 40, "a value was handed out twice"
    assert len(pool) == 0


def test_pool_background_refill(keys: Keypair) -> None:
    public_key, private_key = keys
    with RnPool(public_key) as pool:
        pool.start_background(4)
        for _ in range(600):  # bounded wait for the daemon; not a timing assertion
            if len(pool) >= 4:
                break
            time.sleep(0.05)
        assert len(pool) == 4
        c = encrypt(public_key, 42, pool)
        assert private_key.raw_decrypt(c) == 42
        for _ in range(600):
            if len(pool) >= 4:
                break
            time.sleep(0.05)
        assert len(pool) == 4, "the background thread did not top the pool up again"
        thread = pool._thread
        assert thread is not None and thread.daemon
    assert not thread.is_alive() and len(pool) == 0
    with pytest.raises(errors.InvalidInput, match="closed"):
        pool.start_background(1)
    with pytest.raises(errors.InvalidInput, match="at least 1"):
        RnPool(public_key).start_background(0)


# ------------------------------------------------------------------ aggregation


@PROPS
@given(
    reports=st.lists(
        st.tuples(st.integers(0, BLS_ORDER - 1), st.integers(0, 11), st.integers(0, 1000)),
        min_size=0,
        max_size=8,
    )
)
def test_weighted_aggregate_unpacks(keys: Keypair, reports: list[tuple[int, int, int]]) -> None:
    public_key, private_key = keys
    n_slots = TIERS * max_categories(public_key.n)
    assert n_slots == 12
    pool = RnPool(public_key, len(reports))
    cts = [encrypt(public_key, pack(r, slot), pool) for r, slot, _ in reports]
    weights = [w for _, _, w in reports]
    opening = unpack(private_key.raw_decrypt(aggregate(public_key, cts, weights)), n_slots)
    expected = [0] * n_slots
    for _, slot, w in reports:
        expected[slot] += w
    assert opening.counts == tuple(expected)
    assert opening.r_sum == sum(w * r for r, _, w in reports)


def test_aggregate_agrees_with_naive_product(keys: Keypair) -> None:
    public_key, _ = keys
    n2 = public_key.nsquare
    cts = [encrypt(public_key, i) for i in range(6)]
    weights = [3, 0, 1000, 3, 7, 1000]
    naive = 1
    for c, w in zip(cts, weights):
        naive = naive * pow(c, w, n2) % n2
    assert aggregate(public_key, cts, weights) == naive
    assert aggregate(public_key, [], []) == 1


def test_aggregate_rejects_bad_input(keys: Keypair) -> None:
    public_key, _ = keys
    c = encrypt(public_key, 1)
    with pytest.raises(errors.InvalidInput, match="2 ciphertexts but 1 weights"):
        aggregate(public_key, [c, c], [1])
    with pytest.raises(errors.InvalidInput, match="weight 1 must be a non-negative integer"):
        aggregate(public_key, [c, c], [1, -1])
    with pytest.raises(errors.InvalidInput, match="ciphertext 0"):
        aggregate(public_key, [0], [1])
    with pytest.raises(errors.InvalidInput, match="count could overflow"):
        aggregate(public_key, [c, c], [MAX_WEIGHT_SUM, 1])


# ------------------------------------------------------------------ phe adapters


def test_encrypted_number_adapters(keys: Keypair) -> None:
    public_key, private_key = keys
    a = to_encrypted_number(public_key, encrypt(public_key, 20))
    b = public_key.encrypt(22)
    total = a + b
    assert private_key.decrypt(total) == 42
    raw = from_encrypted_number(public_key, total)
    assert isinstance(raw, int) and raw == total.ciphertext(be_secure=False)
    assert private_key.raw_decrypt(raw) == 42


def test_adapters_refuse_floats_and_foreign_keys(keys: Keypair, keys_2048: Keypair) -> None:
    public_key, _ = keys
    with pytest.raises(errors.InvalidInput, match="exponent -"):
        from_encrypted_number(public_key, public_key.encrypt(1.5))
    with pytest.raises(errors.InvalidInput, match="another public key"):
        from_encrypted_number(public_key, keys_2048[0].encrypt(1))
    with pytest.raises(errors.InvalidInput, match="0 < c < n"):
        to_encrypted_number(public_key, 0)
    assert isinstance(paillier.to_encrypted_number(public_key, 5), phe.EncryptedNumber)


def test_threshold_key_phe_view_encrypts_compatibly() -> None:
    public_key, _ = load_key_file(KEY_1024, check_shares=False)
    p, q = load_key_factors(KEY_1024)
    private_key = phe.PaillierPrivateKey(public_key.phe(), p, q)
    assert private_key.raw_decrypt(encrypt(public_key.phe(), 77)) == 77

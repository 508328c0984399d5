"""Threshold Paillier (core/threshold.py, Damgard-Jurik 2001 s=1, docs/ratings.md)."""

from __future__ import annotations

import itertools
import json
import re
import secrets
from pathlib import Path
from typing import Any

import gmpy2
import phe
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.identity import load_key_factors, load_key_file
from core import errors, paillier
from core.threshold import (
    TEST_ONLY_WARNING,
    DecryptionShare,
    KeyShare,
    ThresholdPublicKey,
    check_key_share,
    combine,
    deal,
    decryption_share,
    key_file_dict,
    parse_key_file,
    safe_prime,
    verify_share,
)

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
KEYS = TESTS / "keys"
KEY_1024 = KEYS / "test_only_threshold_1024_t2_n3.json"
VECTORS = json.loads((TESTS / "vectors" / "threshold_share.json").read_text())
PROPS = settings(max_examples=25, deadline=None)

Key = tuple[ThresholdPublicKey, list[KeyShare]]


@pytest.fixture(scope="module")
def key() -> Key:
    return load_key_file(KEY_1024)


@pytest.fixture(scope="module")
def small_key() -> Key:
    """A fresh 3-of-5 key of 256 bits: dealing it takes milliseconds."""
    return deal(256, 3, 5, allow_insecure=True)


# ------------------------------------------------------------------ known answers


def _share(d: dict[str, Any]) -> DecryptionShare:
    return DecryptionShare.from_dict(d)


def _ciphertext(case: dict[str, Any]) -> int:
    if "c" in case:
        return int(case["c"], 16)
    return int(VECTORS["ciphertexts"][case["ciphertext"]]["c"], 16)


def test_vectors_are_for_the_committed_key(key: Key) -> None:
    public_key, _ = key
    assert (ROOT / VECTORS["key_file"]).resolve() == KEY_1024.resolve()
    assert int(VECTORS["n"], 16) == public_key.n
    assert sum(1 for c in VECTORS["cases"] if not c["valid"]) >= 10


@pytest.mark.parametrize(
    "case",
    [c for c in VECTORS["cases"] if c["op"] == "verify_share"],
    ids=lambda c: f"{c['id']}-{c['why']}",
)
def test_verify_share_vectors(key: Key, case: dict[str, Any]) -> None:
    public_key, shares = key
    c = _ciphertext(case)
    if case["valid"]:
        share = _share(case["share"])
        verify_share(public_key, c, share)
        # the share value itself is a known answer: c^(2*Delta*s_i) for that trustee
        recomputed = decryption_share(public_key, shares[share.index - 1], c)
        assert recomputed.c_i == share.c_i
        assert recomputed.response != share.response, "proofs must be randomised"
    else:
        with pytest.raises(getattr(errors, case["error"]), match=re.escape(case["message"])):
            verify_share(public_key, c, _share(case["share"]))


@pytest.mark.parametrize(
    "case",
    [c for c in VECTORS["cases"] if c["op"] == "combine"],
    ids=lambda c: f"{c['id']}-{c['why']}",
)
def test_combine_vectors(key: Key, case: dict[str, Any]) -> None:
    public_key, _ = key
    c = _ciphertext(case)
    shares = [_share(s) for s in case["shares"]]
    if case["valid"]:
        expected = int(VECTORS["ciphertexts"][case["ciphertext"]]["plaintext"], 16)
        assert combine(public_key, c, shares, verify=case["verify"]) == expected
    else:
        with pytest.raises(getattr(errors, case["error"]), match=re.escape(case["message"])):
            combine(public_key, c, shares, verify=case["verify"])


def test_vector_plaintexts_match_phe_private_key(key: Key) -> None:
    public_key, _ = key
    p, q = load_key_factors(KEY_1024)
    private_key = phe.PaillierPrivateKey(public_key.phe(), p, q)
    for entry in VECTORS["ciphertexts"].values():
        assert private_key.raw_decrypt(int(entry["c"], 16)) == int(entry["plaintext"], 16)


# ------------------------------------------------------------------ decryption


@pytest.mark.slow
@PROPS
@given(
    m=st.integers(0, 2**1000),
    subset=st.sampled_from(
        [list(s) for k in (2, 3) for s in itertools.permutations((1, 2, 3), k)]
    ),
    via_phe=st.booleans(),
)
def test_any_t_shares_decrypt(key: Key, m: int, subset: list[int], via_phe: bool) -> None:
    public_key, shares = key
    if via_phe:
        c = int(public_key.phe().encrypt(m).ciphertext(be_secure=False))
    else:
        c = paillier.encrypt(public_key.phe(), m)
    got = combine(public_key, c, [decryption_share(public_key, shares[i - 1], c) for i in subset])
    assert got == m


@pytest.mark.slow
@PROPS
@given(a=st.integers(0, 2**200), b=st.integers(0, 2**200), w=st.integers(0, 1000))
def test_threshold_decrypts_homomorphic_results(key: Key, a: int, b: int, w: int) -> None:
    public_key, shares = key
    pk = public_key.phe()
    c = paillier.aggregate(pk, [paillier.encrypt(pk, a), paillier.encrypt(pk, b)], [1, w])
    got = combine(public_key, c, [decryption_share(public_key, s, c) for s in shares[1:]])
    assert got == a + w * b


@PROPS
@given(data=st.data())
def test_small_key_every_subset(small_key: Key, data: st.DataObject) -> None:
    public_key, shares = small_key
    m = data.draw(st.integers(0, public_key.n - 1))
    c = paillier.encrypt(public_key.phe(), m)
    subset = data.draw(st.permutations(shares).map(lambda s: s[: public_key.threshold]))
    assert combine(public_key, c, [decryption_share(public_key, s, c) for s in subset]) == m


def test_more_than_t_shares_are_fine(small_key: Key) -> None:
    public_key, shares = small_key
    c = paillier.encrypt(public_key.phe(), 99)
    assert combine(public_key, c, [decryption_share(public_key, s, c) for s in shares]) == 99


@pytest.mark.slow
def test_packed_report_with_default_registry_at_2048_and_3072() -> None:
    for bits in (2048, 3072):
        public_key, shares = load_key_file(
            KEYS / f"test_only_threshold_{bits}_t2_n3.json", check_shares=False
        )
        paillier.check_registry_fits(public_key.n, 8)
        m = paillier.pack(secrets.randbelow(2**255), paillier.slot_index(7, 3))
        c = paillier.encrypt(public_key.phe(), m)
        got = combine(public_key, c, [decryption_share(public_key, s, c) for s in shares[1:]])
        assert paillier.unpack(got, 32).counts[31] == 1
        assert got == m


def test_combine_without_verification_still_decrypts(key: Key) -> None:
    public_key, shares = key
    c = paillier.encrypt(public_key.phe(), 5)
    parts = [decryption_share(public_key, s, c) for s in shares[:2]]
    assert combine(public_key, c, parts, verify=False) == 5


@PROPS
@given(data=st.data())
def test_unverified_combine_names_the_first_non_unit_share(key: Key, data: st.DataObject) -> None:
    """Without verification, whichever trustees answer and in whatever order (so the
    Lagrange exponents take either sign), a share that is a multiple of p or of q is refused
    naming the first such share, and shares that are all units decrypt."""
    public_key, shares = key
    p, q = load_key_factors(KEY_1024)
    c = paillier.encrypt(public_key.phe(), 11)
    chosen = data.draw(st.permutations(shares).map(lambda order: order[:2]))
    kinds = data.draw(st.lists(st.sampled_from(["unit", "p", "q"]), min_size=2, max_size=2))
    parts = []
    for share, kind in zip(chosen, kinds):
        good = decryption_share(public_key, share, c)
        if kind != "unit":
            factor = p if kind == "p" else q
            good = DecryptionShare(good.index, factor * data.draw(st.integers(1, public_key.nsquare // factor - 1)),
                                   good.challenge, good.response)
        parts.append(good)
    bad = [part.index for part, kind in zip(parts, kinds) if kind != "unit"]
    if not bad:
        assert combine(public_key, c, parts, verify=False) == 11
        return
    with pytest.raises(errors.VerificationError, match=f"decryption share of trustee {bad[0]} is not in Z"):
        combine(public_key, c, parts, verify=False)


def test_combine_names_a_non_unit_share_or_ciphertext_without_verification(key: Key) -> None:
    """With verify=False, a share or a ciphertext sharing a factor with n is still refused and
    named (a wrong share that is a unit is caught by the combination's own check instead)."""
    public_key, shares = key
    p, _ = load_key_factors(KEY_1024)
    c = paillier.encrypt(public_key.phe(), 7)
    parts = [decryption_share(public_key, s, c) for s in shares[:2]]
    # Trustees 1 and 2: trustee 1's Lagrange exponent is positive, trustee 2's negative.
    for k in (0, 1):
        bad = DecryptionShare(parts[k].index, p * 12345, parts[k].challenge, parts[k].response)
        with pytest.raises(errors.VerificationError, match=f"decryption share of trustee {k + 1} is not in Z"):
            combine(public_key, c, [bad, parts[1]] if k == 0 else [parts[0], bad], verify=False)
    # A non-unit at the positive exponent, then a share above n^2: the first is named.
    first = DecryptionShare(parts[0].index, p * 12345, parts[0].challenge, parts[0].response)
    above = DecryptionShare(parts[1].index, parts[1].c_i + public_key.nsquare, parts[1].challenge, parts[1].response)
    with pytest.raises(errors.VerificationError, match="decryption share of trustee 1 is not in Z"):
        combine(public_key, c, [first, above], verify=False)
    with pytest.raises(errors.VerificationError, match="decryption share of trustee 2 is not in Z"):
        combine(public_key, c, [parts[0], above], verify=False)
    with pytest.raises(errors.InvalidInput, match="ciphertext is not a unit"):
        combine(public_key, p * 3, parts, verify=False)
    assert combine(public_key, c, parts, verify=False) == 7


def test_share_for_wrong_key_share(key: Key, small_key: Key) -> None:
    public_key, _ = key
    _, other_shares = small_key
    c = paillier.encrypt(public_key.phe(), 1)
    with pytest.raises(errors.InvalidInput, match="belongs to another key"):
        decryption_share(public_key, other_shares[0], c)
    with pytest.raises(errors.InvalidInput, match="trustee index 4 is out of range"):
        decryption_share(public_key, other_shares[3], c)


def test_decryption_share_validates_its_fields() -> None:
    with pytest.raises(errors.InvalidInput, match="negative response"):
        DecryptionShare(index=1, c_i=5, challenge=1, response=-1)
    with pytest.raises(errors.InvalidInput, match="must be a positive integer"):
        DecryptionShare(index=1, c_i=-5, challenge=1, response=1)
    with pytest.raises(errors.InvalidInput, match="must be an integer >= 1"):
        DecryptionShare(index=True, c_i=5, challenge=1, response=1)
    with pytest.raises(errors.InvalidInput, match="hex string"):
        DecryptionShare.from_dict({"index": 1, "c_i": "0x5", "challenge": "1", "response": "1"})


@PROPS
@given(
    index=st.integers(1, 64),
    c_i=st.integers(1, 2**4096),
    challenge=st.integers(0, 2**256 - 1),
    response=st.integers(0, 2**5000),
)
def test_decryption_share_dict_round_trip(
    index: int, c_i: int, challenge: int, response: int
) -> None:
    share = DecryptionShare(index=index, c_i=c_i, challenge=challenge, response=response)
    assert DecryptionShare.from_dict(json.loads(json.dumps(share.to_dict()))) == share


# ------------------------------------------------------------------ dealing


def test_safe_prime() -> None:
    lines: list[str] = []
    p = safe_prime(256, lines.append)
    assert p.bit_length() == 256 and p >> 254 == 0b11
    assert gmpy2.is_prime(p) and gmpy2.is_prime((p - 1) // 2)
    assert lines and "safe prime" in lines[-1]
    with pytest.raises(errors.InvalidInput, match="at least 32 bits"):
        safe_prime(16)


def test_deal_key_structure() -> None:
    p, q = load_key_factors(KEY_1024)
    lines: list[str] = []
    public_key, shares = deal(1024, 2, 3, lines.append, primes=(p, q), allow_insecure=True)
    assert public_key.n == p * q and public_key.n.bit_length() == 1024
    assert public_key.delta == 6 and len(shares) == 3 and lines
    m = ((p - 1) // 2) * ((q - 1) // 2)
    # t = 2: f(x) = d + a*x, so d = 2 f(1) - f(2); it must be 0 mod m and 1 mod n
    nm = public_key.n * m
    d = (2 * shares[0].s_i - shares[1].s_i) % nm
    assert d % m == 0 and d % public_key.n == 1
    for s in shares:
        check_key_share(public_key, s)
        assert 0 <= s.s_i < nm


def test_deal_refuses_bad_parameters() -> None:
    with pytest.raises(errors.InvalidInput, match="too small for production"):
        deal(1024, 2, 3)
    with pytest.raises(errors.InvalidInput, match="threshold 4 must be between 1 and 3"):
        deal(256, 4, 3, allow_insecure=True)
    with pytest.raises(errors.InvalidInput, match="even integer"):
        deal(255, 2, 3, allow_insecure=True)
    with pytest.raises(errors.InvalidInput, match="parties must be between"):
        deal(256, 1, 0, allow_insecure=True)
    p, q = load_key_factors(KEY_1024)
    with pytest.raises(errors.InvalidInput, match="not a safe prime"):
        deal(1024, 2, 3, primes=(p, q + 2), allow_insecure=True)
    with pytest.raises(errors.InvalidInput, match="must differ"):
        deal(1024, 2, 3, primes=(p, p), allow_insecure=True)
    with pytest.raises(errors.InvalidInput, match="exactly 256 bits"):
        deal(512, 2, 3, primes=(p, q), allow_insecure=True)


def test_key_share_checks(key: Key, small_key: Key) -> None:
    public_key, shares = key
    bad = KeyShare(index=2, s_i=shares[1].s_i + 1, n=public_key.n)
    with pytest.raises(errors.VerificationError, match="trustee 2 does not match"):
        check_key_share(public_key, bad)
    with pytest.raises(errors.VerificationError, match="for another key"):
        check_key_share(public_key, small_key[1][0])
    assert str(shares[0].s_i) not in repr(shares[0]), "repr must not show the secret"


def test_public_key_validation(key: Key) -> None:
    public_key, _ = key
    d = public_key.to_dict()
    assert ThresholdPublicKey.from_dict(json.loads(json.dumps(d))) == public_key
    assert public_key.phe() == phe.PaillierPublicKey(public_key.n)
    with pytest.raises(errors.InvalidInput, match="2 verification keys for 3 parties"):
        ThresholdPublicKey.from_dict({**d, "verification_keys": d["verification_keys"][:2]})
    with pytest.raises(errors.InvalidInput, match="threshold 4 must be between"):
        ThresholdPublicKey.from_dict({**d, "threshold": 4})
    with pytest.raises(errors.InvalidInput, match="v must be a unit"):
        ThresholdPublicKey.from_dict({**d, "v": "1"})
    with pytest.raises(errors.InvalidInput, match="verification key of trustee 1"):
        ThresholdPublicKey.from_dict({**d, "verification_keys": ["0"] + d["verification_keys"][1:]})
    with pytest.raises(errors.InvalidInput, match="odd integer"):
        ThresholdPublicKey.from_dict({**d, "n": format(public_key.n + 1, "x")})


def test_key_files(tmp_path: Path, key: Key) -> None:
    public_key, shares = key
    for bits in (1024, 2048, 3072):
        data = json.loads((KEYS / f"test_only_threshold_{bits}_t2_n3.json").read_text())
        assert data["TEST_ONLY"] == TEST_ONLY_WARNING and data["n_bits"] == bits
        pk, sh = parse_key_file(data, check_shares=False)
        assert pk.n.bit_length() == bits and (pk.threshold, pk.parties, len(sh)) == (2, 3, 3)
    data = key_file_dict(public_key, shares)
    assert parse_key_file(data) == (public_key, shares)
    unmarked = {k: v for k, v in data.items() if k != "TEST_ONLY"}
    path = tmp_path / "prod.json"
    path.write_text(json.dumps(unmarked))
    with pytest.raises(errors.InvalidInput, match="TEST_ONLY marker is missing"):
        load_key_file(path)
    path.write_text("{not json")
    with pytest.raises(errors.InvalidInput, match="not valid JSON"):
        load_key_file(path)
    tampered = json.loads(json.dumps(data))
    tampered["shares"][0]["s_i"] = tampered["shares"][1]["s_i"]
    with pytest.raises(errors.VerificationError, match="trustee 1 does not match"):
        parse_key_file(tampered)
    gap = {**data, "shares": data["shares"][1:]}
    with pytest.raises(errors.InvalidInput, match="numbered 1..k"):
        parse_key_file(gap)

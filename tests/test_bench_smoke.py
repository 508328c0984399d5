"""Smoke test of the issue-2 benchmark `python -m bench.core`.

Runs the benchmark once in quick mode (2048-bit key only, rings of 5 and 20, tiny
repetition counts; a few seconds) and checks that the table and the JSON carry every row
and every target the issue asks for. It asserts structure only, never a timing.
"""

from __future__ import annotations

import io
import json
import math

import pytest
from rich.console import Console

from bench import core as bench

pytestmark = pytest.mark.slow  # a benchmark run, however small
PREP = "report preparation (client)"
INTAKE = "intake verification (operator)"
DECRYPT = "threshold decryption (trustees)"

# Spelled out rather than taken from bench.core: renaming or dropping a row must fail here.
QUICK_ROWS = {
    (PREP, "Pedersen commit", None),
    (PREP, "validity proof generation", None),
    (PREP, "validity nonces (offline), 8 categories", None),
    (PREP, "validity proof generation from precomputed nonces", None),
    (PREP, "Ed25519 sign (1 KB entry)", None),
    (PREP, "escrow seal by the operator (HPKE X25519, 128 B)", None),
    (PREP, "ring coupon (offline), n=5", None),
    (PREP, "ring coupon (offline), n=20", None),
    (PREP, "ring signature online (coupon ready), n=5", None),
    (PREP, "ring signature online (coupon ready), n=20", None),
    (PREP, "Paillier encrypt, no pool", 2048),
    (PREP, "Paillier encrypt, warm r^n pool", 2048),
    (PREP, "online preparation total, warm pool, no ring sig", 2048),
    (PREP, "online preparation total, warm pool, ring n=5", 2048),
    (PREP, "online preparation total, warm pool, ring n=20", 2048),
    (INTAKE, "validity verification, single", None),
    (INTAKE, "validity verification, batch of 100, per report", None),
    (INTAKE, "ring verification, n=5, single", None),
    (INTAKE, "ring verification, n=20, single", None),
    (INTAKE, "ring verification, n=5, batch of 10, per report", None),
    (INTAKE, "ring verification, n=20, batch of 10, per report", None),
    (INTAKE, "ring verification, n=5, batch of 10, per report, new subjects", None),
    (DECRYPT, "decryption share (with proof)", 2048),
    (DECRYPT, "decryption share verification", 2048),
    (DECRYPT, "combine t=2 shares, unverified", 2048),
    (DECRYPT, "combine t=2 shares, verifying each", 2048),
}

QUICK_TARGETS = {
    "online preparation at 2048 bits, ring n=5 <= 3 ms",
    "online preparation at 2048 bits, ring n=20 <= 3 ms",
    "online preparation at 2048 bits, without ring signature <= 3 ms",
    "batched validity verification (batch 100) <= 0.5 ms per report",
    "batched ring verification (n=5, batch 10) <= 0.6 ms per report",
    "decryption share (with proof) at 2048 bits <= 1.3x the powmods it needs",
    "decryption share verification at 2048 bits <= 1.3x the powmods it needs",
    "combine t=2 shares, unverified at 2048 bits <= 1.3x the powmods it needs",
    "combine t=2 shares, verifying each at 2048 bits <= 1.3x the powmods it needs",
}

# The threshold rows also carry the powmods they cannot avoid (the 1.3x target).
NEEDED = {
    "decryption share (with proof)": "3 powmods: c^(2*Delta*s_i), (c^4)^r, v^r",
    "decryption share verification": "4 powmods: (c^4)^z, (c_i^2)^-e, v^z, v_i^-e",
    "combine t=2 shares, unverified": "t powmods c_i^(2*lambda_i) + inverse mod n",
    "combine t=2 shares, verifying each": "verification powmods + combine powmods",
}

FLOORS = {
    "Pedersen commit": "one arkworks G1 scalar mul",
    "validity proof generation": "one arkworks G1 scalar mul",
    "Paillier encrypt, no pool": "powmod r^n mod n^2 (|n|-bit exponent)",
    "Paillier encrypt, warm r^n pool": "powmod r^n mod n^2 (|n|-bit exponent)",
    "validity verification, batch of 100, per report": "one arkworks G1 scalar mul",
    "decryption share (with proof)": "powmod c^(2*Delta*s_i) mod n^2",
}


@pytest.fixture(scope="module")
def report() -> bench.BenchReport:
    return bench.run(bench.Settings.quick_run())


def test_quick_run_has_every_row_once(report: bench.BenchReport) -> None:
    got = [(r.section, r.operation, r.key_bits) for r in report.rows]
    assert len(got) == len(set(got)), "a row was measured twice"
    assert set(got) == QUICK_ROWS


def test_rows_are_grouped_by_section_in_order(report: bench.BenchReport) -> None:
    sections = [r.section for r in report.rows]
    firsts = [sections.index(s) for s in (PREP, INTAKE, DECRYPT)]
    assert firsts == sorted(firsts)
    assert sections == sorted(sections, key=[PREP, INTAKE, DECRYPT].index)


def test_each_row_has_its_floor_and_ratio(report: bench.BenchReport) -> None:
    for r in report.rows:
        assert r.floor, r.operation
        assert r.reps >= report.settings.min_reps
        assert math.isclose(r.ratio, r.median_s / r.floor_median_s)
        if r.operation in FLOORS:
            assert r.floor == FLOORS[r.operation]
        if "batch of 100" in r.operation:
            assert r.batch == 100
        elif "batch of 10," in r.operation:
            assert r.batch == 10
        else:
            assert r.batch == 1


def test_threshold_rows_carry_their_needed_powmods(report: bench.BenchReport) -> None:
    for r in report.rows:
        if r.operation in NEEDED:
            assert r.needed == NEEDED[r.operation]
            assert r.needed_median_s is not None and r.needed_ratio is not None
            assert math.isclose(r.needed_ratio, r.median_s / r.needed_median_s)
            target = next(t for t in report.targets if t.operation == r.operation)
            assert math.isclose(target.limit_s, 1.3 * r.needed_median_s)
            if r.needed == r.floor:  # combining: the floor already is all it needs
                assert r.needed_median_s == r.floor_median_s
        else:
            assert r.needed is None and r.needed_median_s is None and r.needed_ratio is None
    with pytest.raises(ValueError, match="or neither"):
        bench.Row(DECRYPT, "x", 2048, 1.0, 1, "f", 1.0, needed="n")


def test_targets_name_their_rows(report: bench.BenchReport) -> None:
    assert {t.name for t in report.targets} == QUICK_TARGETS
    for t in report.targets:
        assert t.measured_s == report.row(t.operation, t.key_bits).median_s
        assert t.passed == (t.measured_s <= t.limit_s)


def test_table_shows_every_row_and_target(report: bench.BenchReport) -> None:
    out = io.StringIO()
    bench.render(report, Console(file=out, width=1000, color_system=None))
    text = out.getvalue()
    lines = text.splitlines()
    for section, operation, bits in QUICK_ROWS:
        assert section in text
        matching = [ln for ln in lines if f" {operation} " in ln]
        assert matching, f"row {operation!r} missing from the table"
        if bits is not None:
            assert any(str(bits) in ln for ln in matching)
    for name in QUICK_TARGETS:
        line = next(ln for ln in lines if name in ln)
        assert ("PASS" in line) != ("MISS" in line)
    assert "2048-bit key:" in text


def test_json_carries_the_same_rows(report: bench.BenchReport) -> None:
    data = json.loads(json.dumps(bench.to_json(report)))
    assert data["mode"] == "quick"
    assert set(data["keys"]) == {"2048"}
    rows = {(r["section"], r["operation"], r["key_bits"]) for r in data["rows"]}
    assert rows == QUICK_ROWS
    for r in data["rows"]:
        assert set(r) >= {"median_ms", "floor", "floor_median_ms", "ratio", "reps", "batch",
                          "needed", "needed_median_ms", "needed_ratio"}
        assert (r["needed"] is None) == (r["operation"] not in NEEDED)
    assert {t["target"] for t in data["targets"]} == QUICK_TARGETS
    assert {t["status"] for t in data["targets"]} <= {"PASS", "MISS"}


def test_cli_prints_table_or_json(
    report: bench.BenchReport, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[bench.Settings] = []

    def fake_run(settings: bench.Settings, log: object = None) -> bench.BenchReport:
        seen.append(settings)
        return report

    monkeypatch.setattr(bench, "run", fake_run)
    assert bench.main(["--quick", "--json", "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["rows"]) == len(QUICK_ROWS)
    assert bench.main(["--quick", "--quiet"]) == 0
    assert "validity verification, batch of 100, per report" in capsys.readouterr().out
    assert [s.quick for s in seen] == [True, True]


def test_full_run_covers_the_brief() -> None:
    s = bench.Settings.full()
    assert s.key_bits == (2048, 3072)
    assert s.ring_sizes == (5, 20, 100)
    assert s.batch_sizes == (100, 1000)
    assert not s.quick

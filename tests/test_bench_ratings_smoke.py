"""Smoke test of the issue-5 benchmark `python -m bench.ratings`.

Runs the benchmark once in quick mode (2048-bit key, a subject of 10 reports for the epoch,
ratings over 2 and 20 reports for the client, two small subjects rated over gRPC) and
checks that the table and the JSON carry every row, floor, target and profile stage the
issue asks for. It asserts structure only, never a timing.
"""

from __future__ import annotations

import io
import json
import math
import re

import pytest
from rich.console import Console

from bench import ratings as bench

pytestmark = pytest.mark.slow  # a benchmark run, however small
EPOCH = "epoch work per subject (trustees in-process, no gRPC)"
VERIFY = "client verification (client.ratings.verify_rating)"
E2E = "end-to-end epoch over gRPC (operator, 3 trustees, witness: one process)"
MIRROR = "trustee mirror catch-up from genesis (verification + SQLite storage, no gRPC)"
MIRROR_OP = "Mirror extends an empty store over the whole ledger, pages of 1,000"
RATED_OPS = ("Mirror extends an empty store over a ledger of ratings (every subject rated), pages of 1,000",
             "client.audit.replay of that ledger on the pool")

# Spelled out rather than taken from bench.ratings: renaming or dropping a row must fail here.
# (section, operation, key bits, reports) -> floor
QUICK_ROWS: dict[tuple[str, str, int | None, int | None], str] = {
    (EPOCH, "active set + k and update-rule check (one party)", 2048, 10): "—",
    (EPOCH, "aggregate c* = Π c_i^w_i from ledger leaves (one party)", 2048, 10):
        "m powmods c_i^w_i mod n^2 (same exponents)",
    (EPOCH, "decryption share with proof (one trustee)", 2048, 10):
        "3 powmods: c*^(2*Delta*s_i), (c*^4)^r, v^r",
    (EPOCH, "seal one share to the combiner + open it (HPKE)", 2048, 10): "—",
    (EPOCH, "share verification (combiner, one share)", 2048, 10):
        "4 powmods: (c*^4)^z, (c_i^2)^-e, v^z, v_i^-e",
    (EPOCH, "combine t=2 shares", 2048, 10): "t powmods c_i^(2*lambda_i) + inverse mod n",
    (EPOCH, "unpack + score", 2048, 10): "—",
    (EPOCH, "open_aggregate: unpack, bounds, decode m commitments + one msm", 2048, 10):
        "Group.msm of the same points and scalars, pre-decoded",
    (EPOCH, "publication proof of the score (combiner)", 2048, 10): "—",
    (EPOCH, "epoch total: t=2 trustees (sealed shares) + combiner (proof)", 2048, 10):
        "(t+1) aggregations + t shares + t verifications + combine, as powmods",
    (VERIFY, "verify_rating, 3 reports", 2048, 3): "Group.msm over {} points, full scalars",
    (VERIFY, "verify_rating, 20 reports", 2048, 20): "Group.msm over {} points, full scalars",
    (VERIFY, "checkpoint open: operator signature + 2 cosignatures", None, None):
        "3 raw Ed25519 verifications",
    # reports: the ledger's size, which depends on the ceremony; checked in test_mirror_row
    (MIRROR, MIRROR_OP, 2048, None):
        "client.batch.verify_batch of its reports only (proofs + ring signatures), one process",
    **{(MIRROR, op, 2048, None): "its reports' client.batch.verify_batch and its publications' "
       "check_publication_crypto (C* and the proof), one process" for op in RATED_OPS},
    **{(MIRROR, op, None, m): "Group.msm of C* = sum w_i*C_i, the commitments pre-decoded" for m in (3, 20) for op in (
        "a rating's ledger check: RatingRequested + RatingPublished through core.state.apply, SQLite state",
        "  of which decoding its m compressed commitments (Group.decode_unchecked)")},
    (E2E, "EpochRunner request + answer over gRPC, per subject", 2048, 3):
        "(t+1) aggregations + t shares + t verifications + combine, as powmods",
    (E2E, "in-process epoch total, same key and m (comparison)", 2048, 3):
        "(t+1) aggregations + t shares + t verifications + combine, as powmods",
}

QUICK_TARGETS = {
    "epoch work per subject, m=10, 2048 bits <= 1.5x its powmods": (
        "epoch total: t=2 trustees (sealed shares) + combiner (proof)", 10),
    "verify_rating over 20 reports <= 50 ms": ("verify_rating, 20 reports", 20),
    "mirror catch-up >= 2,000 entries/s": (MIRROR_OP, None),
}

STAGES = {
    "inclusion proofs, shared nodes once (merkle.verify_inclusions)",
    "leaf decoding (wire.signed_entry_from_bytes)",
    "publication check (combination.check_publication)",
    "  of which commitment decoding from the checked uncompressed hint (Group.decode_unchecked_via_xy)",
    "  of which the multi-scalar multiplications (Group.msm)",
    "  of which the publication proof (publication.verify)",
    "rule set parsing (rules.check_canonical)",
    "link tags (RingSignature.link_tag_of)",
}

# verify_rating's stages re-run on their own at the largest size: name -> calls per rating
DIRECT = {
    "verify_rating as a whole": 1,
    "commitment decoding, subgroup-checked (Group.decode)": 20,
    "  of which decompression only (from_compressed_bytes_unchecked)": 20,
    "commitment decoding, on-curve only, without the hint (Group.decode_unchecked)": 20,
    "commitment decoding as verify_rating does: uncompressed hint checked against the leaf "
    "(Group.decode_unchecked_via_xy)": 20,
    "C* = Σ w_i·C_i over the decoded points (Group.msm, the weights)": 1,
    "publication proof verification (publication.verify)": 1,
    "leaf decoding of proven leaves (wire.signed_entry_from_bytes, no canonical re-encode)": 23,
    "leaf hashes + inclusion proofs, shared nodes once (merkle.verify_inclusions)": 23,
    "leaf hash + inclusion proof, one by one (merkle.verify_inclusion, for comparison)": 23,
    "link tags via RingSignature.from_bytes (full decode, for comparison)": 20,
    "link tags as verify_rating reads them (RingSignature.link_tag_of)": 20,
    "decay weights + ReportInfo": 20,
    "rule set parsing (rules.check_canonical)": 1,
}


@pytest.fixture(scope="module")
def report() -> bench.BenchReport:
    return bench.run(bench.Settings.quick_run())


def _key(r: bench.Row) -> tuple[str, str, int | None, int | None]:
    return (r.section, r.operation, r.key_bits, None if r.operation in (MIRROR_OP, *RATED_OPS) else r.reports)


def test_quick_run_has_every_row_once(report: bench.BenchReport) -> None:
    got = [_key(r) for r in report.rows]
    assert len(got) == len(set(got)), "a row was measured twice"
    assert set(got) == set(QUICK_ROWS)
    sections = [r.section for r in report.rows]
    assert sections == sorted(sections, key=[EPOCH, VERIFY, MIRROR, E2E].index)


def test_mirror_row_covers_the_whole_ledger(report: bench.BenchReport) -> None:
    row = next(r for r in report.rows if r.operation == MIRROR_OP)
    # every report of the verified ratings and the epoch subject, plus requests, ratings, ceremony
    assert row.reports is not None and row.reports > 3 + 20 + 10 + 2 * 3


def test_rated_rows_cover_a_ledger_of_ratings(report: bench.BenchReport) -> None:
    """The quick run's ledger of ratings: 12 subjects with 3 reports each, each requested and
    published, besides the ceremony's entries."""
    subjects, per = report.settings.rated_ledger
    assert (subjects, per) == (12, 3)
    for op in RATED_OPS:
        row = next(r for r in report.rows if r.operation == op)
        assert row.reports is not None and row.reports > subjects * (per + 2)


def test_each_row_has_its_floor_and_ratio(report: bench.BenchReport) -> None:
    for r in report.rows:
        expected = QUICK_ROWS[_key(r)]
        assert r.reps >= report.settings.min_reps or r.section == E2E
        if r.operation.startswith("verify_rating"):
            # m commitments, the non-zero count generators (at most one per report) and H
            points = int(r.floor.split()[2])
            assert r.reports is not None and r.reports + 2 <= points <= 2 * r.reports + 1
            assert r.floor == expected.format(points)
        else:
            assert r.floor == expected
        if expected == "—":
            assert r.floor_median_s is None and r.ratio is None
        else:
            assert r.floor_median_s is not None and r.ratio is not None
            assert math.isclose(r.ratio, r.median_s / r.floor_median_s)
    with pytest.raises(ValueError, match="floor"):
        bench.Row(EPOCH, "x", 2048, 10, 1.0, 1, "—", 1.0)
    with pytest.raises(ValueError, match="floor"):
        bench.Row(EPOCH, "x", 2048, 10, 1.0, 1, "some floor", None)


def test_grpc_rows_cover_every_subject(report: bench.BenchReport) -> None:
    rate = report.row("EpochRunner request + answer over gRPC, per subject", 2048, 3)
    assert rate.reps == report.settings.e2e_subjects  # one rate call per subject


def test_targets_name_their_rows(report: bench.BenchReport) -> None:
    assert {t.name for t in report.targets} == set(QUICK_TARGETS)
    for t in report.targets:
        operation, reports = QUICK_TARGETS[t.name]
        assert t.operation == operation and (reports is None or t.reports == reports)
        row = report.row(t.operation, t.key_bits, t.reports)
        assert t.measured_s == row.median_s
        if "entries/s" in t.name:
            assert row.reports is not None and math.isclose(t.limit_s, row.reports / 2000)
        elif "powmods" in t.name:
            assert row.floor_median_s is not None
            assert math.isclose(t.limit_s, 1.5 * row.floor_median_s)
        else:
            assert t.limit_s == 50e-3
        assert t.passed == (t.measured_s <= t.limit_s)


def test_profile_names_the_stages(report: bench.BenchReport) -> None:
    assert report.profile_reports == 20
    assert report.profile_total_ms > 0
    stages = {p.function: p for p in report.profile_parts}
    assert STAGES <= set(stages)
    # rating, request and rule set one call each, the reports together in one
    assert stages["inclusion proofs, shared nodes once (merkle.verify_inclusions)"].calls == 3 + 1
    assert stages["  of which commitment decoding from the checked uncompressed hint "
                  "(Group.decode_unchecked_via_xy)"].calls >= 20
    assert stages["publication check (combination.check_publication)"].calls == 1
    assert len(report.profile_top) > 5
    assert all(p.own_ms >= 0 and p.cumulative_ms >= p.own_ms - 1e-9 for p in report.profile_top)
    assert {st.name: st.calls for st in report.stages} == DIRECT
    assert all(st.median_s > 0 for st in report.stages)


def test_table_shows_every_row_target_and_stage(report: bench.BenchReport) -> None:
    out = io.StringIO()
    bench.render(report, Console(file=out, width=1000, color_system=None))
    text = out.getvalue()
    lines = text.splitlines()
    for section, operation, bits, _m in QUICK_ROWS:
        assert section in text
        matching = [ln for ln in lines if f" {operation} " in ln]
        assert matching, f"row {operation!r} missing from the table"
        if bits is not None:
            assert any(str(bits) in ln for ln in matching)
    for name in QUICK_TARGETS:
        line = next(ln for ln in lines if name in ln)
        assert ("PASS" in line) != ("MISS" in line)
    for stage in STAGES | set(DIRECT):
        assert stage.strip() in text
    assert "2048-bit key:" in text and "in-process" in text
    assert re.search(r"mirror catch-up: [\d,]+ entries/s", text)
    assert re.search(r"ledger of ratings \(12 subjects x 3 reports, each rated\): mirror [\d,]+ entries/s "
                     r"\([\d.]+ of the crypto alone in one process\), audit [\d,]+ entries/s", text)


def test_json_carries_the_same_rows(report: bench.BenchReport) -> None:
    data = json.loads(json.dumps(bench.to_json(report)))
    assert data["benchmark"] == "bench.ratings" and data["mode"] == "quick"
    assert set(data["keys"]) == {"2048"}
    rows = {(r["section"], r["operation"], r["key_bits"],
             None if r["operation"] in (MIRROR_OP, *RATED_OPS) else r["reports"]) for r in data["rows"]}
    assert rows == set(QUICK_ROWS)
    for r in data["rows"]:
        assert set(r) >= {"median_ms", "floor", "floor_median_ms", "ratio", "reps"}
        assert (r["floor_median_ms"] is None) == (r["ratio"] is None)
    assert {t["target"] for t in data["targets"]} == set(QUICK_TARGETS)
    assert {t["status"] for t in data["targets"]} <= {"PASS", "MISS"}
    assert {s["function"] for s in data["profile"]["stages"]} >= STAGES
    assert data["profile"]["reports"] == 20
    assert {st["stage"]: st["calls"] for st in data["profile"]["stages_timed_directly"]} == DIRECT


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
    out = capsys.readouterr().out
    assert "verify_rating, 20 reports" in out
    assert re.search(r"publication proof: prove [\d.]+ ms, verify [\d.]+ ms \(32 slots, 3616 bytes\)", out)
    assert bench.main(["--no-e2e", "--quiet", "--json"]) == 0
    capsys.readouterr()
    assert [s.quick for s in seen] == [True, True, False]
    assert seen[0].e2e and not seen[2].e2e


def test_full_run_covers_the_brief() -> None:
    s = bench.Settings.full()
    assert s.epoch_bits == 3072 and s.epoch_sizes == (10, 100)
    assert s.verify_sizes == (3, 100, 1000)
    assert s.e2e and s.e2e_bits == 2048
    assert not s.quick
    with pytest.raises(ValueError, match="k >= 3"):
        bench.Settings(**{**s.__dict__, "verify_sizes": (1, 100)})
    assert s.rated_ledger == (200, 5)
    with pytest.raises(ValueError, match="at least 3 reports"):
        bench.Settings(**{**s.__dict__, "rated_ledger": (10, 2)})

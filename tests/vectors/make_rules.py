"""Regenerate rules.json: rule-set texts (valid and invalid), decay weights, scores and the
spacing of rule sets.

Run: python tests/vectors/make_rules.py

Nothing here calls core.rules: the texts are edits of a literal copy of the default rule
set of docs/domain.md, and every expected answer (error fragment, stored JSON, weight, score,
grade, earliest date) is written out by hand from docs/rules.md and docs/domain.md, so the test
compares the implementation against an independent reading of the rules.

A case is "valid" if `check_canonical` accepts it (it may be published); "parses" says
whether `parse_rules` alone accepts it (a non-canonical but correct text parses).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("rules.json")

REGISTRY = [
    "contract_default", "fake_traffic", "false_advertising", "counterfeit_goods",
    "refund_refusal", "review_manipulation", "off_platform_luring", "tax_evasion",
]

DEFAULT = """\
version = "2026.1"
effective_from = "2026-01-01"
base_score = 100
k_reporters = 3
max_staleness_days = 30
retention_years = 5

[grades]
A = 90
B = 70
C = 40

[decay]
per_mille = [1000, 700, 400, 200, 100]

[points]
contract_default = [1, 3, 6, 61]
fake_traffic = [1, 3, 6, 61]
false_advertising = [1, 3, 6, 61]
counterfeit_goods = [1, 3, 6, 61]
refund_refusal = [1, 3, 6, 61]
review_manipulation = [1, 3, 6, 61]
off_platform_luring = [1, 3, 6, 61]
tax_evasion = [1, 3, 6, 61]
"""

DEFAULT_JSON: dict[str, Any] = {
    "version": "2026.1",
    "effective_from": "2026-01-01",
    "base_score": 100,
    "k_reporters": 3,
    "max_staleness_days": 30,
    "retention_years": 5,
    "grades": {"A": 90, "B": 70, "C": 40},
    "decay": [1000, 700, 400, 200, 100],
    "points": [[c, [1, 3, 6, 61]] for c in REGISTRY],
    "retention_overrides": [],
}


def edit(old: str, new: str) -> str:
    assert DEFAULT.count(old) == 1, old
    return DEFAULT.replace(old, new)


def invalid(id_: str, why: str, toml: str, message: str, error: str = "InvalidInput",
            parses: bool = False) -> dict[str, Any]:
    return {"id": id_, "valid": False, "parses": parses, "why": why, "toml": toml,
            "error": error, "message": message}


def cases() -> list[dict[str, Any]]:
    overrides = DEFAULT + "\n[retention_overrides]\nfake_traffic = 3\ntax_evasion = 7\n"
    overrides_json = dict(DEFAULT_JSON, retention_overrides=[["fake_traffic", 3], ["tax_evasion", 7]])
    one_band = (edit('version = "2026.1"', 'version = "2026.2-one-band"')
                .replace("per_mille = [1000, 700, 400, 200, 100]", "per_mille = [1000]"))
    one_band_json = dict(DEFAULT_JSON, version="2026.2-one-band", decay=[1000])
    bounds = edit("fake_traffic = [1, 3, 6, 61]", "fake_traffic = [1, 1, 100, 100]")
    bounds_json = dict(DEFAULT_JSON, points=[[c, [1, 1, 100, 100] if c == "fake_traffic" else [1, 3, 6, 61]]
                                             for c in REGISTRY])
    cap_line = "retention_years = 5\n"
    return [
        {"id": "default", "valid": True, "parses": True,
         "why": "the default rule set of docs/domain.md, in canonical form", "toml": DEFAULT,
         "json": DEFAULT_JSON},
        {"id": "overrides", "valid": True, "parses": True,
         "why": "retention overrides, listed in registry order", "toml": overrides,
         "json": overrides_json},
        {"id": "one-band", "valid": True, "parses": True,
         "why": "a single decay band is allowed", "toml": one_band, "json": one_band_json},
        {"id": "points-at-bounds", "valid": True, "parses": True,
         "why": "points 1 and 100 are the bounds; equal points for adjacent tiers are non-decreasing",
         "toml": bounds, "json": bounds_json},
        invalid("k-one", "k = 1 would publish a rating over one reporter and reveal its tiers",
                edit("k_reporters = 3", "k_reporters = 1"), "k_reporters is 1, expected at least 2"),
        invalid("k-bool", "TOML true is not an integer",
                edit("k_reporters = 3", "k_reporters = true"), "k_reporters must be an integer"),
        invalid("critical-cap", "a count-based cap would publish whether a critical count is positive, "
                "which no rating proof covers: the grade must follow from the score alone",
                edit(cap_line, cap_line + 'critical_caps_grade = "D"\n'),
                "critical_caps_grade is not allowed: the grade must follow from the score alone"),
        invalid("critical-cap-empty", "the key itself is refused, even with no grade",
                edit(cap_line, cap_line + 'critical_caps_grade = ""\n'),
                "critical_caps_grade is not allowed"),
        invalid("points-positional", "points 1, 10, 100, 1000 would write the tier counts as digits of D",
                edit("fake_traffic = [1, 3, 6, 61]", "fake_traffic = [1, 10, 100, 1000]"),
                "points for fake_traffic (critical) is 1000, expected 1..100"),
        invalid("points-positional-design", "points 1, 10^4, 10^8, 10^12 (the attack of docs/rules.md)",
                edit("fake_traffic = [1, 3, 6, 61]", "fake_traffic = [1, 10000, 100000000, 1000000000000]"),
                "points for fake_traffic (general) is 10000, expected 1..100"),
        invalid("points-decreasing", "a minor report may not cost more than a critical one: decreasing "
                "points would let a rule set weight tiers in any order it likes",
                edit("fake_traffic = [1, 3, 6, 61]", "fake_traffic = [61, 6, 3, 1]"),
                "points for fake_traffic decrease by tier: general has 6, fewer than 61 for minor"),
        invalid("points-decreasing-last", "serious above critical",
                edit("tax_evasion = [1, 3, 6, 61]", "tax_evasion = [1, 3, 62, 61]"),
                "points for tax_evasion decrease by tier: critical has 61, fewer than 62 for serious"),
        invalid("points-zero", "a zero would drop slots from the combination; zeros everywhere but one "
                "slot would publish that slot's count",
                edit("fake_traffic = [1, 3, 6, 61]", "fake_traffic = [0, 0, 0, 61]"),
                "points for fake_traffic (minor) is 0, expected 1..100"),
        invalid("points-three", "a category needs four points, one per tier",
                edit("fake_traffic = [1, 3, 6, 61]", "fake_traffic = [1, 3, 6]"),
                "points for fake_traffic has 3 values, expected 4: [minor, general, serious, critical]"),
        invalid("points-missing", "every category of the registry needs points",
                edit("tax_evasion = [1, 3, 6, 61]\n", ""),
                "points are missing for categories tax_evasion"),
        invalid("points-unknown", "points for a category outside the registry",
                DEFAULT + "fraud = [1, 2, 3, 4]\n",
                "points name categories that are not in the registry: fraud"),
        invalid("points-negative", "points are deductions, never bonuses",
                edit("refund_refusal = [1, 3, 6, 61]", "refund_refusal = [1, -3, 6, 61]"),
                "points for refund_refusal (general) is -3, expected 1..100"),
        invalid("points-float", "points are integers: no float decides a grade",
                edit("refund_refusal = [1, 3, 6, 61]", "refund_refusal = [1.5, 3, 6, 61]"),
                "points for refund_refusal (minor) must be an integer"),
        invalid("grades-not-descending", "B above A",
                edit("B = 70", "B = 95"), "grade thresholds must be strictly descending"),
        invalid("grades-equal", "B equal to C is not strictly descending",
                edit("B = 70", "B = 40"), "C = 40 is not below the grade before it (40)"),
        invalid("grade-above-base", "a threshold above the base score can never be reached",
                edit("A = 90", "A = 101"), "grade A threshold is 101, expected 0..100"),
        invalid("grades-extra", "the grades are exactly A, B, C; below C is D",
                edit("C = 40\n", "C = 40\nD = 10\n"),
                "grades must give minimum scores for exactly A, B, C"),
        invalid("decay-start", "a report in its first year counts in full",
                edit("per_mille = [1000, 700", "per_mille = [900, 700"),
                "decay per_mille starts with 900, expected 1000"),
        invalid("decay-increasing", "weights must not grow with age",
                edit("[1000, 700, 400, 200, 100]", "[1000, 400, 700, 200, 100]"),
                "decay per_mille must not increase with age: age 2 has 700"),
        invalid("decay-range", "weights are per mille",
                edit("[1000, 700, 400, 200, 100]", "[1000, 1200]"),
                "decay weight for age 1 is 1200, expected 0..1000"),
        invalid("decay-empty", "at least one band",
                edit("[1000, 700, 400, 200, 100]", "[]"), "decay per_mille is empty"),
        invalid("version-empty", "every rating names its rule set version",
                edit('version = "2026.1"', 'version = ""'), "rule set version is empty"),
        invalid("version-space", "versions are [A-Za-z0-9._-]",
                edit('version = "2026.1"', 'version = "2026 1"'),
                "must be 1..64 characters from A-Z, a-z, 0-9"),
        invalid("effective-too-early", "no rule set takes effect before 2000",
                edit('"2026-01-01"', '"1999-12-31"'), "effective_from 1999-12-31 is before 2000-01-01"),
        invalid("effective-not-a-date", "30 February does not exist",
                edit('"2026-01-01"', '"2026-02-30"'), "is not a calendar date"),
        invalid("base-zero", "base score 1..1000",
                edit("base_score = 100", "base_score = 0"), "base_score is 0, expected 1..1000"),
        invalid("staleness-zero", "staleness 1..3650 days",
                edit("max_staleness_days = 30", "max_staleness_days = 0"),
                "max_staleness_days is 0, expected 1..3650"),
        invalid("retention-eleven", "retention 1..10 years",
                edit("retention_years = 5", "retention_years = 11"),
                "retention_years is 11, expected 1..10"),
        invalid("unknown-key", "a typo must not be ignored silently",
                DEFAULT.replace("base_score = 100\n", "base_score = 100\nk = 3\n"),
                "rule set has unknown keys k"),
        invalid("missing-key", "every rule set names all its parameters",
                edit("max_staleness_days = 30\n", ""), "rule set lacks max_staleness_days"),
        invalid("not-toml", "unparseable text",
                edit("base_score = 100", "base_score = = 100"), "rule set is not valid TOML"),
        invalid("override-unknown", "an override for a category outside the registry",
                DEFAULT + "\n[retention_overrides]\nfraud = 3\n",
                "retention_overrides name categories that are not in the registry: fraud"),
        invalid("override-zero", "retention overrides are 1..10 years too",
                DEFAULT + "\n[retention_overrides]\ntax_evasion = 0\n",
                "retention override for tax_evasion is 0, expected 1..10"),
        invalid("not-canonical-comment", "correct rules, but a comment makes the text non-canonical",
                "# default rules\n" + DEFAULT, "rule set text is not canonical", parses=True),
        invalid("not-canonical-order", "correct rules, categories out of registry order",
                edit("contract_default = [1, 3, 6, 61]\nfake_traffic = [1, 3, 6, 61]\n",
                     "fake_traffic = [1, 3, 6, 61]\ncontract_default = [1, 3, 6, 61]\n"),
                "rule set text is not canonical", parses=True),
        invalid("not-canonical-date-literal", "a TOML date literal instead of the quoted string",
                edit('effective_from = "2026-01-01"', "effective_from = 2026-01-01"),
                "rule set text is not canonical", parses=True),
    ]


# Default rules, category contract_default. Age counts full years from the first day of
# the incident's quarter; expiry is 5 years after the incident date (29 Feb -> 28 Feb).
WEIGHTS = [
    ("2026-02-15", "2026-02-15", 1000, "age 0"),
    ("2026-02-15", "2026-12-31", 1000, "quarter starts 2026-01-01: still age 0"),
    ("2026-02-15", "2027-01-01", 700, "age 1 on the quarter's anniversary, before the incident's"),
    ("2026-03-31", "2027-01-01", 700, "same quarter as 2026-02-15: same weight"),
    ("2026-04-01", "2027-03-31", 1000, "Q2 starts 2026-04-01: age 0 until 2027-04-01"),
    ("2026-04-01", "2027-04-01", 700, "age 1"),
    ("2025-11-30", "2027-09-30", 700, "Q4 2025 starts 2025-10-01: age 1"),
    ("2025-11-30", "2027-10-01", 400, "age 2"),
    ("2021-01-10", "2026-01-01", 100, "age 5 -> last band (100) while not yet expired"),
    ("2021-01-10", "2026-01-09", 100, "the day before expiry"),
    ("2021-01-10", "2026-01-10", 0, "expired exactly 5 years after the incident date"),
    ("2024-02-29", "2029-02-27", 100, "leap-day incident, not yet expired"),
    ("2024-02-29", "2029-02-28", 0, "29 Feb + 5 years expires on 28 Feb"),
]

EXPIRY = [
    ("contract_default", "2021-01-10", "2026-01-10"),
    ("contract_default", "2024-02-29", "2029-02-28"),
    ("contract_default", "2028-02-29", "2033-02-28"),
    ("contract_default", "2023-12-31", "2028-12-31"),
]

# Default rules: counts N_{c,t} weighted per mille, given sparsely as {slot: count}
# (slot = 4*category + tier; points 1/3/6/61). D = sum(points*N) in milli-points and
# score = 100 - ceil(D/1000), which may be negative; the grade follows from the score alone.
SCORES = [
    ({}, 100, "A", "no reports"),
    ({3: 1000}, 39, "D", "one critical at full weight: 100 - 61 = 39, below C by the score alone"),
    ({3: 700}, 57, "C", "one critical at weight 700: 100 - ceil(42.7) = 57"),
    ({31: 100}, 93, "A", "a decayed critical (weight 100): 100 - ceil(6.1) = 93; no cap"),
    ({0: 1000, 5: 1000}, 96, "A", "a minor and a general: 100 - 1 - 3"),
    ({2: 2000}, 88, "B", "two serious: 100 - 12"),
    ({2: 700}, 95, "A", "one serious at weight 700: 100 - ceil(4.2) = 95"),
    ({0: 1}, 99, "A", "any positive deduction costs at least one point"),
    ({0: 10000}, 90, "A", "exactly the A threshold"),
    ({0: 10001}, 89, "B", "one milli-point more rounds up to 11 points: below A"),
    ({1: 20000}, 40, "C", "exactly the C threshold"),
    ({1: 20000, 4: 1}, 39, "D", "one milli-point more: below C"),
    ({2: 17000}, -2, "D", "deductions beyond the base give a negative score (shown as 0)"),
    ({3: 5000, 7: 5000}, -510, "D", "ten criticals: 100 - 610"),
]

# The ledger's spacing of rule sets (genesis min_rule_interval_days): (previous effective
# date or None, publication day, new effective date, interval, earliest allowed or None if
# accepted, why).
INTERVALS = [
    (None, "2026-12-03", "2026-01-01", 90, None, "the first rule set (the key ceremony's) is not constrained"),
    ("2026-01-01", "2026-12-03", "2026-12-03", 90, None, "taking effect on the day of publication"),
    ("2026-01-01", "2026-02-01", "2026-04-01", 90, None, "exactly 90 days after 2026-01-01"),
    ("2026-01-01", "2026-02-01", "2026-03-31", 90, "2026-04-01", "89 days after the previous one"),
    ("2026-01-01", "2026-01-01", "2026-01-11", 90, "2026-04-01", "a burst: a second rule set 10 days later"),
    ("2026-01-01", "2026-12-03", "2026-06-01", 90, "2026-12-03",
     "back-dated: would supersede others on the day it is published"),
    ("2027-01-01", "2026-12-03", "2027-01-02", 1, None, "a genesis may choose a shorter interval"),
    ("2027-01-01", "2026-12-03", "2026-12-31", 1, "2027-01-02", "not before the previous one"),
]


def build() -> dict[str, Any]:
    return {
        "description": "Candor rule sets (docs/rules.md): TOML texts checked with check_canonical "
        "against the default registry (valid = publishable, parses = parse_rules accepts), "
        "decay weights and expiry dates, integer scores and grades under the default rule set, "
        "and the ledger's minimum interval between rule sets (earliest = null: accepted). "
        "Written by hand in make_rules.py.",
        "registry": REGISTRY,
        "cases": cases(),
        "weights": [
            {"id": i + 1, "category": "contract_default", "incident_date": inc, "as_of": as_of,
             "weight": w, "why": why}
            for i, (inc, as_of, w, why) in enumerate(WEIGHTS)
        ],
        "expiry": [
            {"id": i + 1, "category": c, "incident_date": inc, "expires_on": exp}
            for i, (c, inc, exp) in enumerate(EXPIRY)
        ],
        "scores": [
            {"id": i + 1, "counts": {str(k): v for k, v in counts.items()},
             "score": s, "grade": g, "why": why}
            for i, (counts, s, g, why) in enumerate(SCORES)
        ],
        "intervals": [
            {"id": i + 1, "previous": prev, "published_on": pub, "effective_from": eff,
             "interval_days": days, "earliest": earliest, "why": why}
            for i, (prev, pub, eff, days, earliest, why) in enumerate(INTERVALS)
        ],
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")

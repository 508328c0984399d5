"""Regenerate rules.json: rule-set texts (valid and invalid), decay weights and scores.

Run: python tests/vectors/make_rules.py

Nothing here calls core.rules: the texts are edits of a literal copy of the default rule
set of DOMAIN.md, and every expected answer (error fragment, stored JSON, weight, score,
grade) is written out by hand from DESIGN §4-§5 and DOMAIN.md, so the test compares the
implementation against an independent reading of the rules.

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
k_reporters = 2
max_staleness_days = 30
retention_years = 5
critical_caps_grade = "D"

[grades]
A = 90
B = 70
C = 40

[decay]
per_mille = [1000, 700, 400, 200, 100]

[points]
contract_default = [1, 3, 6, 40]
fake_traffic = [1, 3, 6, 40]
false_advertising = [1, 3, 6, 40]
counterfeit_goods = [1, 3, 6, 40]
refund_refusal = [1, 3, 6, 40]
review_manipulation = [1, 3, 6, 40]
off_platform_luring = [1, 3, 6, 40]
tax_evasion = [1, 3, 6, 40]
"""

DEFAULT_JSON: dict[str, Any] = {
    "version": "2026.1",
    "effective_from": "2026-01-01",
    "base_score": 100,
    "k_reporters": 2,
    "max_staleness_days": 30,
    "retention_years": 5,
    "critical_caps_grade": "D",
    "grades": {"A": 90, "B": 70, "C": 40},
    "decay": [1000, 700, 400, 200, 100],
    "points": [[c, [1, 3, 6, 40]] for c in REGISTRY],
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
    nocap = (edit('critical_caps_grade = "D"', 'critical_caps_grade = ""')
             .replace('version = "2026.1"', 'version = "2026.2-nocap"')
             .replace("per_mille = [1000, 700, 400, 200, 100]", "per_mille = [1000]"))
    nocap_json = dict(DEFAULT_JSON, version="2026.2-nocap", critical_caps_grade="", decay=[1000])
    return [
        {"id": "default", "valid": True, "parses": True,
         "why": "the default rule set of DOMAIN.md, in canonical form", "toml": DEFAULT,
         "json": DEFAULT_JSON},
        {"id": "overrides", "valid": True, "parses": True,
         "why": "retention overrides, listed in registry order", "toml": overrides,
         "json": overrides_json},
        {"id": "no-cap-one-band", "valid": True, "parses": True,
         "why": "no critical cap and a single decay band are allowed", "toml": nocap,
         "json": nocap_json},
        invalid("k-one", "k = 1 would publish a rating over one reporter and reveal its tiers",
                edit("k_reporters = 2", "k_reporters = 1"), "k_reporters is 1, expected at least 2"),
        invalid("k-bool", "TOML true is not an integer",
                edit("k_reporters = 2", "k_reporters = true"), "k_reporters must be an integer"),
        invalid("points-three", "a category needs four points, one per tier",
                edit("fake_traffic = [1, 3, 6, 40]", "fake_traffic = [1, 3, 6]"),
                "points for fake_traffic has 3 values, expected 4: [minor, general, serious, critical]"),
        invalid("points-missing", "every category of the registry needs points",
                edit("tax_evasion = [1, 3, 6, 40]\n", ""),
                "points are missing for categories tax_evasion"),
        invalid("points-unknown", "points for a category outside the registry",
                DEFAULT + "fraud = [1, 2, 3, 4]\n",
                "points name categories that are not in the registry: fraud"),
        invalid("points-negative", "points are deductions, never bonuses",
                edit("refund_refusal = [1, 3, 6, 40]", "refund_refusal = [1, -3, 6, 40]"),
                "points for refund_refusal (general) is -3"),
        invalid("points-float", "points are integers: no float decides a grade",
                edit("refund_refusal = [1, 3, 6, 40]", "refund_refusal = [1.5, 3, 6, 40]"),
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
        invalid("cap-unknown-grade", "the cap must be a grade or empty",
                edit('critical_caps_grade = "D"', 'critical_caps_grade = "E"'),
                "critical_caps_grade is 'E', expected one of A, B, C, D"),
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
                edit("contract_default = [1, 3, 6, 40]\nfake_traffic = [1, 3, 6, 40]\n",
                     "fake_traffic = [1, 3, 6, 40]\ncontract_default = [1, 3, 6, 40]\n"),
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
# (slot = 4*category + tier). score_milli = 100000 - sum(points*N), clamped at 0.
SCORES = [
    ({}, 100000, "A", "no reports"),
    ({3: 1000}, 60000, "D", "one critical: 60 is a C by thresholds, capped at D"),
    ({0: 1000, 5: 1000}, 96000, "A", "a minor and a general: 100 - 1 - 3"),
    ({2: 2000}, 88000, "B", "two serious: 100 - 12"),
    ({2: 700}, 95800, "A", "one serious at weight 700: 100 - 4.2"),
    ({31: 100}, 96000, "D", "a decayed critical (weight 100) still caps at D"),
    ({2: 17000}, 0, "D", "deductions beyond the base clamp at 0"),
    ({0: 10000}, 90000, "A", "exactly the A threshold"),
    ({0: 10001}, 89999, "B", "one milli-point below A"),
    ({1: 20000}, 40000, "C", "exactly the C threshold"),
    ({1: 20000, 4: 1}, 39999, "D", "one milli-point below C"),
]


def build() -> dict[str, Any]:
    return {
        "description": "Candor rule sets (DESIGN §4): TOML texts checked with check_canonical "
        "against the default registry (valid = publishable, parses = parse_rules accepts), "
        "decay weights and expiry dates, and scores under the default rule set. "
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
             "score_milli": s, "grade": g, "why": why}
            for i, (counts, s, g, why) in enumerate(SCORES)
        ],
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")

"""core.rules: rule-set parsing, canonical form, decay weights, retention and scores."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from core import errors
from core.errors import InvalidInput
from core.rules import (
    DEFAULT_CATEGORIES,
    DEFAULT_RULES_TOML,
    GRADES,
    RuleSet,
    age_years,
    canonical_toml,
    check_canonical,
    default_rules,
    expired,
    expires_on,
    parse_rules,
    quarter_start,
    score,
    weight,
)

ROOT = Path(__file__).resolve().parent.parent
VEC = json.loads((Path(__file__).parent / "vectors" / "rules.json").read_text())
REGISTRY: tuple[str, ...] = tuple(VEC["registry"])
#: Codes that TOML cannot write as bare keys, to exercise quoting in the canonical form.
ODD_REGISTRY = ("contract_default", "fraud.v2", 'say"quote\\d', "刷单")
FAST = settings(max_examples=40, deadline=None)


def parse_date(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


# --- known answers -------------------------------------------------------------------


def test_vector_file_is_complete() -> None:
    invalid = [c for c in VEC["cases"] if not c["valid"]]
    assert len(invalid) >= 10
    assert any(c["id"] == "default" and c["valid"] for c in VEC["cases"])
    assert all(c["why"] for c in VEC["cases"])


@pytest.mark.parametrize("case", VEC["cases"], ids=lambda c: c["id"])
def test_rule_set_vectors(case: dict[str, Any]) -> None:
    if case["valid"]:
        rules = check_canonical(case["toml"], REGISTRY)
        assert rules.to_json() == case["json"]
        assert canonical_toml(rules) == case["toml"]
        assert RuleSet.from_json(case["json"]) == rules
        return
    error = getattr(errors, case["error"])
    with pytest.raises(error) as info:
        check_canonical(case["toml"], REGISTRY)
    assert case["message"] in str(info.value)
    if case["parses"]:
        parse_rules(case["toml"], REGISTRY)  # correct rules, only the form is wrong
    else:
        with pytest.raises(error) as info:
            parse_rules(case["toml"], REGISTRY)
        assert case["message"] in str(info.value)


@pytest.mark.parametrize("case", VEC["weights"], ids=lambda c: str(c["id"]))
def test_weight_vectors(case: dict[str, Any]) -> None:
    rules = default_rules()
    incident, as_of = parse_date(case["incident_date"]), parse_date(case["as_of"])
    assert weight(rules, incident, as_of, category=case["category"]) == case["weight"]
    assert weight(rules, incident, as_of) == case["weight"]  # no overrides: same retention
    assert expired(rules, case["category"], incident, as_of) == (case["weight"] == 0)


@pytest.mark.parametrize("case", VEC["expiry"], ids=lambda c: str(c["id"]))
def test_expiry_vectors(case: dict[str, Any]) -> None:
    got = expires_on(default_rules(), case["category"], parse_date(case["incident_date"]))
    assert got == parse_date(case["expires_on"])


@pytest.mark.parametrize("case", VEC["scores"], ids=lambda c: str(c["id"]))
def test_score_vectors(case: dict[str, Any]) -> None:
    counts = [0] * (4 * len(REGISTRY))
    for slot, count in case["counts"].items():
        counts[int(slot)] = count
    assert score(default_rules(), REGISTRY, counts) == (case["score_milli"], case["grade"])


def test_default_rules_match_domain() -> None:
    rules = default_rules()
    assert DEFAULT_CATEGORIES == REGISTRY
    assert rules.version == "2026.1"
    assert rules.effective_from == dt.date(2026, 1, 1)
    assert (rules.base_score, rules.k_reporters, rules.max_staleness_days) == (100, 2, 30)
    assert rules.retention_years == 5 and rules.retention_overrides == ()
    assert rules.grades == (("A", 90), ("B", 70), ("C", 40))
    assert rules.decay == (1000, 700, 400, 200, 100)
    assert rules.critical_caps_grade == "D"
    assert all(rules.points_of(c) == (1, 3, 6, 40) for c in DEFAULT_CATEGORIES)
    assert canonical_toml(rules) == DEFAULT_RULES_TOML


def test_example_file_is_the_default() -> None:
    text = (ROOT / "candor" / "rules" / "default.toml").read_bytes().decode()
    assert text == DEFAULT_RULES_TOML


# --- validation ----------------------------------------------------------------------


def _default_kwargs() -> dict[str, Any]:
    r = default_rules()
    return {f: getattr(r, f) for f in r.__dataclass_fields__}


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"k_reporters": True}, "k_reporters must be an integer"),
        ({"base_score": 1}, "grade A threshold is 90, expected 0..1"),
        ({"effective_from": dt.datetime(2026, 1, 1)}, "effective_from must be a date"),
        ({"version": "x" * 65}, "must be 1..64 characters"),
        ({"decay": (1000,) * 12}, "at most 11 can ever apply"),
        ({"grades": (("A", 90), ("C", 40), ("B", 70))}, "exactly A, B, C in that order"),
        ({"points": ()}, "points are empty"),
        ({"points": (("contract_default", (1, 3, 6, 40)),) * 2}, "points for contract_default are given twice"),
        ({"points": (("bad/code", (1, 3, 6, 40)),)}, "contains '/'"),
        ({"points": (("contract_default", [1, 3, 6, 40]),)}, "must be an array of 4 integers"),
        ({"retention_overrides": (("tax_evasion", 3), ("fake_traffic", 3))}, "out of order or repeated"),
        ({"retention_overrides": (("fake_traffic", 3), ("fake_traffic", 4))}, "out of order or repeated"),
        ({"retention_overrides": (("unknown", 3),)}, "which has no points"),
        ({"retention_overrides": (("tax_evasion", 11),)}, "retention override for tax_evasion is 11"),
    ],
)
def test_ruleset_construction_errors(change: dict[str, Any], fragment: str) -> None:
    kwargs = _default_kwargs() | change
    with pytest.raises(InvalidInput) as info:
        RuleSet(**kwargs)
    assert fragment in str(info.value)


def test_parse_rejects_registry_mismatch_and_bad_registry() -> None:
    with pytest.raises(InvalidInput, match="points name categories that are not in the registry: tax_evasion"):
        parse_rules(DEFAULT_RULES_TOML, REGISTRY[:-1])
    with pytest.raises(InvalidInput, match="missing for categories extra"):
        parse_rules(DEFAULT_RULES_TOML, REGISTRY + ("extra",))
    with pytest.raises(InvalidInput, match="not one string"):
        parse_rules(DEFAULT_RULES_TOML, "contract_default")
    with pytest.raises(InvalidInput, match="registry is empty"):
        parse_rules(DEFAULT_RULES_TOML, ())
    with pytest.raises(InvalidInput, match="at most 65536"):
        parse_rules(DEFAULT_RULES_TOML + "#" * 70000, REGISTRY)


def test_parse_shape_errors() -> None:
    with pytest.raises(InvalidInput, match=r"grades must be a table"):
        parse_rules(DEFAULT_RULES_TOML.replace("[grades]\nA = 90\nB = 70\nC = 40\n", "")
                    .replace('critical_caps_grade = "D"', 'critical_caps_grade = "D"\ngrades = 3'), REGISTRY)
    with pytest.raises(InvalidInput, match="decay must hold exactly one key, per_mille"):
        parse_rules(DEFAULT_RULES_TOML.replace("per_mille", "weights"), REGISTRY)
    with pytest.raises(InvalidInput, match="version must be a string"):
        parse_rules(DEFAULT_RULES_TOML.replace('version = "2026.1"', "version = 2026"), REGISTRY)
    with pytest.raises(InvalidInput, match="effective_from must be a date"):
        parse_rules(DEFAULT_RULES_TOML.replace('"2026-01-01"', "2026-01-01T00:00:00"), REGISTRY)


def test_from_json_errors() -> None:
    good = default_rules().to_json()
    with pytest.raises(InvalidInput, match="missing keys"):
        RuleSet.from_json({k: v for k, v in good.items() if k != "decay"})
    with pytest.raises(InvalidInput, match="exactly A, B and C"):
        RuleSet.from_json(good | {"grades": {"A": 90, "B": 70}})
    with pytest.raises(InvalidInput, match=r"\[category, value\] pair"):
        RuleSet.from_json(good | {"points": [["contract_default"]]})
    with pytest.raises(InvalidInput, match="k_reporters is 1"):
        RuleSet.from_json(good | {"k_reporters": 1})


# --- canonical form: property tests ----------------------------------------------------


@st.composite
def rule_sets(draw: st.DrawFn, registry: tuple[str, ...] = ODD_REGISTRY) -> RuleSet:
    base = draw(st.integers(2, 1000))
    a = draw(st.integers(2, base))
    b = draw(st.integers(1, a - 1))
    c = draw(st.integers(0, b - 1))
    tail = draw(st.lists(st.integers(0, 1000), max_size=10))
    return RuleSet(
        version=draw(st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True)),
        effective_from=draw(st.dates(dt.date(2000, 1, 1), dt.date(9999, 12, 31))),
        base_score=base,
        k_reporters=draw(st.integers(2, 100)),
        max_staleness_days=draw(st.integers(1, 3650)),
        retention_years=draw(st.integers(1, 10)),
        critical_caps_grade=draw(st.sampled_from(("",) + GRADES)),
        grades=(("A", a), ("B", b), ("C", c)),
        decay=(1000, *sorted(tail, reverse=True)),
        points=tuple(
            (code, tuple(draw(st.lists(st.integers(0, 10**6), min_size=4, max_size=4))))
            for code in registry
        ),
        retention_overrides=tuple(
            (code, draw(st.integers(1, 10))) for code in registry if draw(st.booleans())
        ),
    )


def _key(code: str) -> str:
    return json.dumps(code, ensure_ascii=False)  # a TOML basic string is a JSON string here


def _variant(rules: RuleSet, rnd: random.Random) -> str:
    """The same rules, written the way a person might: any order, comments, spacing, quoted
    keys, a TOML date literal."""
    def eq() -> str:
        return rnd.choice(["=", " = ", "  =\t"])

    date = rules.effective_from.isoformat()
    scalars = [
        f"version{eq()}\"{rules.version}\"",
        f"effective_from{eq()}" + rnd.choice([f'"{date}"', date]),
        f"base_score{eq()}{rules.base_score}",
        f"k_reporters{eq()}{rules.k_reporters}",
        f"max_staleness_days{eq()}{rules.max_staleness_days}",
        f"retention_years{eq()}{rules.retention_years}",
        f"critical_caps_grade{eq()}'{rules.critical_caps_grade}'",
    ]
    rnd.shuffle(scalars)
    grades = [f"{n}{eq()}{v}" for n, v in rules.grades]
    points = [f"{_key(c)}{eq()}[{', '.join(map(str, v))},]" for c, v in rules.points]
    overrides = [f"{_key(c)}{eq()}{y}" for c, y in rules.retention_overrides]
    rnd.shuffle(grades)
    rnd.shuffle(points)
    rnd.shuffle(overrides)
    tables = [
        ["[grades]", *grades],
        ["[decay]  # per mille", f"per_mille{eq()}[{','.join(map(str, rules.decay))}]"],
        ["[points]", *points],
    ]
    if overrides or rnd.random() < 0.5:
        tables.append(["[retention_overrides]", *overrides])
    rnd.shuffle(tables)
    lines = ["# rules by the regulator", *scalars]
    for table in tables:
        lines += ["", *table]
    return "\n".join(lines) + rnd.choice(["\n", "\n\n", ""])


@FAST
@given(rules=rule_sets())
def test_canonical_round_trip(rules: RuleSet) -> None:
    text = canonical_toml(rules)
    assert parse_rules(text, ODD_REGISTRY) == rules
    assert check_canonical(text, ODD_REGISTRY) == rules
    assert canonical_toml(parse_rules(text, ODD_REGISTRY)) == text


@FAST
@given(rules=rule_sets(), seed=st.integers(0, 2**32))
def test_any_spelling_has_one_canonical_text(rules: RuleSet, seed: int) -> None:
    variant = _variant(rules, random.Random(seed))
    parsed = parse_rules(variant, ODD_REGISTRY)
    assert parsed == rules
    assert canonical_toml(parsed) == canonical_toml(rules)
    assume(variant != canonical_toml(rules))
    with pytest.raises(InvalidInput, match="not canonical"):
        check_canonical(variant, ODD_REGISTRY)


@FAST
@given(rules=rule_sets())
def test_json_round_trip(rules: RuleSet) -> None:
    # The ledger state dumps JSON with sorted keys; the registry order must survive that.
    stored = json.loads(json.dumps(rules.to_json(), sort_keys=True))
    assert RuleSet.from_json(stored) == rules


# --- time: property tests ------------------------------------------------------------

dates = st.dates(dt.date(2000, 1, 1), dt.date(2090, 12, 31))


@FAST
@given(rules=rule_sets(REGISTRY), incident=dates, gap=st.integers(0, 5000), step=st.integers(0, 2000))
def test_weight_is_monotone_in_age(rules: RuleSet, incident: dt.date, gap: int, step: int) -> None:
    earlier = incident + dt.timedelta(days=gap)
    later = earlier + dt.timedelta(days=step)
    for code in REGISTRY[:2]:
        w1 = weight(rules, incident, earlier, category=code)
        w2 = weight(rules, incident, later, category=code)
        assert 0 <= w2 <= w1 <= 1000
    assert weight(rules, incident, incident) == 1000


@FAST
@given(rules=rule_sets(REGISTRY), day=dates, d1=st.integers(0, 91), d2=st.integers(0, 91),
       gap=st.integers(0, 4000))
def test_same_quarter_same_weight(rules: RuleSet, day: dt.date, d1: int, d2: int, gap: int) -> None:
    start = quarter_start(day)
    first, second = start + dt.timedelta(days=d1), start + dt.timedelta(days=d2)
    assume(quarter_start(first) == start == quarter_start(second))
    as_of = start + dt.timedelta(days=gap)
    # Age is a function of the quarter alone; as_of may even precede the incident itself.
    assert age_years(first, as_of) == age_years(second, as_of)
    code = REGISTRY[0]
    # Retention runs from the incident date (the law), so expiry alone is not aligned.
    if not expired(rules, code, first, as_of) and not expired(rules, code, second, as_of):
        assert weight(rules, first, as_of, category=code) == weight(rules, second, as_of, category=code)


def test_bands_move_on_quarter_days_only() -> None:
    rules = default_rules()
    incidents = [dt.date(2026, 1, 1) + dt.timedelta(days=d) for d in range(0, 365, 7)]
    day = dt.date(2026, 1, 1)
    moves: set[dt.date] = set()
    while day < dt.date(2030, 1, 1):
        nxt = day + dt.timedelta(days=1)
        if any(weight(rules, i, day) != weight(rules, i, nxt) for i in incidents if i <= day):
            moves.add(nxt)
        day = nxt
    assert moves and all(d.day == 1 and d.month in (1, 4, 7, 10) for d in moves)


def test_quarter_start_and_age() -> None:
    assert quarter_start(dt.date(2026, 3, 31)) == dt.date(2026, 1, 1)
    assert quarter_start(dt.date(2026, 4, 1)) == dt.date(2026, 4, 1)
    assert quarter_start(dt.date(2026, 12, 31)) == dt.date(2026, 10, 1)
    assert age_years(dt.date(2026, 5, 5), dt.date(2027, 4, 1)) == 1
    assert age_years(dt.date(2026, 5, 5), dt.date(2027, 3, 31)) == 0
    with pytest.raises(InvalidInput, match="is after the rating date"):
        age_years(dt.date(2026, 4, 1), dt.date(2026, 3, 31))
    with pytest.raises(InvalidInput, match="must be a date"):
        age_years(dt.datetime(2026, 4, 1), dt.date(2026, 5, 1))


def test_retention_override_changes_expiry_only_for_its_category() -> None:
    text = DEFAULT_RULES_TOML + "\n[retention_overrides]\ntax_evasion = 7\n"
    rules = check_canonical(text, REGISTRY)
    incident = dt.date(2020, 6, 1)
    assert expires_on(rules, "tax_evasion", incident) == dt.date(2027, 6, 1)
    assert expires_on(rules, "fake_traffic", incident) == dt.date(2025, 6, 1)
    as_of = dt.date(2026, 1, 1)
    assert weight(rules, incident, as_of, category="tax_evasion") == 100
    assert weight(rules, incident, as_of, category="fake_traffic") == 0
    with pytest.raises(InvalidInput, match="no points for category 'nope'"):
        expires_on(rules, "nope", incident)


# --- scores --------------------------------------------------------------------------


def _counts(**slots: int) -> list[int]:
    counts = [0] * (4 * len(REGISTRY))
    for name, value in slots.items():
        counts[int(name[1:])] = value
    return counts


def test_score_examples() -> None:
    rules = default_rules()
    assert score(rules, REGISTRY, _counts(s3=1000)) == (60000, "D")
    assert score(rules, REGISTRY, _counts(s0=1000, s1=1000)) == (96000, "A")
    assert score(rules, REGISTRY, _counts(s6=1000, s10=1000)) == (88000, "B")
    nocap = RuleSet(**(_default_kwargs() | {"critical_caps_grade": ""}))
    assert score(nocap, REGISTRY, _counts(s3=1000)) == (60000, "C")
    capb = RuleSet(**(_default_kwargs() | {"critical_caps_grade": "B"}))
    assert score(capb, REGISTRY, _counts(s3=100)) == (96000, "B")
    assert score(capb, REGISTRY, _counts(s3=1000)) == (60000, "C")  # the cap never improves


def test_score_errors() -> None:
    rules = default_rules()
    with pytest.raises(InvalidInput, match="31 counts for 8 categories, expected 32"):
        score(rules, REGISTRY, [0] * 31)
    with pytest.raises(InvalidInput, match="is negative"):
        score(rules, REGISTRY, _counts(s5=-1))
    with pytest.raises(InvalidInput, match="must be an integer"):
        score(rules, REGISTRY, _counts(s5=True))
    with pytest.raises(InvalidInput, match="no points for category 'other'"):
        score(rules, ("other",), [0, 0, 0, 0])


@FAST
@given(rules=rule_sets(REGISTRY),
       counts=st.lists(st.integers(0, 50_000), min_size=32, max_size=32),
       slot=st.integers(0, 31), extra=st.integers(1, 10_000))
def test_score_is_monotone_and_capped(rules: RuleSet, counts: list[int], slot: int, extra: int) -> None:
    s1, g1 = score(rules, REGISTRY, counts)
    more = list(counts)
    more[slot] += extra
    s2, g2 = score(rules, REGISTRY, more)
    assert 0 <= s2 <= s1 <= rules.base_score * 1000
    assert GRADES.index(g2) >= GRADES.index(g1)
    if rules.critical_caps_grade and any(counts[i] for i in range(3, 32, 4)):
        assert GRADES.index(g1) >= GRADES.index(rules.critical_caps_grade)
    thresholds = dict(rules.grades)
    if g1 in thresholds:
        assert s1 >= thresholds[g1] * 1000

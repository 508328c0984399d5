"""core.rules: rule-set parsing, canonical form, decay weights, retention, scores, and the
ledger's refusal of rule sets that could publish counts (docs/rules.md)."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
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
    MAX_POINTS,
    RuleSet,
    age_years,
    canonical_toml,
    check_canonical,
    check_rule_interval,
    default_rules,
    expired,
    expires_on,
    parse_rules,
    quarter_start,
    rule_set_hash,
    weight,
)
from core.score import grade_of, points_vector, rating_score

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
    rules = default_rules()
    got = rating_score(rules, REGISTRY, counts)
    assert (got, grade_of(rules, got)) == (case["score"], case["grade"])
    # The same number by the definition: base − ⌈D/1000⌉ with D the points row times the counts.
    d = sum(p * n for p, n in zip(points_vector(rules, REGISTRY), counts))
    assert got == 100 - -(-d // 1000)


@pytest.mark.parametrize("case", VEC["intervals"], ids=lambda c: str(c["id"]))
def test_interval_vectors(case: dict[str, Any]) -> None:
    previous = None if case["previous"] is None else parse_date(case["previous"])

    def check() -> None:
        check_rule_interval(parse_date(case["effective_from"]), previous=previous,
                            published_on=parse_date(case["published_on"]), interval_days=case["interval_days"])

    if case["earliest"] is None:
        check()
    else:
        with pytest.raises(errors.Conflict, match=f"the earliest allowed date is {case['earliest']}"):
            check()


def test_default_rules_match_domain() -> None:
    rules = default_rules()
    assert DEFAULT_CATEGORIES == REGISTRY
    assert rules.version == "2026.1"
    assert rules.effective_from == dt.date(2026, 1, 1)
    assert (rules.base_score, rules.k_reporters, rules.max_staleness_days) == (100, 3, 30)
    assert rules.retention_years == 5 and rules.retention_overrides == ()
    assert rules.grades == (("A", 90), ("B", 70), ("C", 40))
    assert rules.decay == (1000, 700, 400, 200, 100)
    assert all(rules.points_of(c) == (1, 3, 6, 61) for c in DEFAULT_CATEGORIES)
    assert points_vector(rules, REGISTRY) == (1, 3, 6, 61) * len(REGISTRY)
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
        ({"points": (("contract_default", (1, 100, 10**4, 10**8)),)},
         "points for contract_default (serious) is 10000, expected 1..100"),
        ({"points": (("contract_default", (1, 3, 6, 0)),)}, "(critical) is 0, expected 1..100"),
        ({"points": (("contract_default", (3, 1, 6, 61)),)},
         "points for contract_default decrease by tier: general has 1, fewer than 3 for minor"),
        ({"points": (("contract_default", (1, 3, True, 61)),)}, "(serious) must be an integer"),
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
                    .replace("retention_years = 5\n", "retention_years = 5\ngrades = 3\n"), REGISTRY)
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
    with pytest.raises(InvalidInput, match="critical_caps_grade is not allowed"):
        RuleSet.from_json(good | {"critical_caps_grade": "D"})  # a state stored by an old version


def test_rule_set_hash_is_sha256_of_the_canonical_text() -> None:
    import hashlib

    rules = default_rules()
    assert rule_set_hash(rules) == hashlib.sha256(DEFAULT_RULES_TOML.encode()).digest()
    assert len(rule_set_hash(rules)) == 32
    other = RuleSet(**(_default_kwargs() | {"k_reporters": 4}))
    assert rule_set_hash(other) != rule_set_hash(rules)


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
        grades=(("A", a), ("B", b), ("C", c)),
        decay=(1000, *sorted(tail, reverse=True)),
        points=tuple(
            (code, tuple(sorted(draw(st.lists(st.integers(1, MAX_POINTS), min_size=4, max_size=4)))))
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
    assert rating_score(rules, REGISTRY, _counts(s3=1000)) == 39  # one critical: D by the score alone
    assert grade_of(rules, 39) == "D"
    assert rating_score(rules, REGISTRY, _counts(s0=1000, s1=1000)) == 96
    assert rating_score(rules, REGISTRY, _counts(s6=1000, s10=1000)) == 88
    assert rating_score(rules, REGISTRY, _counts(s0=1)) == 99  # rounded up
    assert rating_score(rules, REGISTRY, _counts(s3=3000)) == -83  # below zero, not clamped
    assert [grade_of(rules, s) for s in (100, 90, 89, 70, 69, 40, 39, 0, -83)] == list("AABBCCDDD")


def test_score_errors() -> None:
    rules = default_rules()
    with pytest.raises(InvalidInput, match="31 counts for 8 categories, expected 32"):
        rating_score(rules, REGISTRY, [0] * 31)
    with pytest.raises(InvalidInput, match="is negative"):
        rating_score(rules, REGISTRY, _counts(s5=-1))
    with pytest.raises(InvalidInput, match="must be an integer"):
        rating_score(rules, REGISTRY, _counts(s5=True))
    with pytest.raises(InvalidInput, match="no points for category 'other'"):
        rating_score(rules, ("other",), [0, 0, 0, 0])
    with pytest.raises(InvalidInput, match="score must be an integer"):
        grade_of(rules, 39.5)  # type: ignore[arg-type]


@FAST
@given(rules=rule_sets(REGISTRY),
       counts=st.lists(st.integers(0, 50_000), min_size=32, max_size=32),
       slot=st.integers(0, 31), extra=st.integers(1, 10_000))
def test_score_is_monotone_and_grade_follows_it(rules: RuleSet, counts: list[int], slot: int, extra: int) -> None:
    s1 = rating_score(rules, REGISTRY, counts)
    more = list(counts)
    more[slot] += extra
    s2 = rating_score(rules, REGISTRY, more)
    assert s2 <= s1 <= rules.base_score
    if extra >= 1000:
        assert s2 < s1  # every point is at least 1, so a whole report's weight always costs
    g1, g2 = grade_of(rules, s1), grade_of(rules, s2)
    assert GRADES.index(g2) >= GRADES.index(g1)
    thresholds = dict(rules.grades)
    if g1 in thresholds:
        assert s1 >= thresholds[g1]
    # The rounding remainder u = 1000·(base − score) − D is what the publication proof bounds.
    d = sum(p * n for p, n in zip(points_vector(rules, REGISTRY), counts))
    assert 0 <= 1000 * (rules.base_score - s1) - d < 1000


# --- attacks through the ledger: a regulator-signed RuleSetPublished over real gRPC ----------


def _publish(alliance_dir: Path, operator: Any, text: str, timestamp_ms: int | None = None) -> int:
    """Sign `text` as the regulator and submit it with PublishRules, as `candor rules publish`
    does, but without the CLI's own validation: the ledger alone must refuse."""
    import time
    import tomllib

    from api import wire
    from api.identity import Identity
    from api.v1 import governance_pb2
    from client.connection import Connection
    from core import entries as e

    doc = tomllib.loads(text)
    body = e.RuleSetPublished(doc["version"], doc["effective_from"], text)
    when = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    leaf = wire.sign_leaf(e.LedgerEntry(body, timestamp_ms=when),
                          Identity.load(alliance_dir / "regulator").signing_key())
    with Connection(Identity.load(alliance_dir / "regulator"), f"127.0.0.1:{operator.port}") as conn:
        receipt = conn.call(conn.governance.PublishRules, governance_pb2.SubmitEntryRequest(signed_entry=leaf))
    return int(receipt.index)


def _text(categories: tuple[str, ...], version: str, effective: dt.date, *,
          points: tuple[int, ...] = (1, 3, 6, 61), k: int = 3, extra: str = "") -> str:
    head = (f'version = "{version}"\neffective_from = "{effective.isoformat()}"\nbase_score = 100\n'
            f"k_reporters = {k}\nmax_staleness_days = 30\nretention_years = 5\n{extra}")
    body = "\n[grades]\nA = 90\nB = 70\nC = 40\n\n[decay]\nper_mille = [1000, 700, 400, 200, 100]\n\n[points]\n"
    return head + body + "".join(f"{c} = [{', '.join(map(str, points))}]\n" for c in categories)


def test_ledger_refuses_rule_sets_that_could_publish_counts(alliance_dir: Path, operator: Any) -> None:
    from tests.conftest import TEST_CATEGORIES

    size = operator.ledger.store.size()
    later = dt.date.today() + dt.timedelta(days=30)
    attacks = [
        # Positional points: D would spell out each tier's count as digits.
        ({"points": (1, 10, 100, 1000)}, InvalidInput, "(critical) is 1000, expected 1..100"),
        ({"points": (1, 10**4, 10**8, 10**12)}, InvalidInput, "(general) is 10000, expected 1..100"),
        # Decreasing points: tiers weighted in an order the rule set chooses.
        ({"points": (61, 6, 3, 1)}, InvalidInput, "decrease by tier: general has 6, fewer than 61"),
        # A count-based cap: a published bit that no proof covers.
        ({"extra": 'critical_caps_grade = "D"\n'}, InvalidInput,
         "critical_caps_grade is not allowed: the grade must follow from the score alone"),
        # k = 1: the rating of a single reporter's reports reveals its tiers.
        ({"k": 1}, InvalidInput, "k_reporters is 1, expected at least 2"),
    ]
    for i, (change, error, fragment) in enumerate(attacks):
        text = _text(TEST_CATEGORIES, f"attack.{i}", later, **change)  # type: ignore[arg-type]
        with pytest.raises(error, match=re.escape(fragment)):
            _publish(alliance_dir, operator, text)
    assert operator.ledger.store.size() == size  # nothing was appended


def test_ledger_spaces_rule_sets(alliance_dir: Path, operator: Any, capsys: pytest.CaptureFixture[str],
                                 tmp_path: Path) -> None:
    from candor.cli import main
    from tests.conftest import TEST_CATEGORIES

    today = dt.date.today()
    first = default_rules().effective_from  # the key ceremony's rule set, unconstrained
    size = operator.ledger.store.size()
    # Back-dated: it would supersede the rule set in force on the day it is published.
    earliest = max(first + dt.timedelta(days=90), today)
    with pytest.raises(errors.Conflict, match=f"the earliest allowed date is {earliest.isoformat()}"):
        _publish(alliance_dir, operator, _text(TEST_CATEGORIES, "2026.2", today - dt.timedelta(days=10)))
    # ... and so is one whose entry claims to have been published earlier than it is.
    import time

    two_days_ago = int(time.time() * 1000) - 2 * 24 * 3600 * 1000
    with pytest.raises(InvalidInput, match="more than a day away from the ledger's clock"):
        _publish(alliance_dir, operator, _text(TEST_CATEGORIES, "2026.2", today - dt.timedelta(days=1)), two_days_ago)

    # The regulator's ordinary path: a rule set taking effect in 30 days is accepted.
    second = earliest + dt.timedelta(days=30)
    path = tmp_path / "rules.toml"
    path.write_text("# stricter k\n" + _text(TEST_CATEGORIES, "2026.2", second, k=4))
    main(["rules", "publish", "--identity", str(alliance_dir / "regulator"), "--server",
          f"127.0.0.1:{operator.port}", "--file", str(path), "--json"])
    published = json.loads(capsys.readouterr().out)
    assert published["verified"] is True and published["index"] == size

    # A burst: another rule set ten days later would publish one more combination of the same
    # counts within days. The message names the earliest allowed date.
    burst = _text(TEST_CATEGORIES, "2026.3", second + dt.timedelta(days=10))
    allowed = second + dt.timedelta(days=90)
    with pytest.raises(errors.Conflict, match=f"the earliest allowed date is {allowed.isoformat()}"):
        _publish(alliance_dir, operator, burst)
    path.write_text(burst)
    with pytest.raises(SystemExit):
        main(["rules", "publish", "--identity", str(alliance_dir / "regulator"), "--server",
              f"127.0.0.1:{operator.port}", "--file", str(path), "--json"])
    refused = json.loads(capsys.readouterr().out)  # --json reports errors on stdout too
    assert refused["error"] == "failed_precondition" and allowed.isoformat() in json.dumps(refused)
    assert operator.ledger.store.size() == size + 1
    # Exactly the interval later is allowed.
    assert _publish(alliance_dir, operator, _text(TEST_CATEGORIES, "2026.3", allowed)) == size + 1


def test_genesis_carries_the_interval(alliance_dir: Path, tmp_path: Path) -> None:
    import dataclasses

    from api import wire
    from api.identity import Identity
    from api.v1 import entries_pb2
    from core import entries as e
    from server.ceremony import Plan

    signed = wire.signed_entry_from_bytes(Identity.load(alliance_dir / "operator").genesis_leaf())
    genesis = signed.entry.body
    assert isinstance(genesis, e.Genesis) and genesis.min_rule_interval_days == 90  # the ceremony's default
    shorter = e.LedgerEntry(dataclasses.replace(genesis, min_rule_interval_days=30), timestamp_ms=1)
    data = wire.entry_to_bytes(shorter)
    assert wire.entry_from_bytes(data).body == shorter.body
    msg = entries_pb2.LedgerEntry.FromString(data)
    assert msg.genesis.min_rule_interval_days == 30
    msg.genesis.min_rule_interval_days = 0  # absent on the wire: no interval is not an option
    with pytest.raises(InvalidInput, match="min_rule_interval_days is 0, expected 1..3650"):
        wire.entry_from_bytes(msg.SerializeToString(deterministic=True))
    with pytest.raises(InvalidInput, match="min_rule_interval_days is 0"):
        Plan(directory=tmp_path, members=("a",), min_rule_interval_days=0)  # before the slow ceremony

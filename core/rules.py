"""Rule sets: what a rating depends on, parsed, validated and made canonical (docs/rules.md).

The score and grade a rule set gives weighted counts are computed in core/score.py.

A rule set is written by the regulator as TOML, published on the ledger in one canonical
text, and names everything a rating depends on (docs/rules.md says what a rule set may
contain and why each constraint exists):

- per-(category, tier) deduction points, four per category in tier order
  [minor, general, serious, critical], integers from 1 to 100, non-decreasing by tier;
- a decay schedule: the weight per mille of a report by its age band;
- retention: a report expires `retention_years` after its incident date (征信业管理条例
  Art 16: five years from the day the act ended), with optional per-category overrides;
- the base score and the grade thresholds (tax-credit style: A ≥ 90, B ≥ 70, C ≥ 40,
  else D);
- k, the minimum number of distinct reporters before a rating is published (k ≥ 2 always:
  over one reporter the rating would reveal that reporter's tier), and the maximum
  staleness after which a rating may be re-published whatever changed.

Why so constrained. A published rating proves one linear function of hidden per-slot
counts, the score `base − ⌈D/1000⌉` with D = Σ points_s·N_s, and nothing else. So the grade
is a function of the score alone: no rule may look at a count directly (the old
"any critical report caps the grade" would publish a bit nobody proves, and is refused by
name); points are small integers, non-decreasing by tier, so no rule set can pack the
counts positionally into one number (points 1, 10^4, 10^8, … would make D spell out every
count); and the ledger spaces rule sets by the genesis's minimum interval
(`check_rule_interval`), since each new rule set publishes one more linear combination of
the same counts.

Everything is an integer: counts are weighted per mille and the score is computed with
exact integer arithmetic, so no float ever decides a grade.

Canonical form. The text that is signed and published is `canonical_toml(rules)`: fixed key
order, categories in registry order, no comments, one space around '=', LF line ends.
Two texts meaning the same rules would otherwise hash differently, and an auditor could not
tell a re-formatted rule set from a changed one; so a published text MUST be canonical
(`check_canonical`), and `rule_set_hash` is the SHA-256 of that text.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.entries import (
    DEFAULT_MIN_RULE_INTERVAL_DAYS,
    MAX_MIN_RULE_INTERVAL_DAYS,
    parse_date,
)
from core.errors import Conflict, InvalidInput
from core.pedersen import TIERS, Tier, validate_category_code

__all__ = [
    "DEFAULT_CATEGORIES",
    "DEFAULT_MIN_RULE_INTERVAL_DAYS",
    "DEFAULT_RULES_TOML",
    "GRADES",
    "MAX_POINTS",
    "MAX_RETENTION_YEARS",
    "MIN_POINTS",
    "RuleSet",
    "age_years",
    "canonical_toml",
    "check_canonical",
    "check_integer",
    "check_registry",
    "check_rule_interval",
    "default_rules",
    "expired",
    "expires_on",
    "parse_rules",
    "quarter_start",
    "rule_set_hash",
    "weight",
]

#: The default category registry of docs/domain.md, in slot order (codes are permanent).
DEFAULT_CATEGORIES: tuple[str, ...] = (
    "contract_default",
    "fake_traffic",
    "false_advertising",
    "counterfeit_goods",
    "refund_refusal",
    "review_manipulation",
    "off_platform_luring",
    "tax_evasion",
)

#: Grades from best to worst; thresholds name the first three, everything below is the last.
GRADES: tuple[str, ...] = ("A", "B", "C", "D")
_THRESHOLD_GRADES = GRADES[:-1]
_LOWEST_GRADE = GRADES[-1]

MIN_EFFECTIVE_FROM = _dt.date(2000, 1, 1)
MAX_VERSION_CHARS = 64
MAX_BASE_SCORE = 1000
MAX_STALENESS_DAYS = 3650
MAX_RETENTION_YEARS = 10
#: Ages 0..MAX_RETENTION_YEARS can occur before the longest retention ends; more bands
#: could never apply.
MAX_DECAY_BANDS = MAX_RETENTION_YEARS + 1
MAX_RULES_TEXT = 65536  # the RuleSetPublished text limit of core.entries
PER_MILLE = 1000
#: Points per (category, tier) lie in MIN_POINTS..MAX_POINTS: small enough that no rule set
#: can give tiers or categories weights far enough apart to read the counts back from D.
MIN_POINTS = 1
MAX_POINTS = 100

_TIER_LIST = "[minor, general, serious, critical]"
_VERSION = re.compile(r"[A-Za-z0-9._-]+")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOP_KEYS = (
    "version",
    "effective_from",
    "base_score",
    "k_reporters",
    "max_staleness_days",
    "retention_years",
    "grades",
    "decay",
    "points",
)
_OPTIONAL_TOP_KEYS = ("retention_overrides",)
#: Keys that once existed and are refused with the reason, not as merely unknown.
_FORBIDDEN_KEYS = {
    "critical_caps_grade": (
        "critical_caps_grade is not allowed: the grade must follow from the score alone. A cap "
        "triggered by any critical report would publish whether a critical count is positive, "
        "a fact no rating proof covers; give critical reports enough points instead (the "
        "default 61 takes one critical report at full weight below C)"
    ),
}


def check_integer(value: object, what: str) -> int:
    # bool is an int subclass; TOML `true` must not pass as 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be an integer, got {value!r}")
    return value


def _in_range(value: object, low: int, high: int, what: str, hint: str = "") -> int:
    v = check_integer(value, what)
    if not low <= v <= high:
        raise InvalidInput(f"{what} is {v}, expected {low}..{high}{hint}")
    return v


@dataclass(frozen=True)
class RuleSet:
    """One validated rule set. An instance that exists is valid (checks in __post_init__).

    `grades` is exactly (("A", a), ("B", b), ("C", c)) with base_score ≥ a > b > c ≥ 0;
    `points` lists (category, (minor, general, serious, critical)) in registry order, and
    `retention_overrides` lists (category, years) in the same order. Whether the categories
    are exactly the registry's is checked by `parse_rules`, which knows the registry.
    """

    version: str
    effective_from: _dt.date
    base_score: int
    k_reporters: int
    max_staleness_days: int
    retention_years: int
    grades: tuple[tuple[str, int], ...]
    decay: tuple[int, ...]
    points: tuple[tuple[str, tuple[int, ...]], ...]
    retention_overrides: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or not self.version:
            raise InvalidInput("rule set version is empty; give it a name such as \"2026.1\"")
        if len(self.version) > MAX_VERSION_CHARS or not _VERSION.fullmatch(self.version):
            raise InvalidInput(
                f"rule set version {self.version!r} must be 1..{MAX_VERSION_CHARS} characters "
                "from A-Z, a-z, 0-9, '.', '_' and '-'"
            )
        if not isinstance(self.effective_from, _dt.date) or isinstance(
            self.effective_from, _dt.datetime
        ):
            raise InvalidInput(
                f"effective_from must be a date (YYYY-MM-DD), got {self.effective_from!r}"
            )
        if self.effective_from < MIN_EFFECTIVE_FROM:
            raise InvalidInput(
                f"effective_from {self.effective_from.isoformat()} is before "
                f"{MIN_EFFECTIVE_FROM.isoformat()}; give the date the rules take effect"
            )
        _in_range(self.base_score, 1, MAX_BASE_SCORE, "base_score")
        k = check_integer(self.k_reporters, "k_reporters")
        if k < 2:
            raise InvalidInput(
                f"k_reporters is {k}, expected at least 2: a rating over a single reporter's "
                "reports would reveal that reporter's tiers"
            )
        _in_range(self.max_staleness_days, 1, MAX_STALENESS_DAYS, "max_staleness_days")
        _in_range(
            self.retention_years, 1, MAX_RETENTION_YEARS, "retention_years",
            " (the law sets 5 years from the end of the act)",
        )
        self._check_grades()
        self._check_decay()
        self._check_points()

    def _check_grades(self) -> None:
        if not isinstance(self.grades, tuple) or any(
            not isinstance(g, tuple) or len(g) != 2 for g in self.grades
        ):
            raise InvalidInput("grades must be a tuple of (grade, minimum score) pairs")
        names = tuple(g[0] for g in self.grades)
        if names != _THRESHOLD_GRADES:
            raise InvalidInput(
                f"grades must give minimum scores for exactly {', '.join(_THRESHOLD_GRADES)} "
                f"in that order (every score below {_THRESHOLD_GRADES[-1]}'s threshold is "
                f"{_LOWEST_GRADE}); found {', '.join(map(str, names)) or 'none'}"
            )
        previous: int | None = None
        for name, value in self.grades:
            v = _in_range(value, 0, self.base_score, f"grade {name} threshold", " (0..base_score)")
            if previous is not None and v >= previous:
                raise InvalidInput(
                    "grade thresholds must be strictly descending (A > B > C); "
                    f"{name} = {v} is not below the grade before it ({previous})"
                )
            previous = v

    def _check_decay(self) -> None:
        if not isinstance(self.decay, tuple) or not self.decay:
            raise InvalidInput(
                "decay per_mille is empty; give at least one weight, starting with 1000"
            )
        if len(self.decay) > MAX_DECAY_BANDS:
            raise InvalidInput(
                f"decay per_mille has {len(self.decay)} values, at most {MAX_DECAY_BANDS} "
                f"can ever apply (retention is at most {MAX_RETENTION_YEARS} years)"
            )
        for age, value in enumerate(self.decay):
            _in_range(value, 0, PER_MILLE, f"decay weight for age {age}")
        if self.decay[0] != PER_MILLE:
            raise InvalidInput(
                f"decay per_mille starts with {self.decay[0]}, expected 1000: a report in "
                "its first year counts in full"
            )
        for age in range(1, len(self.decay)):
            if self.decay[age] > self.decay[age - 1]:
                raise InvalidInput(
                    f"decay per_mille must not increase with age: age {age} has "
                    f"{self.decay[age]}, more than {self.decay[age - 1]} at age {age - 1}"
                )

    def _check_points(self) -> None:
        if not isinstance(self.points, tuple) or not self.points:
            raise InvalidInput("points are empty; give points for every category of the registry")
        seen: dict[str, int] = {}
        for i, entry in enumerate(self.points):
            if not isinstance(entry, tuple) or len(entry) != 2:
                raise InvalidInput("points must be a tuple of (category, points) pairs")
            code, values = entry
            validate_category_code(code)
            if code in seen:
                raise InvalidInput(f"points for {code} are given twice")
            seen[code] = i
            if not isinstance(values, tuple):
                raise InvalidInput(f"points for {code} must be an array of 4 integers {_TIER_LIST}")
            if len(values) != TIERS:
                raise InvalidInput(
                    f"points for {code} has {len(values)} values, expected {TIERS}: {_TIER_LIST}"
                )
            previous: tuple[Tier, int] | None = None
            for tier, value in zip(Tier, values):
                v = _in_range(
                    value, MIN_POINTS, MAX_POINTS, f"points for {code} ({tier.name.lower()})",
                    " (points are small whole deductions, so that no rule set can encode the "
                    "counts positionally in the score)",
                )
                if previous is not None and v < previous[1]:
                    raise InvalidInput(
                        f"points for {code} decrease by tier: {tier.name.lower()} has {v}, fewer "
                        f"than {previous[1]} for {previous[0].name.lower()}; points must not "
                        f"decrease from minor to critical"
                    )
                previous = (tier, v)
        if not isinstance(self.retention_overrides, tuple):
            raise InvalidInput("retention_overrides must be a tuple of (category, years) pairs")
        last = -1
        for override in self.retention_overrides:
            if not isinstance(override, tuple) or len(override) != 2:
                raise InvalidInput("retention_overrides must be a tuple of (category, years) pairs")
            code, years = override
            if code not in seen:
                raise InvalidInput(
                    f"retention override names category {code!r}, which has no points; "
                    "override only categories of the registry"
                )
            if seen[code] <= last:
                raise InvalidInput(
                    f"retention override for {code} is out of order or repeated; "
                    "list overrides once each, in registry order"
                )
            last = seen[code]
            _in_range(years, 1, MAX_RETENTION_YEARS, f"retention override for {code}", " years")

    @property
    def categories(self) -> tuple[str, ...]:
        """The categories this rule set gives points for, in registry order."""
        return tuple(code for code, _ in self.points)

    def points_of(self, category: str) -> tuple[int, ...]:
        """The (minor, general, serious, critical) points of `category`."""
        for code, values in self.points:
            if code == category:
                return values
        raise InvalidInput(
            f"rule set {self.version} has no points for category {category!r}; "
            f"it covers {', '.join(self.categories)}"
        )

    def retention_of(self, category: str) -> int:
        """Retention in years of `category` (its override, else the default)."""
        self.points_of(category)  # refuse unknown categories instead of defaulting silently
        for code, years in self.retention_overrides:
            if code == category:
                return years
        return self.retention_years

    def threshold(self, grade: str) -> int:
        """The minimum score (whole points) of grade A, B or C."""
        for name, value in self.grades:
            if name == grade:
                return value
        raise InvalidInput(f"grade {grade!r} has no threshold; thresholds exist for A, B and C")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for the ledger state. Lists of pairs keep the registry order
        even when the dict is dumped with sorted keys."""
        return {
            "version": self.version,
            "effective_from": self.effective_from.isoformat(),
            "base_score": self.base_score,
            "k_reporters": self.k_reporters,
            "max_staleness_days": self.max_staleness_days,
            "retention_years": self.retention_years,
            "grades": {name: value for name, value in self.grades},
            "decay": list(self.decay),
            "points": [[code, list(values)] for code, values in self.points],
            "retention_overrides": [[code, years] for code, years in self.retention_overrides],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RuleSet:
        """Inverse of `to_json`; validates exactly like construction."""
        if not isinstance(data, Mapping):
            raise InvalidInput("a stored rule set must be a JSON object")
        for key, reason in _FORBIDDEN_KEYS.items():
            if key in data:
                raise InvalidInput(reason)
        expected = set(_TOP_KEYS) | set(_OPTIONAL_TOP_KEYS)
        if set(data) != expected:
            missing = sorted(expected - set(data))
            unknown = sorted(set(data) - expected)
            raise InvalidInput(
                f"stored rule set has missing keys {missing} and unknown keys {unknown}"
            )
        grades = data["grades"]
        if not isinstance(grades, Mapping) or set(grades) != set(_THRESHOLD_GRADES):
            raise InvalidInput("stored rule set grades must map exactly A, B and C to scores")
        return cls(
            version=data["version"],
            effective_from=_parse_effective(data["effective_from"]),
            base_score=data["base_score"],
            k_reporters=data["k_reporters"],
            max_staleness_days=data["max_staleness_days"],
            retention_years=data["retention_years"],
            grades=tuple((name, grades[name]) for name in _THRESHOLD_GRADES),
            decay=tuple(_list(data["decay"], "decay")),
            points=tuple(
                (_str(code, "category"), tuple(_list(values, f"points for {code}")))
                for code, values in (_pair(p, "points") for p in _list(data["points"], "points"))
            ),
            retention_overrides=tuple(
                (_str(code, "category"), years)
                for code, years in (
                    _pair(p, "retention_overrides")
                    for p in _list(data["retention_overrides"], "retention_overrides")
                )
            ),
        )


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput(f"{what} must be an array, got {value!r}")
    return value


def _pair(value: object, what: str) -> tuple[Any, Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise InvalidInput(f"each item of {what} must be a [category, value] pair")
    return value[0], value[1]


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, got {value!r}")
    return value


def _parse_effective(value: object) -> _dt.date:
    if isinstance(value, _dt.datetime) or (
        not isinstance(value, (str, _dt.date))
    ):
        raise InvalidInput(
            f"effective_from must be a date \"YYYY-MM-DD\", got {value!r}"
        )
    if isinstance(value, _dt.date):
        return value
    return parse_date(value, "effective_from")


def _table(doc: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = doc[name]
    if not isinstance(value, dict):
        raise InvalidInput(f"{name} must be a table ([{name}]), got {value!r}")
    return value


def check_registry(categories: Sequence[str]) -> tuple[str, ...]:
    """The category codes of a registry, validated: at least one, each valid, none twice."""
    if isinstance(categories, str):
        raise InvalidInput("categories must be a sequence of category codes, not one string")
    codes = tuple(validate_category_code(c) for c in categories)
    if not codes:
        raise InvalidInput("the category registry is empty; it needs at least one category")
    if len(set(codes)) != len(codes):
        raise InvalidInput("the category registry names a category twice")
    return codes


def parse_rules(text: str, categories: Sequence[str]) -> RuleSet:
    """Parse and validate a rule set written in TOML against the category registry.

    The text need not be canonical (comments, any key order); `check_canonical` is for
    published texts. Every category of the registry MUST have points and no other
    category may appear. Raises InvalidInput saying what to fix.
    """
    if not isinstance(text, str):
        raise InvalidInput("rule set text must be a string")
    if len(text) > MAX_RULES_TEXT:
        raise InvalidInput(
            f"rule set text is {len(text)} characters, at most {MAX_RULES_TEXT} allowed"
        )
    registry = check_registry(categories)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"rule set is not valid TOML: {exc}") from None
    for key, reason in _FORBIDDEN_KEYS.items():
        if key in doc:
            raise InvalidInput(reason)
    missing = [k for k in _TOP_KEYS if k not in doc]
    if missing:
        raise InvalidInput(f"rule set lacks {', '.join(missing)}; every rule set names them all")
    unknown = [k for k in doc if k not in _TOP_KEYS and k not in _OPTIONAL_TOP_KEYS]
    if unknown:
        raise InvalidInput(
            f"rule set has unknown keys {', '.join(unknown)}; known keys are "
            f"{', '.join(_TOP_KEYS + _OPTIONAL_TOP_KEYS)}"
        )

    grades = _table(doc, "grades")
    if set(grades) != set(_THRESHOLD_GRADES):
        raise InvalidInput(
            f"grades must give minimum scores for exactly {', '.join(_THRESHOLD_GRADES)} "
            f"(every score below {_THRESHOLD_GRADES[-1]}'s threshold is {_LOWEST_GRADE}); "
            f"found {', '.join(grades) or 'none'}"
        )
    decay = _table(doc, "decay")
    if set(decay) != {"per_mille"}:
        raise InvalidInput(
            "decay must hold exactly one key, per_mille = [1000, ...] (weight per mille by "
            f"age in years); found {', '.join(decay) or 'none'}"
        )
    per_mille = decay["per_mille"]
    if not isinstance(per_mille, list):
        raise InvalidInput(f"decay per_mille must be an array of integers, got {per_mille!r}")

    points_table = _table(doc, "points")
    unknown_cats = [c for c in points_table if c not in registry]
    if unknown_cats:
        raise InvalidInput(
            f"points name categories that are not in the registry: {', '.join(unknown_cats)}; "
            f"the registry has {', '.join(registry)}"
        )
    missing_cats = [c for c in registry if c not in points_table]
    if missing_cats:
        raise InvalidInput(
            f"points are missing for categories {', '.join(missing_cats)}: every category of "
            f"the registry needs {_TIER_LIST} points"
        )
    points: list[tuple[str, tuple[int, ...]]] = []
    for code in registry:
        values = points_table[code]
        if not isinstance(values, list):
            raise InvalidInput(
                f"points for {code} must be an array of 4 integers {_TIER_LIST}, got {values!r}"
            )
        points.append((code, tuple(values)))

    overrides_table = _table(doc, "retention_overrides") if "retention_overrides" in doc else {}
    stray = [c for c in overrides_table if c not in registry]
    if stray:
        raise InvalidInput(
            f"retention_overrides name categories that are not in the registry: "
            f"{', '.join(stray)}; the registry has {', '.join(registry)}"
        )
    overrides = tuple((c, overrides_table[c]) for c in registry if c in overrides_table)

    version = doc["version"]
    if not isinstance(version, str):
        raise InvalidInput(f"version must be a string such as \"2026.1\", got {version!r}")

    return RuleSet(
        version=version,
        effective_from=_parse_effective(doc["effective_from"]),
        base_score=doc["base_score"],
        k_reporters=doc["k_reporters"],
        max_staleness_days=doc["max_staleness_days"],
        retention_years=doc["retention_years"],
        grades=tuple((name, grades[name]) for name in _THRESHOLD_GRADES),
        decay=tuple(per_mille),
        points=tuple(points),
        retention_overrides=overrides,
    )


def _toml_key(code: str) -> str:
    if _BARE_KEY.fullmatch(code):
        return code
    # validate_category_code excludes control characters, so only '\' and '"' need escapes.
    return '"' + code.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _array(values: Sequence[int]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def canonical_toml(rules: RuleSet) -> str:
    """The one published text of `rules`: fixed key order, categories in the rule set's
    (registry) order, no comments, LF line ends, `[retention_overrides]` only if non-empty.

    `parse_rules(canonical_toml(r), registry) == r` for every rule set parsed against that
    registry.
    """
    lines = [
        f'version = "{rules.version}"',
        f'effective_from = "{rules.effective_from.isoformat()}"',
        f"base_score = {rules.base_score}",
        f"k_reporters = {rules.k_reporters}",
        f"max_staleness_days = {rules.max_staleness_days}",
        f"retention_years = {rules.retention_years}",
        "",
        "[grades]",
        *(f"{name} = {value}" for name, value in rules.grades),
        "",
        "[decay]",
        f"per_mille = {_array(rules.decay)}",
        "",
        "[points]",
        *(f"{_toml_key(code)} = {_array(values)}" for code, values in rules.points),
    ]
    if rules.retention_overrides:
        lines += [
            "",
            "[retention_overrides]",
            *(f"{_toml_key(code)} = {years}" for code, years in rules.retention_overrides),
        ]
    return "\n".join(lines) + "\n"


def check_canonical(text: str, categories: Sequence[str]) -> RuleSet:
    """Parse a rule set text that is to be (or was) published, and require canonical form."""
    rules = parse_rules(text, categories)
    if canonical_toml(rules) != text:
        raise InvalidInput(
            "rule set text is not canonical: publish the output of `candor rules canonical`"
        )
    return rules


DEFAULT_RULES_TOML = """\
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
"""The default rule set of docs/domain.md for the default registry, in canonical form."""


def default_rules() -> RuleSet:
    """DEFAULT_RULES_TOML parsed against DEFAULT_CATEGORIES."""
    return check_canonical(DEFAULT_RULES_TOML, DEFAULT_CATEGORIES)


# --- time: decay bands and retention -------------------------------------------------


def _date(value: object, what: str) -> _dt.date:
    if not isinstance(value, _dt.date) or isinstance(value, _dt.datetime):
        raise InvalidInput(f"{what} must be a date, got {value!r}")
    return value


def quarter_start(day: _dt.date) -> _dt.date:
    """The first day of `day`'s calendar quarter (1 Jan, 1 Apr, 1 Jul or 1 Oct)."""
    d = _date(day, "date")
    return _dt.date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def age_years(incident_date: _dt.date, as_of: _dt.date) -> int:
    """Full years from the first day of the incident's calendar quarter to `as_of`.

    Why quarters (the rating update rule): a report's weight changes only when it moves to
    the next decay band. Counting age from the incident date itself would move every report
    on its own anniversary, so each band move would change a subject's rating because of a
    single report, and two ratings a day apart would differ by exactly that report's
    weighted tier. Counted from the quarter start, every report of a quarter moves on the
    same day (1 Jan, 1 Apr, 1 Jul or 1 Oct), so band moves come in batches, and a rating
    changes because of decay on at most four days a year.
    """
    incident = _date(incident_date, "incident date")
    today = _date(as_of, "as-of date")
    start = quarter_start(incident)
    if today < start:
        raise InvalidInput(
            f"incident date {incident.isoformat()} is after the rating date "
            f"{today.isoformat()}: rate as of a date on or after every incident"
        )
    # A quarter starts on day 1, so adding whole years to it never meets 29 February.
    return today.year - start.year - ((today.month, today.day) < (start.month, start.day))


def _add_years(day: _dt.date, years: int) -> _dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a non-leap target year
        return day.replace(year=day.year + years, day=28)


def expires_on(rules: RuleSet, category: str, incident_date: _dt.date) -> _dt.date:
    """The day a report stops counting: its category's retention in years after the
    incident date (29 February → 28 February). On that day it is already expired.

    Retention runs from the incident date, not the quarter: the law keeps negative
    information for so many years from the day the act ended (征信业管理条例 Art 16).
    """
    return _add_years(_date(incident_date, "incident date"), rules.retention_of(category))


def expired(rules: RuleSet, category: str, incident_date: _dt.date, as_of: _dt.date) -> bool:
    """Whether a report of `category` about `incident_date` has expired by `as_of`."""
    return _date(as_of, "as-of date") >= expires_on(rules, category, incident_date)


def weight(
    rules: RuleSet,
    incident_date: _dt.date,
    as_of: _dt.date,
    *,
    category: str | None = None,
) -> int:
    """The weight per mille of a report as of `as_of`: decay[min(age, len - 1)] with the
    age of `age_years`, or 0 once expired.

    `category` selects that category's retention override; None uses the default
    retention (pass the category whenever the rule set has overrides).
    """
    age = age_years(incident_date, as_of)
    years = rules.retention_years if category is None else rules.retention_of(category)
    if as_of >= _add_years(incident_date, years):
        return 0
    return rules.decay[min(age, len(rules.decay) - 1)]


def rule_set_hash(rules: RuleSet) -> bytes:
    """SHA-256 of the canonical text (32 bytes): the rule set a rating proof is bound to."""
    return hashlib.sha256(canonical_toml(rules).encode("utf-8")).digest()


# --- the ledger's spacing of rule sets -------------------------------------------------


def check_rule_interval(
    effective_from: _dt.date,
    *,
    previous: _dt.date | None,
    published_on: _dt.date,
    interval_days: int,
) -> None:
    """Refuse a rule set that would take effect too soon after the previous one.

    Every rule set in force yields one more proven linear combination of the same hidden
    counts; a burst of rule sets would let the publisher solve for the counts. So a rule
    set after the first MUST take effect at least `interval_days` after the latest
    effective date published before it, and not before the day it is published (a
    back-dated rule set could supersede several others within one day). `previous` is
    None for the first rule set of a ledger (the one the key ceremony publishes), which
    is not constrained. Raises Conflict naming the earliest allowed date.
    """
    _in_range(interval_days, 1, MAX_MIN_RULE_INTERVAL_DAYS, "minimum rule interval", " days")
    if previous is None:
        return
    earliest = max(previous + _dt.timedelta(days=interval_days), published_on)
    if effective_from < earliest:
        raise Conflict(
            f"rule set takes effect {effective_from.isoformat()}; the earliest allowed date is "
            f"{earliest.isoformat()} (at least {interval_days} days after the previous rule "
            f"set's {previous.isoformat()} and not before its publication on "
            f"{published_on.isoformat()}): each rule set publishes one more combination of "
            "the same counts, so the genesis spaces them"
        )

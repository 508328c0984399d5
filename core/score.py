"""Scores and grades: the one linear function of weighted counts that a rating publishes.

A rule set (core/rules.py, docs/rules.md) gives every slot (category, tier) a number of
points. The weighted counts N_s of a subject's reports become the deduction
D = Σ points_s·N_s (milli-points, since each count is weighted per mille), the score
`base − ⌈D/1000⌉`, and the grade the first threshold the score reaches. A published rating
proves exactly this relation (core/publication.py), so the grade depends on the score alone
and nothing here looks at a count any other way. Exact integer arithmetic throughout: no
float ever decides a grade.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import InvalidInput
from core.pedersen import TIERS, Tier
from core.rules import GRADES, PER_MILLE, RuleSet, check_integer, check_registry

__all__ = ["deduction", "grade_of", "points_vector", "rating_score"]


def points_vector(rules: RuleSet, categories: Sequence[str]) -> tuple[int, ...]:
    """The points of every slot (slot = 4·category_index + tier) for the registry
    `categories`, in slot order: the row that D = Σ points_s·N_s is the product with."""
    out: list[int] = []
    for code in check_registry(categories):
        out.extend(rules.points_of(code))
    return tuple(out)


def deduction(rules: RuleSet, categories: Sequence[str], counts: Sequence[int]) -> int:
    """D = Σ points_s·N_s in milli-points, for weighted `counts` in slot order; raises
    InvalidInput unless there is one non-negative integer count per slot."""
    points = points_vector(rules, categories)
    if isinstance(counts, (str, bytes)) or len(counts) != len(points):
        raise InvalidInput(
            f"{len(counts)} counts for {len(points) // TIERS} categories, expected "
            f"{len(points)} (one per category and tier, in slot order)"
        )
    total = 0
    for slot, (p, n) in enumerate(zip(points, counts)):
        what = f"count of {categories[slot // TIERS]} ({Tier(slot % TIERS).name.lower()})"
        if check_integer(n, what) < 0:
            raise InvalidInput(f"{what} is negative")
        total += p * n
    return total


def rating_score(rules: RuleSet, categories: Sequence[str], counts: Sequence[int]) -> int:
    """The published score of weighted counts N_s: base − ⌈D/1000⌉ with D = Σ points_s·N_s.

    `counts` are in slot order for the registry `categories`, each weighted per mille (one
    report at full weight adds 1000), so D is in milli-points; rounding the deduction up
    means any positive D costs at least one point. Exact integer arithmetic. The score may
    be negative (shown as 0, graded D): clamping it would make the proven relation
    Σ points_s·N_s + u = 1000·(base − score) false for heavy subjects.
    """
    milli_points = deduction(rules, categories, counts)
    return rules.base_score - (-(-milli_points // PER_MILLE))


def grade_of(rules: RuleSet, score: int) -> str:
    """The grade of a score: the first of A, B, C whose threshold it reaches, else D.

    A function of the score alone, by design: a published rating proves the score and
    nothing else about the counts, so nothing else may decide the grade.
    """
    s = check_integer(score, "score")
    for name, threshold in rules.grades:
        if s >= threshold:
            return name
    return GRADES[-1]

"""`candor demo --json` tells the whole story from a fresh alliance, as real processes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # the whole demo, as real processes


def test_demo_story() -> None:
    out = subprocess.run([sys.executable, "-m", "candor.cli", "demo", "--json"], capture_output=True, text=True,
                         timeout=600, check=True)
    summary = json.loads(out.stdout)
    assert summary["audit"] == "passed"
    assert summary["members"] == 4 and summary["subjects"] == 5
    assert summary["receipts_verified"] == summary["reports"] == 15
    assert summary["fraud_caught"] == 1
    assert summary["retraction_changed_grade"] is True
    assert summary["grades_first_epoch"]["anchor:li-fan-shop"] is None  # one reporter: pending below k
    assert summary["grades_first_epoch"]["anchor:flash-deals"] is None  # held: a member cheated
    assert summary["grades_final"]["anchor:flash-deals"] is not None  # rated once the cheat was excluded
    assert summary["ratings_published"] >= 5 and summary["ratings_verified"] >= 6
    assert summary["cosigned_by"] == ["witness-1"]
    # The subject chapter (docs/subjects.md): enrolled, read its record, disputed a report about
    # itself, the regulator retracted it, and the next epoch re-rated it (two reporters left: below k).
    assert summary["subject_record_reports"] == 3
    assert (summary["subject_state_before"], summary["subject_dispute_status"], summary["subject_state_after"]) == (
        "rated", "retracted", "below_k")

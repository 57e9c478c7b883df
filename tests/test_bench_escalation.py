"""The escalation fit (`benchmarks.escalation_fit`): it learns where deep gains and reports per data set.

Rows are synthetic so the test is quick: one signal marks the questions where the deep tier finds
more. A fit that ignored the signal, or a report that mixed the data sets, fails here.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is not installed
    sys.path.insert(0, str(ROOT))

from benchmarks import escalation_fit  # noqa: E402


def _rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for c in range(4):
        for i in range(40):
            helps = i % 10 == 0  # one question in ten: deep finds what fast missed
            hurts = i % 10 == 5
            rows.append(
                {
                    "set": "locomo" if c < 2 else "lme",
                    "conv": f"c{c}",
                    "signals": {"helps": float(helps), "noise": float(i % 3 == 0)},
                    "fast": 0.5,
                    "deep": 1.0 if helps else 0.0 if hurts else 0.5,
                }
            )
    return rows


def test_the_fit_escalates_where_deep_gains_and_reports_each_set() -> None:
    res = escalation_fit.report(_rows(), ["helps", "noise"])
    coef = dict(zip(["helps", "noise"], res["model"]["coef"], strict=True))
    assert coef["helps"] > abs(coef["noise"])
    cv = res["figures"]["cross_validated"]
    assert cv["deep_share"] == 0.1  # exactly the questions where deep gains
    assert cv["gain_on_taken"] == 0.5 and cv["gain_on_not_taken"] < 0
    by_set = res["figures"]["cross_validated_by_set"]
    assert set(by_set) == {"locomo", "lme"}
    assert all(s["deep_share"] == 0.1 for s in by_set.values())

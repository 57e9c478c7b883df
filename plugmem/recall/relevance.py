"""The relevance floor: when nothing in memory is about the question, recall hands back nothing.

Why: a full budget of unrelated turns is noise the model must read and may believe. Two
signals, both independent of corpus size: the cosine of the closest document to the query,
and the IDF-weighted share of the query's words that the best lexical hit contains (a word
nobody ever said, like "mercury", weighs the most). Either one clearing its floor is enough.
The floors were set on the dev data (`python -m benchmarks.relevance_floor`) so that they cost
at most half a point of evidence recall on LoCoMo and LongMemEval.
"""

from __future__ import annotations

from dataclasses import dataclass

from plugmem.recall.fast import FastResult

DENSE_FLOOR = 0.3
LEXICAL_FLOOR = 0.5
LEXICAL_ONLY_FLOOR = 0.25  # without vectors, lexical overlap is the only evidence: be lenient


@dataclass(frozen=True, slots=True)
class Verdict:
    relevant: bool
    reason: str


def judge(fast: FastResult, *, has_vectors: bool, answers_slot: bool = False) -> Verdict:
    """`answers_slot`: memory holds a current fact for the slot the question asks about ("Where do
    I live?" after "I moved to Lisbon"), which is relevant however few words the two share."""
    if answers_slot:
        return Verdict(True, "memory holds a current fact for what is asked")
    dense_ok = has_vectors and fast.top_dense >= DENSE_FLOOR
    lexical_ok = fast.lexical_coverage >= (LEXICAL_FLOOR if has_vectors else LEXICAL_ONLY_FLOOR)
    signals = f"closest cosine {fast.top_dense:.2f}, query words covered {fast.lexical_coverage:.0%}"
    if dense_ok or lexical_ok:
        return Verdict(True, signals)
    return Verdict(False, f"nothing relevant found ({signals}; floors {DENSE_FLOOR} / {LEXICAL_FLOOR:.0%})")

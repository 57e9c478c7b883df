"""The relevance floor: when nothing in memory is about the question, recall hands back nothing.

Why: a full budget of unrelated turns is noise the model must read and may believe. Two
signals, both independent of corpus size: the cosine of the closest document to the query,
and the IDF-weighted share of the query's words that the best lexical hit contains (a word
nobody ever said, like "mercury", weighs the most). Either one clearing its floor is enough.
The dense floor rises with the size of the memory: the more it holds, the closer the nearest
neighbour of an unrelated question gets by chance (an off-topic question's best cosine is ~0.05
in a ten-message memory and ~0.35 in a LoCoMo conversation). The floors were set on the dev data
(`python -m benchmarks.relevance_floor`) so that they cost at most half a point of evidence
recall on LoCoMo and LongMemEval. A request for advice ("any tips?", "can you recommend a show?") is held
to the floor of a ten-document memory only: what the user said about their tastes is what personalises
the answer, and it is far from the request in words and meaning (LongMemEval-S dev: 2 of the 15
preference questions came back empty at closest cosines 0.27 and 0.33 against a floor of 0.33).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from plugmem.recall.fast import FastResult

DENSE_BASE = 0.2  # the floor for a memory of ten documents
DENSE_PER_DECADE = 0.07  # how much it rises for every tenfold more documents
LEXICAL_FLOOR = 0.5
LEXICAL_ONLY_FLOOR = 0.5  # without vectors: of the query words memory knows, the best hit holds half


@dataclass(frozen=True, slots=True)
class Verdict:
    relevant: bool
    reason: str


def dense_floor(docs: int, base: float = DENSE_BASE, per_decade: float = DENSE_PER_DECADE) -> float:
    return base + per_decade * max(0.0, math.log10(max(docs, 1)) - 1.0)


def judge(
    fast: FastResult, *, docs: int, has_vectors: bool, answers_slot: bool = False, advice: bool = False
) -> Verdict:
    """`answers_slot`: memory holds a current fact for the slot the question asks about ("Where do
    I live?" after "I moved to Lisbon"), which is relevant however few words the two share.
    `advice`: the query asks for advice or a recommendation (the dense floor is `DENSE_BASE`)."""
    if answers_slot:
        return Verdict(True, "memory holds a current fact for what is asked")
    if not has_vectors:
        return _judge_lexical_only(fast)
    floor = DENSE_BASE if advice else dense_floor(docs)
    dense_ok = fast.top_dense >= floor
    lexical_ok = fast.lexical_coverage >= LEXICAL_FLOOR
    signals = f"closest cosine {fast.top_dense:.2f}, query words covered {fast.lexical_coverage:.0%}"
    if dense_ok or lexical_ok:
        return Verdict(True, signals)
    return Verdict(False, f"nothing relevant found ({signals}; floors {floor:.2f} / {LEXICAL_FLOOR:.0%})")


def _judge_lexical_only(fast: FastResult) -> Verdict:
    """Without vectors a paraphrase cannot be seen, so only words memory never heard count against."""
    signals = f"query words memory knows covered {fast.known_coverage:.0%}"
    if fast.known_coverage >= LEXICAL_ONLY_FLOOR:
        return Verdict(True, signals)
    return Verdict(False, f"nothing relevant found ({signals}; floor {LEXICAL_ONLY_FLOOR:.0%})")

"""Choose the tier for a query, and say why.

`full` while the whole namespace fits the budget (ConvoMem: below that point the
full history beats retrieval); otherwise `fast`, escalating to `deep` when a model of where the
deep tier pays says it will find more of the evidence than the fast tier did. The model is a
logistic regression over the query's shape and the fast result's shape, fitted on the dev sets by
`python -m benchmarks.escalation_fit`; its coefficients are data (`escalation.json`), not code.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from plugmem.recall.fast import FastResult
from plugmem.recall.intent import PARAPHRASE

_TEMPORAL = re.compile(
    r"\b(when|what (?:year|month|day|date|time)|how long|since|until|before|after|first|last|earlier|later|"
    r"ago|yesterday|recent(?:ly)?|latest|(?:19|20)\d\d|january|february|march|april|may|june|july|august|"
    r"september|october|november|december|week|month|year)\b",
    re.I,
)
_AGGREGATE = re.compile(
    r"\b(how many|how much|how often|number of|count|times|total|all the|list|every|each)\b", re.I
)
_COMPARE = re.compile(
    r"\b(more|less|fewer|better|worse|compare|difference|than|both|either|same|between)\b", re.I
)
_MULTIHOP = re.compile(
    r"\b(why|because|would|likely|might|could|infer|relationship|related|what (?:kind|type) of|change[ds]?|"
    r"after|led to|still)\b",
    re.I,
)
# "What books has Tim read?", "Which cities has John been to?": a list gathered over many sessions
_PLURAL_LIST = re.compile(r"^\s*(?:what|which)\s+(?:\w+\s+){0,2}\w+s\s+(?:has|have|did|does|do)\b", re.I)
_NAME = re.compile(r"\b[A-Z][a-z]+\b")
TOP_TURNS = 10  # the fast result's head, whose spread over sessions is one of the signals
MODEL_FILE = "escalation.json"


@dataclass(slots=True)
class Decision:
    tier: str
    reason: str
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class EscalationModel:
    """p(deep finds more evidence than fast) = sigmoid(intercept + Σ coef · (x − mean) / scale)."""

    features: tuple[str, ...]
    coef: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    intercept: float
    threshold: float

    def probability(self, signals: dict[str, float]) -> float:
        z = self.intercept + sum(
            c * (signals.get(f, 0.0) - m) / s
            for f, c, m, s in zip(self.features, self.coef, self.mean, self.scale, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@cache
def default_model() -> EscalationModel:
    """The model fitted on the dev sets, shipped as package data (read once, never changed)."""
    data = json.loads(resources.files("plugmem.recall").joinpath(MODEL_FILE).read_text())
    return EscalationModel(
        features=tuple(data["features"]),
        coef=tuple(data["coef"]),
        mean=tuple(data["mean"]),
        scale=tuple(data["scale"]),
        intercept=float(data["intercept"]),
        threshold=float(data["threshold"]),
    )


def query_signals(query: str) -> dict[str, float]:
    names = {
        m
        for m in _NAME.findall(query)
        if m.lower() not in {"what", "when", "who", "how", "why", "which", "did", "does", "is", "the", "i"}
    }
    return {
        "temporal": 1.0 if _TEMPORAL.search(query) else 0.0,
        "aggregate": 1.0 if _AGGREGATE.search(query) else 0.0,
        "compare": 1.0 if _COMPARE.search(query) else 0.0,
        "multihop": 1.0 if _MULTIHOP.search(query) else 0.0,
        "entities": float(min(3, max(0, len(names) - 1))),
        "paraphrase": 1.0 if PARAPHRASE.search(query) else 0.0,
        "list": 1.0 if _PLURAL_LIST.search(query) else 0.0,
    }


def result_signals(fast: FastResult) -> dict[str, float]:
    """The fast result's shape: how close the best hit is, how far ahead, how spread over sessions."""
    turns = [s.doc for s in fast.ranked if s.doc.kind == "turn"][:TOP_TURNS]
    sessions = {d.session_id for d in turns}
    return {
        "low_score": 1.0 if fast.top_dense and fast.top_dense < 0.45 else 0.0,
        "small_margin": 1.0 if fast.margin < 0.02 else 0.0,
        "uncovered": max(0.0, 0.6 - fast.coverage) / 0.6,
        "top_dense": fast.top_dense,
        "margin": min(1.0, fast.margin),
        "lexical_coverage": fast.lexical_coverage,
        "session_spread": len(sessions) / TOP_TURNS if turns else 0.0,
    }


def signals(query: str, fast: FastResult) -> dict[str, float]:
    return {**query_signals(query), **result_signals(fast)}


def decide_escalation(
    query: str,
    fast: FastResult,
    *,
    deep_share: float,
    max_share: float,
    allowed: bool | None = None,
    model: EscalationModel | None = None,
) -> Decision:
    """`deep` when the model expects deep to find more evidence and the share cap allows."""
    m = model or default_model()
    sig = signals(query, fast)
    p = m.probability(sig)
    fired = [k for k, v in sig.items() if v > 0 and k in BINARY]
    why = ", ".join(fired) if fired else "no signal"
    if p < m.threshold:
        return Decision(
            "fast", f"fast tier sufficient (deep pays with p={p:.2f} < {m.threshold:.2f}; {why})", p
        )
    if not (allowed if allowed is not None else deep_share < max_share):
        return Decision(
            "fast",
            f"deep wanted (p={p:.2f}: {why}) but the deep share {deep_share:.0%} "
            f"is at the policy ceiling {max_share:.0%}",
            p,
        )
    return Decision("deep", f"escalated to deep (p={p:.2f} ≥ {m.threshold:.2f}: {why})", p)


# the signals named in a decision's reason (the others are continuous measures of the fast result)
BINARY = frozenset(
    {"temporal", "aggregate", "compare", "multihop", "entities", "paraphrase", "list"}
    | {"low_score", "small_margin", "uncovered"}
)

"""What kind of question it is: a how-to, a request a learned procedure can serve, a broad look back,
a request for advice whose evidence shares no words with it.

Plain patterns over the query, no model: they decide which kind of item leads the context, and how
much the dense side of the hybrid search weighs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from plugmem.index.catalog import DENSE_WEIGHT, Catalog, Doc
from plugmem.recall.context import Scored

HOWTO = re.compile(
    r"\bhow\s+(?:do|can|should|would|could|did)\s+(?:i|you|we|one)\b|\bhow\s+to\b"
    r"|\b(?:best|right|correct|proper|usual)\s+way\s+to\b|\bwhat['’]?s\s+the\s+way\s+to\b"
    r"|\b(?:steps|procedure|process|instructions)\s+(?:to|for)\b|\bwhat\s+(?:do|should)\s+i\s+do\s+to\b",
    re.I,
)
REQUEST = re.compile(
    r"^\s*(?:please\s+)?(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?)?"
    r"(?:find|book|search|get|look\s+up|send|check|order|schedule|create|make|buy|reserve|email|call)\b",
    re.I,
)
BROAD = re.compile(
    r"\bwhat\s+(?:did|have|has|had|were|was)\s+(?:i|we|you)\b.{0,30}?\b(?:do|doing|done|up\s+to|talk(?:ed|ing)?"
    r"\s+about|discuss(?:ed)?|say|said|work(?:ed)?\s+on)\b|\bwhat\s+(?:happened|went\s+on)\b"
    r"|\bwhat(?:['’]s|\s+is|\s+was)\s+new\b|\banything\s+(?:new|happen)|\b(?:summar(?:y|ize|ise)|recap|overview)\b",
    re.I,
)
# questions about a slot memory keeps current (plugmem.ingest.slots): relation, or "family:" for any of it
SLOT_QUESTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"\b(?:where|which\s+(?:city|town|country)|what\s+(?:city|town|country))\b.*\b(?:live[sd]?|living"
            r"|reside[sd]?|based|home|move[sd]?)\b|\bhome\s*town\b",
            re.I,
        ),
        "residence",
    ),
    (
        re.compile(
            r"\b(?:where|which\s+company|what\s+company|who)\b.*\b(?:work|works|working|employ\w*)\b|\bemployer\b",
            re.I,
        ),
        "employer",
    ),
    (re.compile(r"\b(?:job|role|occupation|profession|position|for\s+a\s+living|work\s+as)\b", re.I), "role"),
    (re.compile(r"\b(?:diet|vegetarian|vegan|pescatarian|eat\s+(?:meat|fish))\b", re.I), "diet"),
    (
        re.compile(r"\b(?:partner|husband|wife|boyfriend|girlfriend|spouse|married|dating|fianc\w*)\b", re.I),
        "partner",
    ),
    (re.compile(r"\b(?:pets?|dogs?|cats?|puppy|kitten)\b", re.I), "pet:"),
    (re.compile(r"\bfavou?rite\s+(?P<x>[a-z]+)", re.I), "favorite:{x}"),
    (re.compile(r"\b(?:e-?mail|phone\s+number|phone)\b", re.I), "contact:"),
    (re.compile(r"\b(?:what\s+car|which\s+car|drive)\b", re.I), "car"),
    (re.compile(r"\bwhen\b.*\b(?:lessons?|class(?:es)?|practice|training)\b", re.I), "schedule:"),
)
# Requests for advice ("any tips?", "can you recommend a show?") and guesses about a person ("would
# Melanie enjoy Vivaldi?"): the evidence is what the user said about their tastes or what the person
# did, in words the question does not use, so the vectors lead. BM25's half otherwise pulls in
# whatever shares the question's words ("recommend", "tips").
ADVICE = re.compile(
    r"\b(?:recommend\w*|suggest\w*|advice|advise|tips?|ideas?|what\s+should\s+i|do\s+you\s+think)\b", re.I
)
PARAPHRASE = re.compile(
    ADVICE.pattern + r"|^\s*(?:would|could|might|is\s+it\s+likely|does\s+\w+\s+(?:like|enjoy|prefer))\b"
    r"|\b(?:likely|probably|might|be\s+considered|would\s+\w+\s+(?:enjoy|like|prefer|want|be))\b",
    re.I,
)
PARAPHRASE_DENSE = 0.7


def dense_weight(query: str) -> float:
    """The dense side's weight in the fusion for this query (`DENSE_WEIGHT` unless it is a paraphrase)."""
    return PARAPHRASE_DENSE if PARAPHRASE.search(query) else DENSE_WEIGHT


def asks_advice(query: str) -> bool:
    """A request for advice or a recommendation: what memory knows of the user's tastes is relevant to it
    however far its words and meaning are from the request's (see `recall/relevance.py`)."""
    return bool(ADVICE.search(query))


SLOT_LEAD = 0.5  # how far above the best other item the current answer to a slot question goes
# how well a procedure must match (its fused score, before the item weight) to lead the context
HOWTO_MATCH = 0.45
REQUEST_MATCH = 0.65  # "Find me a flight to Porto" against the learned flight search: 0.69 in the fast tier


def asked_slots(query: str) -> list[str]:
    """The slots a question asks about: "Where do I live?" → ["residence"]."""
    out: list[str] = []
    for rx, key in SLOT_QUESTIONS:
        m = rx.search(query)
        if m:
            topic = m.groupdict().get("x")
            out.append(key.format(x=topic.lower().replace("favourite", "favorite")) if topic else key)
    return out


def slot_facts(query: str, cat: Catalog) -> tuple[list[str], dict[str, Doc]]:
    """The slots a question asks about and the facts (current or not) filling them, restricted to
    the subject it names when it names one of theirs ("Where does Caroline live?")."""
    keys = asked_slots(query)
    facts = {d.id: d for key in keys for d in cat.with_slot(key) if d.extra.get("kind") == "proposition"}
    subjects = {str(d.extra.get("subject")) for d in facts.values() if d.extra.get("subject")}
    named = _named(subjects, query)
    if named:
        facts = {i: d for i, d in facts.items() if d.extra.get("subject") in named}
    return keys, facts


def _named(subjects: set[str], query: str) -> set[str]:
    low = f" {query.lower()} "
    return {s for s in subjects if f" {s.lower()} " in low or f" {s.lower()}'" in low}


def lead_with_slots(ranked: Sequence[Scored], query: str, cat: Catalog) -> tuple[list[Scored], list[str]]:
    """For a question about a slot, the current facts filling it go first, their predecessors just
    below (the ranking's currency step marks those stale). Returns the ranking and the slots used."""
    keys, facts = slot_facts(query, cat)
    if not facts:
        return list(ranked), []
    current = sorted((d for d in facts.values() if d.valid_until is None), key=_recency, reverse=True)
    top = max((s.score for s in ranked), default=0.0)
    by_id = {s.doc.id: s for s in ranked}
    for i, doc in enumerate(current):
        score = top + SLOT_LEAD - i * 1e-3
        _place(by_id, doc, score)
        for old in (d for d in facts.values() if d.superseded_by == doc.id):
            _place(by_id, old, score - 0.5e-3)
    return sorted(by_id.values(), key=lambda s: -s.score), keys


def _recency(doc: Doc) -> float:
    t = doc.valid_from or doc.timestamp
    return t.timestamp() if t is not None else 0.0


def _place(by_id: dict[str, Scored], doc: Doc, score: float) -> None:
    item = by_id.get(doc.id)
    if item is None:
        by_id[doc.id] = Scored(doc, score)
    else:
        item.score = max(item.score, score)


def is_broad(query: str) -> bool:
    """A look back over a period rather than a question about one thing."""
    return bool(BROAD.search(query))


def promote_procedures(ranked: Sequence[Scored], query: str, item_weight: float) -> list[Scored]:
    """Put learned procedures first for a how-to question, or for a request one of them matches well."""
    howto = bool(HOWTO.search(query))
    if not howto and not REQUEST.search(query):
        return list(ranked)
    need = HOWTO_MATCH if howto else REQUEST_MATCH
    top = ranked[0].score if ranked else 0.0
    lead = [
        s
        for s in ranked
        if s.doc.kind == "knowledge"
        and s.doc.extra.get("kind") == "prescription"
        and s.score / item_weight >= need
    ]
    for i, s in enumerate(lead):
        s.score = top + 1.0 - i * 1e-3  # above everything else, in their own order
    return sorted(ranked, key=lambda s: -s.score)

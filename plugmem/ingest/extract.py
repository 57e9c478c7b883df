"""Knowledge extraction without an LLM: propositions, prescriptions, entities, provenance edges.

Why rules first: a memory that only understands with an LLM understands nothing offline.
The rules aim for precision. A proposition is a declarative clause about the speaker
(first person, resolved to their name) or a named entity, with relative dates resolved
against when it was said. A prescription is a procedure: a tool sequence that reached
an answer, or advice stated as steps. Every item keeps the exact step ids it came from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from plugmem.dates import TimeRange, annotate_dates, find_dates
from plugmem.ingest.entities import EntityIndex, entity_id
from plugmem.ingest.slots import Slot, slots_in
from plugmem.model import Edge, Entity, Event, Extraction, Knowledge, KnowledgeKind, Step, ToolCall
from plugmem.namespace import NamespaceKey
from plugmem.text import clip, content_words, is_chitchat, sentences, short_hash, words, wordset


class Extractor(Protocol):
    """Anything that turns events (and their steps) into knowledge."""

    def extract(self, events: Sequence[Event], steps: Mapping[str, Step]) -> Extraction: ...


def normalize_statement(text: str) -> str:
    """Case, punctuation and article-insensitive form used for ids and duplicate detection."""
    ws = [w for w in words(text) if w not in ("a", "an", "the")]
    return " ".join(ws)


def knowledge_id(
    namespace: NamespaceKey, kind: KnowledgeKind, statement: str, source_ids: Sequence[str]
) -> str:
    """Deterministic: the same statement from the same steps always has the same id."""
    return "kn-" + short_hash(namespace, kind, normalize_statement(statement), *sorted(source_ids))


# -- vocabulary ---------------------------------------------------------------------------
APOS = "['’]"
# LoCoMo turns yield 1.4 propositions on average and rarely more than 6 (benchmarks/graph_stats.py)
MAX_PROPS_PER_STEP = 6
ADVERBS = wordset("""just really also finally recently actually totally still already always never usually often sometimes
    even only definitely certainly probably literally honestly seriously currently now again kinda sorta
    absolutely mostly generally lately eventually so very super truly pretty quite extremely incredibly
    deeply first then once later soon almost barely hardly nearly""")
MODALS = wordset("will would can could should might must may shall")
AUX = wordset("""am is are was were be been being have has had do does did will would can could should might must may
    shall not never don't didn't doesn't haven't hasn't hadn't won't wouldn't can't couldn't shouldn't isn't
    wasn't aren't weren't""")
PREPS = wordset("to at in on for with from into about by of up out off over as onto through around")
IRREGULAR_PAST = wordset("""went was were had did made took got saw came began ran won bought brought thought caught taught felt
    found gave kept left lost met paid read said sent sold spent stood told understood wrote drove flew ate
    drank swam sang began grew knew threw became chose fell forgot heard held hurt let put quit rode set shut
    sat slept spoke broke built dug fed fought hung hid lit meant sought shot shook stole stuck struck swore
    tore woke wore wept won wound been gone done seen taken given known written eaten drunk sung""")
GERUND_VERBS = wordset(
    "started start starting began begin stopped quit finished keep kept love loved like enjoy"
)
TO_VERBS = wordset("""going want wanted plan planned planning hope hoped hoping trying try tried need needed decided decide
    started start love loved like liked used learning learned managed""")
ELIDED_OPENERS = wordset("""gonna going just been got went started finished planning thinking working trying heading had made took
    saw visited bought painted ran joined tried learned loving hoping signed lost moved adopted decided watched
    played baked cooked booked traveled travelled graduated landed completed attended volunteered won quit
    spent met""")
QUESTION_OPENERS = wordset("""who what when where why how which whose do does did is are was were can could would will should have
    has had may shall wanna anyone any""")
HEDGES = re.compile(
    r"\b(maybe|might|probably|perhaps|not sure|thinking about|considering|hope to|hoping to|wish|would love|'d love|’d love|someday|one day)\b",
    re.I,
)

_INTERJECTION_PREFIX = re.compile(
    r"^(?:(?:hey|hi|hello|wow|whoa|oh|ooh|ah|aw+|yeah|yes|yep|yup|well|so|haha|hahaha|lol|omg|thanks|thank you|sure|"
    r"okay|ok|great|cool|awesome|nice|totally|honestly|actually|anyway|anyways|by the way|btw|omg|no way|"
    r"oh my god|oh man|man|dude|guess what|you know what|unfortunately|fortunately|luckily|sadly|hopefully|"
    r"basically|plus|also|in the meantime|meanwhile|woah|yay|ugh|phew|anyhow|besides|funny enough)\b[\s,!.…-]*)+",
    re.I,
)
_CLAUSE_SPLIT = re.compile(
    r"\s*(?:,\s*|\s+)(?:and|but|so|or|because)\s+(?=(?:i|it|that|this|he|she|they|we|you|there|my|our|your|his"
    r"|her|their)\b)"
    r"|\s*,\s+(?=(?:i|i['’]m|i['’]ve|we|we['’]re)\s)"
    r"|\s+[-–—]+\s+(?=(?:i|it|that|this|he|she|they|we|you|there|my|our|and)\b)|\s*;\s*",
    re.I,
)
_OBJECT_CUT = re.compile(
    r"\s*[,;:]\s|\s+[-–—]+\s|\s+(?:because|since|which|who|when|where|while|so that|and it|and that|but|so|until|"
    r"unless|though|although|if)\s",
    re.I,
)
_PHOTO = re.compile(r"\[shares? (?:a )?(?:photo|picture|image)(?: of)?:?\s*(?P<cap>[^\]]+)\]", re.I)
FAILURE = re.compile(
    r"\b(sorry|unable|couldn['’]t|could not|can['’]t|cannot|failed|failure|unfortunately|not possible)\b",
    re.I,
)
TOOL_ERROR = re.compile(
    r"^\s*(error|exception|traceback|failed)\b|\"error\"\s*:|\bstatus\W+(error|failed)\b", re.I
)


# -- pronoun resolution -------------------------------------------------------------------
def _third_person(verb: str) -> str:
    """Conjugate a present-tense verb for a third-person subject ("go" → "goes")."""
    low = verb.lower()
    special = {
        "am": "is",
        "have": "has",
        "do": "does",
        "go": "goes",
        "don't": "doesn't",
        "don’t": "doesn’t",
        "haven't": "hasn't",
        "haven’t": "hasn’t",
        "were": "was",
        "'m": "is",
    }
    if low in special:
        return special[low]
    past = low.endswith("ed") and not low.endswith("eed")
    if low in MODALS or low in IRREGULAR_PAST or low in AUX or past or low.endswith("n't"):
        return verb
    if not low.isalpha() or len(low) < 2 or low.endswith("ing") or low in ("gonna", "wanna", "gotta"):
        return verb
    if low in DETERMINERS or low in PREPS or low in ("and", "but", "or", "so", "then", "just", "also"):
        return verb
    if low.endswith(("s", "x", "z", "ch", "sh", "o")):
        return verb + "es"
    if low.endswith("y") and low[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


_ADV = "|".join(sorted(ADVERBS))


def resolve_pronouns(text: str, speaker: str, addressee: str | None = None) -> str:
    """First person → the speaker ("I went" → "Caroline went", "my" → "Caroline's"); second
    person → the addressee when there is exactly one."""
    s = speaker
    text = re.sub(rf"\bI{APOS}m\b", f"{s} is", text)
    text = re.sub(rf"\bI{APOS}ve\b", f"{s} has", text)
    text = re.sub(rf"\bI{APOS}ll\b", f"{s} will", text)

    def _id(m: re.Match[str]) -> str:
        nxt = m.group(2).lower()
        aux = "had" if nxt in IRREGULAR_PAST or nxt.endswith("ed") else "would"
        return f"{s} {aux}{m.group(1)}{m.group(2)}"

    text = re.sub(rf"\bI{APOS}d(\s+)(\w+)", _id, text)

    def _i(m: re.Match[str]) -> str:
        return f"{s}{m.group(1)}{_third_person(m.group(2))}"

    text = re.sub(rf"\bI\b((?:\s+(?:{_ADV}))*\s+)([A-Za-z'’]+)", _i, text)
    text = re.sub(r"\bI\b", s, text)
    text = re.sub(r"\b[Mm]yself\b", "themself", text)
    text = re.sub(r"\b[Mm]y\b", f"{s}'s", text)
    text = re.sub(r"\b[Mm]ine\b", f"{s}'s", text)
    text = re.sub(r"\bme\b", s, text)
    text = re.sub(rf"\b[Ww]e{APOS}re\b", f"{s} and others are", text)
    text = re.sub(rf"\b[Ww]e{APOS}ve\b", f"{s} and others have", text)
    text = re.sub(r"\b[Ww]e\b", f"{s} and others", text)
    text = re.sub(r"\b[Oo]ur\b", f"{s}'s", text)
    text = re.sub(r"\b[Oo]urselves\b", "themselves", text)
    text = re.sub(r"\bus\b", f"{s} and others", text)
    if addressee:
        a = addressee
        text = re.sub(rf"\b[Yy]ou{APOS}re\b", f"{a} is", text)
        text = re.sub(rf"\b[Yy]ou{APOS}ve\b", f"{a} has", text)
        text = re.sub(rf"\b[Yy]ou{APOS}d\b", f"{a} would", text)
        text = re.sub(rf"\b[Yy]ou{APOS}ll\b", f"{a} will", text)
        text = re.sub(r"\b[Yy]ou are\b", f"{a} is", text)
        text = re.sub(r"\b[Yy]ou were\b", f"{a} was", text)
        text = re.sub(r"\b[Yy]ou have\b", f"{a} has", text)
        text = re.sub(r"\b[Yy]ourself\b", a, text)

        def _you(m: re.Match[str]) -> str:
            return f"{m.group(1)}{a}{m.group(2)}{_third_person(m.group(3))}"

        # "you" as a subject (clause start or after a conjunction) takes a third-person verb
        text = re.sub(
            rf"(^|[,;]\s*|\b(?:if|when|that|and|but|because|so|as|since|until|unless|while|whether|how)\s+)"
            rf"[Yy]ou\b((?:\s+(?:{_ADV}))*\s+)([A-Za-z'’]+)",
            _you,
            text,
        )
        text = re.sub(r"\b[Yy]our\b", f"{a}'s", text)
        text = re.sub(r"\b[Yy]ou\b", a, text)
    return text


# -- propositions -------------------------------------------------------------------------
@dataclass(slots=True)
class _Prop:
    statement: str
    subject: str | None
    predicate: str | None
    object: str | None
    when: TimeRange | None
    confidence: float
    entities: list[str] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)


_TIME_OPENER = re.compile(
    r"^(?:these\s+days|nowadays|lately|currently|at\s+the\s+moment|right\s+now|now|since\s+then)\s*,?\s+",
    re.I,
)


def _strip_opening(sentence: str, index: EntityIndex) -> str:
    """Drop interjections and a leading vocative ("Wow, Caroline! I ..." → "I ...")."""
    out = _INTERJECTION_PREFIX.sub("", sentence).strip()
    out = re.sub(r"^(?:[A-Za-z]+\s+){0,2}[A-Za-z]+:\s+", "", out)  # "Big news: I moved" → "I moved"
    out = _TIME_OPENER.sub("", out)  # "These days my favourite band is …": the clause starts after it
    m = re.match(r"^([A-Z][a-z]+)\s*[,!]\s*", out)
    if m and index.canonical(m.group(1)) is not None:
        out = out[m.end() :]
    m = re.search(r",\s*([A-Z][a-z]+)\s*[!.…]*$", out)
    if m and index.canonical(m.group(1)) is not None:
        out = out[: m.start()]
    return out.strip()


def is_question(sentence: str) -> bool:
    s = sentence.strip()
    if s.endswith("?"):
        return True
    first = words(s)[:1]
    return bool(first) and first[0] in QUESTION_OPENERS and "?" in s


def _subject(clause: str, index: EntityIndex) -> tuple[str, int] | None:
    """Who a clause is about and how many leading tokens name them: ("self", n) or (entity, n)."""
    toks = clause.split()
    if not toks:
        return None
    first = toks[0].lower().replace("’", "'")
    if first in ("i", "i'm", "i've", "i'd", "i'll", "we", "we're", "we've", "we'll", "we'd"):
        return "self", 1
    if first in ("my", "our"):
        return "self-possessive", 1
    if first in ELIDED_OPENERS and len(toks) > 2:
        return "self-elided", 0
    for n in (3, 2, 1):
        if len(toks) < n:
            continue
        cand = " ".join(toks[:n])
        poss = cand.endswith(("'s", "’s"))
        bare = cand[:-2] if poss else cand
        canon = index.canonical(bare.strip(",.!"))
        if canon is not None and bare[:1].isupper():
            return canon + ("'s" if poss else ""), n
    return None


DETERMINERS = wordset(
    "my your his her its our their the a an this that these those some any no every each it them me him us"
)


def _verb_group(toks: Sequence[str], p: int, implied: Sequence[str] = ()) -> tuple[list[str], int]:
    """Auxiliaries + main verb (+ "to"-verb / gerund) + preposition, starting at token `p`.

    `implied` are auxiliaries a contraction already supplied ("I'm" → "am").
    """
    group: list[str] = list(implied)
    while p < len(toks) and toks[p].lower().replace("’", "'") in AUX | ADVERBS:
        if toks[p].lower() not in ADVERBS:
            group.append(toks[p])
        p += 1
    if p >= len(toks):
        return group, p
    nxt = toks[p].lower()
    if group and (nxt in DETERMINERS or nxt[:1].isdigit()):
        return group, p  # "did my best", "have 3 kids": the last auxiliary is the verb
    verb = toks[p]
    group.append(verb)
    p += 1
    low = verb.lower()
    if p + 1 < len(toks) and toks[p].lower() == "to" and low in TO_VERBS:
        group.extend(toks[p : p + 2])
        p += 2
    elif p < len(toks) and low in GERUND_VERBS and toks[p].lower().endswith("ing"):
        group.append(toks[p])
        p += 1
    if p < len(toks) and toks[p].lower().strip(",") in PREPS:
        group.append(toks[p])
        p += 1
    return group, p


def _clean_object(text: str, dates: Sequence[TimeRange], offset: int) -> str:
    """Object phrase: cut at the next clause, dates removed, punctuation trimmed, at most 12 words."""
    for r in sorted(dates, key=lambda r: -r.span[0]):
        s, e = r.span[0] - offset, r.span[1] - offset
        if 0 <= s < e <= len(text):
            text = text[:s] + text[e:]
    m = _OBJECT_CUT.search(text, 1)
    if m:
        text = text[: m.start()]
    text = re.sub(r"\s+", " ", text).strip(" ,.!?;:-–—\"'")
    text = re.sub(r"\s+(?:on|in|at|last|this|next)$", "", text)
    return " ".join(text.split()[:12])


def _spo(
    clause: str, subj: tuple[str, int], speaker: str, addressee: str | None, anchor: Step
) -> tuple[str | None, str | None, str | None]:
    """Subject / predicate / object of a clause whose subject is known."""
    kind, n = subj
    toks = clause.split()
    if kind == "self-elided":
        toks = _restore_subject(clause).split()
        kind, n = "self", 1
    subject = speaker if kind.startswith("self") else kind
    if kind == "self-possessive" or kind.endswith("'s"):
        # "my favorite color is blue": the possessed thing goes into the predicate
        cop = next(
            (i for i in range(n, min(len(toks), n + 6)) if toks[i].lower() in ("is", "are", "was", "were")),
            None,
        )
        if cop is None:
            return subject if not kind.endswith("'s") else kind[:-2], None, None
        head = " ".join(toks[n:cop]).lower().strip(",")
        predicate = f"{head} {toks[cop].lower()}"
        obj_text = " ".join(toks[cop + 1 :])
        owner = speaker if kind == "self-possessive" else kind[:-2]
        dates = find_dates(obj_text, anchor.timestamp)
        obj = _clean_object(obj_text, dates, 0)
        return owner, predicate, resolve_pronouns(obj, speaker, addressee) or None
    first = toks[0].lower().replace("’", "'")
    rest = toks[n:]
    implied = {"i'm": ["am"], "i've": ["have"], "i'd": ["would"], "i'll": ["will"], "we're": ["are"]}.get(
        first, []
    )
    group, p = _verb_group(rest, 0, implied)
    if not group:
        return subject, None, None
    if kind == "self" and first == "i":
        group[0] = _third_person(group[0])
    elif kind == "self" and implied:
        group[0] = {"am": "is", "have": "has"}.get(group[0], group[0])
    predicate = " ".join(g.lower() if g not in ("I",) else g for g in group).strip(",")
    obj_text = " ".join(rest[p:])
    dates = find_dates(obj_text, anchor.timestamp)
    obj = _clean_object(obj_text, dates, 0)
    if kind == "self" and first.startswith("we"):
        subject = speaker
        predicate = f"(with others) {predicate}"
    return subject, predicate, resolve_pronouns(obj, speaker, addressee) or None


_IMPLIED = {"i'm": "am", "i've": "have", "i'd": "would", "i'll": "will", "we're": "are", "we've": "have"}


def _slot_phrase(clause: str, subj: tuple[str, int]) -> tuple[str, bool]:
    """What follows the subject, for `slots_in`: ("am a data analyst at Globex", False), or
    ("favourite band is Wet Leg", True) after "my"."""
    kind, n = subj
    toks = clause.split()
    possessive = kind == "self-possessive" or kind.endswith("'s")
    implied = _IMPLIED.get(toks[0].lower().replace("’", "'"), "") if kind == "self" else ""
    return " ".join([implied, *toks[n:]]).strip(), possessive


def _restore_subject(clause: str) -> str:
    """Chat drops the "I": "Gonna check it out" → "I'm going to check it out"."""
    first, _, rest = clause.partition(" ")
    low = first.lower()
    if low == "gonna":
        return f"I'm going to {rest}"
    if low.endswith("ing"):
        return f"I'm {low} {rest}"
    return f"I {low} {rest}"


def _split_clauses(sentence: str) -> list[str]:
    return [c.strip() for c in _CLAUSE_SPLIT.split(sentence) if c and c.strip()]


def propositions_from_step(
    step: Step, speaker: str, addressee: str | None, index: EntityIndex
) -> list[_Prop]:
    """Declarative clauses of one message, resolved to the speaker and to dates."""
    out: list[_Prop] = []
    text = step.content
    for m in _PHOTO.finditer(text):
        cap = m.group("cap").strip().rstrip(".")
        if not re.match(r"^(a|an)\s+(photo|picture|image|close up|screenshot)\b", cap, re.I):
            cap = f"a photo of {cap}"
        out.append(_Prop(f"{speaker} shared {cap}", speaker, "shared", cap, None, 0.5, [speaker]))
    text = _PHOTO.sub(" ", text)
    for sent in sentences(text):
        if is_question(sent):
            continue
        body = _strip_opening(sent, index)
        if not body or len(words(body)) < 2:
            continue
        for clause in _split_clauses(body):
            prop = _proposition(clause, step, speaker, addressee, index)
            if prop is not None:
                out.append(prop)
    if len(out) > MAX_PROPS_PER_STEP:
        # a long answer (an assistant's list of tips) would yield dozens of weak facts, each
        # embedded and indexed; the raw turn stays recallable, so keep only the surest few
        keep = sorted(range(len(out)), key=lambda i: -out[i].confidence)[:MAX_PROPS_PER_STEP]
        out = [out[i] for i in sorted(keep)]
    return out


_PRONOUN_VERB = re.compile(r"\b(?:i|we|you|they|he|she)\s+[a-z]", re.I)
_VERBISH = re.compile(r"(?:ed|ing|s|n['’]t)$")
_CONTRACTED = re.compile(r"['’](?:m|s|re|ve|ll|d)$")  # "I'm", "she's": the verb is in the contraction


def has_verb(clause: str) -> bool:
    """Whether a clause has something that can be its verb ("And on Friday Jo" has none).

    No tagger offline: auxiliaries, modals, irregular pasts, the verbs the rules know, or a
    verb-like ending. Loose on purpose: it only has to keep verbless fragments out.
    """
    if _PRONOUN_VERB.search(clause):
        return True  # "I live", "we moved": a subject pronoun is followed by its verb
    known = AUX | MODALS | IRREGULAR_PAST | GERUND_VERBS | TO_VERBS | IMPERATIVE_VERBS
    toks = [t.lower() for t in re.findall(r"[A-Za-z'’]+", clause)]
    return any(t in known or _CONTRACTED.search(t) or (len(t) > 3 and _VERBISH.search(t)) for t in toks)


def _subject_of(clause: str, index: EntityIndex) -> tuple[str, tuple[str, int] | None]:
    """The clause (its dropped "I" restored) and who it is about."""
    subj = _subject(clause, index)
    if subj is not None and subj[0] == "self-elided":
        return _restore_subject(clause), ("self", 1)
    return clause, subj


def _worth_a_fact(clause: str, subj: tuple[str, int] | None, speaker: str, index: EntityIndex) -> bool:
    """A clause long enough to say something, about the speaker or someone memory knows."""
    ws = words(clause)
    if len(ws) < 3 or len(content_words(clause)) < 2:
        return False
    if subj is not None:
        return True
    if ws[0] in ("you", "your", "youre", "youve", "youd", "youll"):
        return False  # opinions about the listener: not a fact the speaker states about the world
    first_person = bool(re.search(r"\b(I|me|my|mine|myself|we|our|us)\b|\bI['’]", clause, re.I))
    return first_person or bool([m for m in index.mentions(clause) if m != speaker])


def _confidence(predicate: str | None, obj: str | None, when: TimeRange | None, **flags: bool) -> float:
    conf = 0.55 + (0.15 if predicate and obj else 0.0) + (0.1 if when is not None else 0.0)
    conf -= 0.15 if flags["no_subject"] else 0.0
    conf -= 0.2 if flags["hedged"] else 0.0
    conf += 0.1 if flags["slots"] else 0.0  # a known slot is the kind of fact memory must keep current
    return round(max(0.1, min(0.95, conf)), 2)


def _proposition(
    clause: str, step: Step, speaker: str, addressee: str | None, index: EntityIndex
) -> _Prop | None:
    clause = clause.strip().rstrip(".!…").strip()
    if not clause or is_question(clause) or not has_verb(clause):
        return None
    clause, subj = _subject_of(clause, index)
    slots: list[Slot] = []
    if subj is not None:
        phrase, possessive = _slot_phrase(clause, subj)
        slots = slots_in(phrase, possessive=possessive)
    if not slots and (is_chitchat(clause) or not _worth_a_fact(clause, subj, speaker, index)):
        return None  # "I'm vegetarian" is short, but it fills a slot memory must keep current
    annotated, when = annotate_dates(clause, step.timestamp)
    statement = resolve_pronouns(annotated, speaker, addressee)
    if subj is not None and not subj[0].startswith("self"):
        # lead with the canonical name ("Mel went" → "Melanie went")
        toks = statement.split()
        statement = " ".join([subj[0], *toks[subj[1] :]])
    statement = statement[0].upper() + statement[1:]
    subject = predicate = obj = None
    if subj is not None:
        subject, predicate, obj = _spo(clause, subj, speaker, addressee, step)
        if subject is not None and subject.endswith("'s"):
            subject = subject[:-2]
    conf = _confidence(
        predicate, obj, when, no_subject=subj is None, hedged=bool(HEDGES.search(clause)), slots=bool(slots)
    )
    mentioned = index.mentions(clause)
    ents = list(dict.fromkeys([*([subject] if subject and index.canonical(subject) else []), *mentioned]))
    first_person = bool(re.search(r"\b(I|me|my|mine|myself|we|our|us)\b|\bI['’]", clause, re.I))
    if first_person and speaker not in ents and index.canonical(speaker) is not None:
        ents.insert(0, speaker)
    return _Prop(statement, subject, predicate, obj, when, conf, ents, slots)


# -- prescriptions ------------------------------------------------------------------------
@dataclass(slots=True)
class _Proc:
    goal: str
    steps: list[str]
    conditions: list[str]
    source_ids: list[str]
    confidence: float
    lessons: list[str] = field(default_factory=list)
    outcome: str | None = None
    tools: list[str] = field(default_factory=list)


_REQUEST_PREFIX = re.compile(
    r"^(?:(?:hi|hey|hello)\b[,!]?\s*)?(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?|please\s+|"
    r"i\s+(?:need|want|would like|'d like)\s+(?:you\s+)?to\s+|help\s+me\s+(?:to\s+)?|i\s+need\s+help\s+(?:with\s+)?|"
    r"how\s+(?:do|can|should)\s+i\s+|what['’]?s\s+the\s+best\s+way\s+to\s+|"
    r"(?:(?:have\s+you\s+)?got|do\s+you\s+have|any)\s+(?:any\s+)?(?:tips|advice|suggestions)\s+(?:for|on|about)\s+)",
    re.I,
)


_GOAL_IN_QUESTION = (
    re.compile(r"\b(?:tips|advice|suggestions|recommendations|ideas)\s+(?:for|on|about)\s+(?P<g>.+)", re.I),
    re.compile(r"\bhow\s+(?:do|can|should|would|could)\s+(?:i|you|we|one)\s+(?P<g>.+)", re.I),
    re.compile(r"\bhow\s+to\s+(?P<g>.+)", re.I),
    re.compile(r"\bbest\s+way\s+to\s+(?P<g>.+)", re.I),
)
_GOAL_LEAD = re.compile(r"^(?:(?:need|want|have|try(?:ing)?)\s+to\s+)+", re.I)
_BAD_GOAL_START = wordset(
    "the a an this that these those it i you we they he she you've i've it's i'm you're my your"
)


def goal_text(request: str) -> str:
    """A request as a goal: "Can you book me a table at Luigi's?" → "book me a table at Luigi's"."""
    first = [x for x in sentences(request.strip()) if not is_chitchat(x)][:2]
    text = " ".join(first) if first else request
    text = text.strip().rstrip("?.! ")
    for rx in _GOAL_IN_QUESTION:
        m = rx.search(text)
        if m:
            text = m.group("g")
            break
    else:
        text = _REQUEST_PREFIX.sub("", text).strip()
        text = _REQUEST_PREFIX.sub("", text).strip()
    text = _GOAL_LEAD.sub("", text.strip().rstrip("?.! ")).strip()
    if words(text)[:1] and words(text)[0] in ("what", "whats", "where", "when", "who", "which", "whether"):
        text = "find out " + text[:1].lower() + text[1:]
    return clip(text[:1].lower() + text[1:], 160) if text else ""


def _good_goal(goal: str) -> bool:
    ws = goal.lower().replace("’", "'").split()
    return bool(ws) and ws[0] not in _BAD_GOAL_START and len(content_words(goal)) >= 1 and len(ws) >= 2


def _short(v: object, limit: int = 40) -> str:
    s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True)
    return clip(s, limit)


def render_call(name: str, args: Mapping[str, object]) -> str:
    """`search_flights(origin=NYC, date=2023-05-12)`: tool name with its key arguments."""
    items = list(args.items())[:4]
    return f"{name}(" + ", ".join(f"{k}={_short(v)}" for k, v in items) + ")"


def _tool_error(s: Step) -> bool:
    status = str(s.metadata.get("status", "")).lower()
    return (
        status in ("error", "failed")
        or bool(s.metadata.get("is_error"))
        or bool(TOOL_ERROR.search(s.content))
    )


def error_message(content: str) -> str:
    """The message of a tool error: the "error"/"message" field of a JSON reply, else the text."""
    try:
        data = json.loads(content)
    except (ValueError, TypeError):
        data = None
    if isinstance(data, dict):
        for key in ("error", "message", "detail", "reason"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return clip(value.strip(), 100)
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return clip(value["message"].strip(), 100)
    return clip(" ".join(content.split()), 100)


def _lesson(failed: ToolCall, error: str, fixed: ToolCall | None) -> str:
    """What a failed call teaches: the arguments that were rejected, why, and what worked instead."""
    if fixed is None:
        return f'{render_call(failed.name, failed.args)} failed: "{error}"'
    changed = [k for k in failed.args if failed.args.get(k) != fixed.args.get(k)]
    if not changed:
        return f'{failed.name} failed once ("{error}"); the same call worked on retry'
    was = ", ".join(f"{k}={_short(failed.args[k])}" for k in changed[:3])
    now = ", ".join(f"{k}={_short(fixed.args.get(k))}" for k in changed[:3])
    return f'{failed.name} rejected {was} ("{error}"); {now} worked'


def _calls(run: Sequence[Step]) -> tuple[list[ToolCall], list[tuple[ToolCall, str]]]:
    """The calls of a run that worked, and the ones that failed with their error message."""
    results = {s.tool_call_id: s for s in run if s.role == "tool" and s.tool_call_id}
    worked: list[ToolCall] = []
    failed: list[tuple[ToolCall, str]] = []
    for s in run:
        for c in s.tool_calls if s.role == "assistant" else ():
            res = results.get(c.id)
            if res is not None and _tool_error(res):
                failed.append((c, error_message(res.content)))
            else:
                worked.append(c)
    return worked, failed


def tool_procedure(run: Sequence[Step]) -> _Proc | None:
    """A tool sequence that reached a final answer: the calls that worked, the lessons of the ones
    that failed (and what fixed them), the outcome; goal from the request that started it."""
    goal_step = next((s for s in run if s.role == "user" and s.content.strip()), None)
    calls = [s for s in run if s.role == "assistant" and s.tool_calls]
    if goal_step is None or not calls:
        return None
    last_call = max(run.index(s) for s in calls)
    final = next(
        (
            s
            for s in reversed(run[last_call + 1 :])
            if s.role == "assistant" and not s.tool_calls and s.content.strip()
        ),
        None,
    )
    if final is None or FAILURE.search(final.content):
        return None
    worked, failed = _calls(run)
    goal = goal_text(goal_step.content)
    if not worked or not goal:
        return None
    lessons = [_lesson(c, err, next((w for w in worked if w.name == c.name), None)) for c, err in failed]
    conditions = [
        c.strip() for c in re.findall(r"\b(?:if|when|only|unless)\b[^.,;!?]{3,80}", goal_step.content, re.I)
    ]
    sources = [goal_step.id, *(s.id for s in run if s.role == "tool" or s.tool_calls), final.id]
    return _Proc(
        goal,
        [render_call(c.name, c.args) for c in worked],
        conditions,
        list(dict.fromkeys(sources)),
        0.6 if failed else 0.7,
        lessons=list(dict.fromkeys(lessons)),
        outcome=clip(" ".join(final.content.split()), 160),
        tools=list(dict.fromkeys(c.name for c in worked)),
    )


_HOWTO = re.compile(r"^(?:so\s+|well\s+)?(?:in order\s+)?to\s+(?P<goal>[^,]{3,100}),\s*(?P<rest>.+)$", re.I)
_SEQ_SPLIT = re.compile(
    r"\s*(?:,|;|\.)?\s*(?:and\s+)?\b(?:then|after that|afterwards|next|finally|lastly)\b,?\s*", re.I
)
_ADVICE = re.compile(
    r"\b(?:you\s+should|you\s+could\s+try|you\s+might\s+want\s+to|try\s+to|make\s+sure\s+(?:to|you)|"
    r"don['’]t\s+forget\s+to|i\s+(?:would\s+|['’]d\s+)?(?:recommend|suggest)|the\s+(?:trick|key|secret)\s+is(?:\s+to)?|"
    r"it\s+helps\s+to|remember\s+to|^always|^never)\s+(?P<advice>.+)$",
    re.I,
)
_SOCIAL_ADVICE = re.compile(
    r"^(?:be|feel|know|keep it up|be proud|totally|definitely|check it out|go for it|i|it|that|this|on)\b",
    re.I,
)
_PURPOSE = re.compile(
    r"\b(?:if you want to|when you want to|when you|if you|for|to help(?: with)?)\s+(?P<goal>[^,.;]{3,80})$",
    re.I,
)
HOWTO_QUESTION = re.compile(
    r"\bhow\s+(?:do|can|should|would|could)\s+(?:i|you|we|one)\b|\bhow\s+to\b|best\s+way|\btips\b|\badvice\b"
    r"|\bsuggestions?\b|\brecommendations?\s+(?:for|on)\b|\bshould\s+i\b|\bwhere\s+(?:do|should)\s+i\s+start",
    re.I,
)
IMPERATIVE_VERBS = wordset("""do try find gather get make take start use keep go look check ask talk read write call join set put give
    remember practice prepare plan avoid be stay focus spend consider search pick choose book add open click
    run install create follow buy bring pack wear drink eat sleep rest research contact visit reach apply
    sign save write build learn watch listen breathe stretch warm begin list note track schedule""")
# "Water it ...", "Pinch off ...": an unknown first word followed by an object or particle reads as an order
OBJECT_STARTERS = wordset(
    "it them the a an your some this that these those off up out down in on away over back everything all"
)
NOT_IMPERATIVE = (
    QUESTION_OPENERS
    | DETERMINERS
    | wordset("""i im ive id ill you youre youve we were he she they there here its thats also and but or so
    thanks thank hope glad sounds looks seems wow oh yeah yes no well just really heres theres thats whats
    lets trying""")
)
_FIRST_PERSON = re.compile(r"^(?:i|i['’]\w+|my|we|our)\b", re.I)
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+(?P<item>.+)$")


def _steps_from(text: str) -> list[str]:
    text = re.sub(
        r"^\s*(?:you\s+(?:should|need\s+to|have\s+to|can)\s+)?(?:first(?:ly)?|start\s+by)\b,?\s*",
        "",
        text,
        flags=re.I,
    )
    parts = [p.strip(" ,.;!") for p in _SEQ_SPLIT.split(text)]
    return [p for p in parts if len(words(p)) >= 2]


def _recent_question(run: Sequence[Step], upto: int, speaker_step: Step) -> str | None:
    for s in reversed(run[:upto]):
        if (s.name, s.role) != (speaker_step.name, speaker_step.role) and s.role in ("user", "assistant"):
            qs = [q for q in sentences(s.content) if q.strip().endswith("?")]
            for q in reversed(qs):
                if HOWTO_QUESTION.search(q):
                    g = goal_text(q)
                    if g:
                        return g
            if qs:
                return None
    return None


def _imperative(sentence: str) -> str | None:
    """An instruction sentence ("Gather documents ...", "Don't forget to X"), normalised, else None."""
    body = _INTERJECTION_PREFIX.sub("", _PHOTO.sub("", sentence)).strip().rstrip(".!")
    if not body or body.endswith("?"):
        return None
    body = re.sub(
        r"^(?:don['’]t\s+forget\s+to|make\s+sure\s+(?:to|you)|remember\s+to|be\s+sure\s+to)\s+",
        "",
        body,
        flags=re.I,
    )
    ws = words(body)
    if len(ws) < 3 or ws[0] in NOT_IMPERATIVE:
        return None
    if ws[0] not in IMPERATIVE_VERBS and ws[1] not in OBJECT_STARTERS:
        return None
    return clip(body[:1].lower() + body[1:], 140)


def _list_procedure(run: Sequence[Step], i: int, s: Step) -> _Proc | None:
    """A numbered or bulleted list of two or more items under "to X:" or after a how-to question."""
    lines = s.content.splitlines()
    items = [m.group("item").strip() for ln in lines if (m := _LIST_ITEM.match(ln))]
    if len(items) < 2:
        return None
    intro = next((ln for ln in lines if ln.strip() and not _LIST_ITEM.match(ln)), "")
    m = re.search(r"\bto\s+(?P<goal>[^:]{3,100}):?\s*$", intro.strip(), re.I)
    goal = m.group("goal") if m else _recent_question(run, i, s)
    if not goal:
        return None
    return _Proc(goal.strip().rstrip(".:"), [clip(x, 120) for x in items[:12]], [], [s.id], 0.6)


def _imperative_procedure(run: Sequence[Step], i: int, s: Step) -> _Proc | None:
    """Two or more instruction sentences answering a how-to question."""
    imperatives = [b for b in (_imperative(x) for x in sentences(s.content)) if b]
    if len(imperatives) < 2:
        return None
    goal = _recent_question(run, i, s)
    return _Proc(goal, imperatives[:8], [], [s.id], 0.6) if goal else None


def _howto_procedure(body: str, conds: list[str], s: Step) -> _Proc | None:
    """One sentence of the form "To X, first A, then B"."""
    m = _HOWTO.match(body)
    if not m:
        return None
    steps = _steps_from(m.group("rest"))
    return _Proc(m.group("goal").strip(), steps, conds, [s.id], 0.65) if steps else None


def _sequence_procedure(run: Sequence[Step], i: int, s: Step, body: str, conds: list[str]) -> _Proc | None:
    """A sentence of the form "First A, then B" that answers a how-to question."""
    first = re.search(r"\bfirst\b", body, re.I)
    if first is None or not re.search(r"\bthen\b", body, re.I):
        return None
    steps = _steps_from(body[first.start() :])
    goal = _recent_question(run, i, s)
    return _Proc(goal, steps, conds, [s.id], 0.6) if goal and len(steps) >= 2 else None


def _advice_procedure(run: Sequence[Step], i: int, s: Step, body: str, conds: list[str]) -> _Proc | None:
    """One piece of advice with a purpose ("... to X"), or answering a how-to question."""
    m = _ADVICE.search(body)
    if not m or _SOCIAL_ADVICE.match(m.group("advice")):
        return None
    advice = m.group("advice").strip()
    pm = _PURPOSE.search(advice)
    goal = pm.group("goal").strip() if pm else _recent_question(run, i, s)
    if pm:
        advice = advice[: pm.start()].strip(" ,")
    if goal and len(words(advice)) >= 2:
        return _Proc(_GOAL_LEAD.sub("", goal), [advice], conds, [s.id], 0.5)
    return None


def _sentence_procedure(run: Sequence[Step], i: int, s: Step, sentence: str) -> _Proc | None:
    """The first of the one-sentence forms that `sentence` takes, with its conditions."""
    body = _INTERJECTION_PREFIX.sub("", sentence).strip().rstrip(".!")
    if not body or body.endswith("?"):
        return None
    conds = [c.strip() for c in re.findall(r"\b(?:if|unless|when)\s+[^,.;]{3,60}", body, re.I)]
    return (
        _howto_procedure(body, conds, s)
        or _sequence_procedure(run, i, s, body, conds)
        or _advice_procedure(run, i, s, body, conds)
    )


def advice_procedures(run: Sequence[Step]) -> list[_Proc]:
    """How-to stated in words: "to X, first A, then B", advice with a purpose, or a numbered list."""
    out: list[_Proc] = []
    for i, s in enumerate(run):
        if s.role not in ("user", "assistant") or s.tool_calls or not s.content.strip():
            continue
        whole = _list_procedure(run, i, s) or _imperative_procedure(run, i, s)
        if whole is not None:
            out.append(whole)
            continue
        for sent in sentences(s.content):
            proc = _sentence_procedure(run, i, s, sent)
            if proc is not None:
                out.append(proc)
    kept: list[_Proc] = []
    for p in out:
        p.steps = [
            x for x in (_PHOTO.sub("", st).strip(" ,.") for st in p.steps) if x and not _FIRST_PERSON.match(x)
        ]
        if p.steps and _good_goal(p.goal):
            kept.append(p)
    return kept


# -- the extractor ------------------------------------------------------------------------
class RuleExtractor:
    """Deterministic, offline extraction; the fallback of the LLM extractor."""

    name = "rules"

    def __init__(self, *, entities: Sequence[Entity] = (), min_confidence: float = 0.3) -> None:
        self.known = list(entities)
        self.min_confidence = min_confidence

    def extract(self, events: Sequence[Event], steps: Mapping[str, Step]) -> Extraction:
        out = Extraction()
        if not events:
            return out
        namespace = events[0].namespace
        index = EntityIndex(namespace, self.known)
        batch_steps = [steps[sid] for e in events for sid in e.step_ids if sid in steps]
        index.observe(batch_steps)
        seen: set[str] = set()
        used: set[str] = set()
        for ev in events:
            run = [steps[sid] for sid in ev.step_ids if sid in steps]
            for k in self._event_knowledge(ev, run, index):
                if k.id in seen or k.confidence < self.min_confidence:
                    continue
                seen.add(k.id)
                out.knowledge.append(k)
                out.edges.extend(Edge(k.id, sid, "derived_from") for sid in k.source_ids)
                for name in k.entities:
                    out.edges.append(Edge(k.id, entity_id(namespace, name), "mentions"))
                    used.add(name.lower())
            for name in ev.entities:
                canon = index.canonical(name) or name
                out.edges.append(Edge(ev.id, entity_id(namespace, canon), "mentions"))
                used.add(canon.lower())
            used.update(p.lower() for p in ev.participants)
        out.entities = index.entities(only=used)
        return out

    def _event_knowledge(self, ev: Event, run: Sequence[Step], index: EntityIndex) -> list[Knowledge]:
        items: list[Knowledge] = []
        speakers = [index.speaker_label(s) for s in run if s.role in ("user", "assistant")]
        others = list(dict.fromkeys(speakers))
        for s in run:
            if s.role not in ("user", "assistant") or s.tool_calls or not s.content.strip():
                continue
            speaker = index.speaker_label(s)
            rest = [p for p in others if p != speaker]
            addressee = rest[0] if len(rest) == 1 else None
            for p in propositions_from_step(s, speaker, addressee, index):
                items.append(
                    Knowledge(
                        id=knowledge_id(ev.namespace, "proposition", p.statement, [s.id]),
                        namespace=ev.namespace,
                        kind="proposition",
                        statement=p.statement,
                        source_ids=[s.id],
                        event_id=ev.id,
                        subject=p.subject,
                        predicate=p.predicate,
                        object=p.object,
                        event_time=p.when.start if p.when is not None else None,
                        valid_from=s.timestamp,
                        confidence=p.confidence,
                        entities=[index.canonical(x) or x for x in p.entities],
                        slots={sl.relation: sl.value for sl in p.slots if not sl.ends},
                        ends={sl.relation: sl.value for sl in p.slots if sl.ends},
                    )
                )
        procs: list[_Proc] = []
        tp = tool_procedure(run)
        if tp is not None:
            procs.append(tp)
        procs.extend(advice_procedures(run))
        by_id = {s.id: s for s in run}
        for pr in procs:
            statement = clip(f"To {pr.goal}: " + " → ".join(pr.steps), 400)
            when = min(by_id[i].timestamp for i in pr.source_ids if i in by_id)
            items.append(
                Knowledge(
                    id=knowledge_id(ev.namespace, "prescription", statement, pr.source_ids),
                    namespace=ev.namespace,
                    kind="prescription",
                    statement=statement,
                    source_ids=list(pr.source_ids),
                    event_id=ev.id,
                    valid_from=when,
                    confidence=pr.confidence,
                    entities=index.mentions(pr.goal),
                    goal=pr.goal,
                    steps=list(pr.steps),
                    conditions=list(pr.conditions),
                    lessons=list(pr.lessons),
                    outcome=pr.outcome,
                    tools=list(pr.tools),
                )
            )
        return items

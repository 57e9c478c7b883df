"""Functional relations: the things a person has one of at a time, and the many ways people say them.

Why: "we bought a house in Leeds" and "we sold up and moved to Bristol" share no predicate, yet
the second makes the first stale. Supersession needs to know both fill the same slot
(*residence*). This module maps what a clause says onto a small vocabulary of such slots,
each with a normalised value, and notices clauses that end a slot without a replacement
("I left Globex", "I'm not vegetarian anymore"). The rule extractor and the LLM extractor
share it: the LLM is asked to label facts with the same relation names (`RELATIONS`).

A slot is `relation` (or `relation:topic`, e.g. `favorite:band`, `pet:dog`) → value key.
Two current facts about one subject with the same slot and different values cannot both be
true; the older one is superseded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

# The vocabulary, described for people and for the LLM extraction prompt.
RELATIONS: dict[str, str] = {
    "residence": "where the subject lives (city, region, country)",
    "employer": "the organisation the subject works for",
    "role": "the subject's job title or occupation",
    "partner": "the subject's spouse, partner, girlfriend or boyfriend",
    "pet": "a pet the subject has, as pet:<species> (pet:dog), value its name",
    "diet": "what the subject eats: vegetarian, vegan, eats fish, no meat",
    "opinion": "whether the subject likes or dislikes something, as opinion:<thing>, value like|dislike",
    "favorite": "the subject's favourite of a category, as favorite:<category>",
    "schedule": "when a recurring activity happens, as schedule:<activity>, value the days",
    "contact": "contact details, as contact:email|phone|address",
    "car": "the car the subject drives or owns",
    "studies": "what the subject studies",
    "reading": "the book the subject is reading now",
    "age": "the subject's age",
    "name": "a name, as name:<whose> (name:dog)",
    "count": "how many of something the subject has, as count:<thing>",
}


@dataclass(frozen=True, slots=True)
class Slot:
    """One functional relation a clause states (`ends=False`) or ends (`ends=True`)."""

    relation: str
    value: str  # normalised value key; "" when an ending clause names no value ("I quit my job")
    ends: bool = False


# -- building blocks --------------------------------------------------------------------------
_CAP = r"(?-i:[A-Z][\w&'’.-]*)"
_PROPER = rf"(?P<v>{_CAP}(?:\s+(?:(?:of|de|la|du|del|van|von|and|&)\s+)?{_CAP})*)"
_A = r"(?:(?:a|an|the|my|our)\s+)?"
_JOBS = (
    "engineer|developer|programmer|analyst|scientist|designer|manager|teacher|nurse|doctor|lawyer|attorney"
    "|consultant|accountant|writer|author|artist|chef|cook|baker|barista|waiter|waitress|student|intern"
    "|director|founder|co-founder|ceo|cto|cfo|coo|vp|president|researcher|professor|lecturer|tutor"
    "|therapist|counselor|counsellor|pharmacist|dentist|surgeon|physician|architect|electrician|plumber"
    "|carpenter|mechanic|pilot|driver|photographer|journalist|editor|producer|musician|singer|actor"
    "|actress|dancer|coach|trainer|instructor|librarian|clerk|cashier|receptionist|assistant"
    "|administrator|officer|agent|broker|banker|trader|economist|lead|specialist|technician|freelancer"
    "|contractor|entrepreneur|paramedic|firefighter|veterinarian|vet|recruiter|marketer|strategist"
    "|planner|supervisor|coordinator|executive|representative|salesperson|advisor|adviser|mentor"
)
_ROLE = rf"(?P<role>(?:[\w-]+\s+){{0,3}}?(?:{_JOBS}))\b"
_SPECIES = (
    r"(?P<species>dog|puppy|cat|kitten|rabbit|bunny|hamster|parrot|bird|horse|turtle|tortoise|snake|fish)"
)
_DIETS = (
    r"(?P<diet>vegetarian|vegan|pescatarian|pescetarian|keto|paleo|gluten[- ]free|dairy[- ]free"
    r"|plant[- ]based|carnivore|flexitarian)"
)
_FOODS = r"(?P<food>meat|red meat|fish|chicken|beef|pork|seafood|dairy|eggs|animal products)"
_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekend|weekday)s?"
_DAYS = rf"(?P<days>{_DAY}(?:\s*(?:,|and|&|or)\s*{_DAY})*(?:\s+(?:nights?|mornings?|evenings?|afternoons?))?)"
_NEG = re.compile(r"\b(?:no\s+longer|not|never|n['’]t|stopped|quit)\b", re.I)
_CLAUSE_END = re.compile(
    r"\b(?:who|which|that|where|because|while|but|if|although|though|whereas|unlike)\b|[;:]", re.I
)


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(r"\b" + pattern, re.I)


# (pattern, relation template, value group, ends): the first four kinds name their value with a
# capitalised name, which keeps "moved to tears" or "joined a gym" out.
_STATES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        _rx(
            r"(?:live[sd]?|living|reside[sd]?|residing|(?:am|is|are|'m|’m)?\s*based|settled(?:\s+down)?"
            r"|(?:just\s+)?(?:moved|moving|move|relocated|relocating|relocate)(?:\s+back)?"
            r"|bought\s+(?:a|our|my)\s+(?:new\s+)?(?:house|home|flat|place|apartment|condo)"
            r"|(?:rent|renting|got|found)\s+(?:a|an)\s+(?:new\s+)?(?:house|flat|place|apartment)"
            r"|home\s+is(?:\s+now)?)\s+(?:(?:out|over|down|up)\s+)?(?:in|to|into|at|near)?\s*" + _PROPER
        ),
        "residence",
        "v",
    ),
    (
        _rx(r"(?:works?|working|worked)\s+(?:(?:full|part)[- ]time\s+)?(?:at|for)\s+" + _PROPER),
        "employer",
        "v",
    ),
    (
        _rx(
            r"(?:joined|joining|start(?:ed|ing)?\s+(?:working\s+|a\s+new\s+job\s+)?(?:at|with)"
            r"|(?:got|took|accepted|landed|started)\s+(?:a|an|the)\s+(?:new\s+)?(?:job|position|role|offer)\s+"
            r"(?:at|with|from)|(?:got\s+)?hired\s+(?:at|by)|employed\s+(?:at|by)|new\s+job\s+(?:is\s+)?at"
            r"|signed\s+with)\s+" + _PROPER
        ),
        "employer",
        "v",
    ),
    (
        _rx(
            r"(?:married\s+to|engaged\s+to|dating|seeing|going\s+out\s+with|in\s+a\s+relationship\s+with"
            r"|(?:husband|wife|partner|boyfriend|girlfriend|fianc[ée]e?|spouse)(?:['’]s\s+name)?\s+is)\s+"
            + _PROPER
        ),
        "partner",
        "v",
    ),
)

_ROLE_STATES = (
    _rx(r"(?:works?|working|worked|started|hired|employed|new\s+(?:job|role|position))\s+as\s+" + _A + _ROLE),
    _rx(
        r"(?:am|is|are|'m|’m|became|become|becoming|now|got\s+promoted\s+to|was\s+promoted\s+to"
        r"|promoted\s+to|job\s+is)\s+(?:now\s+)?(?:a|an|the)\s+" + _ROLE
    ),
)
_ROLE_AT = re.compile(r"\s+(?:at|for|with)\s+" + _PROPER)
_AS_ROLE = _rx(r"as\s+(?:a|an|the)\s+" + _ROLE)  # "joined Globex as a data analyst"
_WORK_VERB = _rx(r"(?:work|works|working|worked|joined|joining|hired|started)\b")

_ENDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        _rx(
            r"(?:quit|left|leaving|resigned\s+from|retired\s+from|(?:was|got)\s+(?:laid\s+off|fired|let\s+go)"
            r"\s+(?:from|by)|laid\s+off\s+from|stopped\s+working\s+(?:at|for))\s+(?:my\s+job\s+at\s+)?"
            + _PROPER
        ),
        "employer",
    ),
    (_rx(r"(?:broke\s+up|split\s+up|separated|divorced)(?:\s+(?:with|from))?\s+" + _PROPER), "partner"),
)
_ENDS_BARE: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        _rx(r"(?:quit|left|lost)\s+(?:my|the|our)\s+job\b|(?:got|was)\s+(?:laid\s+off|fired)\b|retired\b"),
        "employer",
    ),
    (_rx(r"(?:broke\s+up|split\s+up|got\s+divorced|separated)\b"), "partner"),
)
_DIET_STATE = _rx(
    r"(?:am|is|are|'m|’m|became|become|went|turned|gone|been|going|now)\s+(?:a\s+)?(?:strict\s+|full\s+)?"
    + _DIETS
)
_DIET_EATS = _rx(
    r"(?:(?:start(?:ed)?|began|went\s+back\s+to)\s+eating|eat(?:ing)?)\s+" + _FOODS + r"(?P<again>\s+again)?"
)
_DIET_NO = _rx(
    r"(?:stopped|quit|gave\s+up|cut\s+out|don['’]t\s+eat|do\s+not\s+eat|no\s+longer\s+eat)\s+(?:eating\s+)?"
    + _FOODS
)
_DIET_ENDS = _rx(r"(?:no\s+longer|not|stopped\s+being|quit\s+being|gave\s+up\s+being)\s+(?:a\s+)?" + _DIETS)
_PET = _rx(
    r"(?:have|has|got|adopted|rescued)\s+(?:a|an|one|new)\s+(?:new\s+)?"
    + _SPECIES
    + r"(?:\s+(?:named|called)\s+"
    + _PROPER
    + ")?"
)
_PET_DIED = re.compile(
    r"^(?:old\s+)?" + _SPECIES + r"(?:\s+\w+)?\s+(?:died|passed(?:\s+away)?|is\s+gone)\b", re.I
)
_PET_NAME = _rx(_SPECIES + r"['’]s\s+name\s+is\s+" + _PROPER)
_PET_ENDS = _rx(
    r"(?:lost|put\s+down|rehomed|gave\s+away)\s+(?:my|our)\s+"
    + _SPECIES
    + r"|"
    + r"(?:my|our)\s+"
    + _SPECIES.replace("species", "species2")
    + r"\s+(?:died|passed(?:\s+away)?)"
)
_LIKE = _rx(
    r"(?:love[sd]?|like[sd]?|enjoy(?:s|ed)?|adore[sd]?|(?:am|'m|’m)\s+(?:really\s+)?(?:into|a\s+(?:big\s+|huge\s+)?fan\s+of)"
    r"|prefer(?:s)?)\s+(?P<obj>[a-z][\w' -]{1,40})"
)
_DISLIKE = _rx(
    r"(?:hate[sd]?|dislike[sd]?|can['’]?t\s+stand|cannot\s+stand|(?:don['’]t|do\s+not|didn['’]t|did\s+not)\s+(?:like|enjoy)|no\s+longer"
    r"\s+(?:like|enjoy)|(?:am|'m|’m)\s+(?:not\s+into|over|sick\s+of|tired\s+of|done\s+with)|(?:gone|went)\s+off)"
    r"\s+(?P<obj>[a-z][\w' -]{1,40})"
)
_FAVORITE = re.compile(
    r"^favou?rite\s+(?P<cat>[a-z][a-z ]{1,30}?)\s+(?:is|are|was|has\s+to\s+be|would\s+be)\s+(?:now\s+|currently\s+)?"
    r"(?P<v>.{1,60})",
    re.I,
)
_SCHEDULE = _rx(
    r"(?:have|has|take|takes|go\s+to|attend|do|moved|switched)\s+(?:my\s+)?(?P<act>[a-z][\w' -]{1,40}?)\s+"
    r"(?:(?:to|on|every)\s+)" + _DAYS
)
_SCHEDULE_POSS = re.compile(
    r"^(?P<act>[a-z][\w' -]{1,40}?)\s+(?:is|are)\s+(?:now\s+)?(?:on|every)\s+" + _DAYS, re.I
)
_CONTACT = re.compile(
    r"^(?P<kind>e-?mail(?:\s+address)?|phone(?:\s+number)?|(?:cell|mobile)(?:\s+number)?|number"
    r"|(?:home\s+)?address)\s+is\s+(?:now\s+)?(?P<v>\S+(?:\s+\S+){0,8})",
    re.I,
)
_CAR = _rx(r"(?:drive[s]?|driving)\s+(?:a|an)\s+(?P<v>[\w-]+(?:\s+[\w-]+){0,2})")
_CAR_POSS = re.compile(r"^car\s+is\s+(?:now\s+)?(?:a|an)\s+(?P<v>[\w-]+(?:\s+[\w-]+){0,2})", re.I)
_CAR_ENDS = _rx(r"(?:sold|crashed|totaled|totalled|got\s+rid\s+of)\s+(?:my|our)\s+(?:old\s+)?car\b")
_HOME_POSS = re.compile(r"^(?:home|house|place)\s+is\s+(?:now\s+)?(?:in|at)?\s*" + _PROPER, re.I)
_PARTNER_POSS = re.compile(
    r"^(?:husband|wife|partner|boyfriend|girlfriend|fianc[ée]e?|spouse)(?:['’]s\s+name)?\s+is\s+" + _PROPER,
    re.I,
)
_JOB_POSS = re.compile(r"^(?:job|role|position)\s+is\s+(?:now\s+)?(?:a|an)?\s*" + _ROLE, re.I)
_EMPLOYER_POSS = re.compile(r"^(?:employer|company)\s+is\s+(?:now\s+)?" + _PROPER, re.I)

_OBJ_CUT = re.compile(
    r"\s+(?:with|at|in|on|for|from|to|because|so|and|but|when|while|since|after|before|during|these|those"
    r"|this|now|anymore|any\s+more|again|too|as|lately|these\s+days|so\s+much|a\s+lot)\b.*$",
    re.I,
)
_ANAPHORA = frozenset(
    [
        "it",
        "that",
        "this",
        "them",
        "those",
        "these",
        "one",
        "you",
        "him",
        "her",
        "everything",
        "something",
        "anything",
    ]
)
_DETS = re.compile(r"^(?:the|a|an|my|our|your|his|her|their|some)\s+", re.I)


# -- values ------------------------------------------------------------------------------------
def value_key(text: str) -> str:
    """The comparable form of a slot value: "the New York Times " → "new york times"."""
    words = re.findall(r"[\w@.+-]+", text.lower())
    return " ".join(w for w in words if w not in ("a", "an", "the")).strip(" .")


def _topic(text: str) -> str | None:
    """Head phrase of an object ("spicy food at night" → "spicy food"); None for "it", "you"."""
    t = _DETS.sub("", _OBJ_CUT.sub("", text.strip()))
    t = re.sub(r"[^\w' -]", "", t).strip(" -'")
    words = t.lower().split()
    if not words or words[0] in _ANAPHORA or len(words) > 4:
        return None
    if words[-1].endswith("s") and len(words[-1]) > 4 and not words[-1].endswith("ss"):
        words[-1] = words[-1][:-1]  # "dogs" and "dog" are one topic
    return " ".join(words)


def _species(word: str) -> str:
    return {"puppy": "dog", "kitten": "cat", "bunny": "rabbit", "tortoise": "turtle"}.get(
        word.lower(), word.lower()
    )


def _clause(phrase: str) -> str:
    """The part of a predicate phrase that is still about the subject (cut at "who", "because", …)."""
    m = _CLAUSE_END.search(phrase)
    return phrase[: m.start()] if m else phrase


def _negated_before(phrase: str, start: int) -> bool:
    return bool(_NEG.search(phrase[:start]))


# -- the matchers --------------------------------------------------------------------------------
def _named_states(p: str) -> Iterator[Slot]:
    for rx, relation, group in _STATES:
        for m in rx.finditer(p):
            yield Slot(relation, value_key(m.group(group)), ends=_negated_before(p, m.start()))


def _roles(p: str) -> Iterator[Slot]:
    for rx in _ROLE_STATES:
        m = rx.search(p)
        if m is None:
            continue
        ends = _negated_before(p, m.start())
        yield Slot("role", value_key(m.group("role")), ends=ends)
        at = _ROLE_AT.match(p, m.end())
        if at is not None:
            yield Slot("employer", value_key(at.group("v")), ends=ends)
        return
    m = _AS_ROLE.search(p)
    if m is not None and _WORK_VERB.search(p[: m.start()]):
        yield Slot("role", value_key(m.group("role")), ends=_negated_before(p, m.start()))


def _endings(p: str) -> Iterator[Slot]:
    for rx, relation in _ENDS:
        for m in rx.finditer(p):
            yield Slot(relation, value_key(m.group("v")), ends=True)
    for rx, relation in _ENDS_BARE:
        if rx.search(p):
            yield Slot(relation, "", ends=True)


def _diet(p: str) -> Iterator[Slot]:
    m = _DIET_ENDS.search(p)
    if m is not None:
        yield Slot("diet", value_key(m.group("diet")), ends=True)
        return
    m = _DIET_STATE.search(p)
    if m is not None:
        yield Slot("diet", value_key(m.group("diet")), ends=_negated_before(p, m.start()))
        return
    m = _DIET_EATS.search(p)
    if (
        m is not None
        and (m.group("again") or "eating" in m.group(0).lower())
        and not _negated_before(p, m.start())
    ):
        yield Slot("diet", "eats " + value_key(m.group("food")))
        return
    m = _DIET_NO.search(p)
    if m is not None:
        yield Slot("diet", "no " + value_key(m.group("food")))


def _pets(p: str) -> Iterator[Slot]:
    for m in _PET_ENDS.finditer(p):
        yield Slot("pet:" + _species(m.group("species") or m.group("species2")), "", ends=True)
    for rx in (_PET, _PET_NAME):
        for m in rx.finditer(p):
            if not _negated_before(p, m.start()):
                yield Slot("pet:" + _species(m.group("species")), value_key(m.group("v") or "yes"))


def _opinions(p: str) -> Iterator[Slot]:
    for m in _DISLIKE.finditer(p):
        topic = _topic(m.group("obj"))
        if topic:
            yield Slot("opinion:" + topic, "dislike")
    for m in _LIKE.finditer(p):
        topic = _topic(m.group("obj"))
        if topic and not _negated_before(p, m.start()):
            yield Slot("opinion:" + topic, "like")


def _schedule(p: str) -> Iterator[Slot]:
    m = _SCHEDULE.search(p)
    if m is not None:
        topic = _topic(m.group("act"))
        if topic:
            yield Slot("schedule:" + topic, value_key(m.group("days")))


def _car(p: str) -> Iterator[Slot]:
    if _CAR_ENDS.search(p):
        yield Slot("car", "", ends=True)
    m = _CAR.search(p)
    if m is not None and not _negated_before(p, m.start()):
        yield Slot("car", value_key(_OBJ_CUT.sub("", m.group("v"))))


def _possessive(rest: str) -> Iterator[Slot]:
    """Clauses that start with "my …": "my favourite band is Wet Leg", "my email is …"."""
    m = _FAVORITE.match(rest)
    if m is not None:
        yield Slot("favorite:" + value_key(m.group("cat")), value_key(_OBJ_CUT.sub("", m.group("v"))))
        return
    simple = (
        (_HOME_POSS, "residence"),
        (_PARTNER_POSS, "partner"),
        (_EMPLOYER_POSS, "employer"),
    )
    for rx, relation in simple:
        m = rx.match(rest)
        if m is not None:
            yield Slot(relation, value_key(m.group("v")))
            return
    m = _JOB_POSS.match(rest)
    if m is not None:
        yield Slot("role", value_key(m.group("role")))
        return
    m = _CONTACT.match(rest)
    if m is not None:
        kind = m.group("kind").lower()
        key = "email" if "mail" in kind else "address" if "address" in kind else "phone"
        yield Slot("contact:" + key, value_key(m.group("v")))
        return
    m = _CAR_POSS.match(rest)
    if m is not None:
        yield Slot("car", value_key(m.group("v")))
        return
    m = _PET_NAME.match(rest)
    if m is not None:
        yield Slot("pet:" + _species(m.group("species")), value_key(m.group("v")))
        return
    m = _PET_DIED.match(rest)
    if m is not None:
        yield Slot("pet:" + _species(m.group("species")), "", ends=True)
        return
    m = _SCHEDULE_POSS.match(rest)
    if m is not None:
        topic = _topic(m.group("act"))
        if topic:
            yield Slot("schedule:" + topic, value_key(m.group("days")))


_MATCHERS = (_named_states, _roles, _endings, _diet, _pets, _opinions, _schedule, _car)


def slots_in(phrase: str, *, possessive: bool = False) -> list[Slot]:
    """The slots a predicate phrase (the clause after its subject) states or ends.

    `phrase` is what follows the subject: "moved to Denver last month", "am a data analyst at
    Globex", "sold up and moved to Bristol", "left Globex". With `possessive`, it is what follows
    "my": "favourite band is Wet Leg", "email is sam@example.com".
    """
    p = _clause(" ".join(phrase.split()))
    found = list(_possessive(p)) if possessive else [s for fn in _MATCHERS for s in fn(p)]
    out: dict[tuple[str, bool], Slot] = {}
    for s in found:
        if s.relation and (s.value or s.ends):
            out.setdefault((s.relation, s.ends), s)
    return list(out.values())


# -- predicate-only labelling (LLM facts, facts stored before this vocabulary) ------------------
_PREDICATE_SLOTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), key)
    for p, key in (
        (r"^(?:lives?|is\s+living|has\s+been\s+living|resides?|is\s+based)\s+(?:in|at)$", "residence"),
        (r"^(?:moved|has\s+moved|relocated|is\s+moving)\s+(?:to|in)$", "residence"),
        (
            r"^(?:works?|is\s+working|has\s+been\s+working|started\s+working|is\s+employed|got\s+a\s+job)\s+(?:at|for)$",
            "employer",
        ),
        (r"^(?:works?|is\s+working|is\s+employed)\s+as$", "role"),
        (r"^(?:is\s+married|got\s+married|has\s+been\s+married|is\s+engaged|got\s+engaged)\s+to$", "partner"),
        (r"^(?:is\s+dating|is\s+seeing|is\s+going\s+out\s+with)$", "partner"),
        (r"^(?:husband|wife|partner|boyfriend|girlfriend|spouse)(?:'s\s+name)?\s+(?:is|was)$", "partner"),
        (r"^(?:favou?rite\s+(?P<x>[a-z ]+?))\s+(?:is|are|was)$", "favorite:{x}"),
        (r"^(?P<x>[a-z ]+?)(?:'s|’s)\s+name\s+(?:is|was)$", "name:{x}"),
        (r"^age\s+is$", "age"),
        (r"^(?:is\s+studying|studies|majors?\s+in|is\s+majoring\s+in)$", "studies"),
        (r"^(?:drives|is\s+driving)$", "car"),
        (r"^(?:is\s+)?(?:currently\s+)?reading$", "reading"),
    )
)
_NUMBER = re.compile(r"^(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|no)\s+(?P<noun>[a-z]+)")
_AGE = re.compile(r"^(?:\d+|[a-z]+-?[a-z]*)\s+years?\s+old$")
_ADVERBS = re.compile(r"\b(?:just|now|currently|really|also|finally|still|actually|recently|already|so)\b\s*")
_TAIL = re.compile(
    r"\s+(?:for|with|because|since|after|before|from|to|at|on|and|but|so|when|while|as)\s.*$", re.I
)


def predicate_slot(predicate: str | None, obj: str | None) -> Slot | None:
    """The slot a bare (predicate, object) pair fills, for facts that carry no slots of their own."""
    if not predicate or not obj:
        return None
    p = " ".join(_ADVERBS.sub("", predicate.lower().replace("(with others) ", "")).split())
    value = value_key(_TAIL.sub("", obj))
    for rx, key in _PREDICATE_SLOTS:
        m = rx.match(p)
        if m:
            return Slot(key.format(**{k: v.strip() for k, v in m.groupdict().items() if v}), value)
    o = obj.lower().strip()
    if p in ("has", "have", "has got"):
        m = _NUMBER.match(o)
        if m:
            return Slot("count:" + m.group("noun").rstrip("s"), value)
    if p in ("is", "turned", "just turned") and _AGE.match(o):
        return Slot("age", value)
    return None

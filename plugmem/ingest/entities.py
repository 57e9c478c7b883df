"""Rule-based entities: who and what a conversation is about, with aliases merged only on evidence.

Why rules: they are free, deterministic and good enough for names, places and titles,
which are what recall pivots on. Why evidence-only merges: "Mel" and "Melanie" look
alike, but so do "Jon" and "John", who are different people. A nickname becomes an
alias only when the conversation says so ("call me X", "X, short for Y") or when one
speaker addresses the other by it ("Hey Mel!" in reply to Melanie).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from plugmem.dates import MONTH_NAMES, WEEKDAYS
from plugmem.model import Entity, Step
from plugmem.namespace import NamespaceKey
from plugmem.text import sentences, short_hash, wordset

# capitalised words that are not names: pronouns, interjections, determiners, question words,
# sentence adverbs, generic relations. Days and months are dates, not entities.
STOP_CAPS = (
    wordset(
        """I I'm I've I'd I'll Im Ive Id Ill Me My Mine Myself You You're You've You'd You'll Your Yours We
    We're We've Our Us He He's His Him She She's Her Hers They They're Their Them It It's Its This That These
    Those There Here Hey Hi Hello Hiya Yo Wow Oh Ooh Aw Aww Ah Ahh Um Uh Hmm Yeah Yes Yep Yup No Nope Nah Ok
    Okay Sure Well So But And Or If When While What What's Where Which Who Whom Whose Why How Thanks Thank
    Please Sorry Congrats Congratulations Great Cool Awesome Nice Amazing Wonderful Lovely Sweet Good Bad Best
    Love Lol Haha Omg Btw Also Just Really Totally Definitely Absolutely Maybe Perhaps Actually Anyway Anyways
    Still Even Then Now Today Tonight Tomorrow Yesterday Last Next Morning Evening Night Afternoon A An The
    Mom Mum Dad Mommy Daddy Mama Papa Grandma Grandpa Sis Bro Dude Buddy Guys Man Babe Honey Dear Sir Madam
    Let Let's Do Does Did Don't Didn't Can Can't Could Would Should Will Won't Is Are Was Were Be Been Have Has
    Had Not Never Always Often Sometimes Every Some Any All Many Much More Most Both Each Other Another Such
    Same One Two Three First Second Third Finally Lastly Plus Like Unlike Yours Sincerely Regards Cheers Bye
    Goodbye Welcome Happy Merry Dear Gonna Wanna Gotta Ya Yay Woohoo Whoa Geez Gosh God Jeez Ugh Meh Lmao
    Haha Hahaha Hehe Alright Later Hopefully Unfortunately Fortunately Luckily Sadly Honestly Seriously
    Together Mm Mmm Hm Ouch Yikes Oops Whew Phew Exactly True Right Agreed Indeed Of Off On In At To For From With By About As Into Over
    After Before Since Until Though Although Because However Anyhow Besides Otherwise Instead Meanwhile
    Hope Glad Sounds Looks Seems Take Talk See Check Keep Got Get Go Went Made Make Know Think Feel Felt
    Speaking Wish Whatever Whoever Wherever Whenever Nothing Something Everything Anything Everyone Someone
    Anyone Nobody Somebody Everybody Thing Things Stuff Lots Lot Kind Sort Type Way Ways Life Time Times
    Day Days Week Weeks Month Months Year Years Weekend Weekends Spring Summer Fall Autumn Winter"""
    )
    | wordset(" ".join(MONTH_NAMES))
    | frozenset(WEEKDAYS)
    | wordset(
        """mon tue tues wed thu thur thurs fri sat sun jan feb mar apr jun jul aug sep sept oct nov dec am pm ai
        ok lol omg btw tbh idk imo fyi asap diy tv pc"""
    )
)
CONNECTORS = frozenset({"of", "the", "de", "van", "von", "da", "del", "la", "le", "du", "&"})
PERSON_CUES = wordset("""friend friends sister brother mom mum dad son daughter husband wife partner boyfriend girlfriend
    cousin aunt uncle niece nephew grandma grandpa grandmother grandfather met
    colleague coworker boss neighbor neighbour mentor coach teacher kid kids baby fiance fiancee""")
PLACE_CUES = wordset("in from visited visit visiting near around across toward towards")
TRAVEL_VERBS = wordset(
    "went go goes going gone moved move moving trip trips flew fly flying drove drive travel traveled travelled"
    " came come back road vacation holiday relocated relocating"
)
ORG_WORDS = wordset("""university college school academy inc corp corporation company co ltd llc bank club group center centre
    foundation institute hospital church museum library cafe restaurant studio studios agency society team
    association league network department""")
PLACE_WORDS = wordset(
    "street st road avenue ave park lake river mountain mountains beach island city county state canyon bay"
)
INTERJECTIONS = (
    r"hey|hi|hello|hiya|thanks|thank\s+you|wow|oh|aw+|yo|congrats|congratulations|morning|good\s+morning"
    r"|good\s+night|bye|sorry|haha|lol|yes|yeah|yep|no|ok|okay|omg|dear|sure|great|cool|awesome|nice"
    r"|welcome|cheers|totally|exactly|right|true|hehe|ha|ooh|ah|gosh|man|dude"
)
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9'’&.\-]*")
_NAME = r"([A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?)"
_CALL_ME = re.compile(r"\b(?:call\s+me|I\s+go\s+by|people\s+call\s+me|everyone\s+calls\s+me)\s+" + _NAME)
_MY_NAME = re.compile(r"\bmy\s+name(?:'s|’s|\s+is)\s+" + _NAME + r"(?:\s+" + _NAME + r")?")
_SHORT_FOR = re.compile(
    r"\b" + _NAME + r"\s*(?:,|\()?\s*(?:which\s+is\s+|is\s+|it's\s+)?short\s+for\s+" + _NAME
)
_FOR_SHORT = re.compile(r"\b" + _NAME + r"\s*(?:\(|,)\s*(?:or\s+)?" + _NAME + r"\s+for\s+short")
# a vocative needs a greeting before it ("Hey Mel!") or to close the sentence after a comma
# ("That's great, Mel!"): a bare "Hopefully, ..." opening a sentence is an adverb, not a name.
_VOCATIVE_START = re.compile(r"^\s*(?i:" + INTERJECTIONS + r")[,!.]?\s+" + _NAME + r"\s*(?:[,!?.…]|$)")
_VOCATIVE_END = re.compile(r",\s*" + _NAME + r"\s*[!?.…]*\s*$")


def entity_id(namespace: NamespaceKey, name: str) -> str:
    """Deterministic: the same name in the same namespace is always the same entity."""
    return "ent-" + short_hash(namespace, " ".join(name.lower().split()))


@dataclass(frozen=True, slots=True)
class Mention:
    """A candidate entity span in a text."""

    text: str
    start: int
    end: int
    sentence_start: bool
    kind: str = "thing"


def _clean(tok: str) -> str:
    tok = tok.rstrip(".-'’")
    for suffix in ("'s", "’s"):
        if tok.endswith(suffix):
            tok = tok[: -len(suffix)]
    return tok


def _is_stop(tok: str) -> bool:
    return tok.replace("’", "'").lower() in STOP_CAPS


def _is_cap(tok: str) -> bool:
    """Capitalised and not a stop word; long all-caps words are shouting, not acronyms."""
    if tok.isupper() and len(tok) > 5:
        return False
    return tok[:1].isupper() and not _is_stop(tok)


def _guess_kind(tokens: Sequence[str], prev: str | None, prev2: str | None = None) -> str:
    last = tokens[-1].lower()
    if last in ORG_WORDS or (len(tokens) > 1 and tokens[0].lower() in ORG_WORDS):
        return "org"
    if last in PLACE_WORDS:
        return "place"
    if prev in PERSON_CUES:
        return "person"
    if prev in PLACE_CUES or (prev == "to" and prev2 in TRAVEL_VERBS):
        return "place"
    return "thing"


def find_mentions(text: str) -> list[Mention]:
    """Capitalised spans (names, places, titles) and acronyms, stop words trimmed.

    A span that opens a sentence is flagged: sentence-initial capitals are weak evidence
    and only count when the name is already known.
    """
    out: list[Mention] = []
    offset = 0
    for sent in sentences(text):
        base = text.find(sent, offset)
        base = offset if base < 0 else base
        offset = base + len(sent)
        toks = [(m.group(0), m.start() + base, m.end() + base) for m in _TOKEN.finditer(sent)]
        i = 0
        while i < len(toks):
            raw, s0, _ = toks[i]
            tok = _clean(raw)
            if not tok or not _is_cap(tok):
                i += 1
                continue
            j = i + 1
            span = [tok]
            end = toks[i][1] + len(tok)
            ended_possessive = _clean(raw) != raw.rstrip(".-")
            while j < len(toks) and not ended_possessive:
                nxt = _clean(toks[j][0])
                if nxt and _is_cap(nxt):
                    span.append(nxt)
                    end = toks[j][1] + len(nxt)
                    ended_possessive = nxt != toks[j][0].rstrip(".-")
                    j += 1
                    continue
                # connectors inside a name: "Bank of America", "Lord of the Rings"
                k = j
                while k < len(toks) and toks[k][0].lower() in CONNECTORS:
                    k += 1
                if k > j and k < len(toks) and _is_cap(_clean(toks[k][0])):
                    span.extend(t[0] for t in toks[j:k])
                    j = k
                    continue
                break
            prev = toks[i - 1][0].lower() if i > 0 else None
            prev2 = toks[i - 2][0].lower() if i > 1 else None
            name = " ".join(span)
            if len(name) >= 2 and not name.isdigit():
                out.append(Mention(name, s0, end, i == 0, _guess_kind(span, prev, prev2)))
            i = j
    return out


@dataclass(slots=True)
class _Record:
    name: str
    aliases: list[str] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    person: bool = False  # speaker or alias evidence: certainly a person


class EntityIndex:
    """Canonical entities of one namespace, built from steps, extended across batches."""

    def __init__(self, namespace: NamespaceKey, existing: Iterable[Entity] = ()) -> None:
        self.namespace = namespace
        self._records: dict[str, _Record] = {}  # lowercase canonical name → record
        self._lookup: dict[str, str] = {}  # lowercase name or alias → lowercase canonical name
        self._speakers: set[str] = set()
        self.role_names: dict[str, str] = {}  # "user" → "Sam" when the user said "my name is Sam"
        self.evidence: list[tuple[str, str, str]] = []  # (alias, canonical, why)
        for e in existing:
            rec = self._ensure(e.name)
            rec.kinds[e.kind] += 1
            rec.person = rec.person or e.kind == "person"
            for a in e.aliases:
                self._link(a, e.name)

    # -- records ------------------------------------------------------------------------
    def _ensure(self, name: str) -> _Record:
        key = name.lower()
        canon = self._lookup.get(key)
        if canon is not None:
            return self._records[canon]
        rec = _Record(name)
        self._records[key] = rec
        self._lookup[key] = key
        return rec

    def _link(self, alias: str, canonical: str) -> None:
        """Make `alias` (and everything already merged into it) point at `canonical`."""
        target = self._ensure(canonical)
        tkey = target.name.lower()
        akey = alias.lower()
        old = self._lookup.get(akey)
        if old == tkey:
            return
        if old is not None and old in self._records and old != tkey:
            rec = self._records.pop(old)
            for k, v in list(self._lookup.items()):
                if v == old:
                    self._lookup[k] = tkey
            target.kinds.update(rec.kinds)
            target.person = target.person or rec.person
            for a in [rec.name, *rec.aliases]:
                if a.lower() != tkey and a not in target.aliases:
                    target.aliases.append(a)
        else:
            self._lookup[akey] = tkey
            if alias not in target.aliases and akey != tkey:
                target.aliases.append(alias)

    def add(self, name: str, kind: str = "thing") -> str:
        """Register a name (or count another sighting); returns its canonical form."""
        rec = self._ensure(name)
        rec.kinds[kind] += 1
        rec.person = rec.person or kind == "person"
        return rec.name

    def add_speaker(self, name: str) -> str:
        rec = self._ensure(name)
        rec.person = True
        rec.kinds["person"] += 1
        self._speakers.add(rec.name.lower())
        return rec.name

    def merge(self, alias: str, canonical: str, why: str) -> None:
        """Record `alias` as another name of `canonical`, on stated evidence."""
        if alias.lower() == canonical.lower():
            return
        if alias.lower() in self._speakers and canonical.lower() in self._speakers:
            return  # two speakers are two people, whatever one calls the other
        self._link(alias, canonical)
        rec = self._records[self._lookup[canonical.lower()]]
        rec.person = True
        self.evidence.append((alias, rec.name, why))

    def canonical(self, name: str) -> str | None:
        key = self._lookup.get(name.lower())
        return self._records[key].name if key is not None else None

    def is_speaker(self, name: str) -> bool:
        c = self.canonical(name)
        return c is not None and c.lower() in self._speakers

    def speaker_label(self, step: Step) -> str:
        """Who said a step: its name, a name the speaker gave, or the role."""
        if step.name:
            return self.canonical(step.name) or step.name
        if step.role in self.role_names:
            return self.role_names[step.role]
        return step.role.capitalize()

    # -- observation ---------------------------------------------------------------------
    def observe(self, steps: Sequence[Step]) -> None:
        """Learn speakers, stated aliases, vocative nicknames and mentioned names from steps."""
        for s in steps:
            if s.name and s.role in ("user", "assistant"):
                self.add_speaker(s.name)
        for s in steps:
            if s.role in ("user", "assistant"):
                self._stated_aliases(s)
        self._vocatives(steps)
        known_mid: set[str] = set()
        all_mentions: list[tuple[Mention, Step]] = []
        for s in steps:
            if s.role not in ("user", "assistant"):
                continue
            for m in find_mentions(s.content):
                all_mentions.append((m, s))
                if not m.sentence_start:
                    known_mid.add(m.text.lower())
        for m, _ in all_mentions:
            if m.sentence_start and m.text.lower() not in known_mid and self.canonical(m.text) is None:
                continue
            rec = self._ensure(m.text)
            rec.kinds[m.kind] += 1

    def _stated_aliases(self, s: Step) -> None:
        me = self.speaker_label(s)
        for m in _MY_NAME.finditer(s.content):
            full = " ".join(x for x in m.groups() if x)
            if m.group(1).lower() in STOP_CAPS:
                continue
            if s.name:
                self.add_speaker(s.name)
                self.merge(full, s.name, f"'{m.group(0)}' said by {s.name}")
            else:
                self.role_names[s.role] = self.add_speaker(full)
        for m in _CALL_ME.finditer(s.content):
            if m.group(1).lower() in STOP_CAPS:
                continue
            if s.name or s.role in self.role_names:
                self.merge(m.group(1), me, f"'{m.group(0)}' said by {me}")
            else:
                self.role_names[s.role] = self.add_speaker(m.group(1))
        for m in _SHORT_FOR.finditer(s.content):
            if m.group(1).lower() not in STOP_CAPS and m.group(2).lower() not in STOP_CAPS:
                self.merge(m.group(1), m.group(2), f"'{m.group(0)}'")
        for m in _FOR_SHORT.finditer(s.content):
            if m.group(1).lower() not in STOP_CAPS and m.group(2).lower() not in STOP_CAPS:
                self.merge(m.group(2), m.group(1), f"'{m.group(0)}'")

    def _vocatives(self, steps: Sequence[Step]) -> None:
        """A name one speaker calls the other in reply to them is the other's nickname.

        Merged when seen twice, or once if it shares the addressee's first letter (one
        observation could be a third person being greeted; a shared initial makes that unlikely).
        """
        seen: dict[str, Counter[str]] = defaultdict(Counter)
        prev: Step | None = None
        for s in steps:
            if s.role not in ("user", "assistant"):
                continue
            if (
                prev is not None
                and prev.session_id == s.session_id
                and s.name
                and prev.name
                and s.name != prev.name
            ):
                sents = sentences(s.content)
                called: set[str] = set()
                for sent in dict.fromkeys(sents[:1] + sents[-1:]):
                    for rx in (_VOCATIVE_START, _VOCATIVE_END):
                        m = rx.search(sent)
                        if m and m.group(1).lower() not in STOP_CAPS and not self.is_speaker(m.group(1)):
                            called.add(m.group(1))
                for x in called:  # once per turn, however it is phrased
                    seen[x][prev.name] += 1
            prev = s
        for x, addressees in seen.items():
            if len(addressees) != 1:
                continue  # called different people by it: not evidence for either
            (target, count), *_ = addressees.items()
            if count >= 2 or x[0].lower() == target[0].lower():
                self.merge(x, target, f"{x!r} used {count}x addressing {target}")

    # -- queries -------------------------------------------------------------------------
    def mentions(self, text: str) -> list[str]:
        """Canonical names mentioned in `text` (sentence-initial ones only when known)."""
        out: list[str] = []
        for m in find_mentions(text):
            canon = self.canonical(m.text)
            if canon is None:
                # "Mel's" or a longer span holding a known name ("Caroline Smith" holds "Caroline")
                parts = [p for p in m.text.split() if self.canonical(p)]
                canon = self.canonical(parts[0]) if len(parts) == 1 and len(m.text.split()) == 1 else None
            if canon is None and not m.sentence_start:
                canon = self._ensure(m.text).name
            if canon is not None and canon not in out:
                out.append(canon)
        return out

    def _to_entity(self, rec: _Record) -> Entity:
        if rec.person:
            kind = "person"
        else:
            specific = [k for k, _ in rec.kinds.most_common() if k != "thing"]
            kind = specific[0] if specific else "thing"
        return Entity(
            id=entity_id(self.namespace, rec.name),
            namespace=self.namespace,
            name=rec.name,
            aliases=list(rec.aliases),
            kind=kind,
        )

    def entities(self, only: Collection[str] | None = None) -> list[Entity]:
        """Every entity, or those whose lowercase name is in `only` (without building the others)."""
        return [self._to_entity(r) for r in self._records.values() if only is None or r.name.lower() in only]

    def entity(self, name: str) -> Entity | None:
        key = self._lookup.get(name.lower())
        return self._to_entity(self._records[key]) if key is not None else None

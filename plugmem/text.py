"""The text toolbox every stage shares: words, sentences, stems, similarities, ids, clipping.

Why one module: ingest (extraction, entities, segmentation, consolidation, summaries), the lexical
index and recall all cut text into words; keeping the cutters side by side lets a reader see that
there are two vocabularies on purpose. `content_words` (with `STOPWORDS`, `stem`) is what ingest
compares sentences and statements on: apostrophes are folded ("I'm" → "im") and vague words
("thing", "something", "okay", "pretty") count as stopwords. `tokenize` (with `SEARCH_STOPWORDS`,
`search_stem`) is what BM25 and query analysis index: apostrophes are kept, those vague words stay
searchable, and possessives and "-es" plurals are folded too. The two are tuned and measured apart;
changing either one moves the benchmark figures.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence


# -- what ingest compares: content words, sentences, similarities, ids ---------------------
def wordset(text: str, *, lower: bool = True) -> frozenset[str]:
    """A whitespace-separated word list as a set (readable vocabularies)."""
    return frozenset(w.lower() if lower else w for w in text.split())


STOPWORDS = wordset("""a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her
    here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
    now of off on once only or other our ours ourselves out over own same she should so some such than that the
    their theirs them themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself yourselves im ive id
    ill youre youve dont didnt doesnt isnt wasnt cant wont thats whats its lets gonna wanna gotta yeah yes yep
    oh hey hi hello wow really also like get got lot lots thanks thank ok okay sure well much many one
    something anything everything thing things way kinda sorta pretty""")
CHITCHAT = wordset("""hey hi hello wow thanks thank cool awesome great nice amazing sweet lol haha yeah yes yep sure ok okay
    congrats congratulations love glad happy sounds good totally agree definitely absolutely bye later soon
    talk see take care care you too aw aww omg wonderful fantastic incredible sorry hear hope""")
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
_SENT_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+|\n+")
_ABBREV = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "prof", "mt", "no"}
)


def sentences(text: str) -> list[str]:
    """Split text into sentences; abbreviations like "Dr." do not end one."""
    out: list[str] = []
    start = 0
    for m in _SENT_END.finditer(text):
        piece = text[start : m.start()].rstrip()
        last = piece.rsplit(None, 1)[-1].lower().rstrip(".") if piece.split() else ""
        if "\n" not in m.group(0) and last in _ABBREV:
            continue
        end = m.end() if "\n" in m.group(0) else m.start() + len(m.group(0).rstrip())
        chunk = text[start:end].strip()
        if chunk:
            out.append(chunk)
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


def words(text: str) -> list[str]:
    """Lowercased word tokens, apostrophes folded ("I'm" → "im")."""
    return [w.lower().replace("'", "").replace("’", "") for w in _WORD.findall(text)]


def stem(word: str) -> str:
    """A light suffix stripper: enough for plurals and simple verb forms to meet."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ed") and not word.endswith("eed"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def content_words(text: str) -> list[str]:
    """Stemmed words that carry meaning: what lexical similarity is computed on."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1]


def is_chitchat(sentence: str) -> bool:
    """Greetings, thanks and reactions: no fact to keep."""
    ws = words(sentence)
    if not ws:
        return True
    content = [w for w in ws if w not in STOPWORDS and w not in CHITCHAT]
    return len(content) <= 1 or len(content) / len(ws) < 0.2


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na > 0 and nb > 0 else 0.0


def counter_cosine(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    small, big = (a, b) if len(a) < len(b) else (b, a)
    dot = sum(v * big.get(k, 0) for k, v in small.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb)


def short_hash(*parts: str, size: int = 10) -> str:
    """Deterministic id suffix: the same origin always yields the same id."""
    h = hashlib.blake2b(digest_size=size)
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def clip(text: str, max_chars: int) -> str:
    """Cut on a word boundary and mark the cut."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:-") + "…"


# -- what the lexical index and query analysis search on -----------------------------------
_TOKEN = re.compile(r"[a-z0-9][a-z0-9']+|[0-9]")  # single digits count: "3 kids", "item 0"

SEARCH_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "aren't",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "didn't",
        "do",
        "does",
        "doesn't",
        "doing",
        "don't",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "he'd",
        "he'll",
        "he's",
        "her",
        "here",
        "here's",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "how's",
        "i",
        "i'd",
        "i'll",
        "i'm",
        "i've",
        "if",
        "in",
        "into",
        "is",
        "isn't",
        "it",
        "it's",
        "its",
        "itself",
        "let's",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "ought",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "she'd",
        "she'll",
        "she's",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "that's",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "there's",
        "these",
        "they",
        "they'd",
        "they'll",
        "they're",
        "they've",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "wasn't",
        "we",
        "we'd",
        "we'll",
        "we're",
        "we've",
        "were",
        "weren't",
        "what",
        "what's",
        "when",
        "when's",
        "where",
        "where's",
        "which",
        "while",
        "who",
        "who's",
        "whom",
        "why",
        "why's",
        "will",
        "with",
        "won't",
        "would",
        "you",
        "you'd",
        "you'll",
        "you're",
        "you've",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "yeah",
        "yes",
        "oh",
        "hey",
        "hi",
        "wow",
        "really",
        "just",
        "also",
        "so",
        "like",
        "get",
        "got",
        "lot",
        "lots",
        "thanks",
        "thank",
        "did",
        "does",
    ]
)


def search_stem(word: str) -> str:
    """`stem`, after dropping a possessive, and with "-es" after s, x or z folded too ("boxes" → "box")."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 3 and word.endswith("es") and word[-3] in "sxz":
        return word[:-2]
    return stem(word)


def tokenize(text: str) -> list[str]:
    """Search tokens: lowercased, stopwords out, stemmed (the lexical index and query analysis)."""
    return [search_stem(w) for w in _TOKEN.findall(text.lower()) if w not in SEARCH_STOPWORDS]

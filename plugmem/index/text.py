"""Tokenization shared by the lexical index and query analysis."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9][a-z0-9']+|[0-9]")  # single digits count: "3 kids", "item 0"

STOPWORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before being below
    between both but by can could did didn't do does doesn't doing don't down during each few for from further
    had has have having he he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm
    i've if in into is isn't it it's its itself let's me more most my myself no nor not of off on once only or
    other ought our ours ourselves out over own same she she'd she'll she's should so some such than that that's
    the their theirs them themselves then there there's these they they'd they'll they're they've this those
    through to too under until up very was wasn't we we'd we'll we're we've were weren't what what's when when's
    where where's which while who who's whom why why's will with won't would you you'd you'll you're you've your
    yours yourself yourselves yeah yes oh hey hi wow really just also so like get got lot lots thanks thank
    did does""".split()
)


def stem(word: str) -> str:
    """A light suffix stripper: enough to match plurals and simple verb forms."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ed") and not word.endswith("eed"):
        return word[:-2]
    if len(word) > 3 and word.endswith("es") and word[-3] in "sxz":
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]

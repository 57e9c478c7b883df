"""A question about one participant is answered from what that participant said.

Why: in a conversation between Caroline and Melanie, "What did Caroline research?" shares its
topic words with Melanie's replies as much as with Caroline's own turns, and the replies fill the
budget. When the query names some of the conversation's speakers but not the others, the other
speakers' turns and the facts about them are lowered (not dropped: a reply can still hold the
answer, "Melanie: congrats on the adoption, Caroline!"). Role names ("user", "assistant") are not
names: "what did the assistant suggest" must not hide the user's turns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from plugmem.index.catalog import Catalog
from plugmem.recall.context import Scored

OTHER_SPEAKER = 0.4  # measured on LoCoMo dev (see docs/NOTES.md, issue 15)
ROLES = frozenset({"user", "assistant", "system", "tool", "ai", "human", "bot", "agent"})


def named_speakers(query: str, speakers: Sequence[str]) -> set[str]:
    """The speakers a query names as whole words ("Caroline's" names Caroline)."""
    return {
        s
        for s in speakers
        if s.lower() not in ROLES and re.search(rf"(?<!\w){re.escape(s)}(?!\w)", query, re.I)
    }


def focus_on_named(ranked: Sequence[Scored], query: str, cat: Catalog) -> tuple[list[Scored], set[str]]:
    """Lower the turns of, and facts about, the speakers the query leaves out when it names others.

    Returns the ranking (re-sorted) and the speakers named; unchanged when it names none or all.
    """
    speakers = [s for s in cat.speakers() if s.lower() not in ROLES]
    if len(speakers) < 2:
        return list(ranked), set()
    named = named_speakers(query, speakers)
    if not named or len(named) == len(speakers):
        return list(ranked), set()
    others = {s.lower() for s in speakers if s not in named}
    for s in ranked:
        d = s.doc
        who = d.speaker if d.kind == "turn" else d.extra.get("subject") if d.kind == "knowledge" else None
        if isinstance(who, str) and who.lower() in others:
            s.score *= OTHER_SPEAKER
    return sorted(ranked, key=lambda s: -s.score), named

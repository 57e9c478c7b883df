"""The prompt-injection fence: recalled text can never close the <memory> block or start a line.

Why one function: everything memory prints inside the fence (turn text, speaker labels,
summaries, facts) passes through `defuse`, so the guarantee "the only fence close is
ours, at the end, and every line inside starts with our own prefix" holds in one place.
A closing tag is recognised in any case, with whitespace, NULs or HTML entities inside it
(`</MEMORY >`, `&lt;/memory&gt;`, `<&#47;memory>`); every character `str.splitlines()`
treats as a line break (\\r, VT, FF, NEL, U+2028, U+2029, ...) becomes a space.
"""

from __future__ import annotations

import html
import re
import unicodedata

# every code point str.splitlines() splits on
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_BREAKS = re.compile(f"[{re.escape(LINE_BREAKS)}]+")
_OTHER_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f]")
# invisible characters a model reads through: soft hyphen, zero-width joiners and marks, BOM
_J = r"[\s\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff]*"
_LT = r"(?:<|&lt;?|&#0*60;?|&#x0*3c;?|\uff1c|\ufe64)"
_SLASH = r"(?:/|&sol;|&#0*47;?|&#x0*2f;?|\u2044|\u2215|\uff0f)"
_WORD = _J.join("memory")
_CLOSE = re.compile(_LT + _J + _SLASH + _J + _WORD, re.IGNORECASE)
_OPEN = re.compile(_LT + _J + _WORD, re.IGNORECASE)
MAX_LABEL = 64


def defuse(text: str) -> str:
    """`text` as one line that cannot open or close the memory fence.

    Closing and opening tags in any spelling lose their angle bracket (`</memory>` becomes
    `[/memory>`), line breaks and control characters become spaces, and the result is
    stripped. Plain text is returned unchanged.
    """
    out = _BREAKS.sub(" ", text)
    out = _OTHER_CONTROLS.sub(" ", out)
    # read it as a model would: entities decoded ("&lt;/memory&gt;"), compatibility forms folded ("＜／ｍｅｍｏｒｙ＞")
    seen = unicodedata.normalize("NFKC", html.unescape(out)) if ("&" in out or not out.isascii()) else out
    if _CLOSE.search(seen) or _OPEN.search(seen):
        out = _OPEN.sub("[memory", _CLOSE.sub("[/memory", seen))
        out = _BREAKS.sub(" ", _OTHER_CONTROLS.sub(" ", out))  # entities may have encoded breaks
    return out.strip()


def defuse_label(name: str) -> str:
    """A speaker label from a caller's `name`: one short line with no ':' or brackets to spoof roles."""
    label = defuse(name)
    label = re.sub(r"[:\[\]<>]", " ", label)
    label = " ".join(label.split())[:MAX_LABEL].strip()
    return label or "unknown"

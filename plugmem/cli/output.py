"""Terminal output: rich tables and colours on a TTY, plain text when piped, JSON on `--json`.

`rich` is the CLI extra (`pip install plugmem[cli]`); without it the same tables print as
aligned plain text, so the command never fails for want of a pretty printer.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO


class Printer:
    """Where every command writes: one object, so `--json` and colours are decided once."""

    def __init__(self, as_json: bool = False, stream: TextIO | None = None) -> None:
        self.as_json = as_json
        self.stream = stream or sys.stdout
        try:
            from rich.console import Console
        except ImportError:
            self._console: Any = None
        else:
            self._console = Console(file=self.stream, highlight=False, soft_wrap=False)

    def data(self, obj: Any) -> None:
        """The machine-readable answer (always valid JSON on one stream)."""
        self.stream.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")

    def heading(self, text: str) -> None:
        if self._console is not None:
            self._console.rule(f"[bold]{_escape(text)}")
        else:
            self.stream.write(f"\n== {text} ==\n")

    def line(self, text: str = "", style: str | None = None) -> None:
        if self._console is not None:
            self._console.print(_escape(text), style=style)
        else:
            self.stream.write(text + "\n")

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
        cells = [["" if v is None else str(v) for v in r] for r in rows]
        if self._console is not None:
            from rich.table import Table

            t = Table(title=title, show_lines=False, header_style="bold cyan")
            for c in columns:
                t.add_column(c, overflow="fold")
            for r in cells:
                t.add_row(*(_escape(v) for v in r))
            self._console.print(t)
            return
        if title:
            self.stream.write(title + "\n")
        widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
        for r in [list(columns), *cells]:
            self.stream.write("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() + "\n")


def _escape(text: str) -> str:
    """Square brackets in memory text must print as text, not as rich markup."""
    return text.replace("[", "\\[")

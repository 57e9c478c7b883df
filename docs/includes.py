"""Guides include the README's sections instead of copying them, so the two cannot drift.

A line `--8<-- "README.md:three-lines"` in a page is replaced by the text between
`<!-- docs:start three-lines -->` and `<!-- docs:end three-lines -->` in README.md (a path
alone includes the whole file, its first heading left out). The markers are HTML comments, so
GitHub shows the README unchanged.

Included text was written relative to its own file, so its links are rewritten: a file that has
a page of its own links to that page, a file under docs/ to its place in the site, any other
file of the repository to its copy on the repository's site. A link to a file that does not
exist fails the build, like any broken link in strict mode.

mkdocs runs `on_page_markdown` as a hook (mkdocs.yml); tests/test_docs.py calls `expand` to run
the code blocks of exactly the text the site shows.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REPO_URL = "https://github.com/plugmem/plugmem/blob/main"
# files included whole as a page of their own: links to them go to that page
PAGES = {
    "README.md": "index.md",
    "integrations/langgraph/README.md": "langgraph.md",
    "benchmarks/README.md": "benchmarks.md",
    "CHANGELOG.md": "changelog.md",
}
INCLUDE = re.compile(r'^--8<-- "(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"[ \t]*$', re.MULTILINE)
LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")


class IncludeError(ValueError):
    """An include names a missing file or section, or included text links to a missing file."""


def section(text: str, name: str, path: str) -> str:
    start, end = f"<!-- docs:start {name} -->\n", f"\n<!-- docs:end {name} -->"
    if start not in text or end not in text:
        raise IncludeError(
            f"{path} has no section {name!r}: mark it with '{start.strip()}' ... '{end.strip()}'"
        )
    return text.split(start, 1)[1].split(end, 1)[0]


def relink(text: str, source: str) -> str:
    """Links written relative to `source` (a repository path), made to work from a page in docs/."""
    base = (ROOT / source).parent

    def fix(m: re.Match[str]) -> str:
        target = m["target"]
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#", target):  # a URL, or an anchor in the same page
            return m[0]
        file, _, anchor = target.partition("#")
        path = (base / file).resolve()
        if not path.exists():
            raise IncludeError(f"{source} links to {target}, which does not exist: fix the link in {source}")
        rel = path.relative_to(ROOT).as_posix()
        if rel in PAGES:
            new = PAGES[rel]
        elif path.is_relative_to(DOCS):
            new = path.relative_to(DOCS).as_posix()
        else:
            new = f"{REPO_URL}/{rel}"
        return f"{m['bang']}[{m['text']}]({new}{'#' + anchor if anchor else ''})"

    return LINK.sub(fix, text)


def expand(markdown: str) -> str:
    """A page's markdown with every include replaced by the text it names."""

    def include(m: re.Match[str]) -> str:
        path, name = m["path"], m["section"]
        file = ROOT / path
        if not file.is_file():
            raise IncludeError(f"included file {path} does not exist")
        text = file.read_text(encoding="utf-8")
        # a section as marked, or the whole file without its title (the page has its own)
        text = section(text, name, path) if name else re.sub(r"\A# .*\n", "", text)
        return relink(text.strip("\n"), path)

    return INCLUDE.sub(include, markdown)


def on_page_markdown(markdown: str, **_: Any) -> str:
    from mkdocs.exceptions import PluginError

    try:
        return expand(markdown)
    except IncludeError as exc:
        raise PluginError(str(exc)) from None

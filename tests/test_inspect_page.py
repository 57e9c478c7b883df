"""`plugmem inspect --html`: the page opened in headless Chromium (Debian's, installed by `make setup`).

`--dump-dom` returns the DOM after the page's scripts ran, so these tests check what a
person would see: the facts, the timeline and the graph rendered from the inlined data,
and a search (given in the URL as `#q=...`) hiding what does not match.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _support import conv

from plugmem import PlugMem
from plugmem.cli import main

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NS = ("memories", "u1")


def chromium(tmp_path: Path, *args: str) -> str:
    if not CHROMIUM.is_file():
        pytest.fail("headless Chromium is missing: `make setup` installs Debian's chromium package")
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


@pytest.fixture
def page(tmp_path: Path, capsys: Any) -> Path:
    with PlugMem.open(tmp_path / "memory", embeddings=None) as mem:
        mem.add(
            conv(
                "I live in Lisbon and work as a nurse.",
                "Lisbon is lovely.",
                "My sister Ana has a beagle called Biscuit.",
                "Biscuit is a great name.",
                "Update: I moved to Porto last week.",
                "Good luck in Porto!",
            ),
            namespace=NS,
            session_id="s1",
        )
        mem.flush()
    out = tmp_path / "page.html"
    assert main(["inspect", "--path", str(tmp_path / "memory"), "--html", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    return out


def facts_in(dom: str) -> list[tuple[str, str]]:
    """(class, text) of every rendered fact row."""
    rows = re.findall(r'<li class="fact ([^"]*)"[^>]*>(.*?)</li>', dom, flags=re.DOTALL)
    return [(cls, re.sub(r"<[^>]+>", " ", body)) for cls, body in rows]


def test_the_page_is_self_contained(page: Path) -> None:
    html = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), (
        "the page must load nothing from a network"
    )
    assert "<script" in html and "<style" in html and "I moved to Porto" in html


def test_chromium_renders_facts_timeline_and_graph(page: Path, tmp_path: Path) -> None:
    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert 'data-ready="1"' in dom  # the script ran to its end
    facts = facts_in(dom)
    assert any("Lisbon" in text and cls.startswith("superseded") for cls, text in facts)
    assert any("Porto" in text and cls.startswith("current") for cls, text in facts)
    assert not any("hidden" in cls for cls, _ in facts)
    assert '<div class="day" data-day="2023-05-08">' in dom and 'class="event"' in dom
    assert dom.count('<g class="node fact') >= 2 and 'class="node ent' in dom and 'class="node msg' in dom
    assert 'class="edge derived_from"' in dom and 'class="edge mentions"' in dom
    assert re.search(r'<span id="count">\d+ facts, 1 events</span>', dom)


def test_a_search_filters_what_is_shown(page: Path, tmp_path: Path) -> None:
    dom = chromium(tmp_path, "--dump-dom", page.as_uri() + "#q=biscuit")
    assert 'data-query="biscuit"' in dom
    facts = facts_in(dom)
    shown = [text for cls, text in facts if "hidden" not in cls]
    assert shown and all("biscuit" in t.lower() for t in shown)
    assert any("hidden" in cls and "Lisbon" in text for cls, text in facts)
    assert re.search(r'<span id="count">\d+ facts, 1 events match</span>', dom)
    assert 'class="node fact dim"' in dom or 'class="node old dim"' in dom  # unrelated graph nodes fade


def test_screenshot(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "page.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,1200", page.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a page with content, not a blank frame

"""Every benchmark's command line parses: a broken option list shows here, not an hour into `make bench`.

`--help` builds the whole parser (a duplicated option raises while it is built) and exits 0
without running anything. Run in this process, as `python -m` would run it, so the suite pays one
import per benchmark and no interpreter start.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# modules run as `python -m benchmarks.<name>`; recall_worker is started by other benchmarks with a job file
COMMANDS = sorted(
    p.stem
    for p in (ROOT / "benchmarks").glob("*.py")
    if "\ndef main(" in p.read_text() and p.stem != "recall_worker"
)


def test_the_benchmark_list_is_found() -> None:
    assert {"scaling", "devset", "multi_agent"} <= set(COMMANDS)


@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")  # modules other tests imported
@pytest.mark.parametrize("name", COMMANDS)
def test_a_benchmark_command_parses_its_options(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(ROOT))  # benchmarks/ is not installed
    monkeypatch.setattr(sys, "argv", [f"benchmarks.{name}", "--help"])
    with pytest.raises(SystemExit) as done:
        runpy.run_module(f"benchmarks.{name}", run_name="__main__")
    assert done.value.code == 0
    assert "usage" in capsys.readouterr().out.lower()

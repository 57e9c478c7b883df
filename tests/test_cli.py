"""The `plugmem` command on real memories on disk: every subcommand, `--json`, and paths that are not memories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _support import TALK, as_json, run

from plugmem import MemoryPolicy, PlugMem
from plugmem.cli import main
from plugmem.cli.transfer import export_lines, import_lines

NS = "memories/u1"
NS_T = ("memories", "u1")


@pytest.fixture
def memdir(tmp_path: Path, capsys: Any) -> Path:
    """A memory filled through `plugmem add`, as a user would."""
    src = tmp_path / "talk.json"
    src.write_text(json.dumps(TALK, default=str))
    path = tmp_path / "memory"
    assert as_json(capsys, "add", str(src), "--path", str(path), "-n", NS, "--session", "s1")["added"] == 6
    return path


def test_help_lists_every_command(capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for cmd in (
        "namespaces",
        "facts",
        "timeline",
        "search",
        "show",
        "forget",
        "export",
        "import",
        "stats",
        "inspect",
        "model",
        "mcp",
        "demo",
    ):
        assert cmd in out


def test_help_imports_no_heavy_library() -> None:
    """`plugmem --help` stays fast because the CLI imports Chroma, onnxruntime and LangChain only when used."""
    code = (
        "import sys; from plugmem.cli import build_parser; build_parser().format_help(); "
        "print(sorted(m for m in ('chromadb', 'onnxruntime', 'langchain_core', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "argv",
    [
        ["namespaces"],
        ["facts"],
        ["timeline"],
        ["search", "where"],
        ["show", "m1"],
        ["stats"],
        ["export"],
        ["forget", "--session", "s1"],
        ["inspect", "--html", "page.html"],
    ],
)
def test_a_read_command_on_a_path_that_is_not_a_memory_says_so_and_creates_nothing(
    tmp_path: Path, capsys: Any, argv: list[str]
) -> None:
    missing = tmp_path / "mistyped"
    code, _, err = run(capsys, *argv, "--path", str(missing))
    assert code == 1
    assert "is not a plugmem memory" in err and "nothing was created" in err
    assert not missing.exists()


def test_path_defaults_to_env_then_dot_memory(
    tmp_path: Path, capsys: Any, memdir: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("PLUGMEM_PATH", str(memdir))
    assert [n["namespace"] for n in as_json(capsys, "namespaces")] == [NS]
    monkeypatch.delenv("PLUGMEM_PATH")
    monkeypatch.chdir(memdir.parent)
    assert [n["namespace"] for n in as_json(capsys, "namespaces")] == [NS]  # ./memory
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, _, err = run(capsys, "namespaces")
    assert code == 1 and "memory is not a plugmem memory" in err
    assert not (tmp_path / "elsewhere" / "memory").exists()


def test_namespaces_facts_timeline_show_as_json(memdir: Path, capsys: Any) -> None:
    p = ("--path", str(memdir))
    [ns] = as_json(capsys, "namespaces", *p)
    assert ns["namespace"] == NS and ns["messages"] == 6 and ns["sessions"] == 1 and ns["facts"] > 0
    facts = as_json(capsys, "facts", *p)["facts"]  # the only namespace is picked without -n
    lisbon = next(f for f in facts if "Lisbon" in f["statement"] and "live" in f["statement"])
    porto = next(f for f in facts if "Porto" in f["statement"] and f["source_ids"] == ["m5"])
    assert lisbon["status"] == "superseded" and porto["status"] == "current"
    assert lisbon["source_ids"] == ["m1"]
    current = as_json(capsys, "facts", *p, "--status", "current")["facts"]
    assert lisbon["id"] not in [f["id"] for f in current]
    days = as_json(capsys, "events", *p)["days"]
    assert [d["day"] for d in days] == ["2023-05-08"]
    event = days[0]["events"][0]
    assert "m1" in event["step_ids"]
    shown = as_json(capsys, "show", "m5", *p)
    assert shown["kind"] == "message" and shown["content"] == TALK[4]["content"]
    assert porto["id"] in [f["id"] for f in shown["facts"]]
    fact = as_json(capsys, "show", lisbon["id"], *p)
    assert [s["id"] for s in fact["sources"]] == ["m1"] and fact["superseded_by"]
    ev = as_json(capsys, "show", event["id"], *p, "-n", NS)
    assert [m["id"] for m in ev["messages"]] == event["step_ids"]
    code, _, err = run(capsys, "show", "no-such-id", *p)
    assert code == 1 and "no message, fact or event" in err


def test_tables_are_readable_text(memdir: Path, capsys: Any) -> None:
    code, out, _ = run(capsys, "facts", "--path", str(memdir))
    assert code == 0 and "superseded" in out and "Lisbon" in out
    code, out, _ = run(capsys, "timeline", "--path", str(memdir))
    assert code == 0 and "2023-05-08" in out


def test_search_forget_stats(memdir: Path, capsys: Any) -> None:
    p = ("--path", str(memdir))
    res = as_json(capsys, "search", "beagle Biscuit", *p, "--mode", "fast")
    assert res["namespace"] == NS and "m3" in res["source_ids"] and "Biscuit" in res["context"]
    assert as_json(capsys, "stats", *p)["steps"] == 6
    assert as_json(capsys, "forget", "--id", "m3", *p)["forgotten"] == 1
    res = as_json(capsys, "search", "beagle Biscuit", *p, "--mode", "fast")
    assert "m3" not in res["source_ids"]
    assert as_json(capsys, "stats", *p, "-n", NS)["steps"] == 5


def _recall_of(path: Path, query: str) -> tuple[str, list[str]]:
    with PlugMem.open(path, policy=MemoryPolicy(full_history_when_fits=False), create=False) as mem:
        r = mem.recall(query, namespace=("memories", "u1"), mode="fast")
    return r.context, [it.id for it in r.items]


@pytest.mark.needs_model
def test_export_then_import_into_a_fresh_directory_reproduces_recall(
    memdir: Path, tmp_path: Path, capsys: Any
) -> None:
    out_file = tmp_path / "memory.jsonl"
    assert run(capsys, "export", "--path", str(memdir), "-o", str(out_file))[0] == 0
    lines = [json.loads(x) for x in out_file.read_text().splitlines()]
    assert (
        lines[0]["type"] == "plugmem-export"
        and lines[0]["model"] == "all-MiniLM-L6-v2-int8"  # the default for a new memory
        and lines[0]["dims"] == 384
    )
    assert sum(x["type"] == "message" for x in lines) == 6 and any(x["type"] == "embedding" for x in lines)
    fresh = tmp_path / "fresh"
    counts = as_json(capsys, "import", str(out_file), "--path", str(fresh))
    assert counts["messages"] == 6 and counts["vectors"] > 6 and counts["vectors_skipped"] == 0
    for q in ("Where do I live now?", "What is the dog called?", "What is my job?"):
        assert _recall_of(fresh, q) == _recall_of(memdir, q)


@pytest.mark.needs_model
def test_an_fp32_export_imported_into_a_fresh_directory_keeps_its_vectors(
    tmp_path: Path, capsys: Any
) -> None:
    """A memory made before INT8 was the default moves with its FP32 vectors, none re-embedded or skipped."""
    from plugmem import MemoryPolicy

    with PlugMem.open(tmp_path / "old", policy=MemoryPolicy(embedding_precision="fp32")) as old:
        old.add([{"role": "user", "content": "My dog is called Rex.", "id": "m1"}], namespace="u1")
        old.flush()
    out_file = tmp_path / "old.jsonl"
    assert run(capsys, "export", "--path", str(tmp_path / "old"), "-o", str(out_file))[0] == 0
    counts = as_json(capsys, "import", str(out_file), "--path", str(tmp_path / "new"))
    assert counts["vectors"] > 0 and counts["vectors_skipped"] == 0
    with PlugMem.open(tmp_path / "new", create=False) as new:
        assert new.embeddings is not None and new.embeddings.model_id == "all-MiniLM-L6-v2"


@pytest.mark.needs_model
def test_import_reuses_the_exported_vectors(memdir: Path, tmp_path: Path) -> None:
    with PlugMem.open(memdir, create=False) as src:
        lines = list(export_lines(src))
    with PlugMem.open(tmp_path / "fresh") as dst:
        import_lines(dst, lines, progress=False)
        assert dst.embeddings is not None and dst.embeddings.embedded == 0  # nothing re-embedded
        assert [s.id for s in dst.steps(NS_T)] == [f"m{i}" for i in range(1, 7)]


def test_export_import_without_the_model_keeps_messages_exactly(
    memdir: Path, tmp_path: Path, capsys: Any
) -> None:
    out_file = tmp_path / "x.jsonl"
    run(capsys, "export", "--path", str(memdir), "-o", str(out_file))
    with PlugMem.open(tmp_path / "lex", embeddings=None) as dst:
        import_lines(dst, [json.loads(x) for x in out_file.read_text().splitlines()], progress=False)
        got = [(s.id, s.role, s.content, s.timestamp, s.session_id) for s in dst.steps(NS_T)]
    with PlugMem.open(memdir, embeddings=None, create=False) as src:
        want = [(s.id, s.role, s.content, s.timestamp, s.session_id) for s in src.steps(NS_T)]
    assert got == want


def test_import_refuses_a_file_that_is_not_an_export(tmp_path: Path, capsys: Any) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "message"}\n')
    code, _, err = run(capsys, "import", str(bad), "--path", str(tmp_path / "m"))
    assert code == 1 and "not a plugmem export" in err

"""The `plugmem` command on the server backend: a PostgreSQL URL as the memory, vectors on a Chroma server.

The same commands as on a directory (tests/test_cli.py), run against the throwaway PostgreSQL
cluster and Chroma server of the test session: a memory several processes share is looked
into, searched, edited and moved with the same tool, and a URL that holds no memory is
reported without creating one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import chromadb
import psycopg
import pytest
from _support import TALK, as_json, run

from plugmem import PlugMem
from plugmem.index.vectors import server_address

NS = "memories/u1"


def collections(chroma_url: str) -> set[str]:
    host, port, _ = server_address(chroma_url)
    return {c.name for c in chromadb.HttpClient(host=host, port=port).list_collections()}


def tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.needs_model
def test_every_command_on_a_postgres_memory_with_vectors_on_a_chroma_server(
    postgres_schemas: Callable[[str], str], chroma_url: str, tmp_path: Path, capsys: Any
) -> None:
    url = postgres_schemas("cli")
    src = tmp_path / "talk.json"
    src.write_text(json.dumps(TALK, default=str))
    before = collections(chroma_url)
    on = ("--path", url, "--vectors", chroma_url)
    assert as_json(capsys, "add", str(src), *on, "-n", NS, "--session", "s1")["added"] == 6
    assert collections(chroma_url) - before  # the vectors went to the server, not beside the memory

    [ns] = as_json(capsys, "namespaces", "--path", url)
    assert ns["namespace"] == NS and ns["messages"] == 6 and ns["facts"] > 0
    facts = as_json(capsys, "facts", "--path", url)["facts"]
    assert any("Porto" in f["statement"] and f["status"] == "current" for f in facts)
    assert as_json(capsys, "timeline", "--path", url)["days"]
    assert as_json(capsys, "show", "m5", "--path", url)["content"] == TALK[4]["content"]
    assert as_json(capsys, "stats", "--path", url)["steps"] == 6

    res = as_json(capsys, "search", "beagle Biscuit", *on, "--mode", "fast")
    assert res["namespace"] == NS and "m3" in res["source_ids"] and "Biscuit" in res["context"]
    assert as_json(capsys, "forget", "--id", "m3", *on)["forgotten"] == 1
    assert "m3" not in as_json(capsys, "search", "beagle Biscuit", *on, "--mode", "fast")["source_ids"]

    # export from the server, import into another schema: the same messages
    dump = tmp_path / "memory.jsonl"
    assert run(capsys, "export", "--path", url, "-o", str(dump))[0] == 0
    copy = postgres_schemas("copy")
    counts = as_json(capsys, "import", str(dump), "--path", copy, "--vectors", chroma_url)
    assert counts["messages"] == 5 and counts["vectors"] > 0 and counts["vectors_skipped"] == 0
    assert [n["messages"] for n in as_json(capsys, "namespaces", "--path", copy)] == [5]

    page = tmp_path / "page.html"
    assert as_json(capsys, "inspect", "--path", url, "--html", str(page))["namespaces"] == 1


def test_a_read_command_on_a_database_without_a_memory_says_so_and_creates_nothing(
    postgres_schemas: Callable[[str], str], capsys: Any
) -> None:
    url = postgres_schemas("empty")
    for argv in (["namespaces"], ["stats"], ["search", "anything"], ["export", "-o", "-"]):
        code, _, err = run(capsys, *argv, "--path", url)
        assert code == 1 and "is not a plugmem memory" in err and "nothing was created" in err
    assert tables(url) == []
    with pytest.raises(Exception, match="is not a plugmem memory"):
        PlugMem.open(url, embeddings=None, create=False)


def test_path_and_vectors_default_to_the_environment(
    postgres_schemas: Callable[[str], str], chroma_url: str, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    url = postgres_schemas("env")
    monkeypatch.setenv("PLUGMEM_PATH", url)
    monkeypatch.setenv("PLUGMEM_VECTORS", chroma_url)
    src = tmp_path / "talk.json"
    src.write_text(json.dumps(TALK[:2], default=str))
    assert as_json(capsys, "add", str(src), "-n", NS)["added"] == 2
    assert [n["messages"] for n in as_json(capsys, "namespaces")] == [2]
    with PlugMem.open(url, embeddings=None, create=False) as mem:
        assert len(mem.steps(("memories", "u1"))) == 2


def test_a_password_in_the_url_is_not_printed(postgres_schemas: Callable[[str], str], capsys: Any) -> None:
    url = postgres_schemas("secret")
    with PlugMem.open(url, embeddings=None) as mem:
        mem.add(TALK[:2], namespace=("memories", "u1"))
        mem.flush()
    secret = url.replace("://plugmem@", "://plugmem:s3cr3t@", 1)  # the test server trusts any password
    assert secret != url
    for argv in (["namespaces"], ["stats"]):
        code, out, err = run(capsys, *argv, "--path", secret)
        assert code == 0 and "s3cr3t" not in out + err and "plugmem@127.0.0.1" in out
    code, _, err = run(
        capsys,
        "namespaces",
        "--path",
        postgres_schemas("nothing").replace("://plugmem@", "://plugmem:s3cr3t@"),
    )
    assert code == 1 and "s3cr3t" not in err and "plugmem@127.0.0.1" in err

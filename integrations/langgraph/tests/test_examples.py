"""The examples run offline, as users run them, and do what their output says."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from _node_fixtures import REPO

EXAMPLES = REPO / "integrations" / "langgraph" / "examples"


def run_example(name: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=REPO,
        env={**os.environ, "PYTHONWARNINGS": "default"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the module's annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.mark.needs_model  # "weather at home, dinner idea?" finds "lives in Lisbon" by meaning
def test_react_agent_example() -> None:
    out = run_example("react_agent.py")
    assert "checkpointer: " in out
    assert "model -> save_memory({'content': 'The user lives in Lisbon.', 'kind': 'fact'})" in out
    assert "saved memory ids: ['mem-" in out
    session2 = out.split("=== session 2")[1]
    assert "model -> get_weather({'city': 'Lisbon'})" in session2
    assert "tool get_weather: Lisbon: sunny, 24°C" in session2
    given = session2.split("what the model was given from memory in session 2:")[1]
    assert "user: The user lives in Lisbon." in given and "user: The user is vegetarian." in given
    assert "memory messages kept in the thread state: 0" in out


@pytest.mark.needs_model  # "weather at home, dinner idea?" finds "lives in Lisbon" by meaning
def test_react_agent_main_returns_what_it_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = load_example("react_agent").main(tmp_path / "mem")
    assert len(result["saved_ids"]) == 2 and result["leaked"] == []
    assert "Lisbon" in result["answer"] and result["steps"] >= 4
    # every model call of session 2 was given the memory saved in session 1
    for prompt in result["prompts"][2:]:
        assert any("lives in Lisbon" in str(m.content) for m in prompt)
    assert "session 2" in capsys.readouterr().out


def test_two_agents_example() -> None:
    out = run_example("two_agents.py")
    assert "retention: researcher forgot 1 message(s) older than 365.0 days" in out
    researcher = out.split("researcher recalled from ('research', 'alice')")[1].split("writer recalled")[0]
    writer = out.split("writer recalled from ('writing', 'alice')")[1].split("conversation:")[0]
    assert "18%" in researcher and "bullet" not in researcher and "Team Nimbus" not in researcher
    assert "bullet points" in writer and "18%" not in writer and "Braga" not in writer
    assert "fast tier" in researcher and "full tier" in writer
    assert "memory messages in the shared conversation: 0" in out


def test_two_agents_with_toml_policies_keeps_memories_apart(tmp_path: Path) -> None:
    module = load_example("two_agents")
    result = module.main(tmp_path / "mem", policies_file=EXAMPLES / "policies.toml")
    assert "Braga" in result["recalled"]["researcher"] and "bullet" not in result["recalled"]["researcher"]
    assert "bullet" in result["recalled"]["writer"] and "Braga" not in result["recalled"]["writer"]
    research, writing = result["stored"]["researcher"], result["stored"]["writer"]
    assert research[-1].startswith("Findings:") and not any("Team Nimbus" in s for s in research)
    assert writing[-1].endswith("— Team Nimbus") and not any(s.startswith("Findings:") for s in writing)
    assert not any("2022 feasibility" in s for s in research)  # forgotten by retention


def _chroma_server_module() -> ModuleType:
    """The core tests' `chroma run` helper (tests/_chroma_server.py), loaded by path."""
    spec = importlib.util.spec_from_file_location(
        "plugmem_chroma_server", REPO / "tests" / "_chroma_server.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_server_example(env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "server" / "app.py")],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.needs_model  # the store finds the profile by meaning
def test_server_example_runs_embedded() -> None:
    out = run_server_example({"PLUGMEM_DATABASE": "", "PLUGMEM_VECTORS": ""})
    assert "vectors: on disk beside it" in out
    session2 = out.split("session 2:")[1]
    assert "Lisbon" in session2 and "Diet on file: vegetarian" in session2


@pytest.mark.needs_model
@pytest.mark.parametrize("database", ["embedded", "postgres"])
def test_server_example_on_a_chroma_server(
    tmp_path: Path, request: pytest.FixtureRequest, database: str
) -> None:
    """As deployed: PostgreSQL (a throwaway schema on the test server) and a real `chroma run`."""
    url = request.getfixturevalue("postgres_schemas")("example") if database == "postgres" else ""
    chroma = _chroma_server_module()
    command = chroma.chroma_command()
    if command is None:
        pytest.skip("the `chroma` command (shipped with the chromadb package) is not installed")
    with chroma.chroma_server(command, tmp_path / "chroma") as vectors:
        out = run_server_example({"PLUGMEM_DATABASE": url, "PLUGMEM_VECTORS": vectors})
    assert f"vectors: {vectors}" in out
    session2 = out.split("session 2:")[1]
    assert "Lisbon" in session2 and "Diet on file: vegetarian" in session2

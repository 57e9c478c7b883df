"""Test-wide setup: find the shared model and data, and skip what needs them with one reason.

The shared folder is `../shared` beside the checkout, or wherever `PLUGMEM_SHARED` points;
nothing else is assumed about the machine. Its model and data are exported as
`PLUGMEM_EMBEDDING_MODEL_DIR` / `PLUGMEM_DATA_DIR` (unless already set) before any test
imports plugmem. Tests marked `needs_model` skip when `find_model_dir()` (the very lookup
the embedder uses) finds no model; tests marked `needs_data` when the data is missing.
Automatic model download is off in tests: the download path has its own tests, which point
HOME at a temporary folder.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

REPO = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("PLUGMEM_SHARED") or REPO.parent / "shared")
if (SHARED / "models" / "all-MiniLM-L6-v2" / "onnx").is_dir():
    os.environ.setdefault("PLUGMEM_EMBEDDING_MODEL_DIR", str(SHARED / "models" / "all-MiniLM-L6-v2" / "onnx"))
os.environ.setdefault("PLUGMEM_DATA_DIR", str(SHARED / "data"))
os.environ.setdefault("PLUGMEM_MODEL_DOWNLOAD", "0")

from plugmem.index.embeddings import find_model_dir  # noqa: E402  (after the environment is set)

SKIP_REASON = (
    "needs the shared model and data (put the shared folder at ../shared beside the checkout, "
    "or set PLUGMEM_SHARED=/path/to/shared)"
)
DATA_FILES = ("locomo_dev.json", "locomo_audit_errors.json", "longmemeval_s_dev.json.gz")


def data_present() -> bool:
    data = Path(os.environ["PLUGMEM_DATA_DIR"])
    return all((data / f).is_file() for f in DATA_FILES)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_model: needs the all-MiniLM-L6-v2 ONNX model on disk")
    config.addinivalue_line("markers", "needs_data: needs the shared benchmark data")
    config.addinivalue_line("markers", "backends: run the module's storage tests on every backend")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_model") and find_model_dir() is None:
        pytest.skip(SKIP_REASON)
    if item.get_closest_marker("needs_data") and not data_present():
        pytest.skip(SKIP_REASON)


# -- storage backends -------------------------------------------------------------------------
# Tests of what storage does (add/recall/forget, the pipeline, the saver and the store) run on
# both backends: a module opts in with `pytestmark = pytest.mark.backends`, and its tests that use
# the `backend` fixture (directly or through `memory_at` / `mem`) run once per backend. The server
# is the one `make test` started (PLUGMEM_TEST_POSTGRES), else a throwaway cluster started here
# for the session; without PostgreSQL's binaries the postgres runs skip with one reason.
BACKENDS = ("sqlite", "postgres")
PG_SKIP_REASON = (
    "PostgreSQL binaries (initdb, pg_ctl) not found: install PostgreSQL 15 (make setup does, "
    "apt-get install postgresql) to run the server backend's tests"
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("backends"):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a PostgreSQL server for the tests (skips when none can be had)."""
    pg_cluster = _pg_cluster()
    url = os.environ.get(pg_cluster.ENV_URL)
    if url:
        yield url
        return
    if pg_cluster.bin_dir() is None:
        pytest.skip(PG_SKIP_REASON)
    root = Path(tempfile.mkdtemp(prefix="plugmem-pg-"))
    try:
        yield pg_cluster.start(root)
    finally:
        pg_cluster.stop(root)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" (the default), or each of BACKENDS in modules marked `backends`."""
    name = str(getattr(request, "param", "sqlite"))
    if name == "postgres":
        request.getfixturevalue("postgres_server")
    return name


@pytest.fixture
def postgres_schemas(request: pytest.FixtureRequest) -> Iterator[Callable[[str], str]]:
    """`locate(name)`: the URL of a fresh schema on the test server per name, dropped after the test."""
    server = request.getfixturevalue("postgres_server")
    made: dict[str, str] = {}

    def locate(name: str) -> str:
        if name not in made:
            made[name] = _pg_schema(server, name)
        return made[name]

    yield locate
    for url in made.values():
        _drop_schema(server, url)


@pytest.fixture
def memory_at(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[str], str]:
    """`memory_at(name)`: where the test's memory `name` lives on this backend (same name, same memory).

    On sqlite a directory under tmp_path; on postgres a schema of its own on the test server.
    """
    if backend == "postgres":
        return cast(Callable[[str], str], request.getfixturevalue("postgres_schemas"))
    return lambda name: str(tmp_path / name)


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a Chroma server (`chroma run`) that lives as long as the test session.

    Here rather than in tests/ so the integrations' tests (the MCP server's) reach it too.
    """
    chroma = _test_module("_chroma_server")
    command = chroma.chroma_command()
    if command is None:
        pytest.skip("the `chroma` command (shipped with the chromadb package) is not installed")
    with chroma.chroma_server(command, tmp_path_factory.mktemp("chroma-server") / "data") as url:
        yield url


def _pg_cluster() -> Any:
    return _test_module("pg_cluster")


def _test_module(name: str) -> Any:
    """A module of tests/ by file name (the tests folders are not packages)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pg_schema(server: str, name: str) -> str:
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}_{''.join(ch for ch in name if ch.isalnum())[:20]}".lower()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in server else "?"
    return f"{server}{sep}options=-csearch_path%3D{schema}"


def _drop_schema(server: str, url: str) -> None:
    import psycopg

    schema = url.rsplit("%3D", 1)[1]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

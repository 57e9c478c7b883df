"""`plugmem.__all__` is the public contract, and the integrations keep to it.

The integrations (plugmem-langgraph, plugmem-mcp) are the first users of that contract: if they
need something, it is exported; if it is exported, it is listed. Errors all live in one module.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path
from types import ModuleType

import plugmem
import plugmem.errors

ROOT = Path(__file__).resolve().parent.parent
INTEGRATION_PACKAGES = [
    ROOT / "integrations" / "langgraph" / "plugmem_langgraph",
    ROOT / "integrations" / "mcp" / "plugmem_mcp",
]
# what `plugmem/__init__.py` needs for itself (the lazy loader, type-only imports), never a public name
PLUMBING = {"annotations", "importlib", "Any", "TYPE_CHECKING"}


def test_all_is_sorted_and_unique() -> None:
    assert len(plugmem.__all__) == len(set(plugmem.__all__))
    constants = [n for n in plugmem.__all__ if n.isupper()]
    assert plugmem.__all__[: len(constants)] == sorted(constants)
    rest = plugmem.__all__[len(constants) :]
    assert rest == sorted(rest, key=lambda n: (n[0].islower(), n))


def test_every_exported_name_resolves() -> None:
    for name in plugmem.__all__:
        assert getattr(plugmem, name) is not None, name


def test_every_public_name_is_exported() -> None:
    for name in plugmem.__all__:  # resolve the lazy ones, so they sit in the module's namespace too
        getattr(plugmem, name)
    public = {
        name
        for name, value in vars(plugmem).items()
        if not name.startswith("_") and not isinstance(value, ModuleType) and name not in PLUMBING
    }
    assert public == set(plugmem.__all__)


def test_every_error_class_lives_in_errors_and_is_exported() -> None:
    classes = {
        name
        for name, value in vars(plugmem.errors).items()
        if inspect.isclass(value) and issubclass(value, plugmem.errors.PlugMemError)
    }
    assert classes <= set(plugmem.__all__)
    # no other module of the package defines an exception class of its own
    for path in sorted((ROOT / "plugmem").rglob("*.py")):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b) for b in node.bases}
                assert not any(b.endswith(("Error", "Exception")) for b in bases), (path, node.name)


def _plugmem_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import of plugmem (or a submodule) in one file."""
    found: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "plugmem" or node.module.startswith("plugmem."):
                found.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "plugmem" or alias.name.startswith("plugmem."):
                    found.append((node.lineno, alias.name, []))
    return found


def test_integrations_import_only_the_exported_names() -> None:
    files = [p for pkg in INTEGRATION_PACKAGES for p in sorted(pkg.rglob("*.py"))]
    assert files
    exported = set(plugmem.__all__)
    for path in files:
        for line, module, names in _plugmem_imports(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            assert module == "plugmem", f"{where} imports {module}; import from plugmem (its __all__)"
            assert set(names) <= exported, f"{where}: {sorted(set(names) - exported)} not in plugmem.__all__"


def test_the_check_sees_a_reach_past_the_contract(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from plugmem.normalize import normalize\nfrom plugmem import PlugMem\n")
    assert [m for _, m, _ in _plugmem_imports(bad)] == ["plugmem.normalize", "plugmem"]


def test_exported_helpers_are_the_ones_the_package_uses() -> None:
    # one object under both names: an export is the package's own function, not a copy
    assert plugmem.validate_namespace is importlib.import_module("plugmem.namespace").validate_namespace
    assert plugmem.content_text is importlib.import_module("plugmem.normalize").content_text

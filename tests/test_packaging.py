"""The packaging facts that must agree across files: one version, one license, a lock that fits the ranges.

`make dist` checks the built distributions themselves (tests/packaging/check_dist.py) and
`make wheel-smoke` runs them from a clean virtualenv; these are the quick source-level checks.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import plugmem

ROOT = Path(__file__).resolve().parents[1]
PYPROJECTS = [ROOT / "pyproject.toml", *sorted((ROOT / "integrations").glob("*/pyproject.toml"))]
OURS = {"plugmem", "plugmem-langgraph", "plugmem-mcp"}


def project(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        data: dict[str, Any] = tomllib.load(f)["project"]
    return data


def lock() -> dict[str, list[tuple[str, str]]]:
    """name → [(version, environment marker)] from requirements/lock.txt (a universal lock may fork)."""
    pins: dict[str, list[tuple[str, str]]] = {}
    for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9._-]+)==([^\s;]+)\s*(?:;\s*([^#]+?))?\s*(?:#.*)?$", line)
        if m:
            pins.setdefault(canonicalize_name(m[1]), []).append((m[2], m[3] or ""))
    return pins


def test_one_version_everywhere() -> None:
    versions = {str(project(p)["version"]) for p in PYPROJECTS}
    assert len(versions) == 1, versions
    (version,) = versions
    assert (
        plugmem.__version__ == metadata.version("plugmem") == version
    )  # reinstall (make setup) after a bump
    changelog = (ROOT / "CHANGELOG.md").read_text()
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, flags=re.MULTILINE)
    assert released and released[0] == version, (
        f"CHANGELOG.md's newest release is {released[:1]}, not {version}"
    )
    assert "## [Unreleased]" in changelog
    for path in PYPROJECTS[1:]:  # the integrations require the plugmem they were released with
        deps = [Requirement(d) for d in project(path)["dependencies"]]
        (core,) = [d for d in deps if d.name == "plugmem"]
        assert core.specifier.contains(version) and not core.specifier.contains("1.0.0"), (path, core)


def test_license_and_metadata_in_every_package() -> None:
    for path in PYPROJECTS:
        p = project(path)
        assert p["license"] == "MIT" and p["license-files"] == ["LICENSE"], path
        assert (path.parent / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes(), (
            f"{path.parent}/LICENSE differs"
        )
        assert (path.parent / str(p["readme"])).is_file(), path
        assert "Typing :: Typed" in p["classifiers"]
        assert {"Homepage", "Repository", "Changelog"} <= set(p["urls"]), path
    extras = project(ROOT / "pyproject.toml")["optional-dependencies"]
    assert {"langgraph", "mcp", "cli", "demo", "local-llm", "postgres", "docs", "dev"} <= set(extras), extras


def test_lock_pins_every_dependency_within_its_range() -> None:
    """Each dependency of the three packages (extras included) is locked, at a version its range allows.

    Fails when a range in a pyproject.toml changed and `make lock` was not run.
    """
    pins = lock()
    assert not OURS & pins.keys(), "our own packages are installed editable, not from the lock"
    checked = 0
    for path in PYPROJECTS:
        p = project(path)
        reqs = list(p["dependencies"])
        for extra, deps in dict(p.get("optional-dependencies", {})).items():
            if extra not in ("langgraph", "mcp"):  # those two are our own packages
                reqs += deps
        for req in map(Requirement, reqs):
            name = canonicalize_name(req.name)
            if name in OURS:
                continue
            assert name in pins, (
                f"{req} ({path.relative_to(ROOT)}) is not in requirements/lock.txt: run make lock"
            )
            for version, marker in pins[name]:
                assert req.specifier.contains(version, prereleases=True), (
                    f"the lock pins {name}=={version} ({marker or 'everywhere'}), outside {req} in "
                    f"{path.relative_to(ROOT)}: run make lock"
                )
            checked += 1
    assert checked > 30, checked

"""What `make dist` built is complete: run by `make dist` on its output directory.

Reads the sdists and wheels themselves (not the source tree): one of each per package, all of
the same version, core metadata that an index and a user's tools rely on (SPDX license
expression and no deprecated license field, the license file inside, classifiers, project
URLs, the extras), `py.typed` in every package, and no test suite half-shipped.

Usage: python tests/packaging/check_dist.py DIST_DIR
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

PACKAGES = {  # distribution name → import package
    "plugmem": "plugmem",
    "plugmem-langgraph": "plugmem_langgraph",
    "plugmem-mcp": "plugmem_mcp",
}
EXTRAS = {"plugmem": {"langgraph", "mcp", "cli", "demo", "local-llm", "postgres", "docs", "dev"}}
SCRIPTS = {"plugmem": "plugmem = plugmem.cli:main", "plugmem-mcp": "plugmem-mcp = plugmem_mcp.server:main"}


class DistError(AssertionError):
    pass


def check(ok: bool, what: str) -> None:
    if not ok:
        raise DistError(what)


def check_metadata(meta: Message, name: str, where: str) -> str:
    """The core metadata of one distribution; returns its version."""
    check(meta["Name"] == name, f"{where}: Name is {meta['Name']!r}, expected {name!r}")
    check(
        float(meta["Metadata-Version"]) >= 2.4, f"{where}: Metadata-Version {meta['Metadata-Version']} < 2.4"
    )
    check(
        meta["License-Expression"] == "MIT", f"{where}: License-Expression is {meta['License-Expression']!r}"
    )
    check(meta["License"] is None, f"{where}: carries the deprecated License field")
    check("LICENSE" in (meta.get_all("License-File") or []), f"{where}: no License-File: LICENSE")
    classifiers = meta.get_all("Classifier") or []
    check("Typing :: Typed" in classifiers, f"{where}: no 'Typing :: Typed' classifier")
    check(
        not any(c.startswith("License ::") for c in classifiers),
        f"{where}: a license classifier beside the SPDX expression",
    )
    urls = {u.split(",", 1)[0] for u in meta.get_all("Project-URL") or []}
    check({"Homepage", "Repository", "Changelog"} <= urls, f"{where}: project URLs {sorted(urls)}")
    check(meta["Requires-Python"] == ">=3.11", f"{where}: Requires-Python {meta['Requires-Python']!r}")
    check(meta["Description-Content-Type"] == "text/markdown", f"{where}: no markdown long description")
    check(len(meta.get_payload() or "") > 200, f"{where}: empty long description")
    extras = set(meta.get_all("Provides-Extra") or [])
    check(EXTRAS.get(name, set()) <= extras, f"{where}: extras {sorted(extras)}")
    if name != "plugmem":
        requires = meta.get_all("Requires-Dist") or []
        check(
            any(r.startswith("plugmem<") or r.startswith("plugmem>") for r in requires),
            f"{where}: plugmem not pinned to a range",
        )
    return str(meta["Version"])


def check_wheel(path: Path, name: str) -> str:
    package = PACKAGES[name]
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(f"{info}/METADATA").decode())
        check(f"{info}/licenses/LICENSE" in names, f"{path.name}: no licenses/LICENSE in {info}")
        check(f"{package}/py.typed" in names, f"{path.name}: no {package}/py.typed")
        check(f"{package}/__init__.py" in names, f"{path.name}: no {package}/__init__.py")
        check(
            not any(n.split("/")[0] in ("tests", "benchmarks", "docs") for n in names),
            f"{path.name}: ships tests, benchmarks or docs",
        )
        if name in SCRIPTS:
            scripts = zf.read(f"{info}/entry_points.txt").decode()
            check(SCRIPTS[name] in scripts, f"{path.name}: console script {SCRIPTS[name]!r} missing")
        if name == "plugmem":
            check("plugmem/cli/page.html" in names, f"{path.name}: the inspect page template is missing")
    return check_metadata(meta, name, path.name)


def check_sdist(path: Path, name: str) -> str:
    with tarfile.open(path) as tf:
        names = tf.getnames()
        top = names[0].split("/")[0]
        pkg_info = tf.extractfile(f"{top}/PKG-INFO")
        assert pkg_info is not None
        meta = Parser().parsestr(pkg_info.read().decode())
    for needed in ("LICENSE", "README.md", "pyproject.toml", f"{PACKAGES[name]}/py.typed"):
        check(f"{top}/{needed}" in names, f"{path.name}: no {needed}")
    check(not any(n.startswith(f"{top}/tests/") for n in names), f"{path.name}: ships part of the test suite")
    if name == "plugmem":
        check(f"{top}/CHANGELOG.md" in names, f"{path.name}: no CHANGELOG.md")
    return check_metadata(meta, name, path.name)


def main(dist: Path) -> None:
    versions = set()
    for name in PACKAGES:
        stem = name.replace("-", "_")
        wheels = sorted(dist.glob(f"{stem}-*.whl"))
        sdists = sorted(dist.glob(f"{stem}-*.tar.gz"))
        check(
            len(wheels) == 1 and len(sdists) == 1,
            f"{name}: expected one wheel and one sdist, got {wheels + sdists}",
        )
        versions |= {check_wheel(wheels[0], name), check_sdist(sdists[0], name)}
        print(f"ok  {wheels[0].name}  {sdists[0].name}")
    check(len(versions) == 1, f"the packages disagree on their version: {sorted(versions)}")
    print(f"dist: 3 sdists and 3 wheels of version {versions.pop()}, metadata complete")


if __name__ == "__main__":
    try:
        main(Path(sys.argv[1]))
    except DistError as exc:
        sys.exit(f"make dist: {exc}")

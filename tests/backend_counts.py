"""How many tests run on the embedded backend and how many on the server backend (collects, runs nothing).

    .venv/bin/python tests/backend_counts.py [pytest args, e.g. a path or -m backends]

A test runs on the server backend when it is a `backend="postgres"` or `vectors="server"`
instance of a parametrized test, or uses the server fixtures directly (`postgres_server`,
`postgres_schemas`, `chroma_url`); every other test runs on the embedded backend only (a
directory with SQLite and Chroma on disk, or no storage at all).
"""

from __future__ import annotations

import sys
from collections import Counter

import pytest

SERVER_FIXTURES = {"postgres_server", "postgres_schemas", "chroma_url"}


def backend_of(item: pytest.Item) -> str:
    params = getattr(getattr(item, "callspec", None), "params", {})
    if params.get("backend") == "postgres" or params.get("vectors") == "server":
        return "server"
    if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
        return "server"
    return "embedded"


class Count:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.detail: Counter[str] = Counter()

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            where = backend_of(item)
            self.counts[where] += 1
            params = getattr(getattr(item, "callspec", None), "params", {})
            if where == "embedded" and (
                params.get("backend") == "sqlite" or params.get("vectors") == "embedded"
            ):
                self.counts["embedded twin"] += 1
            if where == "server":
                pg = params.get("backend") == "postgres" or bool(
                    {"postgres_server", "postgres_schemas"} & set(item.fixturenames)
                )
                chroma = params.get("vectors") == "server" or "chroma_url" in item.fixturenames
                self.detail[
                    "PostgreSQL" if pg and not chroma else "Chroma server" if chroma and not pg else "both"
                ] += 1


def main(argv: list[str]) -> int:
    count = Count()
    code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *argv], plugins=[count])
    total = count.counts["embedded"] + count.counts["server"]
    print(f"\ntests collected: {total}")
    print(
        f"embedded backend: {count.counts['embedded']} ({count.counts['embedded twin']} of them the embedded "
        "instance of a test that also runs on the server backend)"
    )
    print(
        f"server backend: {count.counts['server']} ({', '.join(f'{k} {v}' for k, v in count.detail.items())})"
    )
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

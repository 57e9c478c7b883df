"""Test data helpers shared by the core tests."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)


def conv(*texts: str, start: datetime = T0, prefix: str = "m") -> list[dict[str, object]]:
    """Alternating user/assistant dict messages one minute apart, ids m1, m2, …"""
    return [
        {
            "role": "user" if i % 2 == 0 else "assistant",
            "content": t,
            "id": f"{prefix}{i + 1}",
            "timestamp": start + timedelta(minutes=i),
        }
        for i, t in enumerate(texts)
    ]


def data_dir() -> Path:
    """The shared benchmark data folder (`$PLUGMEM_DATA_DIR`, set by the root conftest)."""
    return Path(os.environ["PLUGMEM_DATA_DIR"])

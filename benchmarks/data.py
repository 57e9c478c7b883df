"""Loaders for the shared benchmark data, as plain dataclasses.

LoCoMo: one turn per message, its `dia_id` as id, the session's date as timestamp, photo
captions inlined. Evidence is kept as published and as corrected by the public audit
(`WRONG_CITATION` rows); ids that do not name a turn are skipped and counted.
LongMemEval-S: user turns only (the official retrieval protocol), ids `<session>#<n>`.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
LOCOMO_CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
ADVERSARIAL = 5  # questions the conversation cannot answer


def data_dir(arg: str | os.PathLike[str] | None = None) -> Path:
    """`--data` wins, then $PLUGMEM_DATA_DIR, then ../shared/data next to the repo."""
    path = Path(arg) if arg else Path(os.environ.get("PLUGMEM_DATA_DIR", str(DEFAULT_DATA)))
    if not path.is_dir():
        raise FileNotFoundError(
            f"benchmark data folder {path} not found; pass --data or set PLUGMEM_DATA_DIR"
        )
    return path


@dataclass(slots=True)
class Turn:
    id: str
    speaker: str
    role: str
    text: str
    timestamp: datetime
    session: str

    def message(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "name": self.speaker,
            "id": self.id,
            "content": self.text,
            "timestamp": self.timestamp,
        }


@dataclass(slots=True)
class Question:
    id: str
    question: str
    category: str
    evidence: list[str]  # turn ids (LoCoMo) or session ids (LongMemEval)
    evidence_corrected: list[str] = field(default_factory=list)
    when: datetime | None = None
    answer: str = ""


@dataclass(slots=True)
class Conversation:
    id: str
    turns: list[Turn]
    questions: list[Question]
    malformed_evidence: list[str] = field(default_factory=list)

    @property
    def sessions(self) -> list[str]:
        return list(dict.fromkeys(t.session for t in self.turns))


def _locomo_date(text: str) -> datetime:
    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def load_locomo(folder: Path, *, limit: int | None = None, adversarial: bool = False) -> list[Conversation]:
    """The LoCoMo conversations, categories 1–4 (and 5, adversarial / unanswerable, when asked for)."""
    samples = json.loads((folder / "locomo_dev.json").read_text())
    audit_path = folder / "locomo_audit_errors.json"
    corrections: dict[tuple[str, int], list[str]] = {}
    if audit_path.exists():
        for row in json.loads(audit_path.read_text()):
            if row.get("error_type") == "WRONG_CITATION":
                corrections[(row["sample_id"], int(row["qa_index"]))] = list(row["correct_evidence"])
    out: list[Conversation] = []
    for sample in samples[:limit]:
        conv = sample["conversation"]
        turns: list[Turn] = []
        keys = sorted(
            (k for k in conv if re.fullmatch(r"session_\d+", k)), key=lambda k: int(k.split("_")[1])
        )
        for key in keys:
            ts = _locomo_date(conv[f"{key}_date_time"])
            for t in conv[key]:
                text = t["text"]
                if t.get("blip_caption"):
                    text = f"{text} [shares a photo: {t['blip_caption']}]"
                role = "user" if t["speaker"] == conv["speaker_a"] else "assistant"
                turns.append(Turn(t["dia_id"], t["speaker"], role, text, ts, key))
        ids = {t.id for t in turns}
        questions: list[Question] = []
        malformed: list[str] = []
        for i, qa in enumerate(sample["qa"]):
            cat = int(qa["category"])
            if cat == ADVERSARIAL and adversarial:
                questions.append(_adversarial(sample["sample_id"], i, qa))
                continue
            if cat not in LOCOMO_CATEGORIES:
                continue
            ev = [e for e in qa.get("evidence", []) if e in ids]
            malformed += [e for e in qa.get("evidence", []) if e not in ids]
            fixed = [e for e in corrections.get((sample["sample_id"], i), ev) if e in ids]
            if not ev and not fixed:
                continue
            questions.append(
                Question(
                    id=f"{sample['sample_id']}#{i}",
                    question=qa["question"],
                    category=LOCOMO_CATEGORIES[cat],
                    evidence=ev,
                    evidence_corrected=fixed,
                    answer=str(qa.get("answer", "")),
                )
            )
        out.append(Conversation(sample["sample_id"], turns, questions, malformed))
    return out


def _adversarial(sample_id: str, index: int, qa: dict[str, Any]) -> Question:
    """A category-5 question: memory should come back empty (its "answer" is a plausible trap)."""
    return Question(
        id=f"{sample_id}#{index}",
        question=qa["question"],
        category="adversarial",
        evidence=[],
        answer=str(qa.get("adversarial_answer", "")),
    )


def _lme_date(text: str) -> datetime:
    return datetime.strptime(text.split(" (")[0] + text.split(")")[-1], "%Y/%m/%d %H:%M").replace(tzinfo=UTC)


def load_longmemeval(folder: Path, *, limit: int | None = None) -> tuple[list[Conversation], dict[str, int]]:
    """`longmemeval_haystacks` over `longmemeval_s_dev.json.gz` in `folder`."""
    with gzip.open(folder / "longmemeval_s_dev.json.gz", "rt") as fh:
        return longmemeval_haystacks(json.load(fh), limit=limit)


def longmemeval_haystacks(
    rows: Sequence[dict[str, Any]], *, limit: int | None = None
) -> tuple[list[Conversation], dict[str, int]]:
    """One haystack per question, user turns only, questions the official protocol scores.

    Skips abstention questions (`_abs`) and those whose evidence has no user-side turn;
    returns the haystacks and how many questions were skipped for each reason. `limit`
    takes an evenly spaced sample (the file is grouped by question type).
    """
    skipped = {"abstention": 0, "no_user_evidence": 0}
    out: list[Conversation] = []
    for row in rows:
        if row["question_id"].endswith("_abs"):
            skipped["abstention"] += 1
            continue
        turns: list[Turn] = []
        evidence_sessions: set[str] = set()
        seen: set[str] = set()
        for sid, date, session in zip(
            row["haystack_session_ids"], row["haystack_dates"], row["haystack_sessions"], strict=True
        ):
            if sid in seen:  # a few haystacks list a session twice
                continue
            seen.add(sid)
            ts = _lme_date(date)
            for n, t in enumerate(session):
                if t["role"] != "user" or not str(t["content"]).strip():
                    continue  # the protocol indexes user turns; a few are empty
                if t.get("has_answer"):
                    evidence_sessions.add(sid)
                turns.append(Turn(f"{sid}#{n}", "user", "user", t["content"], ts, sid))
        if not evidence_sessions:
            skipped["no_user_evidence"] += 1
            continue
        q = Question(
            id=row["question_id"],
            question=row["question"],
            category=row["question_type"],
            evidence=[s for s in row["answer_session_ids"] if s in row["haystack_session_ids"]],
            when=_lme_date(row["question_date"]),
            answer=str(row["answer"]),
        )
        out.append(Conversation(row["question_id"], turns, [q]))
    if limit is not None and limit < len(out):
        # the file is grouped by question type: sample evenly so every type keeps its share
        out = [out[i * len(out) // limit] for i in range(limit)]
    return out, skipped

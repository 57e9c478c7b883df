"""What the ingest pipeline builds from LoCoMo: events, knowledge, entities, summaries, supersessions.

Runs segment → RuleExtractor → consolidate → rollup (+ event edges) per conversation on
Steps built straight from the data (no storage, no index), and reports counts, real
examples and throughput, without embeddings and, when the ONNX model is present, with
them (segmentation and summaries then use sentence vectors).

    .venv/bin/python -m benchmarks.graph_stats [--data PATH] [--out PATH] [--no-embeddings]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from plugmem.dates import parse_datetime
from plugmem.ingest.consolidate import consolidate, consolidate_entities
from plugmem.ingest.extract import RuleExtractor
from plugmem.ingest.relations import event_edges, tree_edges
from plugmem.ingest.segment import segment
from plugmem.ingest.summarize import rollup
from plugmem.model import Entity, Event, Knowledge, Step, Summary

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_MODEL = ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2" / "onnx"


# -- data -------------------------------------------------------------------------------
def data_path(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    return Path(os.environ.get("PLUGMEM_DATA_DIR", str(DEFAULT_DATA))) / "locomo_dev.json"


def locomo_steps(sample: dict[str, Any]) -> list[Step]:
    """One Step per turn: id = dia_id, name = speaker, timestamp = session date, photo captions inlined."""
    conv = sample["conversation"]
    namespace = sample["sample_id"]
    first_speaker = conv["speaker_a"]
    steps: list[Step] = []
    n = 1
    while f"session_{n}" in conv:
        ts = parse_datetime(conv[f"session_{n}_date_time"])
        if ts is None:
            raise ValueError(f"{namespace}: unparseable date {conv[f'session_{n}_date_time']!r}")
        for turn in conv[f"session_{n}"]:
            text = turn["text"]
            if turn.get("blip_caption"):
                text = f"{text} [shares a photo: {turn['blip_caption']}]"
            steps.append(
                Step(
                    id=turn["dia_id"],
                    namespace=namespace,
                    session_id=f"session_{n}",
                    seq=len(steps),
                    role="user" if turn["speaker"] == first_speaker else "assistant",
                    content=text,
                    timestamp=ts,
                    name=turn["speaker"],
                )
            )
        n += 1
    return steps


# -- embeddings (optional) ----------------------------------------------------------------
class MiniLM:
    """all-MiniLM-L6-v2 on onnxruntime: length-sorted batches padded to their longest text."""

    def __init__(self, model_dir: Path, batch: int = 64) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tok.enable_truncation(max_length=256)
        self.tok.no_padding()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = min(4, os.cpu_count() or 1)
        self.session = ort.InferenceSession(
            str(model_dir / "model.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.batch = batch

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        encs = self.tok.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for b in range(0, len(order), self.batch):
            idx = order[b : b + self.batch]
            width = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for r, i in enumerate(idx):
                n = len(encs[i].ids)
                ids[r, :n] = encs[i].ids
                mask[r, :n] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feed)[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[idx] = pooled
        return out


def find_model() -> Path | None:
    d = Path(os.environ.get("PLUGMEM_EMBEDDING_MODEL_DIR", str(DEFAULT_MODEL)))
    return d if (d / "model.onnx").is_file() and (d / "tokenizer.json").is_file() else None


# -- pipeline -----------------------------------------------------------------------------
def build(
    steps: list[Step], vectors: np.ndarray | None
) -> tuple[list[Event], list[Knowledge], list[Entity], list[Summary], int, int]:
    """The whole ingest for one conversation, session by session (as a live worker would see it)."""
    by_id = {s.id: s for s in steps}
    events: list[Event] = []
    knowledge: dict[str, Knowledge] = {}
    entities: dict[str, Entity] = {}
    summaries: dict[str, Summary] = {}
    edges = 0
    sessions: dict[str, list[int]] = {}
    for i, s in enumerate(steps):
        sessions.setdefault(s.session_id, []).append(i)
    for idx in sessions.values():
        batch = [steps[i] for i in idx]
        vecs = [vectors[i].tolist() for i in idx] if vectors is not None else None
        new_events = segment(batch, vecs, previous=events[-1] if events else None)
        extraction = RuleExtractor(entities=list(entities.values())).extract(new_events, by_id)
        cons = consolidate(extraction.knowledge, list(knowledge.values()))
        for k in [*cons.to_add, *cons.to_close, *cons.merged]:
            knowledge[k.id] = k
        ent = consolidate_entities(extraction.entities, list(entities.values()))
        for e in ent.upsert:
            entities[e.id] = e
        for old in ent.merged:
            entities.pop(old, None)
        tree = rollup(new_events, list(summaries.values()))
        for sm in tree:
            summaries[sm.id] = sm
        edges += (
            len(extraction.edges)
            + len(cons.edges)
            + len(event_edges(new_events, events))
            + len(tree_edges(tree))
        )
        events.extend(new_events)
    superseded = sum(1 for k in knowledge.values() if k.superseded_by)
    return (
        events,
        list(knowledge.values()),
        list(entities.values()),
        list(summaries.values()),
        superseded,
        edges,
    )


def examples(events: list[Event], knowledge: list[Knowledge], entities: list[Entity]) -> dict[str, Any]:
    props = [k for k in knowledge if k.kind == "proposition"]
    dated = [k for k in props if k.event_time is not None and "(" in k.statement]
    procs = [k for k in knowledge if k.kind == "prescription"]
    closed = [k for k in knowledge if k.superseded_by]
    by_id = {k.id: k for k in knowledge}
    return {
        "propositions": [
            {"statement": k.statement, "spo": [k.subject, k.predicate, k.object], "source_ids": k.source_ids}
            for k in sorted(props, key=lambda k: -k.confidence)[:4]
        ],
        "dated_propositions": [
            {
                "statement": k.statement,
                "event_time": k.event_time.date().isoformat() if k.event_time else None,
            }
            for k in dated[:4]
        ],
        "prescriptions": [{"goal": k.goal, "steps": k.steps, "source_ids": k.source_ids} for k in procs[:3]],
        "entities": [
            {"name": e.name, "kind": e.kind, "aliases": e.aliases}
            for e in sorted(entities, key=lambda e: (-len(e.aliases), e.kind != "person", e.name))[:8]
        ],
        "superseded": [
            {
                "old": k.statement,
                "new": by_id[k.superseded_by].statement if k.superseded_by in by_id else None,
            }
            for k in closed[:3]
        ],
        "events": [
            {"boundary": e.boundary, "steps": len(e.step_ids), "summary": e.summary, "entities": e.entities}
            for e in events[:2]
        ],
    }


def run(samples: list[dict[str, Any]], model: MiniLM | None) -> dict[str, Any]:
    per_conv: list[dict[str, Any]] = []
    turns = 0
    seconds = 0.0
    embed_seconds = 0.0
    for sample in samples:
        steps = locomo_steps(sample)
        t0 = time.perf_counter()
        vectors = model.embed([s.content for s in steps]) if model is not None else None
        t1 = time.perf_counter()
        events, knowledge, entities, summaries, superseded, edges = build(steps, vectors)
        t2 = time.perf_counter()
        turns += len(steps)
        seconds += t2 - t0
        embed_seconds += t1 - t0
        levels = Counter(s.level for s in summaries)
        per_conv.append(
            {
                "sample_id": sample["sample_id"],
                "turns": len(steps),
                "sessions": len({s.session_id for s in steps}),
                "events": len(events),
                "boundaries": dict(Counter(e.boundary for e in events)),
                "mean_event_steps": round(len(steps) / max(1, len(events)), 2),
                "propositions": sum(k.kind == "proposition" for k in knowledge),
                "prescriptions": sum(k.kind == "prescription" for k in knowledge),
                "entities": len(entities),
                "entities_with_aliases": sum(bool(e.aliases) for e in entities),
                "summaries": dict(levels),
                "superseded": superseded,
                "edges": edges,
                "examples": examples(events, knowledge, entities),
            }
        )
    return {
        "conversations": per_conv,
        "totals": {
            k: sum(c[k] for c in per_conv)
            for k in ("turns", "events", "propositions", "prescriptions", "entities", "superseded", "edges")
        },
        "throughput": {
            "turns": turns,
            "seconds": round(seconds, 3),
            "turns_per_s": round(turns / seconds, 1) if seconds else None,
            "embedding_seconds": round(embed_seconds, 3),
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--data", help="locomo_dev.json (default: $PLUGMEM_DATA_DIR/locomo_dev.json)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "graph_stats.json"))
    ap.add_argument("--no-embeddings", action="store_true")
    args = ap.parse_args(argv)
    path = data_path(args.data)
    if not path.is_file():
        print(f"data not found: {path} (use --data or PLUGMEM_DATA_DIR)", file=sys.stderr)
        return 2
    samples = json.loads(path.read_text())
    report: dict[str, Any] = {"data": str(path), "pipeline": "segment → RuleExtractor → consolidate → rollup"}
    report["lexical"] = run(samples, None)
    model_dir = None if args.no_embeddings else find_model()
    if model_dir is not None:
        report["embeddings"] = run(samples, MiniLM(model_dir))
        report["embeddings"]["model"] = str(model_dir)
    else:
        report["embeddings"] = None
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    for mode in ("lexical", "embeddings"):
        r = report[mode]
        if r is None:
            print(f"{mode}: skipped (no ONNX model)")
            continue
        print(f"== {mode}: {r['throughput']['turns_per_s']} turns/s over {r['throughput']['turns']} turns")
        print(
            f"{'conversation':<10} {'turns':>5} {'events':>6} {'props':>6} {'procs':>5} {'ents':>5} {'summ':>5} {'sup':>4}"
        )
        for c in r["conversations"]:
            print(
                f"{c['sample_id']:<10} {c['turns']:>5} {c['events']:>6} {c['propositions']:>6} "
                f"{c['prescriptions']:>5} {c['entities']:>5} {sum(c['summaries'].values()):>5} {c['superseded']:>4}"
            )
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

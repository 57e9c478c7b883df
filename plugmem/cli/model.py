"""`plugmem model status|fetch|path`: where the embedding model is, and getting it.

The lookup is `find_model_dir()`, the same one the embedder and the test skips use, so
what this command says is what `PlugMem.open` will do.
"""

from __future__ import annotations

import argparse
import sys

from plugmem.cli.output import Printer
from plugmem.index.embeddings import (
    MODEL_ENV,
    MODEL_NAME,
    candidate_model_dirs,
    chroma_model_home,
    fetch_model,
    find_model_dir,
    missing_model_message,
    model_download_url,
)


def status() -> dict[str, object]:
    found = find_model_dir()
    return {
        "model": MODEL_NAME,
        "found": found is not None,
        "path": str(found) if found else None,
        "looked_in": [str(d) for d in candidate_model_dirs()],
        "env": MODEL_ENV,
        "download_url": model_download_url(),
        "download_to": str(chroma_model_home()),
        "recall": "hybrid (vectors + BM25)" if found else "lexical (BM25) until the model is present",
    }


def command(args: argparse.Namespace) -> int:
    out = Printer(args.json)
    if args.action == "path":
        found = find_model_dir()
        if found is None:
            print(f"plugmem model path: {missing_model_message()}", file=sys.stderr)
            return 1
        out.data({"path": str(found)}) if args.json else print(found)
        return 0
    if args.action == "fetch":
        path = fetch_model()  # ModelDownloadError (a PlugMemError) is reported by main()
        out.data({"path": str(path)}) if args.json else out.line(f"{MODEL_NAME} is ready at {path}")
        return 0
    info = status()
    if args.json:
        out.data(info)
        return 0 if info["found"] else 1
    out.table(["", ""], [[k, v] for k, v in info.items()], title=f"embedding model {MODEL_NAME}")
    if not info["found"]:
        out.line(missing_model_message(), style="yellow")
    return 0 if info["found"] else 1

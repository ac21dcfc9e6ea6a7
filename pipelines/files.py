"""Files the sweep rewrites while it runs (its meta, its ledger, the pruning rules' state).

Free of Ray and MLflow, so export and the report find a sweep's folder without them."""

from __future__ import annotations

from pathlib import Path

META_FILE = "sweep.json"  # what a resume needs to start the same sweep again, and its runs


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader, or a driver killed mid-write, sees the old
    file or the new one, never half of one: write beside it, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)

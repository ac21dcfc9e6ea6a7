"""Replay a finished sweep's results through the pruning rules, in the order they arrived.

    .venv/bin/python benchmarks/pruning_replay.py runs/sweeps/stabilizers-20261202-031604

Every eval point each trial reported (Ray's `result.json` in the sweep folder) is fed to
`PruningRules` in the order of Ray's timestamps, and the reasons it gives are compared with
the sweep's own table. A match says the rules decide the same from the same arrivals, so
two sweeps of the same space that prune differently did so because their trials reached
the milestones in another order (a milestone ranks a trial against the peers already
there: docs/design.md), not because the code changed. Exits 1 on a mismatch.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from pipelines.files import META_FILE
from pipelines.sweep.pruning import PruningRules
from search_spaces import load_space


def arrivals(folder: Path) -> list[tuple[float, str, int, float, str]]:
    """(timestamp, trial id, step, objective, health) of every eval point, oldest first."""
    events = []
    for path in folder.glob("run_trial_*/result.json"):
        for line in path.read_text().splitlines():
            r = json.loads(line) if line.strip() else {}
            if "objective" in r and "step" in r:
                events.append(
                    (r["timestamp"], r["trial_id"], r["step"], r["objective"], r["health"])
                )
    return sorted(events)


def replay(folder: Path) -> dict[str, str]:
    meta = json.loads((folder / META_FILE).read_text())
    rules = PruningRules.from_space(load_space(meta["space_path"]))
    reasons: dict[str, str] = {}
    for _, trial_id, step, objective, health in arrivals(folder):
        if trial_id not in reasons:
            reason = rules.observe(trial_id, step, objective, health)
            if reason:
                reasons[trial_id] = reason
    return reasons


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="finished sweep folders")
    args = parser.parse_args(argv)
    ok = True
    for folder in args.folders:
        table = pd.read_parquet(folder / "trials.parquet")
        reasons = replay(folder)
        mismatched = [
            t for t, r in zip(table.trial_id, table.reason, strict=True) if reasons.get(t, "") != r
        ]
        counts = table.reason[table.reason != ""].value_counts().to_dict()
        print(f"{folder.name}: pruned {counts}; replay matches: {not mismatched} {mismatched}")
        ok &= not mismatched
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

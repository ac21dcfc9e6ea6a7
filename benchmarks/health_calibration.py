"""Calibrate the health verdict: train a labelled set of runs, then measure the monitor on it.

    .venv/bin/python benchmarks/health_calibration.py                 # train what is missing, analyse
    .venv/bin/python benchmarks/health_calibration.py --analyze-only  # re-analyse the saved records

Build: the runs of `health_runs.calibration_set()` (ring8, grid25, 8x8 digits; good
configs and configs chosen to fail in each known way), each to 4000 steps with an
eval record every 250 steps, two at a time in a process pool (one torch thread
each). Records go to benchmarks/results/health_calibration.json after every run,
so an interrupted build resumes where it stopped.

Analysis (`health_analysis`): label each run by its end state, then report the
detector's recall on failed runs and false alarms on each data set's best quarter
at steps 500 and 1000, the Spearman correlation of the early objective with the
final one, a grid search of the monitor thresholds, and the eval cost share.
Results and how to read them: docs/health.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling modules, from any cwd

from health_analysis import MILESTONES  # noqa: E402
from health_report import report  # noqa: E402
from health_runs import STEPS, calibration_set, train_one  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "health_calibration.json"


def load_runs(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return json.loads(path.read_text())["runs"]


def save_runs(path: Path, runs: list[dict]) -> None:
    """Atomic write: a build killed mid-write keeps the previous file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"runs": sorted(runs, key=lambda r: r["name"])}, indent=0))
    tmp.replace(path)


def build(path: Path, workers: int, steps: int, only: str | None) -> list[dict]:
    """Train every run of the set that the file does not hold yet, in a pool."""
    runs = load_runs(path)
    other = sorted({r["steps"] for r in runs} - {steps})
    if other:
        sys.exit(f"{path} holds runs of {other} steps, not {steps}: pass --out another file")
    done = {r["name"] for r in runs}
    todo = [s for s in calibration_set() if s.name not in done and (not only or only in s.name)]
    print(f"{len(done)} runs on file, {len(todo)} to train with {workers} workers", flush=True)
    start = time.perf_counter()
    # spawn, not fork: a forked torch can deadlock on the parent's thread pools
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for i, run in enumerate(pool.imap_unordered(_train, [(s, steps) for s in todo]), 1):
            runs.append(run)
            save_runs(path, runs)
            last = run["records"][-1]
            print(
                f"[{i}/{len(todo)} {time.perf_counter() - start:6.0f}s] {run['name']:28s} "
                f"{run['wall_s']:5.0f}s step {last['step']} objective {last['objective']:.4g} "
                f"health {last['health']}",
                flush=True,
            )
    print(f"build wall time {time.perf_counter() - start:.0f} s", flush=True)
    return runs


def _train(args):
    spec, steps = args
    return train_one(spec, steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file of the raw records")
    ap.add_argument("--analyze-only", action="store_true", help="no training: analyse the file")
    ap.add_argument("--workers", type=int, default=2, help="training processes (1 thread each)")
    ap.add_argument("--steps", type=int, default=STEPS, help="steps per run (>= 4000)")
    ap.add_argument("--only", help="train only runs whose name contains this (e.g. digits/)")
    args = ap.parse_args()
    if args.steps < 4 * MILESTONES[-1]:
        sys.exit(
            f"--steps {args.steps}: runs must last >= 4x the last milestone ({MILESTONES[-1]})"
        )
    if args.analyze_only:
        runs = load_runs(args.out)
        if not runs:
            sys.exit(f"{args.out}: no records; run without --analyze-only first")
    else:
        runs = build(args.out, args.workers, args.steps, args.only)
    missing = {s.name for s in calibration_set()} - {r["name"] for r in runs}
    if missing:
        sys.exit(f"{len(missing)} runs of the set are not on file yet: run without --only")
    print(report(runs))


if __name__ == "__main__":
    main()

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
import dataclasses
import json
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling modules, from any cwd

from health_analysis import MILESTONES  # noqa: E402
from health_report import report  # noqa: E402
from health_runs import (  # noqa: E402
    STEPS,
    RunSpec,
    calibration_set,
    population_groups,
    train_one,
    train_population,
)
from health_set import large_set  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "health_calibration.json"
LARGE_OUT = ROOT / "benchmarks" / "results" / "health_calibration_large.json"


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


def build(
    path: Path, specs: list[RunSpec], workers: int, steps: int, population: bool = False
) -> list[dict]:
    """Train every run of `specs` that the file does not hold yet, in a pool.

    A run trains its spec's own `steps` when it has them, else `steps`. With
    `population`, runs of one shape train together as one PopulationTrainer (a job of
    the pool each), else one by one.
    """
    runs = load_runs(path)
    wanted = {s.name: s.steps or steps for s in specs}
    other = sorted(
        {(r["name"], r["steps"]) for r in runs if wanted.get(r["name"], r["steps"]) != r["steps"]}
    )
    if other:
        sys.exit(f"{path} holds runs of other lengths ({other[:3]} ...): pass --out another file")
    done = {r["name"] for r in runs}
    todo = [s for s in specs if s.name not in done]
    jobs = population_groups(todo, wanted) if population else [[s] for s in todo]
    print(f"{len(done)} runs on file, {len(todo)} to train in {len(jobs)} jobs with {workers} "
          f"workers", flush=True)  # fmt: skip
    start = time.perf_counter()
    # spawn, not fork: a forked torch can deadlock on the parent's thread pools
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        work = [(group, wanted, population) for group in jobs]
        for i, group_runs in enumerate(pool.imap_unordered(_train, work), 1):
            runs += group_runs
            save_runs(path, runs)
            for run in group_runs:
                last = run["records"][-1]
                print(
                    f"[{i}/{len(jobs)} {time.perf_counter() - start:6.0f}s] {run['name']:28s} "
                    f"{run['wall_s']:5.0f}s step {last['step']} objective "
                    f"{last['objective']:.4g} health {last['health']}",
                    flush=True,
                )
    print(f"build wall time {time.perf_counter() - start:.0f} s", flush=True)
    return runs


def _train(args) -> list[dict]:
    group, wanted, population = args
    if population:
        return train_population(group, wanted)
    return [train_one(group[0], wanted[group[0].name])]


def chosen_specs(args) -> list[RunSpec]:
    """The runs of --set, narrowed by --only and --per-data, with --steps where given."""
    specs = calibration_set() if args.set == "first" else large_set()
    specs = [s for s in specs if not args.only or args.only in s.name]
    if args.per_data:
        by_data: dict[str, list[RunSpec]] = {}
        for s in specs:
            by_data.setdefault(s.data, []).append(s)
        specs = [s for group in by_data.values() for s in group[: args.per_data]]
    if args.steps:
        specs = [dataclasses.replace(s, steps=args.steps) for s in specs]
    return specs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--set",
        choices=("first", "large"),
        default="first",
        help="first: the 43 runs of docs/health.md; large: issue 14's 420 (health_set)",
    )
    ap.add_argument("--out", type=Path, help="JSON file of the raw records (default per set)")
    ap.add_argument("--analyze-only", action="store_true", help="no training: analyse the file")
    ap.add_argument("--workers", type=int, default=2, help="training processes (1 thread each)")
    ap.add_argument(
        "--steps",
        type=int,
        help=f"steps of every run (first set: default {STEPS}; large: per data set)",
    )
    ap.add_argument("--only", help="train only runs whose name contains this (e.g. digits/)")
    ap.add_argument(
        "--one-by-one", action="store_true", help="large set: plain Trainer runs, no populations"
    )
    ap.add_argument(
        "--per-data", type=int, help="a smoke: the first N runs of each data set only (needs --out)"
    )
    ap.add_argument(
        "--also",
        type=Path,
        action="append",
        default=[],
        help="analyse these records too (e.g. the first set's file beside the large set's)",
    )
    args = ap.parse_args()
    default_out = DEFAULT_OUT if args.set == "first" else LARGE_OUT
    if (args.per_data or (args.set == "large" and args.steps)) and args.out in (None, default_out):
        sys.exit("--per-data or --steps on the large set is a smoke: pass --out another file")
    out = args.out or default_out
    if args.set == "first" and not args.steps:
        args.steps = STEPS
    if not args.per_data and args.steps and args.steps < 4 * MILESTONES[-1]:
        sys.exit(
            f"--steps {args.steps}: runs must last >= 4x the last milestone ({MILESTONES[-1]})"
        )
    specs = chosen_specs(args)
    if args.analyze_only:
        runs = load_runs(out)
        if not runs:
            sys.exit(f"{out}: no records; run without --analyze-only first")
    else:
        population = args.set == "large" and not args.one_by_one
        runs = build(out, specs, args.workers, args.steps or STEPS, population)
    if args.per_data:
        print(f"smoke: {len(runs)} runs on file in {out}; no analysis")
        return
    also = [r for path in args.also for r in load_runs(path)]
    clash = {r["name"] for r in also} & {r["name"] for r in runs}
    if clash:
        sys.exit(f"--also: runs of the same name in both files ({sorted(clash)[:3]} ...)")
    missing = {s.name for s in specs} - {r["name"] for r in runs}
    if missing:  # a partial set is analysed, and says so first
        print(f"PARTIAL: {len(missing)} runs of the set are not on file yet; the analysis "
              f"covers the {len(runs)} on file and {len(also)} from --also", flush=True)  # fmt: skip
    print(report(runs + also))


if __name__ == "__main__":
    main()

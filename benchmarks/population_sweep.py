"""Whole sweeps with and without populations at the same number of trials, back to back
(issue 13), printed as a markdown table.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/population_sweep.py [--space stabilizers]
        [--populations 1 4] [--repeats 1] [--trials N] [--max-steps N] [--sampler-seed N]

An arm may name its own number of trials as K:TRIALS (`--populations 1:16 4:32`: the
default sweep against a population sweep of twice the trials, issue 13's re-size).
`--sampler-seed N` runs a copy of the space whose `sampler.seed` is N (another search of
the same space: one seed says little about which arm searches better).

Each arm is one `gansweep sweep` process (`--population K`, the space's own budget
otherwise), in its own folder under a temporary GANSWEEP_STORAGE and SQLite MLflow store;
arms alternate (1, 4, 1, 4, ...) so the load of other work hits both alike. Per sweep:
wall time of the process, steps trained (all trials), finished / pruned / failed and the
best finished objective, from the sweep's summary.json. `uptime` before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def one_sweep(space: str, arm: str, work: Path, extra: list[str]) -> dict:
    population, _, trials = arm.partition(":")
    extra = [*extra, f"--trials={trials}"] if trials else extra
    storage = work / f"p{population}-{time.time_ns()}"
    env = {
        **os.environ,
        "GANSWEEP_STORAGE": str(storage),
        "MLFLOW_TRACKING_URI": f"sqlite:///{storage / 'mlflow.db'}",
        "PYTHONPATH": str(REPO),
    }
    storage.mkdir(parents=True)
    cmd = [sys.executable, "-m", "pipelines.cli", "sweep", "--space", space]
    cmd += ["--population", str(population), *extra]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    (summary_file,) = storage.glob("*/summary.json")
    summary = json.loads(summary_file.read_text())
    best = summary["top"][0]["objective"] if summary["top"] else None
    return {"population": population, "wall_s": wall, **summary["counts"], "best": best,
            "steps": summary["steps_run"], "trials": sum(summary["counts"].values())}  # fmt: skip


def with_sampler_seed(space: str, seed: int, work: Path) -> str:
    """A copy of `space` in `work` whose sampler seed is `seed` (its base path made absolute)."""
    import yaml

    from search_spaces import space_path

    source = space_path(space)
    raw = yaml.safe_load(source.read_text())
    if isinstance(raw["base"], str) and not Path(raw["base"]).is_absolute():
        raw["base"] = str(REPO / raw["base"])
    raw["sampler"] = {**(raw.get("sampler") or {}), "seed": seed}
    copy = work / f"{source.stem}_seed{seed}.yaml"
    copy.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(copy)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="stabilizers")
    ap.add_argument("--populations", nargs="+", default=["1", "4"], help="K or K:TRIALS each")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--trials", type=int)
    ap.add_argument("--max-steps", type=int)
    ap.add_argument("--sampler-seed", type=int, help="search a copy with this sampler.seed")
    args = ap.parse_args()
    extra = [f"--trials={args.trials}"] if args.trials else []
    extra += [f"--max-steps={args.max_steps}"] if args.max_steps else []
    work = Path(tempfile.mkdtemp(prefix="population_sweep_"))
    if args.sampler_seed is not None:
        args.space = with_sampler_seed(args.space, args.sampler_seed, work)
    print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\nbefore: {uptime()}")
    rows = []
    for _ in range(args.repeats):
        for k in args.populations:
            rows.append(one_sweep(args.space, k, work, extra))
            print(f"  done: population {k}, {rows[-1]['wall_s']:.0f} s", flush=True)
    print(f"after: {uptime()}\n")
    print("| space | population | trials | wall s | steps | finished | pruned | failed | best |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        best = f"{r['best']:.3f}" if r["best"] is not None else "-"
        print(
            f"| {args.space} | {r['population']} | {r['trials']} | {r['wall_s']:.0f} | "
            f"{r['steps']:,} | {r['finished']} | {r['pruned']} | {r['failed']} | {best} |"
        )


if __name__ == "__main__":
    main()

"""Sweep throughput on one Ray node vs two on loopback with the same total CPUs, and the
MLflow logging cost per trial against the PostgreSQL-backed server (deploy/cluster.py).

    .venv/bin/python benchmarks/cluster_throughput.py [--trials 6] [--steps 200] [--two-first]

Both layouts run the same sweep: search_spaces/tiny.yaml without pruning (every trial runs
all its steps, so both do the same work), 2 trials at a time, 1 CPU each:
- one node: a Ray head with 2 CPUs;
- two nodes: a head with 1 CPU and node w1 with 1 CPU.
The cluster's state goes to a temporary folder, on ports of its own; all is stopped at the
end. Logging cost: the time the driver spent in MLflow calls (TrialRunLogger.flush), per
trial.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from deploy import cluster as tool  # noqa: E402
from pipelines.tracking import trial_runs  # noqa: E402
from search_spaces import SPACES_DIR  # noqa: E402

LOG_SECONDS = {"total": 0.0}


def timed_flush(flush):
    def wrapper(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return flush(self, *args, **kwargs)
        finally:
            LOG_SECONDS["total"] += time.perf_counter() - started

    return wrapper


def unpruned_space(folder: Path, steps: int) -> Path:
    raw = yaml.safe_load((SPACES_DIR / "tiny.yaml").read_text())
    raw["budget"]["max_steps"] = steps
    raw["pruning"].update(health=False, min_peers=1000)  # no trial pruned: equal work
    path = folder / "tiny_unpruned.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_once(space: Path, trials: int, layout: tool.Layout, label: str) -> dict:
    """One sweep in a child process (a fresh Ray driver each time); its numbers as JSON."""
    import subprocess

    code = (
        "import json, time, sys\n"
        "sys.argv = ['x']\n"
        "from benchmarks.cluster_throughput import measure\n"
        f"print('RESULT ' + json.dumps(measure({str(space)!r}, {trials})))\n"
    )
    env = {
        **os.environ,
        **tool.driver_env(layout),
        "PYTHONPATH": str(REPO),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    if out.returncode != 0 or not line:
        raise RuntimeError(f"{label} sweep failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return {"layout": label, **json.loads(line[0][len("RESULT ") :])}


def measure(space: str, trials: int) -> dict:
    """In the child: run the sweep, time it and its MLflow calls."""
    trial_runs.TrialRunLogger.flush = timed_flush(trial_runs.TrialRunLogger.flush)
    from pipelines.sweep.driver import run_sweep

    started = time.perf_counter()
    result = run_sweep(space, trials=trials)
    wall = time.perf_counter() - started
    table = result.table
    return {
        "trials": len(table),
        "states": table.state.value_counts().to_dict(),
        "nodes": int(table.node.nunique()),
        "steps": int(table.steps.sum()),
        "wall_s": round(wall, 1),
        "trials_per_min": round(len(table) / wall * 60, 2),
        "steps_per_s": round(table.steps.sum() / wall, 1),
        "mlflow_s_per_trial": round(LOG_SECONDS["total"] / len(table), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--two-first", action="store_true", help="run the 2-node layout first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gansweep-bench-") as tmp:
        layout = tool.Layout(Path(tmp), ray_port=6392, pg_port=54332, mlflow_port=5057)
        space = unpruned_space(Path(tmp), args.steps)
        layouts = [("1 node x 2 CPUs", {"head": 2}), ("2 nodes x 1 CPU", {"head": 1, "w1": 1})]
        if args.two_first:  # to see how much the order (warm caches, load) matters
            layouts.reverse()
        rows = []
        try:
            for label, cpus in layouts:
                tool.up(layout, nodes=tuple(cpus), cpus=cpus)
                rows.append(run_once(space, args.trials, layout, label))
                tool.stop(layout, "ray-w1")
                tool.stop(layout, "ray-head")
        finally:
            tool.down(layout, purge=True)
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The sweep's two costs, printed as markdown tables (issue 4).

    .venv/bin/python benchmarks/sweep_benchmarks.py overhead [--repeats 2] [--spaces mixture stabilizers]
    .venv/bin/python benchmarks/sweep_benchmarks.py pruning [--space mixture --trials 16 --max-steps 6000
        --milestones 1000,2000 [1500,3000 ...] --sampler-seed 0]
    .venv/bin/python benchmarks/sweep_benchmarks.py packing [--counts 1 2 4 8] [--gpu]

`overhead`: steps/s of a one-trial sweep (Ray worker, checkpoint and report at every eval
point, MLflow on the driver) next to `Trainer(cfg).fit()` in a plain process with one torch
thread, on the same config: the base config of the `mixture` space (MLP, grid25) and of the
`stabilizers` space (DCGAN, 8x8 digits). Repeats alternate the order of the two, so load
from other processes hits both alike; the best rate of each is kept. Both rates are end to
end: steps / (building the trainer + fit), Ray's `time_total_s` for the trial.

`pruning`: sweeps of a shipped space (`--space`, default `mixture`) with pruning at each
`--milestones` set (one arm per set, e.g. `1000,2000`; health pruning as the space writes
it), then the same sweep with pruning off (`milestones: []`, `health: false`). All trials
are drawn by the seeded start-up sampler (startup_trials = trials, `--sampler-seed`), so
every arm trains the same configs and only pruning differs. Prints each arm's steps, wall
time and best finished objective, and which of the unpruned arm's top 3 configs each
pruned arm let finish (issue 14's sweep-level check: the best kept, the top 3 in most
seeds, at most half the steps).

`packing`: N identical trials of a fixed config run at once (N = 1, 2, 4, 8), with
`--gpu` each on a 1/N share of one GPU (`gpus_per_trial`), without it each on one CPU core;
prints the steps/s of all trials together and of one trial, to show what packing small
trials on one device buys. `overhead --gpu` runs both arms on the GPU (the trial with
gpus_per_trial 1); without `--gpu` both train on the CPU.

All write only under a temporary folder (GANSWEEP_STORAGE, a SQLite MLFLOW_TRACKING_URI)
unless those are already set.
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

import yaml

REPO = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("GANSWEEP_BENCH_DIR") or tempfile.mkdtemp(prefix="sweep_bench_"))
os.environ.setdefault("GANSWEEP_STORAGE", str(WORK / "sweeps"))
os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{WORK / 'mlflow.db'}")
sys.path.insert(0, str(REPO))

OVERHEAD_CASES = {  # label -> (shipped space, steps)
    "MLP grid25 (mixture base)": ("mixture", 1000),
    "DCGAN digits 8x8 (stabilizers base)": ("stabilizers", 500),
}


def shipped_raw(space: str) -> dict:
    return yaml.safe_load((REPO / "search_spaces" / f"{space}.yaml").read_text())


def write_space(raw: dict, name: str) -> Path:
    path = WORK / "spaces" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


# --- 1. steps/s inside a sweep vs. the bare trainer -----------------------------------


def fixed_trial_space(space: str, steps: int, trials: int = 1, gpus: float = 0.0) -> Path:
    """The shipped space's base config as a sweep of `trials` identical trials at once with
    nothing to sample: the only param is a single-choice copy of the base value, pruning is
    off. With `gpus` each trial holds that share of a GPU and trains on it; else the CPU."""
    from search_spaces import load_space

    raw = shipped_raw(space)
    base_lr = load_space(space).base.optim.lr_g
    budget = {"trials": trials, "max_steps": steps, "concurrency": trials}
    raw.update(
        budget={**budget, "cpus_per_trial": 1, "gpus_per_trial": gpus},
        pruning={"milestones": [], "health": False},
        sampler={"seed": 0, "startup_trials": trials},
        params={"optim.lr_g": {"choices": [base_lr]}},
    )
    raw.setdefault("set", {})["train.device"] = "cuda" if gpus else "cpu"
    device = "gpu" if gpus else "cpu"
    return write_space(raw, f"{space}_fixed_{trials}x_{device}")


def sweep_rate(space_file: Path) -> dict:
    from pipelines.sweep.driver import run_sweep

    result = run_sweep(str(space_file), experiment=f"bench-{space_file.stem}")
    row = result.table.iloc[0]
    assert row.state == "finished", f"the fixed trial ended {row.state}: {row.error}"
    inner = [r["perf/steps_per_s"] for r in ray_results(result.path)]
    return {"steps": int(row.steps), "wall_s": float(row.wall_s), "train_rate": max(inner)}


def ray_results(folder: Path) -> list[dict]:
    """Every result of every trial of a sweep, from Ray's result.json files."""
    return [r for path in folder.glob("*/result.json") for r in trial_results(path)]


def trial_results(path: Path) -> list[dict]:
    """One trial's results, in order, from its result.json."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def bare_rate(space_file: Path) -> dict:
    """Trainer(cfg).fit() on the trial's exact config, in a fresh process, one thread."""
    out = subprocess.run(
        [sys.executable, __file__, "bare", str(space_file)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bare_main(space_file: str) -> None:
    import torch

    from pipelines.sweep.driver import plan_for
    from search_spaces import load_space

    torch.set_num_threads(1)
    space = load_space(space_file)
    cfg = plan_for(space, WORK / "unused").config_for({})  # what the trial trains
    from gan_core.trainer import Trainer

    start = time.perf_counter()
    trainer = Trainer(cfg)
    trainer.fit()
    wall = time.perf_counter() - start
    inner = max(r["perf/steps_per_s"] for r in trainer.history)
    print(json.dumps({"steps": trainer.step, "wall_s": wall, "train_rate": inner}))


def overhead(repeats: int, spaces: list[str], gpu: bool) -> None:
    rows = []
    for label, (space, steps) in OVERHEAD_CASES.items():
        if space not in spaces:
            continue
        space_file = fixed_trial_space(space, steps, gpus=1.0 if gpu else 0.0)
        sweep_runs, bare_runs = [], []
        for i in range(repeats):
            order = (sweep_rate, bare_rate) if i % 2 == 0 else (bare_rate, sweep_rate)
            for fn in order:
                run = fn(space_file)
                (sweep_runs if fn is sweep_rate else bare_runs).append(run)
                print(f"# {label} {fn.__name__}: {run}", flush=True)
        rows.append((label, steps, sweep_runs, bare_runs))
    print_overhead(rows, repeats)


def print_overhead(rows: list, repeats: int) -> None:
    print(f"\nbest of {repeats} alternated repeats; end to end = steps / (build + fit)\n")
    print(
        "| config | steps | bare steps/s (end to end) | sweep steps/s (end to end) | ratio "
        "| bare steps/s (train only) | sweep steps/s (train only) | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, steps, sweep_runs, bare_runs in rows:
        b = max(r["steps"] / r["wall_s"] for r in bare_runs)
        s = max(r["steps"] / r["wall_s"] for r in sweep_runs)
        bt = max(r["train_rate"] for r in bare_runs)
        st = max(r["train_rate"] for r in sweep_runs)
        print(
            f"| {label} | {steps} | {b:.1f} | {s:.1f} | {s / b:.2f} "
            f"| {bt:.1f} | {st:.1f} | {st / bt:.2f} |"
        )


# --- 2. N small trials packed on one device --------------------------------------------


def packing(counts: list[int], space: str, steps: int, gpu: bool) -> None:
    rows = []
    for n in counts:
        space_file = fixed_trial_space(space, steps, trials=n, gpus=1.0 / n if gpu else 0.0)
        result = run_packed(space_file)
        rows.append((n, result))
        print(f"# {n} trials: {result}", flush=True)
    device = "one GPU, 1/N of it per trial" if gpu else "CPU, 1 core per trial"
    print(f"\n{space} base config, {steps} steps per trial, {device}\n")
    print("| trials at once | steps/s, all trials | steps/s per trial | vs. 1 trial |")
    print("|---|---|---|---|")
    single = rows[0][1]["total_rate"] if rows and rows[0][0] == 1 else None
    for n, r in rows:
        gain = f"{r['total_rate'] / single:.2f}x" if single else "-"
        print(f"| {n} | {r['total_rate']:.1f} | {r['total_rate'] / n:.1f} | {gain} |")


def run_packed(space_file: Path) -> dict:
    """All trials of the sweep together: their steps over the span from the first trial's
    start to the last one's end, as Ray timed them (results' timestamps)."""
    from pipelines.sweep.driver import run_sweep

    result = run_sweep(str(space_file), experiment=f"bench-{space_file.stem}")
    assert set(result.table.state) == {"finished"}, result.table[["state", "error"]]
    lasts = [trial_results(path)[-1] for path in result.path.glob("*/result.json")]
    start = min(r["timestamp"] - r["time_total_s"] for r in lasts)
    end = max(r["timestamp"] for r in lasts)
    steps = sum(r["step"] for r in lasts)
    return {
        "trials": len(lasts),
        "steps": steps,
        "span_s": end - start,
        "total_rate": steps / (end - start),
    }


# --- 3. one sweep with pruning vs. the same sweep without ------------------------------


def pruning_spaces(
    space: str, trials: int, max_steps: int, arms: list[list[int]], seed: int
) -> list[Path]:
    """One space file per milestone set, then the unpruned one; the same sampled configs."""
    raw = shipped_raw(space)
    raw["budget"].update(trials=trials, max_steps=max_steps)
    raw["sampler"] = {"seed": seed, "startup_trials": trials}  # same configs in every arm
    files = []
    for milestones in arms:
        pruning = {**raw["pruning"], "milestones": milestones}
        # health pruning starts at the last written milestone at the latest, so it can act
        pruning["health_from"] = min(pruning["health_from"], milestones[-1])
        name = f"{space}_s{seed}_pruned_" + "_".join(map(str, milestones))
        files.append(write_space({**raw, "pruning": pruning}, name))
    unpruned = {**raw, "pruning": {"milestones": [], "health": False}}
    return files + [write_space(unpruned, f"{space}_s{seed}_unpruned")]


def pruning(space: str, trials: int, max_steps: int, arms: list[list[int]], seed: int) -> None:
    from pipelines.sweep.driver import run_sweep
    from search_spaces import load_space

    rows = []
    for space_file in pruning_spaces(space, trials, max_steps, arms, seed):
        loaded = load_space(space_file)
        start = time.perf_counter()
        result = run_sweep(str(space_file), experiment=f"bench-{space_file.stem}")
        wall = time.perf_counter() - start
        rows.append((space_file.stem, loaded, result, wall))
        result.table.to_csv(WORK / f"{space_file.stem}.csv", index=False)
    print_pruning(rows)


def print_pruning(rows: list) -> None:
    *pruned_arms, (_, off_space, off, _) = rows
    same = all(configs_of(r[2].table) == configs_of(off.table) for r in pruned_arms)
    print(f"\nevery arm trained the same {len(off.table)} configs: {same}\n")
    ranked = off.table.sort_values("objective", ascending=off_space.direction == "min")
    top3 = [config_key(row) for _, row in ranked.head(3).iterrows()]
    print(
        "| sweep | milestones | trials finished / pruned | steps run | steps vs. unpruned "
        "| wall s | best objective (finished) | unpruned top 3 finished |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, space, result, wall in rows:
        c = result.summary["counts"]
        best = result.best["objective"] if result.best else float("nan")
        reasons = result.summary["prune_reasons"]
        pruned = f"{c['pruned']} ({', '.join(f'{k}: {v}' for k, v in reasons.items())})"
        done = result.table[result.table.state == "finished"]
        finished = {config_key(row) for _, row in done.iterrows()}
        kept = "".join("1" if key in finished else "0" for key in top3)  # rank 1, 2, 3
        steps = result.summary["steps_run"] / max(off.summary["steps_run"], 1)
        print(
            f"| {name} | {list(space.milestones) or 'off'} | {c['finished']} / {pruned} "
            f"| {result.summary['steps_run']} | {steps:.2f} | {wall:.0f} | {best:.4f} | {kept} |"
        )
    print("\n(top 3: 1 where the unpruned arm's rank 1, 2, 3 config finished in that arm)")
    for name, _, result, _ in rows:
        cols = ["trial_id", "state", "reason", "steps", "wall_s", "objective"]
        print(f"\n{name}:\n" + result.table[cols].to_string(index=False))


def config_key(row) -> str:
    """A trial's sampled config as one string: its dotted config columns, in order."""
    return "|".join(str(row[c]) for c in row.index if "." in c and not c.startswith("objective"))


def configs_of(table) -> list:
    return sorted(config_key(row) for _, row in table.iterrows())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    o = sub.add_parser("overhead")
    o.add_argument("--repeats", type=int, default=2)
    o.add_argument("--spaces", nargs="+", default=["mixture", "stabilizers"])
    o.add_argument("--gpu", action="store_true", help="both arms on the GPU")
    k = sub.add_parser("packing")
    k.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4, 8])
    k.add_argument("--space", default="stabilizers", help="whose base config to train")
    k.add_argument("--steps", type=int, default=1000)
    k.add_argument("--gpu", action="store_true", help="1/N of one GPU per trial")
    b = sub.add_parser("bare")  # internal: one bare run in a fresh process
    b.add_argument("space_file")
    q = sub.add_parser("pruning")
    q.add_argument("--space", default="mixture", help="the shipped space to sweep")
    q.add_argument("--trials", type=int, default=16)
    q.add_argument("--max-steps", type=int, default=6000)
    q.add_argument("--milestones", nargs="+", default=["1000,2000"],
                   help="one pruned arm per comma-separated set of milestone steps")  # fmt: skip
    q.add_argument("--sampler-seed", type=int, default=0)
    args = p.parse_args()
    if args.what == "bare":
        bare_main(args.space_file)
        return
    print(f"# storage: {os.environ['GANSWEEP_STORAGE']}", flush=True)
    if args.what == "overhead":
        overhead(args.repeats, args.spaces, args.gpu)
    elif args.what == "packing":
        packing(args.counts, args.space, args.steps, args.gpu)
    else:
        arms = [[int(step) for step in group.split(",")] for group in args.milestones]
        pruning(args.space, args.trials, args.max_steps, arms, args.sampler_seed)


if __name__ == "__main__":
    main()

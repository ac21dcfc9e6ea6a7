"""gansweep's `tabular` sweep + export + train against CTGAN, scored alike on held-out rows.

For each table: the held-out rows are the ones `data.holdout` sets aside (load_dataset);
every arm trains on the same training rows in original units and draws as many rows as
there are training rows, scored by SDMetrics' QualityReport against the held-out rows and
by the copy check of gan_core/metrics/table_report.py. Arms, in this order per table:

  ctgan-default   CTGAN with its defaults (300 epochs)
  gansweep        `gansweep sweep --space tabular` (the real sweep, through Ray, shrunk by
                  --trials/--max-steps), `gansweep export`, `gansweep train`, then
                  `gansweep sample --out x.csv`; wall time = sweep + export + train
  ctgan-same-wall CTGAN with as many epochs as fit in gansweep's wall time (epochs scaled
                  from the default run's time per epoch)

Tables: breast_cancer (built in, numeric), palmerpenguins (mixed, missing values:
data.missing: category), vega_datasets' cars (mixed, missing values; the `Name` column,
an identifier, is left out; `Year` is its year), and a generated heavy-tailed physics-like
table, once with the default scaling (min-max, tanh) and once with `standard` scaling into
a linear output. Needs the bench extra (ctgan, palmerpenguins, vega_datasets).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/tables_vs_ctgan.py [--trials 6] [--max-steps 1500]
        [--tables breast_cancer penguins cars physics physics_standard] [--out DIR]

Results and the command of the last run: docs/tables.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from gan_core.config import DataConfig
from gan_core.data import load_dataset
from gan_core.metrics.table_report import held_out_report

REPO = Path(__file__).resolve().parent.parent
CTGAN_DEFAULT_EPOCHS = 300  # ctgan.CTGAN's default


# --- the tables --------------------------------------------------------------------------


def physics_events(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Collider-like events (the kind of table of docs/field-notes.md#note-003): a power-law
    transverse momentum, a pseudorapidity, an azimuth, a Breit-Wigner mass peak, an exponential missing energy
    with a log-normal tail, the energy that follows from pt and eta, and a jet count."""
    rng = np.random.default_rng(seed)
    pt = 20.0 * (1.0 + rng.pareto(2.5, n))  # GeV, heavy tail
    eta = np.clip(rng.normal(0.0, 1.4, n), -2.5, 2.5)
    mass = np.clip(91.19 + 1.25 * rng.standard_cauchy(n), 60.0, 120.0)  # Z peak, width 2.5
    met = rng.exponential(15.0, n) + np.where(rng.random(n) < 0.1, rng.lognormal(3.5, 0.8, n), 0)
    return pd.DataFrame(
        {
            "lead_pt": pt,
            "eta": eta,
            "phi": rng.uniform(-np.pi, np.pi, n),
            "mass": mass,
            "met": met,
            "energy": pt * np.cosh(eta),
            "n_jets": np.minimum(rng.poisson(1.5 + pt / 60.0), 8),
        }
    )


def table_specs(folder: Path) -> dict[str, dict]:
    """name -> {source, data (keys for load_dataset and the sweep), set (space overrides)}."""
    specs: dict[str, dict] = {"breast_cancer": {"source": "breast_cancer", "data": {}}}

    def penguins():
        import palmerpenguins

        path = folder / "penguins.csv"
        palmerpenguins.load_penguins().to_csv(path, index=False)
        return {"source": str(path), "data": {"missing": "category"}}

    def cars():
        from vega_datasets import data

        frame = data.cars()
        frame["Year"] = pd.to_datetime(frame["Year"]).dt.year
        path = folder / "cars.csv"
        frame.drop(columns=["Name"]).to_csv(path, index=False)
        return {"source": str(path), "data": {"missing": "category"}}

    def physics(standard: bool):
        path = folder / "physics.csv"
        if not path.exists():
            physics_events().to_csv(path, index=False)
        data = {"scaling": "standard"} if standard else {}
        model = {"model.output_activation": "linear"} if standard else {}
        # the same rows for CTGAN either way: its default run is shared with `physics`
        return {
            "source": str(path),
            "data": data,
            "set": model,
            **({"ctgan_as": "physics"} if standard else {}),
        }

    specs["penguins"] = penguins
    specs["cars"] = cars
    specs["physics"] = lambda: physics(False)
    specs["physics_standard"] = lambda: physics(True)
    return specs


# --- the arms ----------------------------------------------------------------------------


def run_ctgan(train: pd.DataFrame, discrete: list[str], epochs: int, seed: int = 0):
    """CTGAN on the training rows. It refuses missing numbers, so those get what
    data.missing: category gives gansweep: the column mean plus a missing flag column
    (discrete), turned back into NaN after sampling."""
    import torch
    from ctgan import CTGAN

    gaps = [c for c in train.columns if c not in discrete and train[c].isna().any()]
    flags = {c: f"{c} (missing)" for c in gaps}
    filled = train.assign(**{f: train[c].isna() for c, f in flags.items()})
    filled = filled.fillna({c: train[c].mean() for c in gaps})
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = CTGAN(epochs=epochs)
    start = time.perf_counter()
    model.fit(filled, discrete_columns=discrete + list(flags.values()))
    wall = time.perf_counter() - start
    rows = model.sample(len(train))
    for c, f in flags.items():
        rows.loc[rows[f].astype(bool), c] = np.nan
    return rows.drop(columns=list(flags.values())), wall


def space_file(folder: Path, name: str, spec: dict, trials: int, max_steps: int) -> Path:
    """The `tabular` space, with its base file made absolute and the table's data keys and
    space overrides added to `set` (the sweep CLI takes --data but no other data keys)."""
    raw = yaml.safe_load((REPO / "search_spaces" / "tabular.yaml").read_text())
    raw["base"] = str(REPO / raw["base"])
    fixed = dict(raw.get("set") or {})
    fixed.update({f"data.{k}": v for k, v in spec["data"].items()})
    fixed.update(spec.get("set", {}))
    raw["set"] = fixed
    path = folder / name / "tabular.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def gansweep(args, env, *cli) -> str:
    cmd = [str(REPO / ".venv" / "bin" / "gansweep"), *cli]
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode})")
    return done.stdout


def run_gansweep(args, folder: Path, name: str, spec: dict, n: int):
    """Sweep + export + train through the CLI, as a user runs them; then sample n rows."""
    work = folder / name
    space = space_file(folder, name, spec, args.trials, args.max_steps)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db",
    }
    start = time.perf_counter()
    sweep_cli = ["sweep", "--space", str(space), "--data", spec["source"]]
    sweep_cli += ["--trials", str(args.trials), "--max-steps", str(args.max_steps)]
    gansweep(args, env, *sweep_cli, "--experiment", f"bench-{name}")
    sweep_s = time.perf_counter() - start
    gansweep(args, env, "export", "--out", str(work / "best.yaml"))
    out = gansweep(
        args,
        env,
        "train",
        "--config",
        str(work / "best.yaml"),
        "--out",
        str(work / "train"),
        "--quiet",
    )
    wall = time.perf_counter() - start
    run_id = re.search(r"MLflow run (\w+)", out).group(1)
    record = [json.loads(line) for line in (work / "train" / "metrics.jsonl").open()][-1]
    gansweep(args, env, "sample", "--run", run_id, "--n", str(n), "--out", str(work / "s.csv"))
    best = yaml.safe_load((work / "best.yaml").read_text())
    return pd.read_csv(work / "s.csv"), wall, sweep_s, record, best


# --- one table ---------------------------------------------------------------------------


def read_back(frame: pd.DataFrame, folder: Path, arm: str) -> pd.DataFrame:
    """Every arm's rows go through a CSV, as gansweep's `sample --out x.csv` do."""
    path = folder / f"{arm}.csv"
    frame.to_csv(path, index=False)
    return pd.read_csv(path)


def bench_table(args, folder: Path, name: str, spec: dict) -> list[dict]:
    part = load_dataset(DataConfig(source=spec["source"], **spec["data"])).table
    train, discrete = part.train, list(part.codec.levels)
    print(
        f"\n== {name}: {len(train)} training rows, {len(part.holdout)} held out, "
        f"categorical {discrete}",
        flush=True,
    )
    rows = []

    def score(arm: str, synthetic: pd.DataFrame, wall: float, note: str = "") -> None:
        report = held_out_report(part, read_back(synthetic, folder, f"{name}-{arm}"))
        row = {"table": name, "arm": arm, "wall_s": wall, "note": note, **report}
        row["load"] = os.getloadavg()[0]
        done(folder, name, arm).write_text(json.dumps(row))
        show(row)

    def show(row: dict) -> None:
        rows.append(row)
        print(
            f"{row['arm']:16s} {row['wall_s']:7.1f} s  quality {row['sdmetrics/quality']:.3f}  "
            f"(shapes {row['sdmetrics/column_shapes']:.3f}, pairs "
            f"{row['sdmetrics/column_pair_trends']:.3f})  closer-to-train "
            f"{row['privacy/closer_to_train']:.2f}  copies "
            f"{row['privacy/exact_copies']:.2f}  load {row['load']:.1f}  {row['note']}",
            flush=True,
        )

    def cached(table: str, arm: str) -> dict | None:
        # a finished arm is kept in --out, so an interrupted benchmark reruns only the rest
        path = done(folder, table, arm)
        return json.loads(path.read_text()) if path.is_file() else None

    ctgan_table = spec.get("ctgan_as", name)  # physics_standard: the rows of physics
    default = cached(ctgan_table, "ctgan-default")
    if default is None:
        ctgan_rows, ctgan_s = run_ctgan(train, discrete, CTGAN_DEFAULT_EPOCHS)
        score("ctgan-default", ctgan_rows, ctgan_s, f"{CTGAN_DEFAULT_EPOCHS} epochs")
        default = rows[-1]
    else:
        show({**default, "table": name})
    mine = cached(name, "gansweep")
    if mine is None:
        synthetic, wall, sweep_s, _, best = run_gansweep(args, folder, name, spec, len(train))
        steps = best["train"]["steps"]
        score("gansweep", synthetic, wall, f"sweep {sweep_s:.0f} s; train {steps} steps")
        mine = rows[-1]
    else:
        show(mine)
    same = cached(name, "ctgan-same-wall")
    if same is None:
        epochs = max(1, round(CTGAN_DEFAULT_EPOCHS * mine["wall_s"] / default["wall_s"]))
        ctgan_rows, same_s = run_ctgan(train, discrete, epochs)
        if same_s < 0.8 * mine["wall_s"]:
            # the default run's time per epoch was read at another load (the machine is
            # shared): scale once more by the time this run took
            epochs = max(epochs + 1, round(epochs * mine["wall_s"] / same_s))
            ctgan_rows, same_s = run_ctgan(train, discrete, epochs)
        score("ctgan-same-wall", ctgan_rows, same_s, f"{epochs} epochs")
    else:
        show(same)
    return rows


def done(folder: Path, table: str, arm: str) -> Path:
    return folder / f"done-{table}-{arm}.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6, help="sweep trials per table")
    parser.add_argument("--max-steps", type=int, default=1500, help="steps per trial")
    names = ["breast_cancer", "penguins", "cars", "physics", "physics_standard"]
    parser.add_argument("--tables", nargs="+", default=names, choices=names)
    parser.add_argument(
        "--out", help="folder for the tables, sweeps and samples (default: a temp dir)"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    folder = Path(args.out or tempfile.mkdtemp(prefix="tables_vs_ctgan-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}  load {os.getloadavg()}  folder {folder}")
    specs = table_specs(folder)
    start, rows = time.perf_counter(), []
    for name in args.tables:
        spec = specs[name]() if callable(specs[name]) else specs[name]
        rows += bench_table(args, folder, name, spec)
    print(f"\ntotal {time.perf_counter() - start:.0f} s  load {os.getloadavg()}")
    print(
        "\n| table | arm | wall s | quality | column shapes | pair trends | closer to train | exact copies | note |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['table']} | {r['arm']} | {r['wall_s']:.0f} | {r['sdmetrics/quality']:.3f} | "
            f"{r['sdmetrics/column_shapes']:.3f} | {r['sdmetrics/column_pair_trends']:.3f} | "
            f"{r['privacy/closer_to_train']:.2f} | {r['privacy/exact_copies']:.2f} | {r['note']} |"
        )
    (folder / "results.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

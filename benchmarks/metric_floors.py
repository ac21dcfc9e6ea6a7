"""The real-vs-real floor of every metric, and what one evaluator call costs.

For each built-in data set: split the real data into a reference sample and a
disjoint real sample, score the second against the first (the floor: what a
perfect generator would get), over several splits; score a one-mode generator
beside it for scale; show how the 2-D metrics rank typical generator states;
then time an evaluator call on 2000 samples.

    .venv/bin/python benchmarks/metric_floors.py            # prints three markdown tables
    .venv/bin/python benchmarks/metric_floors.py --seeds 1  # quicker

The classifier cache goes to a temporary folder, so "build (cold)" includes
training the classifier; "build (warm)" is the next trial's cost.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time

import torch

from gan_core.config import DataConfig
from gan_core.data import Dataset, load_dataset
from gan_core.metrics import build_evaluator, feature_net

# (label, source, unlabelled?, reference size, n_points for the mixtures)
DATA_SETS = [
    ("ring8", "ring8", False, 2000),
    ("grid25", "grid25", False, 2000),
    ("digits (classifier)", "digits", False, 898),
    ("digits (random features)", "digits", True, 898),
    ("mnist (classifier)", "mnist", False, 2000),
    ("mnist (random features)", "mnist", True, 2000),
    ("breast_cancer", "breast_cancer", False, 284),
]
CALL_SAMPLES = 2000
# Throughputs of the design runs (docs/field-notes.md#design-runs, 1 thread): the eval interval a call is a share of.
EVAL_EVERY = 250
STEPS_PER_S = {"points": 94.0, "image": 6.7, "table": 94.0}


def load(source: str, unlabelled: bool) -> Dataset:
    ds = load_dataset(DataConfig(source=source, n_points=8000))
    return dataclasses.replace(ds, labels=None) if unlabelled else ds


def split(ds: Dataset, n_ref: int, seed: int) -> tuple[Dataset, torch.Tensor]:
    order = torch.randperm(len(ds.x), generator=torch.Generator().manual_seed(seed))
    ref, other = order[:n_ref], order[n_ref : 2 * n_ref]
    labels = None if ds.labels is None else ds.labels[ref]
    return dataclasses.replace(ds, x=ds.x[ref], labels=labels), ds.x[other]


def one_mode(ds: Dataset, other: torch.Tensor) -> torch.Tensor:
    """A collapsed generator: one mode (points), one image or one row, with a little noise."""
    g = torch.Generator().manual_seed(0)
    if ds.family == "points":
        return ds.modes[0] + ds.mode_std * torch.randn(other.shape, generator=g)
    centre = other[:1].expand_as(other)
    return centre + 0.01 * torch.randn(other.shape, generator=g)


def floors(label: str, source: str, unlabelled: bool, n_ref: int, seeds: int) -> list[str]:
    ds = load(source, unlabelled)
    runs, collapsed = [], None
    for seed in range(seeds):
        ref, other = split(ds, n_ref, seed)
        ev = build_evaluator(ref, n_ref, seed)
        runs.append(ev(other))
        if collapsed is None:
            collapsed = ev(one_mode(ds, other))
    rows = []
    for key in runs[0]:
        values = [r[key] for r in runs]
        spread = f" ± {statistics.stdev(values):.3g}" if len(values) > 1 else ""
        star = " (objective)" if key == ev.objective else ""
        rows.append(
            f"| {label} | `{key}`{star} | {statistics.mean(values):.4g}{spread} | {collapsed[key]:.4g} |"
        )
    return rows


def points_ladder(source: str) -> list[str]:
    """How the 2-D metrics rank typical generator states (2000 samples each)."""
    ds = load(source, unlabelled=False)
    ref, other = split(ds, 2000, seed=0)
    ev = build_evaluator(ref, 2000, seed=0)
    g = torch.Generator().manual_seed(0)
    sigma, modes = ds.mode_std, ds.modes
    nearest = torch.cdist(other, modes).argmin(dim=1)
    lo, hi = float(modes.min()) - 1, float(modes.max()) + 1
    states = {
        "real (floor)": other,
        "noise 2σ": other + 2 * sigma * torch.randn(other.shape, generator=g),
        "noise 5σ": other + 5 * sigma * torch.randn(other.shape, generator=g),
        "noise 10σ": other + 10 * sigma * torch.randn(other.shape, generator=g),
        "uniform spray over the square": lo + (hi - lo) * torch.rand(2000, 2, generator=g),
        "half the modes, tight": other[nearest < len(modes) // 2],
        "pulled halfway to the centre": other * 0.5,
        "one mode": one_mode(ds, other),
    }
    keys = ("metric/modes", "metric/hq_percent", "metric/reverse_kl", "metric/swd")
    rows = []
    for name, x in states.items():
        m = ev(x)
        cells = " | ".join(f"{m[k]:.3g}" for k in (*keys, ev.objective, "coverage"))
        rows.append(f"| {source} | {name} | {cells} | {m['diversity_ratio']:.3g} |")
    return rows


def call_cost(label: str, source: str, unlabelled: bool) -> str:
    ds = load(source, unlabelled)
    n = min(CALL_SAMPLES, len(ds.x))
    t0 = time.perf_counter()
    ev = build_evaluator(ds, n, seed=0)
    cold = time.perf_counter() - t0
    feature_net._MEMORY.clear()  # as in a new trial process: the classifier comes from disk
    t0 = time.perf_counter()
    build_evaluator(ds, n, seed=0)
    warm = time.perf_counter() - t0
    g = torch.Generator().manual_seed(1)
    fake = ds.x[torch.randint(len(ds.x), (CALL_SAMPLES,), generator=g)]
    fake = fake + 0.01 * torch.randn(
        fake.shape, generator=g
    )  # no exact duplicates of the reference
    ev(fake)  # warm-up
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        ev(fake)
        times.append(time.perf_counter() - t0)
    call = statistics.median(times)
    interval = EVAL_EVERY / STEPS_PER_S[ds.family]
    info = feature_net.classifier_info(ds.x, ds.labels) if ds.labels is not None else None
    accuracy = f"{info['val_accuracy']:.3f}" if info and ds.family == "image" else "-"
    return (
        f"| {label} | {n} | {CALL_SAMPLES} | {cold:.2f} | {warm:.2f} | {accuracy} | "
        f"{1000 * call:.0f} | {100 * call / interval:.1f} % of {interval:.1f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="disjoint real splits per data set")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in a 1-CPU trial
    with tempfile.TemporaryDirectory() as cache:
        os.environ["GANSWEEP_CACHE"] = cache
        print("| data set | metric | real vs disjoint real (mean ± std) | one-mode generator |")
        print("|---|---|---|---|")
        for label, source, unlabelled, n_ref in DATA_SETS:
            print("\n".join(floors(label, source, unlabelled, n_ref, args.seeds)), flush=True)
        print()
        print(
            "| data set | samples | modes | % high quality | reverse KL | SWD | "
            "swd_precision (objective) | coverage | diversity_ratio |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for source in ("ring8", "grid25"):
            print("\n".join(points_ladder(source)), flush=True)
        os.environ["GANSWEEP_CACHE"] = tempfile.mkdtemp(dir=cache)  # cold again for the timings
        print()
        print(
            "| data set | reference n | fakes | build cold (s) | build warm (s) | "
            "classifier held-out accuracy | call (ms) | "
            f"share of an eval interval ({EVAL_EVERY} steps) |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for label, source, unlabelled, _ in DATA_SETS:
            print(call_cost(label, source, unlabelled), flush=True)


if __name__ == "__main__":
    main()

"""A population's eval share and member-steps/s against its members trained one after
another by the plain Trainer (docs/population.md, "Evaluation").

    PYTHONPATH=. .venv/bin/python benchmarks/population_eval_share.py [--k 16] [--steps 500]
"""

from __future__ import annotations

import argparse
import time

import torch

from gan_core.config import GanConfig
from gan_core.data import load_dataset
from gan_core.population.trainer import PopulationTrainer
from gan_core.trainer import Trainer

SHAPE = {  # the 3x128 MLP on grid25, batch 100, production eval settings
    "data.source": "grid25",
    "model.latent_dim": 2,
    "model.ngf": 128,
    "model.ndf": 128,
    "model.g_depth": 3,
    "model.d_depth": 3,
    "model.output_activation": "linear",
    "optim.batch_size": 100,
    "train.eval_every": 250,
    "train.eval_samples": 2000,
    "train.device": "cpu",
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--serial", type=int, default=2, help="plain runs timed (of the K)")
    args = p.parse_args()
    torch.set_num_threads(1)
    cfgs = [
        GanConfig().with_overrides({**SHAPE, "train.steps": args.steps, "train.seed": s})
        for s in range(args.k)
    ]
    data = {c.train.seed: load_dataset(c.data, c.train.seed) for c in cfgs[: args.serial]}
    start = time.perf_counter()
    for c in cfgs[: args.serial]:
        Trainer(c, data[c.train.seed]).fit()
    serial = args.serial * args.steps / (time.perf_counter() - start)
    pop = PopulationTrainer(cfgs)
    pop._data_for(cfgs[0])  # data sets loaded before the clock, as for the plain runs
    start = time.perf_counter()
    pop.fit()
    together = args.k * args.steps / (time.perf_counter() - start)
    shares = [r["perf/eval_share"] for s in pop.left.values() for r in s["history"]]
    print("| K | steps | plain Trainer, one after another | population | ratio | eval share |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {args.k} | {args.steps} | {serial:.0f} member-steps/s | {together:.0f} member-steps/s "
        f"| {together / serial:.2f}x | {min(shares):.1%}-{max(shares):.1%} |"
    )


if __name__ == "__main__":
    main()

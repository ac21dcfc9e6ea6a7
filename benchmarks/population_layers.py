"""Batched layers vs torch.func.vmap for a population's MLPs (docs/population.md).

One training forward and backward of K MLP GANs (G and D 3x128, grid25's 2-D points,
batch 100, BCE losses; no optimizer step, the same in every arm) three ways, interleaved:
K plain modules one after another, torch.func.vmap over functional_call of the stacked
plain modules (randomness="different"), and gan_core/population's batched layers. G has
no batch norm here: vmap cannot update running statistics in place (torch.func's
batch-norm notes), and the comparison needs the same model in every arm.

    PYTHONPATH=. .venv/bin/python benchmarks/population_layers.py [--ks 4,16,64] [--rounds 5]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import statistics
import time

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from gan_core.config import GanConfig
from gan_core.models import build_models
from gan_core.population.models import build_batched_models

N, SHAPE = 100, (2,)


def model_cfg():
    m = GanConfig().model
    return dataclasses.replace(
        m, latent_dim=2, ngf=128, ndf=128, g_depth=3, d_depth=3, g_batchnorm=False
    )


def losses(fake_logits, real_logits):
    d = F.softplus(-real_logits).mean(-1) + F.softplus(fake_logits).mean(-1)
    return d.sum()


def loop_arm(k):
    models = [build_models(model_cfg(), SHAPE) for _ in range(k)]

    def step(z, x):
        for i, (G, D) in enumerate(models):
            losses(D(G(z[i])), D(x[i])).backward()

    return step


def vmap_arm(k):
    plains = [build_models(model_cfg(), SHAPE) for _ in range(k)]
    g_params, g_bufs = stack_module_state([g for g, _ in plains])
    d_params, d_bufs = stack_module_state([d for _, d in plains])
    g_base = copy.deepcopy(plains[0][0]).to("meta")
    d_base = copy.deepcopy(plains[0][1]).to("meta")

    def one(gp, gb, dp, db, z, x):
        fake = functional_call(g_base, (gp, gb), (z,))
        return losses(
            functional_call(d_base, (dp, db), (fake,)), functional_call(d_base, (dp, db), (x,))
        )

    batched = vmap(one, randomness="different")

    def step(z, x):
        batched(g_params, g_bufs, d_params, d_bufs, z, x).sum().backward()

    return step


def batched_arm(k):
    G, D = build_batched_models(model_cfg(), SHAPE, k)

    def step(z, x):
        losses(D(G(z)), D(x)).backward()

    return step


ARMS = {"one after another": loop_arm, "vmap": vmap_arm, "batched layers": batched_arm}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ks", default="4,16,64")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args()
    torch.set_num_threads(1)
    print("| K | " + " | ".join(f"{a} (member-steps/s)" for a in ARMS) + " | batched / vmap |")
    print("|---|" + "---|" * (len(ARMS) + 1))
    for k in [int(v) for v in args.ks.split(",")]:
        steps = {name: make(k) for name, make in ARMS.items()}
        z, x = torch.randn(k, N, 2), torch.randn(k, N, 2)
        rates: dict[str, list[float]] = {name: [] for name in ARMS}
        for _ in range(args.rounds):  # interleaved: the machine's load hits every arm alike
            for name, step in steps.items():
                step(z, x)  # warm-up
                start = time.perf_counter()
                for _ in range(args.steps):
                    step(z, x)
                rates[name].append(k * args.steps / (time.perf_counter() - start))
        med = {name: statistics.median(v) for name, v in rates.items()}
        cells = " | ".join(f"{med[a]:.0f} ({min(rates[a]):.0f}-{max(rates[a]):.0f})" for a in ARMS)
        print(f"| {k} | {cells} | {med['batched layers'] / med['vmap']:.2f}x |")


if __name__ == "__main__":
    main()

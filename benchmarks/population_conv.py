"""Grouped convolutions vs torch.func.vmap for the batched DCGAN (docs/population.md).

One forward + backward of K DCGAN members (G on a batch of noise, D on real and
fake images, the sum of the logits backpropagated into both), three ways, arms
interleaved and repeated: the members one after another (plain models), the
batched model of gan_core/population/dcgan.py (grouped convolutions), and
vmap(functional_call) over the plain models' stacked weights (randomness='different').

    PYTHONPATH=$PWD .venv/bin/python benchmarks/population_conv.py [--quick]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch.func import functional_call, stack_module_state, vmap

from gan_core.config import ModelConfig
from gan_core.models.dcgan import DcganDiscriminator, DcganGenerator
from gan_core.population.dcgan import build_batched_dcgan

BATCH = 64


def plain_pairs(cfg, shape, k):
    return [(DcganGenerator(cfg, shape), DcganDiscriminator(cfg, shape)) for _ in range(k)]


def loop_arm(cfg, shape, k):
    pairs = plain_pairs(cfg, shape, k)
    z, real = torch.randn(k, BATCH, cfg.latent_dim), torch.randn(k, BATCH, *shape)

    def step():
        for i, (g, d) in enumerate(pairs):
            (d(g(z[i])).sum() + d(real[i]).sum()).backward()

    return step


def grouped_arm(cfg, shape, k):
    G, D = build_batched_dcgan(cfg, shape, k)
    z, real = torch.randn(k, BATCH, cfg.latent_dim), torch.randn(k, BATCH, *shape)
    return lambda: (D(G(z)).sum() + D(real).sum()).backward()


def vmap_arm(cfg, shape, k):
    pairs = plain_pairs(cfg, shape, k)
    stacked = [stack_module_state([p[j] for p in pairs]) for j in (0, 1)]
    (g_params, g_bufs), (d_params, d_bufs) = stacked
    g_base, d_base = (copy.deepcopy(pairs[0][j]).to("meta") for j in (0, 1))

    def one(gp, gb, dp, db, z, real):
        fake = functional_call(g_base, (gp, gb), (z,))
        return (
            functional_call(d_base, (dp, db), (fake,)).sum()
            + functional_call(d_base, (dp, db), (real,)).sum()
        )

    batched = vmap(one, randomness="different")
    z, real = torch.randn(k, BATCH, cfg.latent_dim), torch.randn(k, BATCH, *shape)
    return lambda: batched(g_params, g_bufs, d_params, d_bufs, z, real).sum().backward()


ARMS = {"loop": loop_arm, "grouped": grouped_arm, "vmap": vmap_arm}


def seconds_per_step(step, min_seconds: float) -> float:
    step()  # warm-up: first-call allocations
    n, start = 0, time.perf_counter()
    while n < 2 or time.perf_counter() - start < min_seconds:
        step()
        n += 1
    return (time.perf_counter() - start) / n


def measure(size, width, k, repeats, min_seconds):
    cfg = ModelConfig(ngf=width, ndf=width, latent_dim=64)
    shape = (1, size, size)
    steps = {name: make(cfg, shape, k) for name, make in ARMS.items()}
    times = {name: [] for name in ARMS}
    for _ in range(repeats):  # interleaved: a load change hits every arm alike
        for name, step in steps.items():
            times[name].append(seconds_per_step(step, min_seconds))
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small size, K 1 and 4")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as a sweep trial runs
    torch.manual_seed(0)
    grid = (
        [(8, 16, k) for k in (1, 4)]
        if args.quick
        else [(size, width, k) for size in (8, 28) for width in (16, 32) for k in (1, 4, 8, 16)]
    )
    repeats, min_seconds = (1, 0.05) if args.quick else (3, 0.3)
    print("| image | ngf=ndf | K | loop ms | grouped ms | vmap ms | loop/grouped | vmap/grouped |")
    print("|---|---|---|---|---|---|---|---|")
    for size, width, k in grid:
        t = measure(size, width, k, repeats, min_seconds)
        print(
            f"| {size}x{size} | {width} | {k} | {t['loop'] * 1e3:.1f} | "
            f"{t['grouped'] * 1e3:.1f} | {t['vmap'] * 1e3:.1f} | "
            f"{t['loop'] / t['grouped']:.2f} | {t['vmap'] / t['grouped']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

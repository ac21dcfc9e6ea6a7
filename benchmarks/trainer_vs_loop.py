"""Trainer steps/s next to a minimal hand-written PyTorch loop of the same model and batch.

    .venv/bin/python benchmarks/trainer_vs_loop.py [--steps N] [--threads 1 2]

Both loops use the same G and D modules, batch, Adam settings and semantics as
the trainer's defaults (non-saturating BCE, one D then one G update per step,
fresh z for the G step). Repeats alternate between the two loops and the best
rate of each is kept, so load from other processes hits both alike. The trainer's figure excludes its eval points (the
"train" column) and includes them at the config's eval interval ("with eval").
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from gan_core.config import GanConfig
from gan_core.data import load_dataset
from gan_core.models import build_models
from gan_core.trainer import Trainer

CASES = {
    "DCGAN 28x28 (mnist), batch 64": {
        "data.source": "mnist",
        "model.latent_dim": 64,
        "model.ngf": 32,
        "model.ndf": 32,
        "optim.batch_size": 64,
    },
    "MLP 2-D (grid25), batch 256": {
        "data.source": "grid25",
        "model.latent_dim": 2,
        "model.ngf": 128,
        "model.ndf": 128,
        "model.g_depth": 3,
        "model.d_depth": 3,
        "model.output_activation": "linear",
        "optim.batch_size": 256,
    },
}


def hand_written_loop(cfg: GanConfig, data: torch.Tensor, steps: int) -> float:
    """The loop a person writes from the PyTorch DCGAN tutorial; returns steps/s."""
    torch.manual_seed(0)
    G, D = build_models(cfg.model, tuple(data.shape[1:]))
    o = cfg.optim
    opt_g = torch.optim.Adam(G.parameters(), lr=o.lr_g, betas=(o.beta1_g, o.beta2_g))
    opt_d = torch.optim.Adam(D.parameters(), lr=o.lr_d, betas=(o.beta1_d, o.beta2_d))
    n, nz = o.batch_size, cfg.model.latent_dim
    ones, zeros = torch.ones(n), torch.zeros(n)
    start = None
    for i in range(steps + 10):
        if i == 10:  # warm-up excluded, as for the trainer
            start = time.perf_counter()
        real = data[torch.randint(len(data), (n,))]
        with torch.no_grad():
            fake = G(torch.randn(n, nz))
        d_loss = F.binary_cross_entropy_with_logits(D(real), ones) + (
            F.binary_cross_entropy_with_logits(D(fake), zeros)
        )
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = F.binary_cross_entropy_with_logits(D(G(torch.randn(n, nz))), ones)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    return steps / (time.perf_counter() - start)


def trainer_rates(cfg: GanConfig, dataset, steps: int) -> tuple[float, float]:
    trainer = Trainer(cfg, dataset)
    trainer.fit(until=10)  # warm-up
    start = time.perf_counter()
    trainer.fit(until=10 + steps)
    wall = time.perf_counter() - start
    train_rates = [r["perf/steps_per_s"] for r in trainer.history if r["step"] > 10]
    train_only = len(train_rates) / sum(1 / r for r in train_rates)  # harmonic mean = steps/time
    return train_only, steps / wall


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats; best of each kept")
    args = p.parse_args()
    print(f"torch {torch.__version__}, {args.steps} steps each, best of {args.repeats} interleaved")
    print(
        "| case | threads | hand-written steps/s | trainer steps/s (train) | ratio | trainer steps/s (with eval) |"
    )
    print("|---|---|---|---|---|---|")
    for name, overrides in CASES.items():
        cfg = GanConfig().with_overrides(
            {
                **overrides,
                "train.device": "cpu",
                "train.steps": 10 + args.steps,
                "train.eval_every": 250,
            }
        )
        dataset = load_dataset(cfg.data, 0)
        for threads in args.threads:
            torch.set_num_threads(threads)
            # Interleaved repeats, best of each: a shared machine's load hits both alike.
            runs = [
                (
                    hand_written_loop(cfg, dataset.x, args.steps),
                    *trainer_rates(cfg, dataset, args.steps),
                )
                for _ in range(args.repeats)
            ]
            hand, train_only, with_eval = (max(col) for col in zip(*runs, strict=True))
            print(
                f"| {name} | {threads} | {hand:.1f} | {train_only:.1f} | "
                f"{train_only / hand:.2f} | {with_eval:.1f} |"
            )


if __name__ == "__main__":
    main()

"""What bit-exactness costs a population step on a CPU, measured in one process.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/population_exactness.py \
        [--case "MLP 3x128, grid25"] [--members 16] [--steps 10] [--rounds 6]

One PopulationTrainer of K seeds (one torch thread); its train step
(gan_core/population/step.py) timed in CPU seconds, arms alternated round by round
and the best round kept:

- exact: every member's own generator (z, noise and masks drawn member by member, as
  PopulationTrainer trains), linear layers through _BatchedAffine (F.linear's backward
  formulas, so gradients match the plain model's bits);
- one stream: the same generator object for every member (`[g] * K`, the step's fast
  mode: one draw of z for all);
- one stream + autograd's bmm: also the linear layers as a plain torch.baddbmm, whose
  backward autograd forms ((x^T g)^T for W's gradient: equal in value, not in bits).

The arms train the same population on, so they see weights of the same kind, not the
same weights; the batches come from the trainer's per-member streams in every arm.
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.population import CASES, WARMUP, case_config
from gan_core.data import load_dataset
from gan_core.population import batched
from gan_core.population.step import train_step
from gan_core.population.trainer import PopulationTrainer


def native_affine(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """BatchedLinear.apply_weight with autograd's own bmm backward."""
    if self.bias is None:
        return torch.bmm(x, weight.transpose(1, 2))
    return torch.baddbmm(self.bias.unsqueeze(1), x, weight.transpose(1, 2))


def seconds_per_step(pop: PopulationTrainer, generators, steps: int) -> float:
    stepping = [True] * pop.num_members
    last, batch = pop._last, pop._last_batch
    start = time.thread_time()
    for _ in range(steps):
        last, batch = train_step(
            pop.modules, pop.next_batch, pop.cfgs, pop.steps, generators, stepping, last, batch
        )
    return (time.thread_time() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), default="MLP 3x128, grid25")
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10, help="steps per arm and round")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfgs = [case_config(args.case, seed) for seed in range(args.members)]
    pop = PopulationTrainer(cfgs, load_dataset(cfgs[0].data, 0))
    pop.fit(until=WARMUP)
    one = [torch.Generator().manual_seed(0)] * args.members
    exact_affine = batched.BatchedLinear.apply_weight
    arms = {
        "exact": (pop.generators, exact_affine),
        "one stream": (one, exact_affine),
        "one stream + autograd's bmm": (one, native_affine),
    }
    best = dict.fromkeys(arms, float("inf"))
    for _ in range(args.rounds):
        for name, (generators, affine) in arms.items():
            batched.BatchedLinear.apply_weight = affine
            try:
                best[name] = min(best[name], seconds_per_step(pop, generators, args.steps))
            finally:
                batched.BatchedLinear.apply_weight = exact_affine
    print(f"{args.case}, K = {args.members}, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print("| arm | ms per step (CPU) | ms per member-step | vs exact |\n|---|---|---|---|")
    for name, seconds in best.items():
        print(
            f"| {name} | {seconds * 1e3:.1f} | {seconds * 1e3 / args.members:.2f} | "
            f"{best['exact'] / seconds:.2f}x |"
        )


if __name__ == "__main__":
    main()

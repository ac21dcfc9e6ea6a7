"""Where a population's training step spends its time, next to one single trial's step.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/population_profile.py \
        [--case "MLP 3x128, grid25"] [--members 16] [--steps 30] [--top 12]

One torch thread (as benchmarks/population.py). First the unprofiled rates: a
PopulationTrainer of K seeds against one plain Trainer, windows interleaved, the best
kept. Then one window of each under torch.profiler: the ops with the most self time, in
ms per training step of the whole population and per member-step, and the share the
matrix products (bmm, baddbmm, mm, addmm) and convolutions take. A population member's
products are the single trial's, one per member (bit-exact mode), so their time per
member-step bounds how much faster than one trial a population member can get
(docs/population.md, "Speed on a CPU").
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.population import CASES, WARMUP, case_config
from gan_core.data import load_dataset
from gan_core.population.trainer import PopulationTrainer
from gan_core.trainer import Trainer

PRODUCTS = ("aten::bmm", "aten::baddbmm", "aten::mm", "aten::addmm")
CONVOLUTIONS = ("aten::_convolution", "aten::mkldnn_convolution", "aten::convolution_backward")


def profiled_ops(trainer, start: int, steps: int) -> dict[str, float]:
    """Self CPU ms per training step by op name over one fit window."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        trainer.fit(until=start + steps)
    return {e.key: e.self_cpu_time_total / 1e3 / steps for e in prof.key_averages()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), default="MLP 3x128, grid25")
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--steps", type=int, default=30, help="steps per window")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved unprofiled windows")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(1)
    k = args.members
    cfgs = [case_config(args.case, seed) for seed in range(k)]
    dataset = load_dataset(cfgs[0].data, 0)
    pop, single = PopulationTrainer(cfgs, dataset), Trainer(cfgs[0], dataset)
    pop.fit(until=WARMUP)
    single.fit(until=WARMUP)
    at, pop_rate, single_rate = WARMUP, 0.0, 0.0
    for _ in range(args.rounds):  # steps/s of training time only (perf/steps_per_s)
        records = pop.fit(until=at + args.steps)
        pop_rate = max(pop_rate, min(r["perf/steps_per_s"] for r in records.values()))
        single_rate = max(single_rate, single.fit(until=at + args.steps)["perf/steps_per_s"])
        at += args.steps
    pop_ms, single_ms = 1e3 / pop_rate, 1e3 / single_rate
    print(f"{args.case}, K = {k}, one thread, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(
        f"unprofiled: population {pop_ms:.1f} ms/step = {pop_ms / k:.2f} ms per member-step "
        f"({k * pop_rate:.0f} member-steps/s); one trial {single_ms:.2f} ms/step "
        f"({single_rate:.0f} steps/s); ratio {k * single_ms / pop_ms:.2f}"
    )
    for name, trainer, members in (("population", pop, k), ("one trial", single, 1)):
        ops = profiled_ops(trainer, at, args.steps)
        total = sum(ops.values())
        products = sum(ops.get(op, 0.0) for op in PRODUCTS)
        convs = sum(ops.get(op, 0.0) for op in CONVOLUTIONS)
        print(
            f"\n{name} under the profiler: {total:.1f} ms/step of self time, "
            f"{total / members:.2f} per member-step; matrix products {products / members:.2f} "
            f"({products / total:.0%}), convolutions {convs / members:.2f} ({convs / total:.0%})"
        )
        print("| op | ms/step | ms per member-step | share |\n|---|---|---|---|")
        for op, ms in sorted(ops.items(), key=lambda kv: -kv[1])[: args.top]:
            print(f"| {op} | {ms:.2f} | {ms / members:.3f} | {ms / total:.0%} |")


if __name__ == "__main__":
    main()

"""Populations on one GPU: member-steps/s of K members vs. the steps/s of one trial.

    PYTHONPATH=$PWD python benchmarks/population_gpu.py [--out FILE] [--quick] [--device D]

Needs nothing but torch: no data files, metrics, YAML, Ray, MLflow, Optuna or pandas.
The data are synthetic tensors of the real data's shapes on the device (a step's cost
does not depend on the values); a step is the population's own train step
(gan_core/population/step.py) on the batched models and BatchedAdam, and one trial's
is the plain step (gan_core/step.py) with torch.optim.Adam, as the trainers run them.

First it checks members against single trials on the device in the step's exact mode
(the same seeds, draws and batches: after CHECK_STEPS steps each member's G must sit
where its single trial's G sits, up to rounding); then it measures K = 1, 4, 16, 64, 256
of the 3x128 MLP and the digits DCGAN in the step's fast mode for a GPU (one random
stream for all members: one draw of z, batches and masks per step instead of K), stops
adding rows when TIME_BUDGET_S is spent, and writes the table as markdown to --out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from gan_core.config import GanConfig
from gan_core.models import build_models
from gan_core.population.adam import BatchedAdam
from gan_core.population.models import build_batched_models, set_member_hparams, shape_config
from gan_core.population.step import PopulationModules
from gan_core.population.step import train_step as population_step
from gan_core.step import GanModules
from gan_core.step import train_step as plain_step

# name -> (overrides of the defaults, sample shape). The MLP is configs/grid25_mlp.yaml at
# 3x128; the DCGAN configs/digits_dcgan.yaml at ngf/ndf 16 (benchmarks/population.py).
CASES = {
    "MLP 3x128, grid25 (2-D points)": (
        {
            "model.latent_dim": 2,
            "model.ngf": 128,
            "model.ndf": 128,
            "model.g_depth": 3,
            "model.d_depth": 3,
            "model.g_batchnorm": False,
            "model.output_activation": "linear",
            "optim.lr_g": 5e-4,
            "optim.lr_d": 5e-4,
            "optim.batch_size": 100,
        },
        (2,),
    ),
    "digits DCGAN ngf/ndf 16 (1x8x8)": ({"model.ngf": 16, "model.ndf": 16}, (1, 8, 8)),
    # the pacgan spaces' model (search_spaces/pacgan.yaml with PacGAN's maxout D): last, so
    # the two target rows come first and the time budget cuts this one if it must
    "PacGAN MLPs: G 4x400, maxout D 3x200 (2-D points)": (
        {
            "model.latent_dim": 2,
            "model.ngf": 400,
            "model.ndf": 200,
            "model.g_depth": 4,
            "model.d_depth": 3,
            "model.g_batchnorm": True,
            "model.d_activation": "maxout",
            "model.maxout_pieces": 5,
            "model.output_activation": "linear",
            "optim.lr_g": 1e-4,
            "optim.lr_d": 1e-4,
            "optim.beta1_g": 0.8,
            "optim.beta1_d": 0.8,
            "optim.batch_size": 100,
        },
        (2,),
    ),
}
MEMBERS = (1, 4, 16, 64, 256)
ROWS = 1024  # synthetic data set size
WARMUP, STEPS, SINGLE_STEPS, CHECK_STEPS = 5, 40, 200, 10
TIME_BUDGET_S = 6 * 60  # rows stop here: the whole script must end within 8 minutes
CHECK_TOLERANCE = 0.05  # member-vs-single distance over the distance G moved (see check)


def member_config(name: str, seed: int, device: str) -> GanConfig:
    overrides, _ = CASES[name]
    # Members differ in their seed and learning rates (a population's per-member keys).
    lr = overrides.get("optim.lr_g", 2e-4) * (1 + 0.25 * (seed % 4))
    return GanConfig().with_overrides(
        {**overrides, "train.seed": seed, "train.device": device, "optim.lr_g": lr}
    )


def synthetic_data(name: str, device: torch.device) -> torch.Tensor:
    _, shape = CASES[name]
    g = torch.Generator().manual_seed(0)
    return (torch.rand(ROWS, *shape, generator=g) * 2 - 1).to(device)


def plain_trial(cfg: GanConfig, data: torch.Tensor):
    """(modules, next_batch, initial G state) built as gan_core/trainer.py builds them."""
    torch.manual_seed(cfg.train.seed)  # weights, then z and dropout (CPU and CUDA streams)
    G, D = build_models(cfg.model, tuple(data.shape[1:]))
    G, D = G.to(data.device), D.to(data.device)
    o = cfg.optim
    opt_g = torch.optim.Adam(G.parameters(), lr=o.lr_g, betas=(o.beta1_g, o.beta2_g))
    opt_d = torch.optim.Adam(D.parameters(), lr=o.lr_d, betas=(o.beta1_d, o.beta2_d))
    batches = torch.Generator(device=data.device).manual_seed(cfg.train.seed + 1)

    def next_batch() -> torch.Tensor:
        n = cfg.optim.batch_size
        return data[torch.randint(len(data), (n,), device=data.device, generator=batches)]

    start = {k: v.detach().clone() for k, v in G.state_dict().items()}
    return GanModules(G, D, opt_g, opt_d, None), next_batch, start


def population(cfgs: list[GanConfig], data: torch.Tensor, fast: bool = False):
    """(modules, next_batch(mask), generators): the members as gan_core/population/trainer.py
    builds them, each from its plain model under its seed, in the step's exact mode (each
    its own streams) or fast mode (one stream for all: gan_core/population/step.py)."""
    device, k = data.device, len(cfgs)
    G, D = build_batched_models(shape_config(cfgs[0].model), tuple(data.shape[1:]), k)
    G, D = G.to(device), D.to(device)
    for i, cfg in enumerate(cfgs):
        torch.manual_seed(cfg.train.seed)
        g, d = build_models(cfg.model, tuple(data.shape[1:]))
        G.load_member(i, g.state_dict())
        D.load_member(i, d.state_dict())
    set_member_hparams(G, D, [c.model for c in cfgs])
    opts = []
    for net, who in ((G, "g"), (D, "d")):
        lrs = [getattr(c.optim, f"lr_{who}") for c in cfgs]
        betas = [(getattr(c.optim, f"beta1_{who}"), getattr(c.optim, f"beta2_{who}")) for c in cfgs]
        opts.append(BatchedAdam(list(net.parameters()), lrs, betas))
    streams = shared_stream(cfgs, data) if fast else own_streams(cfgs, data)
    return PopulationModules(G, D, *opts, None), *streams


def own_streams(cfgs: list[GanConfig], data: torch.Tensor):
    """Each member's z stream and batch stream, as its single trial's (plain_trial)."""
    device, n = data.device, cfgs[0].optim.batch_size
    generators = []
    for cfg in cfgs:
        z_stream = torch.Generator(device=device)
        if device.type == "cpu":  # the plain trial's global stream after building its models
            torch.manual_seed(cfg.train.seed)
            build_models(cfg.model, tuple(data.shape[1:]))
            z_stream.set_state(torch.get_rng_state())
        else:
            z_stream.manual_seed(cfg.train.seed)  # CUDA's stream: untouched by the CPU init
        generators.append(z_stream)
    batches = [torch.Generator(device=device).manual_seed(c.train.seed + 1) for c in cfgs]

    def next_batch(mask) -> torch.Tensor:
        rows = [
            data[torch.randint(len(data), (n,), device=device, generator=g)]
            if draw
            else data.new_zeros((n, *data.shape[1:]))
            for g, draw in zip(batches, mask, strict=True)
        ]
        return torch.stack(rows)

    return next_batch, generators


def shared_stream(cfgs: list[GanConfig], data: torch.Tensor):
    """One generator for all members: one draw of every member's batch (all step here)."""
    device, k, n = data.device, len(cfgs), cfgs[0].optim.batch_size
    one = torch.Generator(device=device).manual_seed(cfgs[0].train.seed)

    def next_batch(mask) -> torch.Tensor:
        return data[torch.randint(len(data), (k, n), device=device, generator=one)]

    return next_batch, [one] * k


def train_population(cfgs, data, steps: int, start_step: int = 0, built=None) -> float:
    """Seconds for `steps` population steps (synchronised at both ends)."""
    modules, next_batch, generators = built or population(cfgs, data)
    stepping, last, last_batch = [True] * len(cfgs), None, None
    sync(data.device)
    tick = time.perf_counter()
    for step in range(start_step, start_step + steps):
        last, last_batch = population_step(
            modules, next_batch, cfgs, [step] * len(cfgs), generators, stepping, last, last_batch
        )
    sync(data.device)
    return time.perf_counter() - tick


def train_plain(cfg, data, steps: int, start_step: int = 0, built=None) -> float:
    modules, next_batch, _ = built or plain_trial(cfg, data)
    sync(data.device)
    tick = time.perf_counter()
    for step in range(start_step, start_step + steps):
        plain_step(modules, next_batch, cfg, step)
    sync(data.device)
    return time.perf_counter() - tick


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def check_members(name: str, device: torch.device) -> str:
    """Members equal their single trials: after CHECK_STEPS steps, the distance between a
    member's G and its single trial's G, over the distance that G moved from its init,
    must stay under CHECK_TOLERANCE (a wrong gradient, rate or stream moves it ~1)."""
    cfgs = [member_config(name, seed, device.type) for seed in range(4)]
    data = synthetic_data(name, device)
    built = population(cfgs, data)
    train_population(cfgs, data, CHECK_STEPS, built=built)
    worst = 0.0
    for i, cfg in enumerate(cfgs):
        single = plain_trial(cfg, data)
        train_plain(cfg, data, CHECK_STEPS, built=single)
        plain_state, start = single[0].G.state_dict(), single[2]
        member = built[0].G.member_state_dict(i, like=plain_state)
        off = sum((member[k] - v).abs().sum().item() for k, v in plain_state.items())
        moved = sum((v - start[k]).abs().sum().item() for k, v in plain_state.items())
        worst = max(worst, off / max(moved, 1e-30))
    verdict = "ok" if worst < CHECK_TOLERANCE else "FAILED"
    return f"{name}: 4 members vs. 4 single trials, {CHECK_STEPS} steps: {worst:.2e} ({verdict})"


def measure(name: str, device, members, steps: int, single_steps: int, deadline: float):
    data = synthetic_data(name, device)
    one_cfg = member_config(name, 0, device.type)
    single = plain_trial(one_cfg, data)
    train_plain(one_cfg, data, WARMUP, built=single)
    one = single_steps / train_plain(one_cfg, data, single_steps, WARMUP, built=single)
    rows = [f"| {name} | one trial | {one:.0f} | 1.00 |"]
    for k in members:
        if time.perf_counter() > deadline:
            rows.append(f"| {name} | {k} | not run: time budget spent | |")
            continue
        cfgs = [member_config(name, seed, device.type) for seed in range(k)]
        built = population(cfgs, data, fast=True)
        train_population(cfgs, data, WARMUP, built=built)
        rate = k * steps / train_population(cfgs, data, steps, WARMUP, built=built)
        rows.append(f"| {name} | {k} | {rate:.0f} | {rate / one:.2f} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu")
    parser.add_argument("--out", default="population_gpu.md", help="markdown table written here")
    parser.add_argument("--quick", action="store_true", help="smoke run: K 1 and 4, 5 steps")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (a CPU run)")
    args = parser.parse_args()
    start = time.perf_counter()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)  # the host side of a GPU run needs one
    members, steps = ((1, 4), 5) if args.quick else (MEMBERS, STEPS)
    single_steps = 20 if args.quick else SINGLE_STEPS
    name_of = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    lines = [
        f"Populations on {name_of}, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}: member-steps/s, {steps} steps per window",
        "",
    ]
    lines += [check_members(name, device) for name in CASES]
    lines += ["", "| model | K | member-steps/s | vs. one trial |", "|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    deadline = start + TIME_BUDGET_S
    for name in CASES:
        lines += measure(name, device, members, steps, single_steps, deadline)
    lines.append(f"\nwall {time.perf_counter() - start:.0f} s")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(lines[-1], f"table written to {args.out}", sep="\n")


if __name__ == "__main__":
    main()

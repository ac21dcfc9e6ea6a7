"""How far a population member drifts from its plain run, next to how fast a rounding
difference grows between two plain runs (docs/population.md, "Independence").

Each row: the largest relative difference, over the eval records' losses, scores and
objective, between two runs of the tiny ring8 config at each eval point (200 steps).
"+1 ulp" runs differ from their reference only by every weight of D moved up by one ulp
at step 0: a rounding difference, as a different summation order makes, and how the
GAN's chaos grows it.

    PYTHONPATH=. .venv/bin/python benchmarks/population_rounding.py
"""

from __future__ import annotations

import torch

from gan_core.population.trainer import PopulationTrainer
from gan_core.trainer import Trainer
from tests.helpers import tiny_points_config

KEYS = ("loss/d", "loss/g", "score/g", "score/d", "objective")
STEPS, EVERY = 200, 50


def cfg(**overrides):
    return tiny_points_config(**{"train.steps": STEPS, "train.eval_every": EVERY, **overrides})


def nudge(module: torch.nn.Module, member: int | None = None) -> None:
    """Move every weight of D (member k's, in a batched D) up by one ulp: the size of
    difference another summation order leaves in every result."""
    with torch.no_grad():
        for p in module.parameters():
            w = p if member is None else p[member]
            w.copy_(torch.nextafter(w, torch.full_like(w, float("inf"))))


def plain(c, nudged=False):
    t = Trainer(c)
    if nudged:
        nudge(t.modules.D)
    t.fit()
    return t.history, t.modules.G.state_dict()


def population(c, nudged=False, dtype=torch.float32, company=0):
    cfgs = [c] + [cfg(**{"train.seed": 100 + i}) for i in range(company)]
    pop = PopulationTrainer(cfgs, dtype=dtype)
    if nudged:
        nudge(pop.modules.D, member=0)
    pop.fit()
    return pop.left[0]["history"], pop.left[0]["G"]


def drift(a, b) -> list[float]:
    """Per eval point, the largest relative difference of the records; then G's weights'."""
    (history_a, g_a), (history_b, g_b) = a, b
    out = []
    for ra, rb in zip(history_a, history_b, strict=True):
        out.append(max(abs(ra[k] - rb[k]) / max(abs(rb[k]), 1e-12) for k in KEYS))
    weights = max(
        ((g_a[k].double() - g_b[k].double()).abs().max() / g_b[k].double().abs().max()).item()
        for k in g_b
        if g_b[k].is_floating_point()
    )
    return [*out, weights]


def main() -> None:
    torch.set_num_threads(1)
    rows = []
    base, sn = cfg(), cfg(**{"model.spectral_norm": True})
    f32 = plain(base)
    rows.append(("float32: member among 16 vs plain run", drift(population(base, company=15), f32)))
    rows.append(("float32: plain run, D weights +1 ulp", drift(plain(base, nudged=True), f32)))
    sn32 = plain(sn)
    rows.append(("float32 spectral norm: member vs plain run", drift(population(sn), sn32)))
    rows.append(("float32 spectral norm: plain, +1 ulp", drift(plain(sn, nudged=True), sn32)))
    f64 = population(base, dtype=torch.float64)
    rows.append(
        (
            "float64: member among 16 vs alone",
            drift(population(base, dtype=torch.float64, company=15), f64),
        )
    )
    rows.append(
        ("float64: alone, D weights +1 ulp", drift(population(base, True, torch.float64), f64))
    )
    steps = [r["step"] for r in f32[0]]
    heads = [f"records at step {s}" for s in steps] + [f"G's weights at step {steps[-1]}"]
    print("| runs compared | " + " | ".join(heads) + " |")
    print("|---|" + "---|" * len(heads))
    for name, values in rows:
        print(f"| {name} | " + " | ".join(f"{v:.1e}" for v in values) + " |")


if __name__ == "__main__":
    main()

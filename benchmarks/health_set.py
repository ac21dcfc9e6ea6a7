"""The larger calibration set (issue 14): seven data sets, configs drawn from the shipped spaces.

Per data set: `DRAWN` configs drawn from its search space as a sweep's first trials are
(Optuna's random sampler over the space's distributions and conditions, through
`pipelines.sweep.sampling.define_by_run`), each with `SEEDS` training seeds, plus the
hand-made failure kinds of the first set (`FAILURES`, `FAILURE_SEEDS` seeds each) on the
space's base config: 16 x 3 + 6 x 2 = 60 runs per data set, 420 in all. Each run trains
to where runs of its family really end (`Data.steps`): 4x the space's last written
milestone (1000) for images and tables, and for the 2-D mixtures the 18k steps the
shipped configs need to spread (README, configs/grid25_mlp.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass

import optuna
from health_data import ensure
from health_runs import RunSpec

from pipelines.sweep.sampling import define_by_run
from search_spaces import load_space

DRAWN, SEEDS = 16, (0, 1, 2)
FAILURE_SEEDS = (0, 1)


@dataclass(frozen=True)
class Data:
    space: str  # the shipped space whose base and distributions the runs come from
    family: str  # points | image | table
    arch: str  # mlp | dcgan: which failure overrides apply
    steps: int
    source: str = ""  # data.source; "" keeps the data set's own name


DATA: dict[str, Data] = {
    "ring8": Data("mixture", "points", "mlp", 18000),
    "grid25": Data("mixture", "points", "mlp", 18000),
    "digits": Data("stabilizers", "image", "dcgan", 4000),
    "mnist": Data("stabilizers", "image", "dcgan", 4000),
    "photo_patches": Data("stabilizers", "image", "dcgan", 4000, source="generated"),
    "breast_cancer": Data("tabular", "table", "mlp", 4000),
    "heavy_tail": Data("tabular", "table", "mlp", 4000, source="generated"),
}

_LR = lambda g, d: {"optim.lr_g": g, "optim.lr_d": d}  # noqa: E731
# The failure kinds of docs/health.md's first set, as overrides of a space's base config.
FAILURES: dict[str, dict[str, tuple[str, dict]]] = {
    "mlp": {
        "lrd100x": ("d_dominates", _LR(1e-5, 1e-3)),
        "lrg100x": ("g_dominates", _LR(1e-3, 1e-5)),
        "tinyD-g3": ("g_dominates", {"model.ndf": 4, "model.d_depth": 1, "optim.g_steps_per_d": 3}),
        "tinyG4": ("mode_collapse", {"model.ngf": 4, "model.g_depth": 1}),
        "lr1e-5": ("stall", _LR(1e-5, 1e-5)),
        "lr0.5": ("diverged", _LR(0.5, 0.5)),
    },
    "dcgan": {
        "lrd100x": ("d_dominates", _LR(1e-5, 1e-3)),
        "lrg100x": ("g_dominates", _LR(1e-3, 1e-5)),
        "tinyD-g3": ("g_dominates", {"model.ndf": 2, "optim.g_steps_per_d": 3}),
        "tinyG4-nobn": ("mode_collapse", {"model.ngf": 4, "model.g_batchnorm": False}),
        "lr1e-5": ("stall", _LR(1e-5, 1e-5)),
        "lr0.5": ("diverged", _LR(0.5, 0.5)),
    },
}


def drawn_configs(space_name: str, n: int = DRAWN, seed: int = 0) -> list[dict]:
    """n configs drawn at random from a shipped space, as its sweep's startup trials are."""
    space = load_space(space_name)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    draw = define_by_run(space)
    out = []
    for _ in range(n):
        trial = study.ask()
        draw(trial)
        out.append(dict(trial.params))
        study.tell(trial, 0.0)
    return out


def data_set_runs(data: str, sources: dict[str, str]) -> list[RunSpec]:
    d = DATA[data]
    source = sources[data] if d.source == "generated" else data

    def spec(name: str, intent: str, overrides: dict) -> RunSpec:
        return RunSpec(f"{data}/{name}", data, intent, overrides, d.family, d.space, source,
                       d.steps)  # fmt: skip

    runs = [
        spec(f"draw{i:02d}-s{seed}", "drawn", {**cfg, "train.seed": seed})
        for i, cfg in enumerate(drawn_configs(d.space))
        for seed in SEEDS
    ]
    for name, (intent, overrides) in FAILURES[d.arch].items():
        runs += [spec(f"{name}-s{seed}", intent, {**overrides, "train.seed": seed})
                 for seed in FAILURE_SEEDS]  # fmt: skip
    return runs


def large_set() -> list[RunSpec]:
    """Every run of the larger set (writes the two generated data sets first if missing)."""
    sources = ensure()
    return [spec for data in DATA for spec in data_set_runs(data, sources)]

"""The calibration set of the health verdict: which runs, and how one is trained and recorded.

Each run is a base config of `configs/` plus overrides, chosen either to learn
(`intent` "good") or to fail in one known way (docs/field-notes.md#note-002 and #design-runs):
D far stronger than G, G far stronger than D, collapse-prone (a tiny G without
batch norm), stall-prone (slow plain MLPs) or divergent (huge learning rates).
The intent is only a description: a run is labelled by how it ENDS
(`health_analysis.label_runs`), whatever it was meant to do.

Every run trains its full length and keeps every eval record, so the analysis
can replay any monitor setting over them without training again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from gan_core.config import GanConfig, population_shape
from gan_core.data import load_dataset
from gan_core.metrics.points import mode_counts
from gan_core.population.trainer import PopulationTrainer
from gan_core.trainer import Trainer
from search_spaces import load_space

STEPS = 4000  # 4x the last milestone (1000)
EVAL_EVERY = 250  # the default train.eval_every

# The points runs use narrower MLPs than configs/*_mlp.yaml (128 units, 3 layers each instead
# of PacGAN's 4x400 G and 3x200 D): 107 vs 46 steps/s on one thread (measured before the
# build), so the set fits the time budget; the good configs still end on 3-23 modes.
POINTS_BASE = {"model.ngf": 128, "model.ndf": 128, "model.g_depth": 3, "model.d_depth": 3}
# A small DCGAN for 8x8 digits: ngf/ndf 16 trained 58 steps/s on one thread (ngf/ndf 32: 41).
DIGITS_BASE = {"model.ngf": 16, "model.ndf": 16}


@dataclass(frozen=True)
class RunSpec:
    """One run: a config file (or a search space's base, on `source`) plus dotted overrides."""

    name: str
    data: str  # ring8 | grid25 | digits | mnist | breast_cancer | heavy_tail | photo_patches
    intent: str  # good | drawn | d_dominates | g_dominates | mode_collapse | stall | diverged
    overrides: dict = field(default_factory=dict)
    family: str = ""  # points | image | table; default: from the data set of the first set
    space: str = ""  # a shipped search space whose base config the run starts from
    source: str = ""  # data.source on that base (a built-in name or a generated file)
    steps: int = 0  # steps it trains; 0: the build's --steps

    def __post_init__(self) -> None:
        if not self.family:
            object.__setattr__(self, "family", "image" if self.data == "digits" else "points")

    @property
    def config_file(self) -> str:
        if self.space:
            return f"search_spaces/{self.space}.yaml"
        return (
            "configs/digits_dcgan.yaml"
            if self.data == "digits"
            else f"configs/{self.data}_mlp.yaml"
        )

    def config(self, steps: int) -> GanConfig:
        """The run's full config: base, overrides, `steps`, one torch thread, eval every 250."""
        fixed = {"train.steps": steps, "train.eval_every": EVAL_EVERY, "train.threads": 1}
        if self.space:
            base = load_space(self.space).with_data(self.source or None).base
        else:
            base = GanConfig.load(self.config_file)
        return base.with_overrides({**self.overrides, **fixed}, source=self.name)


def _points_runs(data: str) -> list[RunSpec]:
    b = POINTS_BASE
    lr = lambda g, d: {"optim.lr_g": g, "optim.lr_d": d}  # noqa: E731
    runs = [
        ("plain-lr5e-4-s0", "good", {}),
        ("plain-lr5e-4-s1", "good", {"train.seed": 1}),
        ("gbn-lr5e-4-s0", "good", {"model.g_batchnorm": True}),
        ("gbn-lr5e-4-s1", "good", {"model.g_batchnorm": True, "train.seed": 1}),
        ("gbn-lr1e-3", "good", {"model.g_batchnorm": True, **lr(1e-3, 1e-3)}),
        ("lrd100x", "d_dominates", lr(1e-5, 1e-3)),
        (
            "lrd100x-bigD-d3",
            "d_dominates",
            {**lr(1e-5, 1e-3), "model.ndf": 512, "optim.d_steps_per_g": 3},
        ),
        ("lrg100x", "g_dominates", lr(1e-3, 1e-5)),
        ("tinyD-g3", "g_dominates", {"model.ndf": 4, "model.d_depth": 1, "optim.g_steps_per_d": 3}),
        ("tinyG8", "mode_collapse", {"model.ngf": 8, "model.g_depth": 1}),
        ("tinyG4-s1", "mode_collapse", {"model.ngf": 4, "model.g_depth": 1, "train.seed": 1}),
        ("plain-lr1e-4-s0", "stall", lr(1e-4, 1e-4)),
        ("plain-lr1e-4-s1", "stall", {**lr(1e-4, 1e-4), "train.seed": 1}),
        ("lr0.1", "diverged", lr(0.1, 0.1)),
    ]
    return [RunSpec(f"{data}/{n}", data, intent, {**b, **ov}) for n, intent, ov in runs]


def _digits_runs() -> list[RunSpec]:
    b = DIGITS_BASE
    lr = lambda g, d: {"optim.lr_g": g, "optim.lr_d": d}  # noqa: E731
    runs = [
        ("dcgan16-s0", "good", {}),
        ("dcgan16-s1", "good", {"train.seed": 1}),
        ("dcgan16-s2", "good", {"train.seed": 2}),
        ("dcgan32", "good", {"model.ngf": 32, "model.ndf": 32}),
        ("dcgan16-lr5e-4", "good", lr(5e-4, 5e-4)),
        ("lrd100x", "d_dominates", lr(1e-5, 1e-3)),
        (
            "bigD-smallG-d3",
            "d_dominates",
            {"model.ngf": 4, "model.ndf": 64, "optim.d_steps_per_g": 3},
        ),
        ("lrg100x", "g_dominates", lr(1e-3, 1e-5)),
        ("tinyD-g3", "g_dominates", {"model.ndf": 2, "optim.g_steps_per_d": 3}),
        ("tinyG4-nobn", "mode_collapse", {"model.ngf": 4, "model.g_batchnorm": False}),
        (
            "tinyG2-nobn-s1",
            "mode_collapse",
            {"model.ngf": 2, "model.g_batchnorm": False, "train.seed": 1},
        ),
        ("lr1e-5", "stall", lr(1e-5, 1e-5)),
        ("lr2e-6", "stall", lr(2e-6, 2e-6)),
        ("lr0.05", "diverged", lr(0.05, 0.05)),
        ("lr0.5", "diverged", lr(0.5, 0.5)),
    ]
    return [RunSpec(f"digits/{n}", "digits", intent, {**b, **ov}) for n, intent, ov in runs]


def calibration_set() -> list[RunSpec]:
    """Every run of the set: 14 on ring8, 14 on grid25, 15 on 8x8 digits."""
    return [*_points_runs("ring8"), *_points_runs("grid25"), *_digits_runs()]


def shipped_runs() -> list[RunSpec]:
    """configs/ring8_mlp.yaml and grid25_mlp.yaml as they ship (PacGAN-size MLPs, seed 0)."""
    return [RunSpec(f"{data}/shipped", data, "good") for data in ("ring8", "grid25")]


def population_groups(specs: list[RunSpec], steps: dict[str, int]) -> list[list[RunSpec]]:
    """The specs split into groups of one population shape (`population_shape` of
    gan_core/config.py): same model and data, differing only in member keys (learning
    rates, tricks, seed, steps)."""
    groups: dict[str, list[RunSpec]] = {}
    for spec in specs:
        shape = population_shape(spec.config(steps[spec.name]))
        groups.setdefault(repr(sorted(shape.items())), []).append(spec)
    return list(groups.values())


def train_population(specs: list[RunSpec], steps: dict[str, int]) -> list[dict]:
    """Train runs of one population shape as one batched model on one thread; each member's
    records are its plain Trainer run's (bit for bit on CPU, tests/test_population_trainer.py).
    """
    torch.set_num_threads(1)
    cfgs = [s.config(steps[s.name]) for s in specs]
    start = time.perf_counter()
    trainer = PopulationTrainer(cfgs, sources=[s.name for s in specs])
    records: dict[int, list[dict]] = {member_id: [] for member_id in trainer.ids}
    mixture = load_dataset(cfgs[0].data) if specs[0].family == "points" else None

    def keep(batch: dict[int, dict]) -> None:
        fakes = trainer.sample(cfgs[0].train.eval_samples, [trainer.ids.index(i) for i in batch])
        for member_id, record in batch.items():
            record = dict(record)
            if mixture is not None:
                fake = fakes[trainer.ids.index(member_id)]
                modes = mixture.modes.detach().to("cpu", torch.float32)
                counts = mode_counts(fake, modes, float(mixture.mode_std))[2]
                record["mode_counts"] = counts.tolist()
            records[member_id].append(record)

    ids = list(trainer.ids)
    trainer.fit(on_eval=keep)
    wall = time.perf_counter() - start
    return [
        _run_record(spec, cfg, records[i], wall / len(specs), population=len(specs))
        for spec, cfg, i in zip(specs, cfgs, ids, strict=True)
    ]


def train_one(spec: RunSpec, steps: int = STEPS) -> dict:
    """Train one run to its end on one torch thread; return its spec and every eval record.

    The monitor's own verdict is recorded too, but the analysis recomputes health
    from the raw records, so the thresholds can change without training again.
    A points run's records also keep PacGAN's histogram (`mode_counts`: the
    high-quality eval fakes nearest to each mode), so any mode-count rule, such
    as the share of `metric/fair_modes`, can be replayed without training again.
    """
    torch.set_num_threads(1)  # two runs share the 2 cores: one thread each
    cfg = spec.config(steps)
    start = time.perf_counter()
    trainer = Trainer(cfg)
    records: list[dict] = []

    def keep(record: dict) -> None:
        if spec.family == "points":
            ev = trainer.evaluator
            counts = mode_counts(trainer.eval_fakes(), ev.modes, ev.sigma)[2]
            record = {**record, "mode_counts": counts.tolist()}
        records.append(dict(record))

    trainer.fit(on_eval=keep)
    return _run_record(spec, cfg, records, time.perf_counter() - start)


def _run_record(spec: RunSpec, cfg: GanConfig, records: list[dict], wall_s: float, population=1):
    """What the calibration file keeps of one run (wall_s: a population's share of its wall)."""
    return {
        "name": spec.name,
        "data": spec.data,
        "family": spec.family,
        "intent": spec.intent,
        "config_file": spec.config_file,
        "source": cfg.data.source,
        "overrides": spec.overrides,
        "steps": cfg.train.steps,
        "wall_s": wall_s,
        "population": population,
        "records": records,
    }

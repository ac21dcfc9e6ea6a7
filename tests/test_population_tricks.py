"""Every member key takes effect per member: in one population, the member with the trick
differs from the member without it (as tests/test_tricks.py shows for a plain trainer)."""

import pytest
import torch

from gan_core.config import POPULATION_MEMBER_KEYS
from gan_core.population.trainer import PopulationTrainer
from tests.helpers import tiny_points_config

STEPS = 6
BASE = {"train.steps": STEPS, "train.eval_every": STEPS, "model.g_dropout": 0.0}
NOISY = {"tricks.instance_noise": 0.5}
# key -> (overrides of the member with the trick, overrides of the member it is compared to)
TRAINING_KEYS = {
    "model.leaky_slope": ({"model.leaky_slope": 0.05}, {}),
    "model.g_dropout": ({"model.g_dropout": 0.3}, {}),
    "model.d_dropout": ({"model.d_dropout": 0.3}, {}),
    "loss.r1_weight": ({"loss.r1_weight": 1.0}, {}),
    "loss.r2_weight": ({"loss.r2_weight": 1.0}, {}),
    "loss.feature_matching": ({"loss.feature_matching": 1.0}, {}),
    "optim.lr_g": ({"optim.lr_g": 1e-3}, {}),
    "optim.lr_d": ({"optim.lr_d": 1e-3}, {}),
    "optim.beta1_g": ({"optim.beta1_g": 0.9}, {}),
    "optim.beta2_g": ({"optim.beta2_g": 0.9}, {}),
    "optim.beta1_d": ({"optim.beta1_d": 0.9}, {}),
    "optim.beta2_d": ({"optim.beta2_d": 0.9}, {}),
    "optim.d_steps_per_g": ({"optim.d_steps_per_g": 2}, {}),
    "optim.g_steps_per_d": ({"optim.g_steps_per_d": 2}, {}),
    "tricks.label_smoothing": ({"tricks.label_smoothing": 0.2}, {}),
    "tricks.label_flip": ({"tricks.label_flip": 0.2}, {}),
    "tricks.instance_noise": (NOISY, {}),
    "tricks.instance_noise_anneal": ({**NOISY, "tricks.instance_noise_anneal": 3}, NOISY),
    "tricks.fresh_noise_g": ({"tricks.fresh_noise_g": False}, {}),
    "tricks.ema_decay": ({"tricks.ema_decay": 0.5}, {}),
    "train.steps": ({"train.steps": 3}, {}),
    "train.seed": ({"train.seed": 1}, {}),
}
OFF = {  # every failure rule off, verdicts at the first eval point
    "monitor.patience": 1,
    "monitor.d_dominates_g_score": 0.0,
    "monitor.g_dominates_g_score": 1.0,
    "monitor.collapse_diversity": 0.0,
    "monitor.stall_coverage": 0.0,
}
# key -> (its value that turns a rule on, the verdict), all else OFF
MONITOR_KEYS = {
    "monitor.d_dominates_g_score": (
        {"monitor.d_dominates_g_score": 1.0, "monitor.d_dominates_d_score": 0.0},
        {"monitor.d_dominates_d_score": 0.0},
    ),
    "monitor.d_dominates_d_score": (
        {"monitor.d_dominates_g_score": 1.0, "monitor.d_dominates_d_score": 0.0},
        {"monitor.d_dominates_g_score": 1.0, "monitor.d_dominates_d_score": 1.0},
    ),
    "monitor.g_dominates_g_score": ({"monitor.g_dominates_g_score": 0.0}, {}),
    "monitor.collapse_diversity": ({"monitor.collapse_diversity": 1.0}, {}),
    "monitor.stall_band": (
        {"monitor.stall_band": 0.5, "monitor.stall_coverage": 1.0},
        {"monitor.stall_band": 0.0, "monitor.stall_coverage": 1.0},
    ),
    "monitor.stall_coverage": (
        {"monitor.stall_band": 0.5, "monitor.stall_coverage": 1.0},
        {"monitor.stall_band": 0.5},
    ),
    "monitor.patience": (
        {"monitor.collapse_diversity": 1.0},
        {"monitor.collapse_diversity": 1.0, "monitor.patience": 2},
    ),
}


# Member keys that act only with a shape key on, each tested in a population of that shape
WITH_SHAPE = {
    "loss.gp_weight": ({"loss.type": "wgan_gp", "model.g_batchnorm": False}, 10.0, 0.0),
    "loss.info_weight": ({"model.info_categorical": 3, "model.info_continuous": 1}, 2.0, 0.0),
}


def test_every_member_key_has_an_effect_test():
    keys = set(TRAINING_KEYS) | set(MONITOR_KEYS) | set(WITH_SHAPE)
    assert keys == set(POPULATION_MEMBER_KEYS)


def trained(pairs, extra=None):
    """One population holding both members of every pair; each member's final state."""
    cfgs = []
    for with_trick, without in pairs.values():
        for overrides in (with_trick, without):
            cfgs.append(tiny_points_config(**{**BASE, **(extra or {}), **overrides}))
    pop = PopulationTrainer(cfgs)
    pop.fit()
    states = [pop.left[i] for i in range(len(cfgs))]
    return {key: (states[2 * j], states[2 * j + 1]) for j, key in enumerate(pairs)}


def differ(a, b):
    history = [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in a["history"]]
    other = [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in b["history"]]
    weights = any(not torch.equal(a[n][k], b[n][k]) for n in ("G", "D") for k in a[n])
    return history != other or weights


@pytest.fixture(scope="module")
def training_states():
    return trained(TRAINING_KEYS)


@pytest.mark.parametrize("key", list(TRAINING_KEYS))
def test_member_with_the_trick_differs_from_the_member_without(key, training_states):
    with_trick, without = training_states[key]
    assert differ(with_trick, without)


@pytest.mark.parametrize("key", list(WITH_SHAPE))
def test_a_weight_that_needs_a_shape_key_acts_per_member(key):
    shape, on, off = WITH_SHAPE[key]
    ((with_trick, without),) = trained({key: ({key: on}, {key: off})}, shape).values()
    assert differ(with_trick, without)


@pytest.fixture(scope="module")
def monitor_states():
    return trained(MONITOR_KEYS, OFF)


@pytest.mark.parametrize("key", list(MONITOR_KEYS))
def test_each_members_monitor_thresholds_set_its_own_verdict(key, monitor_states):
    with_rule, without = monitor_states[key]
    assert with_rule["history"][-1]["health"] != "ok"
    assert without["history"][-1]["health"] == "ok"
    assert not differ({**with_rule, "history": []}, {**without, "history": []})  # same training

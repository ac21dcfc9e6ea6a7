"""A population's members are independent trials: each equals its plain Trainer run.

Bit for bit on CPU (float32, and float64 between populations); spectral norm within a
stated tolerance (its weight gradient sums four terms in graph order, which differs).
"""

import math

import pytest
import torch

from gan_core.population.step import train_step
from gan_core.population.trainer import PopulationTrainer
from gan_core.trainer import CheckpointError, Trainer
from tests.helpers import tiny_digits_config, tiny_points_config
from tests.test_tables import penguin_like, tiny_table_config, write

TRICKS = [  # one per member key the plain step acts on, and the shape keys around them
    {},
    {"model.d_dropout": 0.3, "model.g_dropout": 0.2},
    {"model.leaky_slope": 0.05},
    {"tricks.label_flip": 0.1, "tricks.label_smoothing": 0.1},
    {"tricks.instance_noise": 0.1, "tricks.instance_noise_anneal": 20},
    {"loss.r1_weight": 1.0},
    {"loss.r2_weight": 1.0},
    {"loss.feature_matching": 1.0},
    {"tricks.ema_decay": 0.9},
    {"optim.d_steps_per_g": 3},
    {"optim.g_steps_per_d": 2, "tricks.fresh_noise_g": False},
    {"optim.lr_d": 1e-3, "optim.beta1_g": 0.9, "optim.beta2_d": 0.99, "train.seed": 3},
    {"model.d_batchnorm": True},
    {"loss.type": "wgan_gp", "model.g_batchnorm": False},
    {"tricks.separate_batches": False},
    {"loss.type": "lsgan"},
    # docs/pacgan.md's tricks: shape keys all (D's layout or the loss)
    {"model.pack": 2},
    {"model.minibatch_std": 4},
    {"model.d_activation": "maxout", "model.maxout_pieces": 3},
    {"loss.type": "rpgan", "loss.r2_weight": 1.0},
    {"model.pack": 4, "model.minibatch_std": 2, "tricks.separate_batches": False},
    # InfoGAN's codes and Q (shape keys) with the weight (a member key)
    {"model.info_categorical": 3, "model.info_continuous": 2, "loss.info_weight": 2.0},
    {"model.info_continuous": 1, "model.d_dropout": 0.3, "optim.d_steps_per_g": 2},
]
# Image-only tricks, on the digits with the MLPs (whose arithmetic is bit for bit)
IMAGE_TRICKS = [
    {"tricks.diffaugment": ["color", "translation", "cutout"]},
    {"tricks.diffaugment": ["translation"], "optim.d_steps_per_g": 2},
    {"tricks.diffaugment": ["cutout", "color"], "loss.type": "rpgan", "loss.r1_weight": 1.0},
    {"tricks.diffaugment": ["color"], "model.info_categorical": 4, "model.d_dropout": 0.2},
]
MLP_DIGITS = {"model.arch": "mlp", "model.ngf": 32, "model.ndf": 32}
PACGAN_SHAPE = {  # PacGAN's D with the D tricks of docs/pacgan.md a population batches
    "model.pack": 2,
    "model.minibatch_std": 2,
    "model.d_activation": "maxout",
    "model.maxout_pieces": 3,
}
RPGAN = {"loss.type": "rpgan", "loss.r2_weight": 1.0, "loss.r1_weight": 1.0}


def strip(history):
    """Eval records without the timings (perf/*), which no two runs share."""
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in history]


def plain_history(cfg):
    t = Trainer(cfg)
    t.fit()
    return strip(t.history), t


def population_histories(cfgs, **kw):
    pop = PopulationTrainer(cfgs, **kw)
    pop.fit()
    return {i: strip(pop.left[i]["history"]) for i in pop.left}, pop


def case_id(overrides):
    return ",".join(f"{k.split('.')[-1]}={v}" for k, v in overrides.items()) or "defaults"


@pytest.mark.parametrize("overrides", TRICKS, ids=case_id)
def test_population_of_one_is_the_plain_trainer_bit_for_bit(overrides):
    assert_population_of_one_is_plain(tiny_points_config(**overrides))


@pytest.mark.parametrize("overrides", IMAGE_TRICKS, ids=case_id)
def test_image_tricks_population_of_one_is_the_plain_trainer_bit_for_bit(overrides):
    assert_population_of_one_is_plain(tiny_digits_config(**MLP_DIGITS, **overrides))


def assert_population_of_one_is_plain(cfg):
    expected, trainer = plain_history(cfg)
    got, pop = population_histories([cfg])
    assert got[0] == expected
    final = pop.left[0]  # the member's state is the plain trainer's checkpoint
    plain = trainer.state_dict()
    for net in ("G", "D"):
        assert final[net].keys() == plain[net].keys()
        assert all(torch.equal(final[net][k], plain[net][k]) for k in plain[net])
    for opt in ("opt_g", "opt_d"):
        assert final[opt]["param_groups"] == plain[opt]["param_groups"]
        for i, s in plain[opt]["state"].items():
            assert all(torch.equal(final[opt]["state"][i][k], v) for k, v in s.items())
    assert torch.equal(final["rng"]["torch"], plain["rng"]["torch"])
    assert torch.equal(final["rng"]["batch"], plain["rng"]["batch"])
    if plain["ema"] is not None:
        assert all(torch.equal(final["ema"][k], v) for k, v in plain["ema"].items())


def test_spectral_norm_member_tracks_the_plain_trainer_within_rounding():
    cfg = tiny_points_config(**{"model.spectral_norm": True})
    expected, _ = plain_history(cfg)
    got, _ = population_histories([cfg])
    for a, b in zip(got[0], expected, strict=True):
        for key, value in b.items():
            if isinstance(value, float):
                assert math.isclose(a[key], value, rel_tol=1e-4, abs_tol=1e-6), key


def mixed_members(n=16, base=tiny_points_config, **shared):
    """n members of one shape, each with another trick or seed."""
    return [
        base(**{**TRICKS[i % 12], "train.seed": 100 + i, **shared})  # 12: no shape keys
        for i in range(n)
    ]


INFO = {"model.info_categorical": 3, "model.info_continuous": 1, "loss.info_weight": 1.0}
AUGMENTED = {**MLP_DIGITS, "tricks.diffaugment": ["color", "translation", "cutout"], **INFO}


@pytest.mark.parametrize(
    "base, shape",
    [
        (tiny_points_config, {}),
        (tiny_points_config, PACGAN_SHAPE),
        (tiny_digits_config, AUGMENTED),
    ],
    ids=["defaults", "pacgan-tricks", "diffaugment-infogan"],
)
def test_a_member_among_16_equals_the_member_alone_bit_for_bit(base, shape):
    cfgs = mixed_members(base=base, **shape)
    among, _ = population_histories(cfgs)
    for slot in (0, 9):
        alone, _ = population_histories([cfgs[slot]])
        assert among[slot] == alone[0]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_no_member_depends_on_its_slot(dtype):
    cfgs = mixed_members(**{"train.steps": 200, "train.eval_every": 50})  # the 200 steps
    among, _ = population_histories(cfgs, dtype=dtype)
    reordered, _ = population_histories(cfgs[::-1], dtype=dtype)  # every member's slot moves
    assert [reordered[15 - i] for i in range(16)] == [among[i] for i in range(16)]
    alone, _ = population_histories([cfgs[3]], dtype=dtype)
    assert among[3] == alone[0]


def test_a_member_that_goes_nan_leaves_its_neighbours_unchanged():
    cfgs = mixed_members(4, **{"train.steps": 60})
    before, _ = population_histories(cfgs)
    pop = PopulationTrainer(cfgs)
    pop.fit(until=20)
    with torch.no_grad():
        next(pop.modules.D.parameters())[1].fill_(float("nan"))  # member 1's D explodes
    pop.fit()
    got = {i: strip(pop.left[i]["history"]) for i in pop.left}
    assert [r["health"] for r in got[1]] == ["ok", "diverged"]  # it left at step 40 of 60
    for i in (0, 2, 3):
        assert got[i] == before[i]


def test_members_removed_or_added_mid_run_leave_the_others_unchanged():
    cfgs = mixed_members(4)
    before, _ = population_histories(cfgs)
    pop = PopulationTrainer(cfgs)
    pop.fit(until=20, on_eval=lambda records: [2] if 2 in records else None)
    assert pop.ids == [0, 1, 3] and pop.modules.G.num_members == 3
    newcomer = tiny_points_config(**{"train.seed": 7, "model.d_dropout": 0.3})
    (new_id,) = pop.add([newcomer])
    pop.fit()
    got = {i: strip(pop.left[i]["history"]) for i in pop.left}
    assert got[2] == before[2][:1]  # stopped at its first eval point (step 20)
    for i in (0, 1, 3):
        assert got[i] == before[i]
    alone, _ = population_histories([newcomer])
    assert got[new_id] == alone[0]  # started at step 0 beside members at step 20


def test_population_checkpoint_resumes_bit_for_bit_and_loads_safely(tmp_path):
    cfgs = [
        tiny_points_config(**{"train.seed": 1, "optim.d_steps_per_g": 2}),
        tiny_points_config(**{"train.seed": 2, "tricks.ema_decay": 0.9}),
    ]
    uninterrupted, _ = population_histories(cfgs)
    pop = PopulationTrainer(cfgs)
    pop.fit(until=20)
    path = tmp_path / "population.pt"
    pop.save_checkpoint(path)
    torch.load(path, weights_only=True)  # tensors and plain values only
    resumed = PopulationTrainer.from_checkpoint(path)
    resumed.fit()
    got = {i: strip(resumed.left[i]["history"]) for i in resumed.left}
    assert got == uninterrupted


def test_a_member_state_resumes_as_a_plain_trainer():
    cfg = tiny_points_config(**{"train.seed": 4})
    expected, _ = plain_history(cfg)
    pop = PopulationTrainer([cfg])
    pop.fit(until=20)
    trainer = Trainer(cfg)
    trainer.load_state_dict(pop.member_state(0))
    trainer.fit()
    assert strip(trainer.history) == expected


@pytest.mark.parametrize(
    "overrides",
    [
        {"model.d_dropout": 0.3},
        {**PACGAN_SHAPE, **RPGAN},
        {"tricks.diffaugment": ["color", "translation", "cutout"], **INFO},
    ],
    ids=["dropout", "pacgan-tricks", "diffaugment-infogan"],
)
def test_a_dcgan_member_tracks_the_plain_trainer_within_rounding(overrides):
    # The batched convolutions sum in another order than cuDNN/oneDNN's plain ones
    # (gan_core/population/conv.py): equal to float32 rounding, not bit for bit.
    cfg = tiny_digits_config(**overrides)
    expected, _ = plain_history(cfg)
    got, _ = population_histories([cfg])
    for a, b in zip(got[0], expected, strict=True):
        assert a["health"] == b["health"]
        for key, value in b.items():
            if isinstance(value, float):
                assert math.isclose(a[key], value, rel_tol=1e-4, abs_tol=1e-6), key


def test_a_plain_checkpoint_is_not_taken_for_a_population(tmp_path):
    trainer = Trainer(tiny_points_config(**{"train.steps": 2}))
    path = trainer.save_checkpoint(tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="not a population checkpoint"):
        PopulationTrainer.from_checkpoint(path)


def test_one_shared_stream_trains_every_member_with_its_own_keys():
    # [g] * K: the GPU's fast mode (one draw per kind for all members; dropout batched).
    cfgs = [
        tiny_points_config(**{"model.d_dropout": 0.3, "tricks.instance_noise": 0.1, **o})
        for o in ({}, {"optim.lr_d": 0.0}, {"optim.lr_g": 0.0}, {"tricks.label_flip": 0.2})
    ]
    pop = PopulationTrainer(cfgs)
    m, k = pop.modules, len(cfgs)
    d0 = [p.detach().clone() for p in m.D.parameters()]
    g0 = [p.detach().clone() for p in m.G.parameters()]
    stream = torch.Generator().manual_seed(0)
    data = pop._data[0]

    def next_batch(mask):
        return data[torch.randint(len(data), (k, 64), generator=stream)]

    out, last = None, None
    for step in range(3):
        out, last = train_step(m, next_batch, cfgs, [step] * k, [stream] * k, [True] * k, out, last)
    moved = lambda before, module, i: any(  # noqa: E731
        not torch.equal(b[i], p[i]) for b, p in zip(before, module.parameters(), strict=True)
    )
    assert [moved(d0, m.D, i) for i in range(k)] == [True, False, True, True]
    assert [moved(g0, m.G, i) for i in range(k)] == [True, True, False, True]
    assert torch.isfinite(out.d_loss).all() and torch.isfinite(out.g_loss).all()


@pytest.mark.parametrize("kind", ["gumbel", "softmax"])
def test_a_mixed_table_member_is_its_plain_run_alone_and_among_others(kind, tmp_path):
    # G's categorical head (docs/tables.md): each member's Gumbel noise from its own stream.
    source = write(penguin_like(), tmp_path)
    cfgs = [
        tiny_table_config(
            source, **{**TRICKS[i], "train.seed": 10 + i, "model.categorical_head": kind}
        )
        for i in range(4)
    ]
    assert_population_of_one_is_plain(cfgs[1])
    among, _ = population_histories(cfgs)
    for slot in (0, 3):
        expected, _ = plain_history(cfgs[slot])
        assert among[slot] == expected

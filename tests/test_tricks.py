"""Each trick of the field notes is a config key; each test shows the key takes effect
in training (the model-level keys are shown in test_models.py, losses in test_losses.py)."""

import math

import pytest
import torch
import torch.nn.functional as F

from gan_core import step as step_module
from gan_core.augment import diffaugment
from gan_core.config import ConfigError
from gan_core.models import info_codes, sample_latent
from gan_core.models.layers import Maxout
from gan_core.step import _d_targets, instance_noise_std
from gan_core.trainer import Trainer
from tests.helpers import tiny_digits_config, tiny_points_config


def g_params(t):
    return [p.detach().clone() for p in t.modules.G.parameters()]


def d_params(t):
    return [p.detach().clone() for p in t.modules.D.parameters()]


def changed(before, after):
    return any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def run(steps=5, **overrides):
    t = Trainer(
        tiny_points_config(**{"train.steps": steps, "train.eval_every": steps, **overrides})
    )
    return t


@pytest.mark.parametrize("frozen, lr_key", [("G", "optim.lr_g"), ("D", "optim.lr_d")])
def test_separate_learning_rates(frozen, lr_key):
    t = run(**{lr_key: 0.0})
    g0, d0 = g_params(t), d_params(t)
    t.fit()
    g_moved, d_moved = changed(g0, g_params(t)), changed(d0, d_params(t))
    assert (g_moved, d_moved) == ((False, True) if frozen == "G" else (True, False))


def test_adam_betas_of_g_and_d_are_used():
    t = run(**{"optim.beta1_g": 0.1, "optim.beta2_d": 0.9})
    assert t.modules.opt_g.param_groups[0]["betas"] == (0.1, 0.999)
    assert t.modules.opt_d.param_groups[0]["betas"] == (0.5, 0.9)


@pytest.mark.parametrize("d_steps, g_steps", [(3, 1), (1, 3)])
def test_update_ratio_in_both_directions(d_steps, g_steps):
    t = run(steps=4, **{"optim.d_steps_per_g": d_steps, "optim.g_steps_per_d": g_steps})
    t.fit()
    adam_steps = lambda opt: int(next(iter(opt.state.values()))["step"])  # noqa: E731
    assert adam_steps(t.modules.opt_d) == 4 * d_steps
    assert adam_steps(t.modules.opt_g) == 4 * g_steps


def test_one_sided_label_smoothing_caps_d_on_real_data():
    # G frozen, so D can separate perfectly; smoothing keeps D(x) near 1 - s instead of 1.
    def mean_real_prob(smoothing):
        t = run(
            steps=600,
            **{"optim.lr_g": 0.0, "optim.lr_d": 5e-3, "tricks.label_smoothing": smoothing},
        )
        t.fit()
        with torch.no_grad():
            return torch.sigmoid(t.modules.D(t.real[:500])).mean().item()

    assert mean_real_prob(0.0) > 0.92  # measured 0.95
    assert 0.6 < mean_real_prob(0.3) < 0.78  # measured 0.69, near 1 - 0.3


def test_label_flip_swaps_the_requested_share_of_targets():
    cfg = tiny_points_config(**{"tricks.label_flip": 0.2, "tricks.label_smoothing": 0.1})
    real_t, fake_t = _d_targets(cfg, 20000, "cpu")
    flipped = (real_t == 0).float().mean().item()
    assert 0.18 < flipped < 0.22
    assert torch.equal(real_t == 0, fake_t == 0.9)  # a flipped sample swaps both targets


def test_instance_noise_anneals_linearly_and_blinds_d():
    cfg = tiny_points_config(**{"tricks.instance_noise": 1.0, "tricks.instance_noise_anneal": 100})
    assert [instance_noise_std(cfg, s) for s in (0, 50, 100, 200)] == [1.0, 0.5, 0.0, 0.0]

    def d_score(noise):
        t = run(
            steps=600, **{"optim.lr_g": 0.0, "optim.lr_d": 5e-3, "tricks.instance_noise": noise}
        )
        return t.fit()["score/d"]

    assert d_score(0.0) > 0.8  # frozen G: D wins (measured 0.89)
    assert d_score(20.0) < 0.6  # real and fake drowned in noise: D can't tell


def test_separate_or_mixed_batches_change_what_d_sees_with_batch_norm():
    logits = {}
    for separate in (True, False):
        t = run(**{"model.d_batchnorm": True, "tricks.separate_batches": separate})
        _, real_logits, _ = step_module.d_update(
            t.modules,
            t.real[:64],
            torch.randn(64, 2, generator=torch.Generator().manual_seed(0)),
            t.cfg,
            0.0,
        )
        logits[separate] = real_logits.detach()
    assert not torch.allclose(logits[True], logits[False])


@pytest.mark.parametrize("fresh, draws_per_step", [(True, 2), (False, 1)])
def test_fresh_noise_for_the_g_step(monkeypatch, fresh, draws_per_step):
    calls = []
    real_sample = step_module.sample_latent

    def counting(*a, **k):
        calls.append(1)
        return real_sample(*a, **k)

    monkeypatch.setattr(step_module, "sample_latent", counting)
    t = run(steps=3, **{"tricks.fresh_noise_g": fresh})
    t.fit(until=3)
    # the eval at step 3 draws through the trainer's own sample_latent import, not step's
    assert len(calls) == 3 * draws_per_step


def test_ema_generator_is_used_for_samples_and_lags_g():
    t = run(steps=30, **{"tricks.ema_decay": 0.9})
    t.fit()
    assert t.generator is t.modules.ema.module
    ema_w, g_w = next(t.generator.parameters()), next(t.modules.G.parameters())
    assert not torch.equal(ema_w, g_w)


@pytest.mark.parametrize("loss", ["bce", "hinge", "lsgan", "wgan_gp", "rpgan"])
def test_every_loss_trains(loss):
    t = run(steps=20, **{"loss.type": loss})
    d0 = d_params(t)
    rec = t.fit()
    assert changed(d0, d_params(t)) and rec["health"] != "diverged"


def test_r1_penalty_flattens_d_at_real_data():
    def grad_at_real(r1):
        t = run(steps=200, **{"optim.lr_g": 0.0, "optim.lr_d": 2e-3, "loss.r1_weight": r1})
        t.fit()
        x = t.real[:256].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(t.modules.D(x).sum(), x)
        return g.norm(dim=1).mean().item()

    assert grad_at_real(10.0) < 0.5 * grad_at_real(0.0)


def test_feature_matching_adds_to_g_loss():
    a = run(steps=10).fit()
    b = run(steps=10, **{"loss.feature_matching": 10.0}).fit()
    assert b["loss/g"] > a["loss/g"]


def test_rpgan_and_r2_flatten_d_at_fakes():
    def grad_at_fakes(r2):
        t = run(
            steps=200,
            **{"optim.lr_g": 0.0, "optim.lr_d": 2e-3, "loss.type": "rpgan", "loss.r2_weight": r2},
        )
        t.fit()
        x = t.sample(256, seed=0).requires_grad_(True)
        (g,) = torch.autograd.grad(t.modules.D(x).sum(), x)
        return g.norm(dim=1).mean().item()

    assert grad_at_fakes(10.0) < 0.5 * grad_at_fakes(0.0)


# --- D's batch tricks: a collapsed G, whose every batch is one real point repeated -----------


class FixedFakes(torch.nn.Module):
    """Stands in for G: its fakes are whatever `make(n)` returns (the real D step trains on them)."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def forward(self, z):
        return self.make(len(z))


def d_gap(t, make_fakes, steps=600):
    """Train D alone with the real D step against FixedFakes; mean D(real) - D(fake) after."""
    t.modules.G = FixedFakes(make_fakes)
    n = t.cfg.optim.batch_size
    with t._own_rng():
        for _ in range(steps):
            step_module.d_update(t.modules, t.next_batch(), torch.zeros(n, 1), t.cfg, 0.0)
        with torch.no_grad():
            real = torch.sigmoid(t.modules.D(t.next_batch())).mean()
            fake = torch.sigmoid(t.modules.D(make_fakes(n))).mean()
    return (real - fake).item()


def collapsed_batch(t):
    # Each fake is a real point, so one sample at a time looks exactly like the data: only a
    # D that sees several samples at once can tell that the batch has no variety.
    return lambda n: t.next_batch()[:1].expand(n, -1).clone()


@pytest.mark.parametrize("key, value", [("model.pack", 2), ("model.minibatch_std", 4)])
def test_pack_and_minibatch_std_let_d_see_a_collapsed_batch(key, value):
    def gap(**overrides):
        t = run(**{"optim.lr_d": 2e-3, **overrides})
        return d_gap(t, collapsed_batch(t))

    assert gap() < 0.15  # one sample at a time: chance
    assert gap(**{key: value}) > 0.4


def test_pack_gives_one_logit_per_pack_and_needs_a_divisible_batch():
    t = run(**{"model.pack": 4})
    assert t.modules.D(t.next_batch()).shape == (64 // 4,)
    with pytest.raises(ConfigError, match="divisible by model.pack=5"):
        tiny_points_config(**{"model.pack": 5})


def test_maxout_d_trains_with_the_pieces_it_is_given():
    t = run(steps=300, **{"optim.lr_g": 0.0, "optim.lr_d": 5e-3, "model.d_activation": "maxout"})
    maxouts = [m for m in t.modules.D.modules() if isinstance(m, Maxout)]
    assert len(maxouts) == 2 and maxouts[0].pieces == 5
    assert t.modules.D.body[0].out_features == 32 * 5  # ndf units x 5 pieces
    assert t.fit()["score/d"] > 0.8  # frozen G: the maxout D wins, as the LeakyReLU one does


def test_diffaugment_blurs_a_brightness_cue_and_passes_gradients():
    def gap(policies):
        t = Trainer(tiny_digits_config(**{"optim.lr_d": 2e-3, "tricks.diffaugment": policies}))
        return d_gap(t, lambda n: t.next_batch() + 0.3)  # fakes: real digits, brighter

    assert gap([]) > 0.5
    assert gap(["color"]) < 0.6 * gap([])
    x = torch.randn(8, 1, 8, 8, requires_grad=True)
    diffaugment(x, ["color", "translation", "cutout"]).sum().backward()
    assert x.grad.abs().sum() > 0  # differentiable: G's gradient reaches through D's input


def test_info_codes_become_readable_from_g_samples():
    def code_cross_entropy(weight):
        t = run(steps=300, **{"model.info_categorical": 4, "loss.info_weight": weight})
        t.fit()
        with t._own_rng(), torch.no_grad():
            z = sample_latent(512, t.cfg.model)
            category, _ = info_codes(z, t.cfg.model)
            return F.cross_entropy(t.modules.D.q(t.modules.G(z)), category).item()

    assert code_cross_entropy(0.0) > 0.9 * math.log(4)  # no MI term: codes stay unreadable
    assert code_cross_entropy(1.0) < 0.5 * math.log(4)

"""Losses on hand-computed logits, and the penalties on discriminators with known gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gan_core.config import ConfigError, ModelConfig
from gan_core.losses import (
    LOSS_TYPES,
    d_loss,
    feature_matching,
    g_loss,
    gradient_penalty,
    info_loss,
    r1_penalty,
)
from gan_core.models import build_models, sample_latent

REAL = torch.tensor([0.0, 2.0])
FAKE = torch.tensor([0.0, -1.0])


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


# --- known values -------------------------------------------------------------


def test_d_bce_known_value():
    # real target 1: -log sigmoid(l) = softplus(-l); fake target 0: softplus(l)
    expected = (softplus(0) + softplus(-2)) / 2 + (softplus(0) + softplus(-1)) / 2
    assert d_loss("bce", REAL, FAKE, 1.0, 0.0).item() == pytest.approx(expected, rel=1e-6)


def test_d_bce_tensor_targets_match_torch():
    real_t, fake_t = torch.tensor([0.9, 0.0]), torch.tensor([0.0, 1.0])  # smoothed and flipped
    expected = F.binary_cross_entropy_with_logits(
        REAL, real_t
    ) + F.binary_cross_entropy_with_logits(FAKE, fake_t)
    torch.testing.assert_close(d_loss("bce", REAL, FAKE, real_t, fake_t), expected)


def test_d_bce_float_and_tensor_targets_agree():
    a = d_loss("bce", REAL, FAKE, 0.9, 0.1)
    b = d_loss("bce", REAL, FAKE, torch.full((2,), 0.9), torch.full((2,), 0.1))
    torch.testing.assert_close(a, b)


def test_d_lsgan_known_value():
    # 0.5*mean((1-1)^2, (3-1)^2) + 0.5*mean((0-0)^2, (-2-0)^2) = 1 + 1
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    assert d_loss("lsgan", real, fake, 1.0, 0.0).item() == pytest.approx(2.0)
    # targets matter: real target 3 -> 0.5*mean(4, 0) = 1 for the real half
    assert d_loss("lsgan", real, fake, 3.0, 0.0).item() == pytest.approx(2.0)
    assert d_loss("lsgan", real, fake, 0.0, 0.0).item() == pytest.approx(0.5 * 5 + 1.0)


def test_d_hinge_known_value_ignores_targets():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 1.0])
    # mean(relu(1-2), relu(1-0.5)) + mean(relu(1-2), relu(1+1)) = 0.25 + 1
    assert d_loss("hinge", real, fake, 1.0, 0.0).item() == pytest.approx(1.25)
    assert d_loss("hinge", real, fake, 0.7, 0.3).item() == pytest.approx(1.25)


def test_d_wgan_known_value():
    real, fake = torch.tensor([3.0, 1.0]), torch.tensor([-1.0, 0.0])
    assert d_loss("wgan_gp", real, fake, 1.0, 0.0).item() == pytest.approx(-0.5 - 2.0)


def test_rpgan_known_values_depend_on_the_pairs_differences_only():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0])
    expected_d = (softplus(-2.0) + softplus(1.0)) / 2  # softplus(fake - real) per pair
    assert d_loss("rpgan", real, fake, 1.0, 0.0).item() == pytest.approx(expected_d)
    assert d_loss("rpgan", real + 5, fake + 5, 1.0, 0.0).item() == pytest.approx(expected_d)
    expected_g = (softplus(2.0) + softplus(-1.0)) / 2  # softplus(real - fake)
    assert g_loss("rpgan", fake, real).item() == pytest.approx(expected_g)


def test_info_loss_is_cross_entropy_plus_gaussian_nll():
    category, continuous = torch.tensor([0, 2]), torch.tensor([[0.5], [-0.5]])
    blind = torch.zeros(2, 4)  # uniform over 3 categories, continuous guess 0
    assert info_loss(blind, category, continuous).item() == pytest.approx(math.log(3) + 0.5 * 0.25)
    sure = torch.tensor([[20.0, 0.0, 0.0, 0.5], [0.0, 0.0, 20.0, -0.5]])
    assert info_loss(sure, category, continuous).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    "loss_type, logits, expected",
    [
        ("bce", [0.0, 2.0], (softplus(0) + softplus(-2)) / 2),
        ("lsgan", [1.0, 3.0], 1.0),
        ("hinge", [1.0, -3.0], 1.0),
        ("wgan_gp", [1.0, -3.0], 1.0),
    ],
)
def test_g_loss_known_values(loss_type, logits, expected):
    assert g_loss(loss_type, torch.tensor(logits)).item() == pytest.approx(expected, rel=1e-6)


def test_unknown_loss_type_is_a_config_error():
    with pytest.raises(ConfigError, match="wgan"):
        d_loss("wgan", REAL, FAKE, 1.0, 0.0)
    with pytest.raises(ConfigError, match="not one of"):
        g_loss("softmax", FAKE)


# --- label smoothing moves the optimum ----------------------------------------


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_bce_optimum_of_a_constant_real_logit_is_logit_of_target(smoothing):
    grid = torch.linspace(-8, 8, 1601)  # step 0.01
    fake = torch.tensor([-1.0])
    losses = torch.stack([d_loss("bce", c.view(1), fake, 1 - smoothing, 0.0) for c in grid])
    best = grid[losses.argmin()].item()
    if smoothing == 0:
        assert best > 7.5  # unsmoothed: the loss keeps falling as the logit grows
    else:
        assert best == pytest.approx(math.log((1 - smoothing) / smoothing), abs=0.011)


# --- penalties ------------------------------------------------------------------


def linear_d(shape: tuple[int, ...], weight_norm: float) -> nn.Module:
    """D(x) = w . flatten(x) + b with ||w|| = weight_norm: its input gradient is w everywhere."""
    torch.manual_seed(0)
    linear = nn.Linear(math.prod(shape), 1)
    with torch.no_grad():
        linear.weight.mul_(weight_norm / linear.weight.norm())
    return nn.Sequential(nn.Flatten(), linear)


SHAPES = [(2,), (1, 8, 8), (3, 4, 4)]


@pytest.mark.parametrize("shape", SHAPES)
def test_gp_is_zero_for_unit_norm_linear_d(shape):
    D = linear_d(shape, 1.0)
    real, fake = torch.randn(16, *shape), torch.randn(16, *shape)
    assert gradient_penalty(D, real, fake).item() == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("shape", SHAPES)
def test_gp_of_norm_two_d_is_one_and_trains_d(shape):
    D = linear_d(shape, 2.0)
    real, fake = torch.randn(16, *shape), torch.randn(16, *shape, requires_grad=True)
    penalty = gradient_penalty(D, real, fake)
    assert penalty.item() == pytest.approx(1.0, rel=1e-5)
    penalty.backward()  # needs create_graph: the penalty reaches w only through dD/dx
    weight = D[1].weight
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = w for ||w|| = 2
    torch.testing.assert_close(weight.grad, weight.detach())
    assert fake.grad is None  # interpolates are detached from G


def test_gp_on_a_conv_d_is_finite_and_differentiable():
    cfg = ModelConfig(ngf=8, ndf=8, latent_dim=8)
    G, D = build_models(cfg, (1, 16, 16))
    real = torch.rand(8, 1, 16, 16) * 2 - 1
    penalty = gradient_penalty(D, real, G(sample_latent(8, cfg)))
    penalty.backward()
    assert torch.isfinite(penalty) and penalty.item() > 0
    # every weight shapes dD/dx; the head's bias does not, so it gets no gradient
    weights = [p for name, p in D.named_parameters() if name.endswith("weight")]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in weights)
    assert all(p.grad.abs().sum() > 0 for p in weights)


@pytest.mark.parametrize("shape", SHAPES)
def test_r1_is_zero_for_a_constant_d(shape):
    D = linear_d(shape, 1.0)
    with torch.no_grad():
        D[1].weight.zero_()
        D[1].bias.fill_(3.0)
    assert r1_penalty(D, torch.randn(8, *shape)).item() == 0.0


@pytest.mark.parametrize("shape", SHAPES)
def test_r1_of_linear_d_is_half_squared_weight_norm(shape):
    D = linear_d(shape, 3.0)
    penalty = r1_penalty(D, torch.randn(8, *shape))
    assert penalty.item() == pytest.approx(0.5 * 9.0, rel=1e-5)
    penalty.backward()
    torch.testing.assert_close(D[1].weight.grad, D[1].weight.detach())  # d/dw 0.5||w||^2 = w


@pytest.mark.parametrize("shape", [(2,), (1, 8, 8)])
def test_feature_matching_zero_for_identical_batches_positive_otherwise(shape):
    _, D = build_models(ModelConfig(ndf=16), shape)
    real = torch.randn(32, *shape)
    assert feature_matching(D, real, real.clone()).item() == pytest.approx(0.0, abs=1e-10)
    assert feature_matching(D, real, torch.randn(32, *shape)).item() > 1e-6


def test_feature_matching_trains_g_only_through_fake():
    cfg = ModelConfig(ngf=16, ndf=16, latent_dim=4)
    G, D = build_models(cfg, (2,))
    real = torch.randn(32, 2, requires_grad=True)
    feature_matching(D, real, G(sample_latent(32, cfg))).backward()
    assert real.grad is None
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())


# --- gradients reach G -----------------------------------------------------------


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
@pytest.mark.parametrize("shape", [(2,), (1, 8, 8)])
def test_g_loss_gradients_reach_every_g_parameter(loss_type, shape):
    torch.manual_seed(0)
    cfg = ModelConfig(ngf=8, ndf=8, latent_dim=4)
    G, D = build_models(cfg, shape)
    real_logits = D(torch.randn(16, *shape))  # used by rpgan only
    g_loss(loss_type, D(G(sample_latent(16, cfg))), real_logits).backward()
    for name, p in G.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name

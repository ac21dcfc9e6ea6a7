"""G and D: shapes for every supported image size, and every ModelConfig key taking effect."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from gan_core.config import ConfigError, ModelConfig
from gan_core.models import build_models, resolve_arch, sample_latent
from gan_core.models.dcgan import conv_plan, transposed_padding

SMALL = {"ngf": 8, "ndf": 8, "latent_dim": 16}  # keeps 64x64 models fast on CPU
POINTS = (2,)
DIGITS = (1, 8, 8)


def small(**overrides) -> ModelConfig:
    return ModelConfig(**{**SMALL, **overrides})


def count(model: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- shapes -----------------------------------------------------------------


@pytest.mark.parametrize("size", [8, 16, 28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kernel_size", [3, 4, 5])
def test_dcgan_shapes(size, channels, kernel_size):
    cfg = small(kernel_size=kernel_size)
    G, D = build_models(cfg, (channels, size, size))
    x = G(sample_latent(5, cfg))
    assert x.shape == (5, channels, size, size)
    logits = D(x)
    assert logits.shape == (5,)
    features = D.features(x)
    assert features.shape == (5, D.head.in_features)


@pytest.mark.parametrize(
    "size, blocks, base",
    [(8, 1, 4), (16, 2, 4), (28, 2, 7), (32, 3, 4), (64, 4, 4), (24, 3, 3), (10, 1, 5)],
)
def test_block_count_follows_halving(size, blocks, base):
    assert conv_plan((1, size, size)) == (blocks, base)
    G, D = build_models(small(), (1, size, size))
    assert count(G, nn.ConvTranspose2d) == blocks
    assert count(D, nn.Conv2d) == blocks


@pytest.mark.parametrize("kernel_size", [2, 3, 4, 5, 6, 7])
def test_transposed_conv_exactly_doubles(kernel_size):
    padding, output_padding = transposed_padding(kernel_size)
    conv = nn.ConvTranspose2d(
        2, 2, kernel_size, stride=2, padding=padding, output_padding=output_padding
    )
    for size in (3, 4, 7):
        assert conv(torch.zeros(1, 2, size, size)).shape[-1] == 2 * size


def test_channels_halve_in_g_and_double_in_d():
    G, D = build_models(small(ngf=8, ndf=8), (3, 32, 32))
    g_convs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [c.out_channels for c in g_convs] == [32, 16, 8]  # last block before output: ngf
    assert [c.out_channels for c in D.modules() if isinstance(c, nn.Conv2d)] == [8, 16, 32]


@pytest.mark.parametrize(
    "shape, words",
    [
        ((1, 8, 16), "square"),
        ((1, 6, 6), "at least 8"),
        ((1, 9, 9), "odd"),
        ((3, 15, 15), "odd"),
        ((4, 4), "(D,)"),
    ],
)
def test_unusable_shapes_raise_config_error(shape, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        build_models(small(arch="auto"), shape)


def test_dcgan_on_points_is_refused():
    with pytest.raises(ConfigError, match="arch: mlp"):
        build_models(small(arch="dcgan"), POINTS)


def test_auto_arch_picks_by_shape():
    assert resolve_arch(small(), DIGITS) == "dcgan"
    assert resolve_arch(small(), (30,)) == "mlp"
    assert resolve_arch(small(arch="mlp"), DIGITS) == "mlp"


def test_mlp_on_images_flattens_and_reshapes():
    cfg = small(arch="mlp")
    G, D = build_models(cfg, DIGITS)
    assert count(G, nn.Conv2d) + count(D, nn.Conv2d) == 0
    x = G(sample_latent(4, cfg))
    assert x.shape == (4, *DIGITS)
    assert D(x).shape == (4,)
    assert D.features(x).shape == (4, cfg.ndf)


@pytest.mark.parametrize("dim", [2, 30])
def test_mlp_shapes(dim):
    cfg = small()
    G, D = build_models(cfg, (dim,))
    x = G(sample_latent(7, cfg))
    assert x.shape == (7, dim)
    assert D(x).shape == (7,)
    assert D.features(x).shape == (7, cfg.ndf)


@pytest.mark.parametrize("shape", [POINTS, DIGITS])
def test_features_are_the_heads_input(shape):
    cfg = small(d_dropout=0.5, d_batchnorm=True)
    _, D = build_models(cfg, shape)
    D.eval()
    x = torch.randn(6, *shape)
    torch.testing.assert_close(D.head(D.features(x)).view(-1), D(x))


# --- every key takes effect ---------------------------------------------------

# A non-default value for every ModelConfig key and the shape where it must show.
ALTERNATIVES = {
    "arch": ("mlp", DIGITS),
    "latent_dim": (3, DIGITS),
    "ngf": (16, DIGITS),
    "ndf": (16, DIGITS),
    "g_depth": (5, POINTS),
    "d_depth": (5, POINTS),
    "g_batchnorm": (False, DIGITS),
    "d_batchnorm": (True, (1, 16, 16)),  # 8x8 has one D block, which never has BN
    "leaky_slope": (0.1, DIGITS),
    "g_dropout": (0.3, DIGITS),
    "d_dropout": (0.3, DIGITS),
    "spectral_norm": (True, DIGITS),
    "output_activation": ("linear", DIGITS),
    "kernel_size": (6, DIGITS),
    "pack": (2, DIGITS),
    "minibatch_std": (4, DIGITS),
    "d_activation": ("maxout", DIGITS),
    "info_categorical": (10, DIGITS),
    "info_continuous": (2, DIGITS),
}


def test_every_key_has_an_alternative():
    keys = {f.name for f in dataclasses.fields(ModelConfig)}
    # latent_dist: test_latent_dist_*; categorical_head (mixed tables only): test_tables.py;
    # maxout_pieces (acts with maxout only): test_tricks.py
    assert keys - {"latent_dist", "categorical_head", "maxout_pieces"} == set(ALTERNATIVES)


def test_pack_stacks_images_along_channels():
    cfg = small(pack=3)
    _, D = build_models(cfg, (3, 8, 8))
    assert D.body[0].in_channels == 9
    x = torch.randn(6, 3, 8, 8)
    stacked = torch.cat([x[0:3].flatten(0, 1)[None], x[3:6].flatten(0, 1)[None]])  # (2, 9, 8, 8)
    torch.testing.assert_close(D.packed(x), stacked)
    assert D(x).shape == (2,)


@pytest.mark.parametrize("key", sorted(ALTERNATIVES))
def test_every_key_changes_the_models(key):
    value, shape = ALTERNATIVES[key]
    base = [repr(m) for m in build_models(small(), shape)]
    changed = [repr(m) for m in build_models(small(**{key: value}), shape)]
    assert base != changed


@pytest.mark.parametrize("shape", [POINTS, DIGITS])
def test_dropout_present_only_when_asked(shape):
    G, D = build_models(small(), shape)
    assert count(G, nn.Dropout) == count(D, nn.Dropout) == 0
    G, D = build_models(small(g_dropout=0.4, d_dropout=0.5), shape)
    assert count(G, nn.Dropout) >= 1 and count(D, nn.Dropout) >= 1
    assert {m.p for m in G.modules() if isinstance(m, nn.Dropout)} == {0.4}
    assert {m.p for m in D.modules() if isinstance(m, nn.Dropout)} == {0.5}


@pytest.mark.parametrize("shape", [POINTS, DIGITS])
def test_dropout_active_in_train_mode_only(shape):
    cfg = small(g_dropout=0.5, d_dropout=0.5)
    G, D = build_models(cfg, shape)
    z = sample_latent(16, cfg)
    x = torch.randn(16, *shape)
    assert not torch.equal(G(z), G(z))
    assert not torch.equal(D(x), D(x))
    G.eval()
    D.eval()
    assert torch.equal(G(z), G(z))
    assert torch.equal(D(x), D(x))


@pytest.mark.parametrize("shape", [POINTS, (1, 32, 32)])
def test_batchnorm_present_only_when_asked(shape):
    bn = (nn.BatchNorm1d, nn.BatchNorm2d)
    G, D = build_models(small(g_batchnorm=False, d_batchnorm=False), shape)
    assert count(G, bn) == count(D, bn) == 0
    G, D = build_models(small(g_batchnorm=True, d_batchnorm=True), shape)
    assert count(G, bn) >= 2 and count(D, bn) >= 2


def test_d_first_conv_block_has_no_batchnorm():
    _, D = build_models(small(d_batchnorm=True), (1, 32, 32))
    layers = list(D.body)
    assert isinstance(layers[0], nn.Conv2d) and isinstance(layers[1], nn.LeakyReLU)
    assert count(D, nn.BatchNorm2d) == 2


@pytest.mark.parametrize("shape", [POINTS, DIGITS, (3, 32, 32)])
def test_spectral_norm_bounds_every_layer_of_d(shape):
    torch.manual_seed(0)
    _, D = build_models(small(spectral_norm=True), shape)
    layers = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    x = torch.randn(8, *shape)
    for _ in range(20):  # one power iteration per forward pass in train mode
        D(x)
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.02)
    _, plain = build_models(small(spectral_norm=False), shape)
    assert not any(parametrize.is_parametrized(m) for m in plain.modules())


@pytest.mark.parametrize("shape", [POINTS, DIGITS])
def test_width_changes_parameter_counts(shape):
    G8, D8 = build_models(small(ngf=8, ndf=8), shape)
    G16, D16 = build_models(small(ngf=16, ndf=8), shape)
    assert n_params(G16) > n_params(G8) and n_params(D16) == n_params(D8)
    G16, D16 = build_models(small(ngf=8, ndf=16), shape)
    assert n_params(D16) > n_params(D8) and n_params(G16) == n_params(G8)


def test_mlp_depth_counts_hidden_layers():
    G, D = build_models(small(g_depth=2, d_depth=4), POINTS)
    assert count(G, nn.Linear) == 3 and count(D, nn.Linear) == 5


def test_latent_dim_is_g_input():
    for shape in (POINTS, DIGITS):
        cfg = small(latent_dim=5)
        G, _ = build_models(cfg, shape)
        assert G.latent_dim == 5
        assert G(torch.randn(3, 5)).shape[0] == 3
        with pytest.raises(RuntimeError):
            G(torch.randn(3, 6))


@pytest.mark.parametrize("shape", [POINTS, DIGITS])
def test_leaky_slope(shape):
    _, D = build_models(small(leaky_slope=0.05), shape)
    slopes = {m.negative_slope for m in D.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.05}


@pytest.mark.parametrize("shape", [POINTS, DIGITS])
def test_output_activation_bounds(shape):
    z = torch.randn(64, SMALL["latent_dim"])
    outputs = {}
    for activation in ("tanh", "linear"):
        torch.manual_seed(0)
        G, _ = build_models(small(output_activation=activation), shape)
        last_layer = [m for m in G.modules() if isinstance(m, (nn.Linear, nn.Conv2d))][-1]
        with torch.no_grad():
            last_layer.weight.mul_(100)  # push pre-activations far beyond +-1
        outputs[activation] = G(z).detach()
    assert outputs["tanh"].abs().max() <= 1.0
    assert outputs["linear"].abs().max() > 1.0


def test_dcgan_init():
    G, D = build_models(ModelConfig(d_batchnorm=True), (1, 64, 64))
    conv = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)][0]
    assert conv.weight.std().item() == pytest.approx(0.02, rel=0.05)
    bn = [m for m in D.modules() if isinstance(m, nn.BatchNorm2d)][0]
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.02)
    assert 0.005 < bn.weight.std().item() < 0.05


def test_kernel_size_reaches_every_strided_conv():
    G, D = build_models(small(kernel_size=5), (1, 32, 32))
    convs = [m for m in (*G.modules(), *D.modules()) if isinstance(m, nn.ConvTranspose2d)]
    convs += [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 6 and {c.kernel_size for c in convs} == {(5, 5)}


# --- latent noise -------------------------------------------------------------


def test_latent_dist_normal():
    z = sample_latent(20_000, small(latent_dim=4, latent_dist="normal"), "cpu")
    assert z.shape == (20_000, 4)
    assert z.mean().item() == pytest.approx(0.0, abs=0.03)
    assert z.std().item() == pytest.approx(1.0, abs=0.03)
    assert z.abs().max() > 2.5


def test_latent_dist_uniform():
    z = sample_latent(20_000, small(latent_dim=4, latent_dist="uniform"), "cpu")
    assert z.min() >= -1.0 and z.max() <= 1.0
    assert z.min() < -0.99 and z.max() > 0.99
    assert z.std().item() == pytest.approx(1 / math.sqrt(3), abs=0.02)


def test_latent_generator_reproduces():
    cfg = small()
    a = sample_latent(3, cfg, "cpu", torch.Generator().manual_seed(7))
    b = sample_latent(3, cfg, "cpu", torch.Generator().manual_seed(7))
    c = sample_latent(3, cfg, "cpu", torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)

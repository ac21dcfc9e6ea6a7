"""Batched MLP G and D equal the plain modules of gan_core/models member by member."""

import dataclasses

import pytest
import torch

from gan_core.config import GanConfig
from gan_core.models import build_models
from gan_core.population.models import build_batched_models, set_member_hparams, shape_config

SHAPE = (2,)
MEMBERS = [  # per-member model keys: dropout of G and D, leaky slope
    {"g_dropout": 0.0, "d_dropout": 0.3, "leaky_slope": 0.2},
    {"g_dropout": 0.2, "d_dropout": 0.0, "leaky_slope": 0.1},
    {"g_dropout": 0.5, "d_dropout": 0.5, "leaky_slope": 0.3},
]


def model_cfgs(**shape):
    base = GanConfig().model
    base = dataclasses.replace(base, latent_dim=8, ngf=32, ndf=32, g_depth=2, d_depth=2, **shape)
    return [dataclasses.replace(base, **m) for m in MEMBERS]


def build(cfgs, dtype):
    plains = []
    for k, cfg in enumerate(cfgs):
        torch.manual_seed(100 + k)
        plains.append(tuple(m.to(dtype) for m in build_models(cfg, SHAPE)))
    G, D = build_batched_models(shape_config(cfgs[0]), SHAPE, len(cfgs))
    G, D = G.to(dtype), D.to(dtype)
    set_member_hparams(G, D, cfgs)
    for k, (pg, pd) in enumerate(plains):
        G.load_member(k, pg.state_dict())
        D.load_member(k, pd.state_dict())
    return G, D, plains


def gens(seed):
    return [torch.Generator().manual_seed(seed + k) for k in range(len(MEMBERS))]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "shape",
    [
        {"g_batchnorm": True, "d_batchnorm": False, "spectral_norm": False},
        {"g_batchnorm": False, "d_batchnorm": True, "spectral_norm": True},
    ],
)
def test_batched_mlp_equals_the_plain_mlps_member_by_member(shape, dtype):
    cfgs = model_cfgs(**shape)
    G, D, plains = build(cfgs, dtype)
    z = torch.randn(len(cfgs), 64, 8, dtype=dtype)
    fake = G(z, gens(0))
    logits = D(fake, gens(10))
    (logits.square().sum() + D.features(fake, gens(20)).sum()).backward()
    for k, (pg, pd) in enumerate(plains):
        torch.manual_seed(k)
        ref_fake = pg(z[k])
        torch.manual_seed(10 + k)
        ref_logits = pd(ref_fake)
        torch.manual_seed(20 + k)
        (ref_logits.square().sum() + pd.features(ref_fake).sum()).backward()
        assert torch.equal(fake[k], ref_fake)
        assert torch.equal(logits[k], ref_logits)
        for plain_state, batched in ((pg, G), (pd, D)):
            state = batched.member_state_dict(k, like=plain_state.state_dict())
            for key, value in plain_state.state_dict().items():
                assert torch.equal(state[key], value), key
        grads = [p.grad[k] for p in G.parameters()]
        assert all(torch.equal(a, b.grad) for a, b in zip(grads, pg.parameters(), strict=True))
        for (name, a), b in zip(D.named_parameters(), pd.parameters(), strict=True):
            if shape["spectral_norm"]:
                # Two forwards through a spectrally normalised weight give it four gradient
                # terms, which autograd sums in graph order: the batched graph's order differs.
                # Rounding is relative to the terms, not to an element that they cancel to,
                # so the bound is on the tensor's scale: float32 here differs by <= 1e-7 of
                # the largest gradient (an element near 0 by up to 5e-5 of itself, depending
                # on the CPU's kernels).
                scale = float(b.grad.abs().max())
                torch.testing.assert_close(
                    a.grad[k], b.grad, rtol=1e-5, atol=1e-6 * scale, msg=name
                )
            else:
                assert torch.equal(a.grad[k], b.grad), name


def test_eval_mode_uses_each_members_running_stats_and_no_dropout():
    cfgs = model_cfgs(g_batchnorm=True)
    G, D, plains = build(cfgs, torch.float32)
    z = torch.randn(3, 64, 8)
    G(z, gens(0))
    for k, (pg, _) in enumerate(plains):
        torch.manual_seed(k)
        pg(z[k])
    G.eval()
    z = torch.randn(3, 50, 8)
    out = G(z)
    for k, (pg, _) in enumerate(plains):
        pg.eval()
        assert torch.equal(out[k], pg(z[k]))


def test_images_through_the_mlp_keep_their_shape():
    cfg = dataclasses.replace(GanConfig().model, arch="mlp", latent_dim=4, ngf=8, ndf=8)
    G, D = build_batched_models(cfg, (1, 4, 4), 2)
    fake = G(torch.randn(2, 5, 4))
    assert fake.shape == (2, 5, 1, 4, 4)
    assert D(fake).shape == (2, 5)

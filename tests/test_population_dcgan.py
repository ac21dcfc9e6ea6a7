"""The batched DCGAN equals K plain DCGANs member by member (gan_core/population/dcgan.py).

Every member is a plain model built under its own seed and loaded into its slot, with
its own leaky slope and dropout rates; forward, backward, batch-norm running stats,
spectral norm's power iteration and dropout masks (drawn from per-member generators)
are compared in float64, and in float32 to the tolerance measured for it.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from gan_core.config import ModelConfig
from gan_core.models.dcgan import DcganDiscriminator, DcganGenerator
from gan_core.population.dcgan import build_batched_dcgan

K, N, LATENT = 3, 6, 5
SLOPES, D_DROPOUT, G_DROPOUT = [0.1, 0.2, 0.3], [0.3, 0.1, 0.5], [0.2, 0.4, 0.05]

CASES = {
    "default": (ModelConfig(ngf=4, ndf=4, latent_dim=LATENT), (1, 8, 8)),
    "bn_sn_dropout": (
        ModelConfig(
            ngf=4,
            ndf=4,
            latent_dim=LATENT,
            d_batchnorm=True,
            spectral_norm=True,
            g_dropout=0.2,
            d_dropout=0.3,
        ),
        (1, 16, 16),
    ),
    "plain_linear_k5": (
        ModelConfig(
            ngf=4,
            ndf=4,
            latent_dim=LATENT,
            g_batchnorm=False,
            output_activation="linear",
            kernel_size=5,
        ),
        (3, 8, 8),
    ),
    "mnist_size": (ModelConfig(ngf=4, ndf=4, latent_dim=LATENT, d_batchnorm=True), (1, 28, 28)),
}


def members(cfg: ModelConfig, shape, dtype=torch.float64, k: int = K):
    """k plain (G, D) pairs under seeds 0..k-1 with their own slope and dropout rates,
    and the batched pair holding them."""
    plain = []
    for i in range(k):
        own = dataclasses.replace(cfg, leaky_slope=SLOPES[i % K])
        if cfg.d_dropout > 0:  # a member keeps the dropout layers the shape has (rate > 0)
            own = dataclasses.replace(own, d_dropout=D_DROPOUT[i % K])
        if cfg.g_dropout > 0:
            own = dataclasses.replace(own, g_dropout=G_DROPOUT[i % K])
        torch.manual_seed(i)
        g, d = DcganGenerator(own, shape).to(dtype), DcganDiscriminator(own, shape).to(dtype)
        plain.append((own, g, d))
    G, D = build_batched_dcgan(cfg, shape, k)
    G, D = G.to(dtype), D.to(dtype)
    for i, (_, g, d) in enumerate(plain):
        G.load_member(i, g.state_dict())
        D.load_member(i, d.state_dict())
    D.set_hparam("leaky_slope", [own.leaky_slope for own, _, _ in plain])
    D.set_hparam("dropout_p", [own.d_dropout for own, _, _ in plain])
    G.set_hparam("dropout_p", [own.g_dropout for own, _, _ in plain])
    return plain, G, D


def generators(seed: int, k: int = K) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed + i) for i in range(k)]


def grads_by_plain_key(module, i: int) -> dict[str, torch.Tensor]:
    """Member i's parameter gradients under the plain module's names."""
    names = module._plain_key_map()
    return {names[n]: p.grad[i] for n, p in module.named_parameters()}


def close(a: torch.Tensor, b: torch.Tensor, tol: float, what: str = "") -> None:
    """|a - b| <= tol, relative to b's largest magnitude where that exceeds 1."""
    scale = max(1.0, b.abs().max().item()) if b.numel() else 1.0
    diff = (a - b).abs().max().item() if b.numel() else 0.0
    assert a.shape == b.shape and diff <= tol * scale, f"{what}: {diff:.3g} > {tol:g} * {scale:.3g}"


def compare_member(batched, plain, i: int, tol: float) -> None:
    """Member i's state (params, BN stats, spectral u/v) and grads equal the plain module's."""
    state = batched.member_state_dict(i)
    for key, value in plain.state_dict().items():
        close(state[key], value, tol, key)
    grads = grads_by_plain_key(batched, i)
    for key, p in plain.named_parameters():
        close(grads[key], p.grad, tol, f"grad {key}")


def run_generator(plain, G, z, weights, seed: int):
    """Two training forwards (BN stats move twice) and a backward, plain and batched."""
    out = None
    for step in range(2):
        out = G(z, generators(seed + 10 * step))
    (out * weights).sum().backward()
    plain_out = []
    for i, (_, g, _) in enumerate(plain):
        for step in range(2):
            torch.manual_seed(seed + 10 * step + i)  # plain dropout draws from the global stream
            o = g(z[i])
        (o * weights[i]).sum().backward()
        plain_out.append(o)
    return out, plain_out


def run_discriminator(plain, D, x, seed: int):
    """Two training forwards of logits and one of features; backward into D and the input."""
    xb = x.clone().requires_grad_(True)
    logits = [D(xb, generators(seed + 10 * step)) for step in range(2)]
    feats = D.features(xb, generators(seed + 20))
    (logits[0].sum() + 2 * logits[1].sum() + feats.square().sum()).backward()
    plain_logits, plain_grads = [], []
    for i, (_, _, d) in enumerate(plain):
        xi = x[i].clone().requires_grad_(True)
        ls = []
        for step in range(2):
            torch.manual_seed(seed + 10 * step + i)
            ls.append(d(xi))
        torch.manual_seed(seed + 20 + i)
        f = d.features(xi)
        (ls[0].sum() + 2 * ls[1].sum() + f.square().sum()).backward()
        plain_logits.append(torch.stack(ls))
        plain_grads.append(xi.grad)
    return torch.stack(logits, 1), xb.grad, plain_logits, plain_grads


def check_members(case: str, dtype, tol: float) -> None:
    cfg, shape = CASES[case]
    plain, G, D = members(cfg, shape, dtype)
    torch.manual_seed(123)
    z = torch.randn(K, N, LATENT, dtype=dtype)
    weights = torch.randn(K, N, *shape, dtype=dtype)
    out, plain_out = run_generator(plain, G, z, weights, seed=1000)
    assert out.shape == (K, N, *shape)
    for i, (_, g, _) in enumerate(plain):
        close(out[i], plain_out[i], tol)
        compare_member(G, g, i, tol)

    x = torch.randn(K, N, *shape, dtype=dtype)
    logits, x_grad, plain_logits, plain_grads = run_discriminator(plain, D, x, seed=2000)
    assert logits.shape == (K, 2, N)
    for i, (_, _, d) in enumerate(plain):
        close(logits[i], plain_logits[i], tol)
        close(x_grad[i], plain_grads[i], tol)
        compare_member(D, d, i, tol)

    G.eval(), D.eval()
    for i, (_, g, d) in enumerate(plain):
        g.eval(), d.eval()
        close(G(z)[i], g(z[i]), tol)
        close(D(x)[i], d(x[i]), tol)


@pytest.mark.parametrize("case", sorted(CASES))
def test_members_equal_plain_dcgans_in_float64(case):
    check_members(case, torch.float64, tol=1e-12)


# float32: grouped channels-last convolutions sum in another order than K separate ones.
# Over the four CASES the largest difference measured was 2.9e-6 of the tensor's largest
# magnitude (G's output-conv bias gradient, mnist_size); 2e-5 leaves a 7x margin.
FLOAT32_TOL = 2e-5


@pytest.mark.parametrize("case", ["bn_sn_dropout", "mnist_size"])
def test_members_equal_plain_dcgans_in_float32_within_the_measured_tolerance(case):
    check_members(case, torch.float32, tol=FLOAT32_TOL)


def test_spectral_norm_iterates_in_training_forwards_only():
    cfg, shape = CASES["bn_sn_dropout"]
    _, D = build_batched_dcgan(cfg, shape, K)  # fresh: u, v not yet iterated
    vectors = [b for name, b in D.named_buffers() if name.endswith(("_u", "_v"))]
    x = torch.randn(K, N, *shape)
    D.eval()
    before = [b.clone() for b in vectors]
    D(x)
    assert all(torch.equal(b, old) for b, old in zip(vectors, before, strict=True))
    D.train()
    D(x)
    changed = [not torch.equal(b, old) for b, old in zip(vectors, before, strict=True)]
    assert sum(changed) >= len(vectors) - 1  # all but the head's u, a 1-vector that stays 1


def test_dropout_masks_follow_each_members_generator():
    cfg, shape = CASES["bn_sn_dropout"]
    _, G, D = members(cfg, shape)
    z = torch.randn(K, N, LATENT, dtype=torch.float64)
    a, b = G(z, generators(5)), G(z, [*generators(5)[:2], torch.Generator().manual_seed(99)])
    assert torch.equal(a[:2], b[:2])  # members 0 and 1 drew the same masks
    assert not torch.equal(a[2], b[2])  # member 2's generator changed, so did its mask


def test_keep_removes_members_without_changing_the_others():
    cfg, shape = CASES["bn_sn_dropout"]
    plain, G, D = members(cfg, shape, k=4)
    before_g, before_d = G.state_dict(), D.state_dict()
    kept = torch.tensor([3, 1])
    G.keep(kept)
    D.keep(kept)
    assert G.num_members == D.num_members == 2
    for key, value in G.state_dict().items():
        assert torch.equal(value, before_g[key][kept]), key
    for key, value in D.state_dict().items():
        assert torch.equal(value, before_d[key][kept]), key
    z = torch.randn(2, N, LATENT, dtype=torch.float64)
    x = torch.randn(2, N, *shape, dtype=torch.float64)
    G.eval(), D.eval()
    for slot, i in enumerate(kept.tolist()):
        _, g, d = plain[i]
        g.eval(), d.eval()
        torch.testing.assert_close(G(z)[slot], g(z[slot]), rtol=0, atol=1e-12)
        torch.testing.assert_close(D(x)[slot], d(x[slot]), rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_member_state_dict_loads_into_the_plain_module_and_back(case):
    cfg, shape = CASES[case]
    plain, G, D = members(cfg, shape)
    for i, (own, g, d) in enumerate(plain):
        for batched, original, cls in ((G, g, DcganGenerator), (D, d, DcganDiscriminator)):
            exported = cls(own, shape).double()
            exported.load_state_dict(batched.member_state_dict(i))  # strict: same keys
            for key, value in original.state_dict().items():
                assert torch.equal(exported.state_dict()[key], value), key


def test_append_members_adds_plain_models_that_run_as_they_would_alone():
    cfg, shape = CASES["bn_sn_dropout"]
    plain, G, D = members(cfg, shape)
    G.keep(torch.tensor([0]))
    D.keep(torch.tensor([0]))
    G.append_members([g.state_dict() for _, g, _ in plain[1:]])
    D.append_members([d.state_dict() for _, _, d in plain[1:]])
    G.set_hparam("dropout_p", [own.g_dropout for own, _, _ in plain])
    D.set_hparam("dropout_p", [own.d_dropout for own, _, _ in plain])
    D.set_hparam("leaky_slope", [own.leaky_slope for own, _, _ in plain])
    z = torch.randn(K, N, LATENT, dtype=torch.float64)
    out = G(z, generators(7))
    logits = D(out.detach(), generators(8))
    for i, (_, g, d) in enumerate(plain):
        torch.manual_seed(7 + i)
        o = g(z[i])
        torch.testing.assert_close(out[i], o, rtol=0, atol=1e-12)
        torch.manual_seed(8 + i)
        torch.testing.assert_close(logits[i], d(o), rtol=0, atol=1e-12)


def test_a_member_without_dropout_runs_and_exports_as_its_plain_model():
    cfg, shape = CASES["bn_sn_dropout"]
    own = dataclasses.replace(cfg, g_dropout=0.0, d_dropout=0.0)  # no Dropout layers at all
    torch.manual_seed(0)
    g, d = DcganGenerator(own, shape).double(), DcganDiscriminator(own, shape).double()
    G, D = (m.double() for m in build_batched_dcgan(cfg, shape, 2))
    G.load_member(1, g.state_dict())  # by tensor order: the Sequential indices differ
    D.load_member(1, d.state_dict())
    G.set_hparam("dropout_p", [0.2, 0.0])
    D.set_hparam("dropout_p", [0.3, 0.0])
    D.set_hparam("leaky_slope", [0.2, own.leaky_slope])  # as the population sets it
    z = torch.randn(2, N, LATENT, dtype=torch.float64)
    out = G(z, generators(0, 2))
    close(out[1], g(z[1]), 1e-12, "G")
    close(D(out.detach(), generators(1, 2))[1], d(out[1].detach()), 1e-12, "D")
    exported = DcganDiscriminator(own, shape).double()
    exported.load_state_dict(D.member_state_dict(1, like=d.state_dict()))  # strict keys
    for key, value in d.state_dict().items():  # both ran one forward: BN stats moved alike
        close(exported.state_dict()[key], value, 1e-12, key)

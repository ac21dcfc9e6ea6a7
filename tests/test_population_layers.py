"""Batched layers equal the plain layers member by member, and members can leave and join."""

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gan_core.augment import diffaugment
from gan_core.config import ConfigError
from gan_core.population.augment import batched_diffaugment
from gan_core.population.batched import (
    BatchedBatchNorm,
    BatchedDropout,
    BatchedLeakyReLU,
    BatchedLinear,
    BatchedSequential,
    BatchedSpectralNormLinear,
)

K = 5


def plain_linears(n, bias=True):
    torch.manual_seed(0)
    return [nn.Linear(3, 4, bias=bias).double() for _ in range(n)]


def batched_from(plains, bias=True):
    layer = BatchedLinear(len(plains), 3, 4, bias=bias, dtype=torch.float64)
    for k, p in enumerate(plains):
        layer.load_member(k, p.state_dict())
    return layer


@pytest.mark.parametrize("bias", [True, False])
def test_batched_linear_equals_plain_linears_member_by_member(bias):
    plains = plain_linears(K, bias)
    layer = batched_from(plains, bias)
    x = torch.randn(K, 7, 3, dtype=torch.float64)
    out = layer(x)
    assert out.shape == (K, 7, 4)
    for k, p in enumerate(plains):
        torch.testing.assert_close(out[k], p(x[k]), rtol=0, atol=1e-12)


def test_member_state_dict_round_trips_to_the_plain_module():
    plains = plain_linears(K)
    layer = batched_from(plains)
    for k, p in enumerate(plains):
        state = layer.member_state_dict(k)
        assert state.keys() == p.state_dict().keys()
        for key, value in p.state_dict().items():
            assert torch.equal(state[key], value)


def test_load_member_names_a_state_dict_that_does_not_fit():
    layer = BatchedLinear(2, 3, 4, bias=False)
    with pytest.raises(KeyError, match="2 tensors"):
        layer.load_member(0, nn.Linear(3, 4).state_dict())


def test_keep_slices_members_in_place_and_keeps_the_parameter_objects():
    plains = plain_linears(K)
    net = BatchedSequential(batched_from(plains), nn.ReLU())
    weight = net._modules["0"].weight
    net(torch.randn(K, 2, 3, dtype=torch.float64)).sum().backward()
    net.keep(torch.tensor([3, 1]))
    assert net.num_members == 2
    assert net._modules["0"].weight is weight  # an optimizer's reference stays valid
    assert weight.grad.shape == (2, 4, 3)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    out = net(x)
    for slot, k in enumerate([3, 1]):
        torch.testing.assert_close(out[slot], plains[k](x[slot]).relu(), rtol=0, atol=1e-12)


def test_append_members_grows_from_plain_state_dicts():
    plains = plain_linears(K)
    layer = batched_from(plains[:2])
    layer.append_members([p.state_dict() for p in plains[2:]])
    assert layer.num_members == K
    for k, p in enumerate(plains):
        assert torch.equal(layer.member_state_dict(k)["weight"], p.weight)


def seeded(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batch_norm_equals_plain_batch_norm_bit_for_bit_with_running_stats(dtype):
    # 16 channels: a multiple of the CPU's vector width, so every member's channels sit on
    # the same lanes as the plain layer's (6 channels differ in the last bits: next test).
    torch.manual_seed(1)
    plains = [nn.BatchNorm1d(16).to(dtype) for _ in range(3)]
    for p in plains:
        nn.init.normal_(p.weight, 1.0, 0.1)
    layer = BatchedBatchNorm(3, 16, dtype=dtype)
    for k, p in enumerate(plains):
        layer.load_member(k, p.state_dict())
    x = torch.randn(3, 10, 16, dtype=dtype, requires_grad=True)
    for _ in range(2):  # running stats move twice
        out = layer(x)
    out.square().sum().backward()
    for k, p in enumerate(plains):
        xk = x[k].detach().requires_grad_(True)
        for _ in range(2):
            ref = p(xk)
        ref.square().sum().backward()
        assert torch.equal(out[k], ref)
        assert torch.equal(x.grad[k], xk.grad)
        assert torch.equal(layer.weight.grad[k], p.weight.grad)
        for key, value in layer.member_state_dict(k).items():
            assert torch.equal(value, p.state_dict()[key]), key
    layer.eval()
    for p in plains:
        p.eval()
    assert torch.equal(layer(x)[2], plains[2](x[2]))


def test_batch_norm_of_odd_widths_is_equal_within_rounding():
    torch.manual_seed(1)
    plain = nn.BatchNorm1d(6).double()
    layer = BatchedBatchNorm(2, 6, dtype=torch.float64)
    layer.load_member(1, plain.state_dict())
    x = torch.randn(2, 10, 6, dtype=torch.float64, requires_grad=True)
    layer(x).square().sum().backward()
    xk = x[1].detach().requires_grad_(True)
    plain(xk).square().sum().backward()
    torch.testing.assert_close(x.grad[1], xk.grad, rtol=0, atol=1e-12)


def test_batch_norm_members_sitting_out_keep_their_running_stats():
    layer = BatchedBatchNorm(2, 4)
    layer(torch.randn(2, 8, 4), [seeded(0), None])
    assert not torch.equal(layer.running_mean[0], torch.zeros(4))
    assert torch.equal(layer.running_mean[1], torch.zeros(4))
    assert layer.num_batches_tracked.tolist() == [1, 0]


def test_batch_norm_2d_normalises_each_members_channels():
    torch.manual_seed(2)
    plain = nn.BatchNorm2d(3)
    layer = BatchedBatchNorm(2, 3)
    layer.load_member(1, plain.state_dict())
    x = torch.randn(2, 5, 3, 4, 4)
    assert torch.equal(layer(x)[1], plain(x[1]))


def test_dropout_draws_each_members_mask_as_plain_dropout_draws_from_the_global_stream():
    rates = [0.3, 0.0, 0.5]
    layer = BatchedDropout(3)
    layer.set_hparam("dropout_p", rates)
    x = torch.randn(3, 20, 8)
    out = layer(x, [seeded(10 + k) for k in range(3)])
    for k, p in enumerate(rates):
        torch.manual_seed(10 + k)
        expected = nn.Dropout(p)(x[k]) if p > 0 else x[k]
        assert torch.equal(out[k], expected)
    gens = [seeded(5), None, seeded(6)]
    layer(x, gens)
    assert torch.equal(gens[0].get_state(), _after_one_mask(5, x[0]))


def _after_one_mask(seed, x):
    g = seeded(seed)
    torch.empty_like(x).bernoulli_(0.7, generator=g)
    return g.get_state()


def test_dropout_fast_path_drops_at_each_members_rate():
    layer = BatchedDropout(2)
    layer.set_hparam("dropout_p", [0.0, 0.5])
    out = layer(torch.ones(2, 4000, 1))
    assert torch.equal(out[0], torch.ones(4000, 1))
    assert abs((out[1] == 0).float().mean().item() - 0.5) < 0.05


def test_leaky_relu_uses_each_members_slope_and_gradient():
    layer = BatchedLeakyReLU(2)
    layer.set_hparam("leaky_slope", [0.2, 0.05])
    x = torch.randn(2, 30, 3, requires_grad=True)
    layer(x).sum().backward()
    for k, slope in enumerate([0.2, 0.05]):
        xk = x[k].detach().requires_grad_(True)
        ref = nn.LeakyReLU(slope)(xk)
        ref.sum().backward()
        assert torch.equal(layer(x)[k], ref)
        assert torch.equal(x.grad[k], xk.grad)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_spectral_norm_linear_equals_torchs_parametrization_bit_for_bit(dtype):
    torch.manual_seed(3)
    # 16 x 20 x 24 >= 400 multiply-adds: bmm then runs the same BLAS kernel as F.linear
    # per member (below that size torch's CPU bmm uses its own loop, equal to ~1e-16).
    plains = [spectral_norm(nn.Linear(20, 24).to(dtype)) for _ in range(2)]
    layer = BatchedSpectralNormLinear(2, 20, 24, dtype=dtype)
    for k, p in enumerate(plains):
        assert list(layer.member_state_dict(k)) == list(p.state_dict())
        layer.load_member(k, p.state_dict())
    x = torch.randn(2, 16, 20, dtype=dtype)
    gens = [seeded(0), seeded(1)]
    for _ in range(3):  # three training forwards: three power iterations
        out = layer(x, gens)
    out.sum().backward()
    for k, p in enumerate(plains):
        for _ in range(3):
            ref = p(x[k])
        ref.sum().backward()
        assert torch.equal(out[k], ref)
        assert torch.equal(layer.weight.grad[k], p.parametrizations.weight.original.grad)
        for key, value in layer.member_state_dict(k).items():
            assert torch.equal(value, p.state_dict()[key]), key


def test_spectral_norm_fast_path_and_sitting_out():
    torch.manual_seed(4)
    plain = spectral_norm(nn.Linear(5, 7).double())
    layer = BatchedSpectralNormLinear(2, 5, 7, dtype=torch.float64)
    layer.load_member(0, plain.state_dict())
    layer.load_member(1, plain.state_dict())
    x = torch.randn(2, 9, 5, dtype=torch.float64)
    torch.testing.assert_close(layer(x)[0], plain(x[0]), rtol=0, atol=1e-12)  # fast path
    u1 = layer._u[1].clone()
    layer(x, [seeded(0), None])
    assert torch.equal(layer._u[1], u1)
    assert not torch.equal(layer._u[0], u1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "members, width, out",
    [(3, 20, 24), (16, 33, 1), (16, 201, 1), (16, 31, 5), (16, 30, 64)],
    ids=["small", "head-33", "head-201", "odd", "table"],  # heads: minibatch std's + 1
)
def test_batched_linear_gradients_equal_f_linears_bit_for_bit(dtype, members, width, out):
    torch.manual_seed(5)
    plains = [nn.Linear(width, out).to(dtype) for _ in range(members)]
    layer = BatchedLinear(members, width, out, dtype=dtype)
    for k, p in enumerate(plains):
        layer.load_member(k, p.state_dict())
    x = torch.randn(members, 64, width, dtype=dtype, requires_grad=True)
    layer(x).square().sum().backward()
    for k, p in enumerate(plains):
        xk = x[k].detach().requires_grad_(True)
        p(xk).square().sum().backward()
        assert torch.equal(layer.weight.grad[k], p.weight.grad)
        assert torch.equal(layer.bias.grad[k], p.bias.grad)
        assert torch.equal(x.grad[k], xk.grad)


def test_batched_linear_differentiates_twice_as_the_penalties_need():
    layer = BatchedLinear(2, 3, 4, dtype=torch.float64)
    x = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer.apply_weight, (x, layer.weight))
    assert torch.autograd.gradgradcheck(layer.apply_weight, (x, layer.weight))


# --- DiffAugment per member (gan_core/population/augment.py) ---------------------------
ALL_POLICIES = ["color", "translation", "cutout"]


def test_each_member_is_augmented_as_its_plain_draws_would_augment_it():
    x = torch.rand(3, 5, 1, 8, 8)
    gens = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
    out = batched_diffaugment(x, ALL_POLICIES, [gens[0], None, gens[2]])
    for k in (0, 2):
        alone = diffaugment(x[k], ALL_POLICIES, torch.Generator().manual_seed(k + 1))
        assert torch.equal(out[k], alone)
    assert torch.equal(out[1], x[1])  # sitting out: no draws, images unchanged
    assert gens[1].get_state().equal(torch.Generator().manual_seed(2).get_state())
    assert not torch.equal(out[0], x[0])


def test_one_shared_stream_augments_all_members_in_one_draw():
    x = torch.rand(4, 3, 3, 8, 8)
    one = torch.Generator().manual_seed(5)
    out = batched_diffaugment(x, ALL_POLICIES, [one] * 4)
    flat = diffaugment(x.reshape(12, 3, 8, 8), ALL_POLICIES, torch.Generator().manual_seed(5))
    assert torch.equal(out, flat.view(x.shape))


def test_diffaugment_on_points_names_the_key_in_a_population():
    with pytest.raises(ConfigError, match="tricks.diffaugment=color.*shape \\(2,\\)"):
        batched_diffaugment(torch.rand(2, 4, 2), ["color"], None)

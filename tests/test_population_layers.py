"""Batched layers equal the plain layers member by member, and members can leave and join."""

import pytest
import torch
from torch import nn

from gan_core.population.batched import BatchedLinear, BatchedSequential

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
    with pytest.raises(KeyError, match="unexpected \\['bias'\\]"):
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

"""Batched Conv2d and ConvTranspose2d: K members as one grouped convolution.

A member's channels are laid side by side along the channel axis, (N, K*C, H, W),
and one convolution with `groups=K` runs every member's filters on its own channels
only (batched.BatchedBatchNorm uses the same layout, so batch norm is per member for
free). docs/population.md ("Batched convolutions") measures this against
`torch.func.vmap` over `functional_call` and says why it was chosen.

The layers take and return (K, N, C, H, W) as every batched module does, but hand
back a *view* of the side-by-side result, so a chain of convolutions and batch norms
reshapes without copying: only the first layer of a chain copies its input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan_core.population.batched import (
    BatchedLeakyReLU,
    BatchedModule,
    Generators,
    power_iteration,
    sitting_out,
    spectrally_normalized,
)


def side_by_side(x: torch.Tensor) -> torch.Tensor:
    """(K, N, C, H, W) -> (N, K*C, H, W) channels-last: free when x is a view
    `members_first` returned. Channels-last because grouped convolutions on CPU (oneDNN)
    ran several times faster in it (docs/population.md, "Batched convolutions")."""
    k, n, c = x.shape[:3]
    y = x.transpose(0, 1).reshape(n, k * c, *x.shape[3:])
    return y.contiguous(memory_format=torch.channels_last)


def members_first(y: torch.Tensor, num_members: int) -> torch.Tensor:
    """(N, K*C, H, W) -> the (K, N, C, H, W) view of the same memory."""
    n, kc = y.shape[:2]
    return y.view(n, num_members, kc // num_members, *y.shape[2:]).transpose(0, 1)


def spectral_weight(
    weight: torch.Tensor, u: torch.Tensor, v: torch.Tensor, training: bool, generators: Generators
) -> torch.Tensor:
    """weight (K, out, ...) divided by each member's spectral norm, as torch's spectral_norm
    parametrization (dim=0) computes it on every access: one power iteration per training
    forward for every member taking part, none in eval; with generators the member-by-member
    path that is the plain layer's bit for bit (batched.BatchedSpectralNormLinear does the same)."""
    exact = generators is not None
    if training:
        idle = set(sitting_out(generators))
        members = [k for k in range(len(u)) if k not in idle] if exact else None
        power_iteration(weight.flatten(2), u, v, members)
    return spectrally_normalized(weight, u, v, exact)


class _BatchedConv(BatchedModule):
    """Both convolutions' state: weight (K, *the plain weight's shape), bias (K, out)."""

    def __init__(self, num_members, weight_shape, out_channels, bias, stride, padding, kw):
        super().__init__()
        self.stride, self.padding = stride, padding
        self.weight = nn.Parameter(torch.zeros(num_members, *weight_shape, **kw))
        bias_t = nn.Parameter(torch.zeros(num_members, out_channels, **kw)) if bias else None
        self.register_parameter("bias", bias_t)

    def member_weight(self, generators: Generators) -> torch.Tensor:
        return self.weight

    def _convolve(self, x: torch.Tensor, generators: Generators, conv, **options):
        k = self.weight.shape[0]
        weight = self.member_weight(generators).flatten(0, 1)  # (K * dim1, ...): groups=K
        bias = None if self.bias is None else self.bias.flatten()
        y = conv(side_by_side(x), weight, bias, self.stride, self.padding, groups=k, **options)
        return members_first(y, k)

    def extra_repr(self) -> str:
        return (
            f"members={self.weight.shape[0]}, weight={tuple(self.weight.shape[1:])}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}"
        )


class BatchedConv2d(_BatchedConv):
    """K independent nn.Conv2d (square kernel): weight (K, out, in, k, k), bias (K, out)."""

    def __init__(
        self,
        num_members: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        kw = {"device": device, "dtype": dtype}
        super().__init__(num_members, shape, out_channels, bias, stride, padding, kw)

    def forward(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        return self._convolve(x, generators, F.conv2d)


class BatchedSpectralNormConv2d(BatchedConv2d):
    """BatchedConv2d under torch's spectral_norm parametrization, member by member.

    Tensors in the plain parametrized Conv2d's state-dict order: bias, weight (the
    parametrization's `original`), u (K, out), v (K, in * k * k).
    """

    def __init__(self, num_members: int, in_channels: int, out_channels: int, *args, **kw):
        super().__init__(num_members, in_channels, out_channels, *args, **kw)
        weight = self._parameters.pop("weight")
        self.register_parameter("weight", weight)  # after bias, as in the plain state dict
        matrix = weight.detach().flatten(2)
        for name, size in (("_u", matrix.shape[1]), ("_v", matrix.shape[2])):
            vector = F.normalize(weight.new_empty(num_members, size).normal_(), dim=-1)
            self.register_buffer(name, vector)

    def plain_renames(self) -> dict[str, str]:
        return {
            "weight": "parametrizations.weight.original",
            "_u": "parametrizations.weight.0._u",
            "_v": "parametrizations.weight.0._v",
        }

    def member_weight(self, generators: Generators) -> torch.Tensor:
        return spectral_weight(self.weight, self._u, self._v, self.training, generators)


class BatchedConvTranspose2d(_BatchedConv):
    """K independent nn.ConvTranspose2d: weight (K, in, out, k, k), as torch stores it."""

    def __init__(
        self,
        num_members: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        output_padding: int = 0,
        bias: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        shape = (in_channels, out_channels, kernel_size, kernel_size)
        kw = {"device": device, "dtype": dtype}
        super().__init__(num_members, shape, out_channels, bias, stride, padding, kw)
        self.output_padding = output_padding

    def forward(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        return self._convolve(x, generators, F.conv_transpose2d, output_padding=self.output_padding)


class BatchedLeakyReLU2d(BatchedLeakyReLU):
    """BatchedLeakyReLU over (K, N, C, H, W) as one F.prelu on the side-by-side channels
    (member k's slope on its C channels): one fused kernel, about twice as fast here as
    the elementwise where() on the strided view, and the same arithmetic (x > 0 ? x : a*x)."""

    def forward(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        k, c = x.shape[0], x.shape[2]
        slopes = self.leaky_slope.to(x.dtype).repeat_interleave(c)
        return members_first(F.prelu(side_by_side(x), slopes), k)


class UnflattenSideBySide(nn.Module):
    """(K, N, C*H*W) -> (K, N, C, H, W) laid out as `members_first` leaves it, so the
    convolutions and batch norms after it never copy and their gradients come back in the
    layout of their saved inputs (a mismatch made elementwise backward ops ~10x slower)."""

    def __init__(self, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return members_first(side_by_side(x.unflatten(2, self.shape)), x.shape[0])


class _FlattenKeepingLayout(torch.autograd.Function):
    """x.flatten(2) whose gradient comes back in x's own strides (see UnflattenSideBySide)."""

    @staticmethod
    def forward(ctx, x):
        ctx.like = torch.empty_like(x)  # preserves x's strides; only its layout is used
        return x.flatten(2)

    @staticmethod
    def backward(ctx, grad):
        like = ctx.like
        return like.copy_(grad.view(like.shape))


class FlattenMembers(nn.Module):
    """(K, N, C, H, W) -> (K, N, C*H*W) in the plain Flatten's (C, H, W) order."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _FlattenKeepingLayout.apply(x)

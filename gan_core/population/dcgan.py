"""The DCGAN of gan_core/models/dcgan.py, batched over K members.

Layer for layer the plain generator and discriminator: same layers in the same
order under the same state-dict keys (batched.BatchedModule converts a member to
and from the plain module), the same init, and every member's own dropout rate
and leaky slope. Inputs and outputs are (K, N, ...); between the convolutions the
members' channels sit side by side (gan_core/population/conv.py).
"""

from __future__ import annotations

import torch
from torch import nn

from gan_core.config import ModelConfig
from gan_core.models.dcgan import OUTPUT_KERNEL, conv_plan, transposed_padding
from gan_core.models.layers import INIT_STD, latent_width, output_activation
from gan_core.population.batched import (
    BatchedBatchNorm,
    BatchedDiscriminator,
    BatchedDropout,
    BatchedLinear,
    BatchedModule,
    BatchedSequential,
    BatchedSpectralNormLinear,
    Generators,
    batched_d_activation,
)
from gan_core.population.conv import (
    BatchedConv2d,
    BatchedConvTranspose2d,
    BatchedLeakyReLU2d,
    BatchedSpectralNormConv2d,
    FlattenMembers,
    UnflattenSideBySide,
)


def _dropout(k: int, p: float) -> list[nn.Module]:
    """A batched dropout where the plain model has one (p > 0), as models.layers.dropout."""
    return [BatchedDropout(k, p)] if p > 0 else []


class BatchedDcganGenerator(BatchedModule):
    """z (K, N, latent) -> images (K, N, C, H, W); the plain DcganGenerator per member."""

    def __init__(self, cfg: ModelConfig, sample_shape: tuple[int, ...], k: int) -> None:
        super().__init__()
        blocks, base = conv_plan(sample_shape)
        width = cfg.ngf * 2**blocks
        self.latent_dim = cfg.latent_dim
        self.net = BatchedSequential(
            BatchedLinear(k, latent_width(cfg), width * base * base, bias=not cfg.g_batchnorm),
            UnflattenSideBySide((width, base, base)),  # plain: nn.Unflatten(1, ...)
            *([BatchedBatchNorm(k, width)] if cfg.g_batchnorm else []),
            nn.ReLU(),
            *_upsampling_blocks(cfg, k, width, blocks),
            BatchedConv2d(k, cfg.ngf, sample_shape[0], OUTPUT_KERNEL, padding=OUTPUT_KERNEL // 2),
            output_activation(cfg),
        )
        init_batched_dcgan(self)

    def forward(self, z: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        return self.net(z, generators)


def _upsampling_blocks(cfg: ModelConfig, k: int, width: int, blocks: int) -> list[nn.Module]:
    padding, output_padding = transposed_padding(cfg.kernel_size)
    layers: list[nn.Module] = []
    for _ in range(blocks):
        conv = BatchedConvTranspose2d(
            k,
            width,
            width // 2,
            cfg.kernel_size,
            stride=2,
            padding=padding,
            output_padding=output_padding,
            bias=not cfg.g_batchnorm,
        )
        width //= 2
        layers += [conv, *([BatchedBatchNorm(k, width)] if cfg.g_batchnorm else []), nn.ReLU()]
        layers += _dropout(k, cfg.g_dropout)
    return layers


class BatchedDcganDiscriminator(BatchedDiscriminator):
    """images (K, N, C, H, W) -> logits (K, N / pack); features -> (K, N / pack, F), as the
    plain D."""

    def __init__(self, cfg: ModelConfig, sample_shape: tuple[int, ...], k: int) -> None:
        super().__init__()
        blocks, base = conv_plan(sample_shape)
        in_channels = cfg.pack * sample_shape[0]  # a pack's images stacked along channels
        self.body = BatchedSequential(
            *_downsampling_blocks(cfg, k, in_channels, blocks),
            FlattenMembers(),  # plain: nn.Flatten() of (N, C, H, W)
        )
        head = BatchedSpectralNormLinear if cfg.spectral_norm else BatchedLinear
        self._make_heads(cfg, cfg.ndf * 2 ** (blocks - 1) * base * base, k, head)
        init_batched_dcgan(self)


def _downsampling_blocks(cfg: ModelConfig, k: int, in_channels: int, blocks: int):
    padding = (cfg.kernel_size - 1) // 2
    conv_cls = BatchedSpectralNormConv2d if cfg.spectral_norm else BatchedConv2d
    layers: list[nn.Module] = []
    width = cfg.ndf
    for block in range(blocks):
        pieces, activation = batched_d_activation(cfg, k, leaky=BatchedLeakyReLU2d)
        use_bn = cfg.d_batchnorm and block > 0  # as the plain D: no BN on raw pixels
        out = width * pieces
        conv = conv_cls(
            k, in_channels, out, cfg.kernel_size, stride=2, padding=padding, bias=not use_bn
        )
        layers += [conv, *([BatchedBatchNorm(k, out)] if use_bn else []), activation]
        layers += _dropout(k, cfg.d_dropout)
        in_channels, width = width, width * 2
    return layers


@torch.no_grad()
def init_batched_dcgan(model: nn.Module) -> None:
    """models.layers.init_dcgan for every member: weights N(0, 0.02), BN scale N(1, 0.02),
    biases 0. A population overwrites it member by member with the plain model built under
    the member's seed (load_member); this only keeps a fresh batched model sensible."""
    convs = (BatchedConv2d, BatchedConvTranspose2d, BatchedLinear)
    for m in model.modules():
        if isinstance(m, convs):
            m.weight.normal_(0.0, INIT_STD)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, BatchedBatchNorm):
            m.weight.normal_(1.0, INIT_STD)
            m.bias.zero_()


def build_batched_dcgan(
    cfg: ModelConfig, sample_shape: tuple[int, ...], k: int
) -> tuple[BatchedDcganGenerator, BatchedDcganDiscriminator]:
    """(G, D) for K members of the DCGAN `cfg` builds for `sample_shape` (C, H, W)."""
    sample_shape = tuple(int(s) for s in sample_shape)
    return BatchedDcganGenerator(cfg, sample_shape, k), BatchedDcganDiscriminator(
        cfg, sample_shape, k
    )

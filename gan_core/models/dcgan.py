"""DCGAN generator and discriminator for square images (Radford et al. 2015).

Strided convolutions only (no pooling), batch norm, ReLU in G and LeakyReLU in D,
tanh output. The number of stride-2 blocks follows the image size: it is halved
while it is even and above 4, so 28 -> 14 -> 7 gives 2 blocks and 64 -> 4 gives 4.
"""

from __future__ import annotations

import torch
from torch import nn

from gan_core.config import ConfigError, ModelConfig
from gan_core.models.layers import (
    Discriminator,
    add_spectral_norm,
    d_activation,
    dropout,
    init_dcgan,
    latent_width,
    output_activation,
)

MIN_SIZE = 8
OUTPUT_KERNEL = 3  # the stride-1 output conv needs an odd kernel to keep the size


def conv_plan(sample_shape: tuple[int, ...]) -> tuple[int, int]:
    """(number of stride-2 blocks, size of the smallest feature map) for a (C, H, W) shape."""
    if len(sample_shape) != 3:
        raise ConfigError(
            f"model.arch=dcgan needs images of shape (C, H, W), got sample shape "
            f"{tuple(sample_shape)}; use model.arch: mlp (or auto) for points and tables"
        )
    _, height, width = sample_shape
    if height != width:
        raise ConfigError(
            f"model.arch=dcgan needs square images, got {height}x{width}; "
            f"set data.image_size to resize them to a square"
        )
    if height < MIN_SIZE:
        raise ConfigError(
            f"model.arch=dcgan needs images of at least {MIN_SIZE}x{MIN_SIZE}, got "
            f"{height}x{width}; set data.image_size: {MIN_SIZE} or more, or use model.arch: mlp"
        )
    size, blocks = height, 0
    while size % 2 == 0 and size > 4:
        size //= 2
        blocks += 1
    if blocks == 0:
        raise ConfigError(
            f"model.arch=dcgan halves the image size with stride-2 convolutions, but "
            f"{height}x{width} is odd; set data.image_size to an even size (e.g. {height + 1})"
        )
    return blocks, size


def transposed_padding(kernel_size: int) -> tuple[int, int]:
    """(padding, output_padding) that make a stride-2 ConvTranspose2d exactly double the size.

    out = 2(s - 1) - 2p + k + op = 2s  <=>  op = 2 + 2p - k; p = (k - 1) // 2 keeps op in {0, 1}.
    """
    padding = (kernel_size - 1) // 2
    return padding, 2 + 2 * padding - kernel_size


class DcganGenerator(nn.Module):
    """z -> Linear -> (C0, b, b) -> n x [ConvT stride 2, BN, ReLU, Dropout] -> conv -> image."""

    def __init__(self, cfg: ModelConfig, sample_shape: tuple[int, ...]) -> None:
        super().__init__()
        channels = sample_shape[0]
        blocks, base = conv_plan(sample_shape)
        width = cfg.ngf * 2**blocks  # halves every block, ending at ngf
        self.latent_dim = cfg.latent_dim
        self.net = nn.Sequential(
            nn.Linear(latent_width(cfg), width * base * base, bias=not cfg.g_batchnorm),
            nn.Unflatten(1, (width, base, base)),
            *([nn.BatchNorm2d(width)] if cfg.g_batchnorm else []),
            nn.ReLU(),
            *_upsampling_blocks(cfg, width, blocks),
            nn.Conv2d(cfg.ngf, channels, OUTPUT_KERNEL, padding=OUTPUT_KERNEL // 2),
            output_activation(cfg),
        )
        init_dcgan(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def _upsampling_blocks(cfg: ModelConfig, width: int, blocks: int) -> list[nn.Module]:
    padding, output_padding = transposed_padding(cfg.kernel_size)
    layers: list[nn.Module] = []
    for _ in range(blocks):
        conv = nn.ConvTranspose2d(
            width,
            width // 2,
            cfg.kernel_size,
            stride=2,
            padding=padding,
            output_padding=output_padding,
            bias=not cfg.g_batchnorm,  # BN's shift makes a bias redundant
        )
        width //= 2
        layers += [conv, *([nn.BatchNorm2d(width)] if cfg.g_batchnorm else []), nn.ReLU()]
        layers += dropout(cfg.g_dropout)
    return layers


class DcganDiscriminator(Discriminator):
    """image -> n x [Conv stride 2, BN (not the first), LeakyReLU/maxout, Dropout] -> flatten
    -> logit."""

    def __init__(self, cfg: ModelConfig, sample_shape: tuple[int, ...]) -> None:
        super().__init__()
        blocks, base = conv_plan(sample_shape)
        in_channels = cfg.pack * sample_shape[0]  # a pack's images stacked along channels
        self.body = nn.Sequential(*_downsampling_blocks(cfg, in_channels, blocks), nn.Flatten())
        self._make_heads(cfg, cfg.ndf * 2 ** (blocks - 1) * base * base)
        init_dcgan(self)
        if cfg.spectral_norm:
            add_spectral_norm(self)


def _downsampling_blocks(cfg: ModelConfig, in_channels: int, blocks: int) -> list[nn.Module]:
    padding = (cfg.kernel_size - 1) // 2  # halves any even size for every kernel size
    layers: list[nn.Module] = []
    width = cfg.ndf
    for block in range(blocks):
        pieces, activation = d_activation(cfg)
        # DCGAN leaves D's first layer without BN: normalising raw pixels hurt stability there.
        use_bn = cfg.d_batchnorm and block > 0
        out = width * pieces
        conv = nn.Conv2d(
            in_channels, out, cfg.kernel_size, stride=2, padding=padding, bias=not use_bn
        )
        layers += [conv, *([nn.BatchNorm2d(out)] if use_bn else []), activation]
        layers += dropout(cfg.d_dropout)
        in_channels, width = width, width * 2
    return layers

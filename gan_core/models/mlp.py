"""MLP generator and discriminator for points and table rows (and, flattened, small images)."""

from __future__ import annotations

import math

import torch
from torch import nn

from gan_core.config import ModelConfig
from gan_core.models.layers import (
    Discriminator,
    add_spectral_norm,
    d_activation,
    dropout,
    init_batchnorm,
    latent_width,
    output_activation,
)


class MlpGenerator(nn.Module):
    """z -> g_depth x [Linear(ngf), BN, ReLU, Dropout] -> Linear -> tanh/identity -> sample_shape."""

    def __init__(
        self, cfg: ModelConfig, sample_shape: tuple[int, ...], head: nn.Module | None = None
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = latent_width(cfg)
        for _ in range(cfg.g_depth):
            layers += [nn.Linear(width, cfg.ngf, bias=not cfg.g_batchnorm)]
            layers += [nn.BatchNorm1d(cfg.ngf)] if cfg.g_batchnorm else []
            layers += [nn.ReLU(), *dropout(cfg.g_dropout)]
            width = cfg.ngf
        # a mixed table's head (models/table_head.py) replaces the one activation
        layers += [nn.Linear(width, math.prod(sample_shape)), head or output_activation(cfg)]
        if len(sample_shape) > 1:  # an MLP tried on images: give the rows their shape back
            layers.append(nn.Unflatten(1, tuple(sample_shape)))
        self.latent_dim = cfg.latent_dim
        self.net = nn.Sequential(*layers)
        # PyTorch's default (Kaiming-uniform) init for the linear layers: N(0, 0.02) shrinks
        # activations by ~0.02*sqrt(width) per layer and stalls deep MLPs without batch norm.
        init_batchnorm(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MlpDiscriminator(Discriminator):
    """x -> d_depth x [Linear(ndf), BN, LeakyReLU or maxout, Dropout] -> Linear -> logit."""

    def __init__(self, cfg: ModelConfig, sample_shape: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()] if len(sample_shape) > 1 else []
        width = cfg.pack * math.prod(sample_shape)  # a pack's samples side by side
        for _ in range(cfg.d_depth):
            pieces, activation = d_activation(cfg)
            out = cfg.ndf * pieces
            layers += [nn.Linear(width, out, bias=not cfg.d_batchnorm)]
            layers += [nn.BatchNorm1d(out)] if cfg.d_batchnorm else []
            layers += [activation, *dropout(cfg.d_dropout)]
            width = cfg.ndf
        self.body = nn.Sequential(*layers)
        self._make_heads(cfg, width)
        init_batchnorm(self)
        if cfg.spectral_norm:
            add_spectral_norm(self)

"""Pieces both architectures share: activations, dropout, weight init, spectral norm."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gan_core.config import ModelConfig

INIT_STD = 0.02  # DCGAN (Radford et al.): every weight N(0, 0.02), BN scale N(1, 0.02)


def output_activation(cfg: ModelConfig) -> nn.Module:
    """tanh for data scaled to [-1, 1]; identity for standardised or raw data."""
    return nn.Tanh() if cfg.output_activation == "tanh" else nn.Identity()


def dropout(p: float) -> list[nn.Module]:
    """A Dropout layer, or nothing at p = 0 (an identity layer would still cost a call)."""
    return [nn.Dropout(p)] if p > 0 else []


def init_batchnorm(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, INIT_STD)
            nn.init.zeros_(m.bias)


def init_dcgan(model: nn.Module) -> None:
    """The DCGAN init: conv, transposed conv and linear weights N(0, 0.02), biases 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, INIT_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    init_batchnorm(model)


def add_spectral_norm(model: nn.Module) -> None:
    """Wrap every conv and linear layer; call after init so the init is what gets normalised."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for layer in layers:
        spectral_norm(layer)


class Discriminator(nn.Module):
    """D = head(body(x)): `body` ends in flat features, `head` maps them to one logit.

    Both architectures share this split so feature matching reads the head's input.
    """

    body: nn.Module
    head: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).view(-1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The head's input: flattened last conv block (dcgan) or last hidden layer (mlp)."""
        return self.body(x)

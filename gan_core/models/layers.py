"""Pieces both architectures share: activations, dropout, weight init, spectral norm,
and D's batch tricks (packing, minibatch std) and InfoGAN's Q head."""

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


def latent_width(cfg: ModelConfig) -> int:
    """G's input: the noise z, then InfoGAN's one-hot categorical and continuous codes."""
    return cfg.latent_dim + cfg.info_categorical + cfg.info_continuous


class Maxout(nn.Module):
    """The max over `pieces` consecutive channels of dim `dim` (1; a population's layers pass
    2, the channels after the member axis): the layer before must emit width * pieces."""

    def __init__(self, pieces: int, dim: int = 1) -> None:
        super().__init__()
        self.pieces, self.dim = pieces, dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(self.dim, (-1, self.pieces)).amax(self.dim + 1)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


def d_activation(cfg: ModelConfig) -> tuple[int, nn.Module]:
    """(width multiplier of the layer before, activation) for D's hidden layers."""
    if cfg.d_activation == "maxout":  # model.d_activation: PacGAN's maxout D
        return cfg.maxout_pieces, Maxout(cfg.maxout_pieces)
    return 1, nn.LeakyReLU(cfg.leaky_slope)


class MinibatchStd(nn.Module):
    """ProGAN (Karras et al. 2018): append the std across groups of `group` inputs,
    averaged over features, as one more feature, so D can see a batch lacks variety.
    Inputs (n, F), or (K, n, F) for a population: each member's own groups."""

    def __init__(self, group: int) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *lead, n, _ = x.shape
        g = min(self.group, n)
        groups = x.reshape(*lead, g, n // g, -1)  # input i joins group i % (n // g), as ProGAN
        std = (groups.var(-3, unbiased=False) + 1e-8).sqrt().mean(-1)  # (..., n // g)
        return torch.cat([x, std.repeat(*([1] * len(lead)), g).view(*lead, n, 1)], dim=-1)

    def extra_repr(self) -> str:
        return f"group={self.group}"


class Discriminator(nn.Module):
    """D = head(body(pack(x))): `body` ends in flat features, `head` maps them to one logit.

    Both architectures share this split so feature matching reads the head's input,
    and InfoGAN's Q head (`q_head`) shares the body with D.
    """

    body: nn.Module
    head: nn.Module
    q_head: nn.Module | None  # set by _make_heads: a class default would shadow the module
    pack: int

    def _make_heads(self, cfg: ModelConfig, width: int) -> None:
        """The logit head and Q on `width` features (plus minibatch std's one, if on)."""
        if cfg.minibatch_std:  # model.minibatch_std: the batch's spread as a feature
            self.body.append(MinibatchStd(cfg.minibatch_std))
            width += 1
        self.pack = cfg.pack
        self.head = nn.Linear(width, 1)
        codes = cfg.info_categorical + cfg.info_continuous
        self.q_head = nn.Linear(width, codes) if codes else None

    def packed(self, x: torch.Tensor) -> torch.Tensor:
        # model.pack: m consecutive samples become one input, (N, C, ...) -> (N/m, m*C, ...)
        return x.reshape(x.shape[0] // self.pack, self.pack * x.shape[1], *x.shape[2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One logit per pack of model.pack samples (per sample when pack is 1)."""
        return self.head(self.features(x)).view(-1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The head's input: flattened last conv block (dcgan) or last hidden layer (mlp)."""
        return self.body(self.packed(x))

    def q(self, x: torch.Tensor) -> torch.Tensor:
        """InfoGAN's Q: logits of the categorical code, then means of the continuous codes."""
        return self.q_head(self.features(x))

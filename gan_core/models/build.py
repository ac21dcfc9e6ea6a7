"""Pick the architecture for a sample shape and build G and D; draw latent noise."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan_core.config import ConfigError, ModelConfig
from gan_core.models.dcgan import DcganDiscriminator, DcganGenerator
from gan_core.models.mlp import MlpDiscriminator, MlpGenerator

ARCHITECTURES = {
    "dcgan": (DcganGenerator, DcganDiscriminator),
    "mlp": (MlpGenerator, MlpDiscriminator),
}


def resolve_arch(cfg: ModelConfig, sample_shape: tuple[int, ...]) -> str:
    """The architecture `model.arch` means for this shape: auto -> dcgan for (C, H, W), else mlp."""
    if len(sample_shape) not in (1, 3) or min(sample_shape, default=0) < 1:
        raise ConfigError(
            f"the models take samples of shape (D,) (points, table rows) or (C, H, W) (images), "
            f"got {tuple(sample_shape)}; check data.source"
        )
    if cfg.arch == "auto":
        return "dcgan" if len(sample_shape) == 3 else "mlp"
    if cfg.arch not in ARCHITECTURES:
        raise ConfigError(f"model.arch={cfg.arch!r} is not one of {['auto', *ARCHITECTURES]}")
    return cfg.arch


def build_models(
    cfg: ModelConfig, sample_shape: tuple[int, ...], head: nn.Module | None = None
) -> tuple[nn.Module, nn.Module]:
    """(G, D): G(z) -> samples of `sample_shape`, D(x) -> logits (N,), D.features(x) -> (N, F).

    `head` replaces G's output activation (the mlp only: a mixed table's TableHead)."""
    sample_shape = tuple(int(s) for s in sample_shape)
    arch = resolve_arch(cfg, sample_shape)
    generator_cls, discriminator_cls = ARCHITECTURES[arch]
    if head is not None and arch != "mlp":
        raise ConfigError(f"a table with categorical columns needs model.arch: mlp, not {arch}")
    G = (
        generator_cls(cfg, sample_shape, head)
        if head is not None
        else generator_cls(cfg, sample_shape)
    )
    return G, discriminator_cls(cfg, sample_shape)


def sample_latent(
    n: int,
    cfg: ModelConfig,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(n, latent_width) G input: noise standard normal or uniform in [-1, 1] per
    `model.latent_dist`, then InfoGAN's codes (one-hot categorical, uniform continuous)."""
    shape = (n, cfg.latent_dim)
    if cfg.latent_dist == "normal":
        z = torch.randn(shape, device=device, generator=generator)
    elif cfg.latent_dist == "uniform":
        z = torch.rand(shape, device=device, generator=generator).mul_(2).sub_(1)
    else:
        raise ConfigError(
            f"model.latent_dist={cfg.latent_dist!r} is not one of ['normal', 'uniform']"
        )
    if not (cfg.info_categorical or cfg.info_continuous):
        return z
    parts = [z]
    if cfg.info_categorical:
        category = torch.randint(cfg.info_categorical, (n,), device=device, generator=generator)
        parts.append(F.one_hot(category, cfg.info_categorical).to(z.dtype))
    continuous = torch.rand(n, cfg.info_continuous, device=device, generator=generator)
    parts.append(continuous.mul_(2).sub_(1))
    return torch.cat(parts, dim=1)


def info_codes(z: torch.Tensor, cfg: ModelConfig) -> tuple[torch.Tensor | None, torch.Tensor]:
    """(category index or None, continuous codes) that `sample_latent` put at the end of z."""
    k, codes = cfg.info_categorical, z[..., cfg.latent_dim :]  # (N, ...) or (K, N, ...)
    return (codes[..., :k].argmax(-1) if k else None), codes[..., k:]

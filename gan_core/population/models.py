"""Batched G and D: the MLP here, layer for layer as gan_core/models/mlp.py; the DCGAN from
gan_core/population/dcgan.py.

The batched layout has a dropout layer wherever the plain model can have one
(`shape_config`; a member at rate 0 passes through it and draws nothing, as its plain
model has no such layer); the population sets each member's rates and slope
(`set_member_hparams`).
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from gan_core.config import ConfigError, ModelConfig
from gan_core.models import resolve_arch
from gan_core.models.layers import latent_width, output_activation
from gan_core.models.table_head import TableHead, gumbel_noise
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
    draw_per_member,
)
from gan_core.population.dcgan import build_batched_dcgan


def build_batched_models(
    model_cfg: ModelConfig,
    sample_shape: tuple[int, ...],
    num_members: int,
    head: TableHead | None = None,
) -> tuple[BatchedModule, BatchedModule]:
    """(G, D) for K members: G(z (K, N, latent), generators) -> (K, N, *sample_shape),
    D(x, generators) -> logits (K, N), D.features(x, generators) -> (K, N, F). `head`: a
    mixed table's TableHead, as models.build_models takes it (the mlp only)."""
    sample_shape = tuple(int(s) for s in sample_shape)
    if resolve_arch(model_cfg, sample_shape) == "dcgan":
        if head is not None:
            raise ConfigError("a table with categorical columns needs model.arch: mlp, not dcgan")
        return build_batched_dcgan(model_cfg, sample_shape, num_members)
    return (
        BatchedMlpGenerator(model_cfg, sample_shape, num_members, head),
        BatchedMlpDiscriminator(model_cfg, sample_shape, num_members),
    )


LAYOUT_DROPOUT = 0.5  # any rate > 0: the layout gets its dropout layers, members set theirs


def shape_config(model_cfg: ModelConfig) -> ModelConfig:
    """The model config a population's layout is built from: the members' shared shape,
    with a dropout layer wherever the plain model can have one, whatever the members'
    rates (a layer whose members are all at rate 0 returns its input: no cost, no draw),
    so a member of any rate can join later."""
    return dataclasses.replace(model_cfg, g_dropout=LAYOUT_DROPOUT, d_dropout=LAYOUT_DROPOUT)


def set_member_hparams(G: BatchedModule, D: BatchedModule, model_cfgs: list[ModelConfig]) -> None:
    """Each member's dropout rates and leaky slope into the layers' (K,) buffers."""
    G.set_hparam("dropout_p", [c.g_dropout for c in model_cfgs])
    D.set_hparam("dropout_p", [c.d_dropout for c in model_cfgs])
    D.set_hparam("leaky_slope", [c.leaky_slope for c in model_cfgs])


def _dropout(k: int, p: float) -> list[nn.Module]:
    return [BatchedDropout(k, p)] if p > 0 else []


class BatchedMlpGenerator(BatchedSequential):
    """MlpGenerator for K members (its Sequential `net` flattened to this module's children)."""

    def __init__(
        self, cfg: ModelConfig, sample_shape: tuple[int, ...], k: int, head: TableHead | None
    ) -> None:
        layers: list[nn.Module] = []
        width = latent_width(cfg)  # z, then InfoGAN's codes
        for _ in range(cfg.g_depth):
            layers += [BatchedLinear(k, width, cfg.ngf, bias=not cfg.g_batchnorm)]
            layers += [BatchedBatchNorm(k, cfg.ngf)] if cfg.g_batchnorm else []
            layers += [nn.ReLU(), *_dropout(k, cfg.g_dropout)]
            width = cfg.ngf
        layers += [BatchedLinear(k, width, math.prod(sample_shape))]
        # a mixed table's head (models/table_head.py) replaces the one activation, as plain
        layers += [BatchedTableHead(head) if head is not None else output_activation(cfg)]
        if len(sample_shape) > 1:
            layers.append(nn.Unflatten(2, tuple(sample_shape)))
        super().__init__(*layers)
        self.latent_dim = cfg.latent_dim


class BatchedMlpDiscriminator(BatchedDiscriminator):
    """MlpDiscriminator for K members: body (hidden layers) then head (one logit per pack)."""

    def __init__(self, cfg: ModelConfig, sample_shape: tuple[int, ...], k: int) -> None:
        super().__init__()
        linear = BatchedSpectralNormLinear if cfg.spectral_norm else BatchedLinear
        layers: list[nn.Module] = [nn.Flatten(2)] if len(sample_shape) > 1 else []
        width = cfg.pack * math.prod(sample_shape)  # a pack's samples side by side
        for _ in range(cfg.d_depth):
            pieces, activation = batched_d_activation(cfg, k)
            out = cfg.ndf * pieces
            layers += [linear(k, width, out, bias=not cfg.d_batchnorm)]
            layers += [BatchedBatchNorm(k, out)] if cfg.d_batchnorm else []
            layers += [activation, *_dropout(k, cfg.d_dropout)]
            width = cfg.ndf
        self.body = BatchedSequential(*layers)
        self._make_heads(cfg, width, k, linear)


class BatchedTableHead(BatchedModule):
    """TableHead for K members: the plain head on (K, N, width) (it slices and softmaxes the
    last axis), each member's Gumbel noise drawn from its own stream as the plain draws it."""

    def __init__(self, head: TableHead) -> None:
        super().__init__()
        self.head = head  # no tensors: the layout's state dict is the plain G's

    def forward(self, h: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        def noise(logits: torch.Tensor) -> torch.Tensor:
            return draw_per_member(
                logits, generators, lambda shape, g: gumbel_noise(logits.new_empty(shape), g)
            )

        return self.head(h, noise)

"""One training step as plain functions of (models, optimizers, batch, config).

No hidden state: everything a step touches comes in as an argument, so the
same code can later be vectorised over a population of trials (torch.func).
Each trick of the field notes is applied on one line here, named by its key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from gan_core import losses
from gan_core.augment import diffaugment
from gan_core.config import GanConfig
from gan_core.models import info_codes, sample_latent


@dataclass
class GanModules:
    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    ema: nn.Module | None  # torch.optim.swa_utils.AveragedModel of G, or None


@dataclass
class StepOutput:
    d_loss: torch.Tensor
    g_loss: torch.Tensor
    real_logits: torch.Tensor
    fake_logits: torch.Tensor


def instance_noise_std(cfg: GanConfig, step: int) -> float:
    """tricks.instance_noise, decayed linearly to 0 over tricks.instance_noise_anneal steps."""
    std, anneal = cfg.tricks.instance_noise, cfg.tricks.instance_noise_anneal
    if anneal <= 0:
        return std
    return std * max(0.0, 1.0 - step / anneal)


def _noisy(x: torch.Tensor, std: float) -> torch.Tensor:
    return x + std * torch.randn_like(x) if std > 0 else x  # tricks.instance_noise


def _d_targets(cfg: GanConfig, n: int, device, generator: torch.Generator | None = None) -> tuple:
    """D's targets for real and fake; a population passes each member's own generator."""
    real_t = 1.0 - cfg.tricks.label_smoothing  # tricks.label_smoothing (one-sided: fakes stay 0)
    if cfg.tricks.label_flip <= 0:
        return real_t, 0.0
    flip = torch.rand(n, device=device, generator=generator) < cfg.tricks.label_flip  # label_flip
    real = torch.where(flip, 0.0, real_t)
    fake = torch.where(flip, real_t, 0.0)
    return real, fake


def _d_logits(D: nn.Module, real, fake, separate: bool):
    """D's logits for real and fake: one per sample, or one per pack with model.pack."""
    if separate:  # tricks.separate_batches: BN statistics of one kind at a time
        return D(real), D(fake)
    return D(torch.cat([real, fake])).chunk(2)  # equal halves: packs never mix the two


def _info_term(m: GanModules, fake: torch.Tensor, z: torch.Tensor, cfg: GanConfig):
    """InfoGAN's lambda * (-MI lower bound) of the codes in z, read back from fake by Q."""
    return cfg.loss.info_weight * losses.info_loss(m.D.q(fake), *info_codes(z, cfg.model))


def d_update(m: GanModules, real: torch.Tensor, z: torch.Tensor, cfg: GanConfig, noise: float):
    """One D update on a real batch and fakes of z; returns (loss, real_logits, fake_logits)."""
    with torch.no_grad():
        fake = m.G(z)
    policies = cfg.tricks.diffaugment
    real, fake = diffaugment(real, policies), diffaugment(fake, policies)  # tricks.diffaugment
    real_logits, fake_logits = _d_logits(
        m.D, _noisy(real, noise), _noisy(fake, noise), cfg.tricks.separate_batches
    )
    real_t, fake_t = _d_targets(cfg, len(real_logits), real.device)
    loss = losses.d_loss(cfg.loss.type, real_logits, fake_logits, real_t, fake_t)
    if cfg.loss.type == "wgan_gp":
        loss = loss + cfg.loss.gp_weight * losses.gradient_penalty(m.D, real, fake)
    if cfg.loss.r1_weight > 0:
        loss = loss + cfg.loss.r1_weight * losses.r1_penalty(m.D, real)
    if cfg.loss.r2_weight > 0:  # loss.r2_weight: R2, the same zero-centred penalty at fakes
        loss = loss + cfg.loss.r2_weight * losses.r1_penalty(m.D, fake)
    if m.D.q_head is not None:  # model.info_*: Q (on D's body) learns to read the codes
        loss = loss + _info_term(m, fake, z, cfg)
    m.opt_d.zero_grad(set_to_none=True)
    loss.backward()
    m.opt_d.step()
    return loss, real_logits, fake_logits


def g_update(m: GanModules, real: torch.Tensor, z: torch.Tensor, cfg: GanConfig, noise: float):
    # D's weights get no gradient from G's loss: it saves D's weight-gradient
    # compute, and leaves D's .grad holding its own last update for grad_norm/d.
    m.D.requires_grad_(False)
    fake = m.G(z)
    policies = cfg.tricks.diffaugment
    seen = diffaugment(fake, policies)  # tricks.diffaugment: G's gradient flows through it
    real_logits = (
        m.D(_noisy(diffaugment(real, policies), noise)) if cfg.loss.type == "rpgan" else None
    )
    loss = losses.g_loss(cfg.loss.type, m.D(_noisy(seen, noise)), real_logits)
    if m.D.q_head is not None:  # model.info_*: G makes its codes readable from its samples
        loss = loss + _info_term(m, fake, z, cfg)
    if cfg.loss.feature_matching > 0:
        loss = loss + cfg.loss.feature_matching * losses.feature_matching(m.D, real, fake)
    m.opt_g.zero_grad(set_to_none=True)
    loss.backward()
    m.D.requires_grad_(True)
    m.opt_g.step()
    if m.ema is not None:  # tricks.ema_decay
        m.ema.update_parameters(m.G)
    return loss


def train_step(
    m: GanModules,
    next_batch: Callable[[], torch.Tensor],
    cfg: GanConfig,
    step: int,
) -> StepOutput:
    """optim.d_steps_per_g D updates, then optim.g_steps_per_d G updates."""
    noise = instance_noise_std(cfg, step)
    n, device = cfg.optim.batch_size, next(m.G.parameters()).device
    for _ in range(cfg.optim.d_steps_per_g):
        real = next_batch()
        z = sample_latent(n, cfg.model, device)
        d_loss, real_logits, fake_logits = d_update(m, real, z, cfg, noise)
    for _ in range(cfg.optim.g_steps_per_d):
        if cfg.tricks.fresh_noise_g:  # fresh z for G (docs/field-notes.md#note-004)
            z = sample_latent(n, cfg.model, device)
        g_loss = g_update(m, real, z, cfg, noise)
    return StepOutput(d_loss, g_loss, real_logits, fake_logits)


def grad_norm(module: nn.Module) -> torch.Tensor:
    """L2 norm of the module's current gradients (a device tensor: no host sync)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads)

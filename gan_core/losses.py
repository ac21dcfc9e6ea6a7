"""GAN losses on raw logits, and the gradient penalties.

Every function is pure: the trainer applies label smoothing and flipping by the
targets it passes, and the penalty weights by multiplying the result. Means run over
the last (sample) axis, so the same formulas give one loss per member for a
population's (K, N) logits (gan_core/population/step.py).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_core.config import ConfigError

Target = Tensor | float
LOSS_TYPES = ("bce", "lsgan", "hinge", "wgan_gp", "rpgan")


def _bce(logits: Tensor, target: Target) -> Tensor:
    # BCE(l, t) = t*softplus(-l) + (1-t)*softplus(l) = softplus(l) - t*l: one formula that
    # takes float and tensor targets alike (binary_cross_entropy_with_logits wants a tensor).
    return (F.softplus(logits) - target * logits).mean(-1)


def d_loss(
    loss_type: str,
    real_logits: Tensor,
    fake_logits: Tensor,
    real_target: Target,
    fake_target: Target,
) -> Tensor:
    """D's loss. Targets (floats or per-sample tensors) are used by bce and lsgan only."""
    if loss_type == "bce":
        return _bce(real_logits, real_target) + _bce(fake_logits, fake_target)
    if loss_type == "lsgan":
        return 0.5 * (
            (real_logits - real_target).square().mean(-1)
            + (fake_logits - fake_target).square().mean(-1)
        )
    if loss_type == "hinge":
        return F.relu(1 - real_logits).mean(-1) + F.relu(1 + fake_logits).mean(-1)
    if loss_type == "wgan_gp":
        return fake_logits.mean(-1) - real_logits.mean(-1)
    if loss_type == "rpgan":  # RpGAN (Huang et al. 2024): each real judged against its paired fake
        return F.softplus(fake_logits - real_logits).mean(-1)
    raise ConfigError(f"loss.type={loss_type!r} is not one of {list(LOSS_TYPES)}")


def g_loss(loss_type: str, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """G's loss; bce is the non-saturating form -log D(G(z)) (Goodfellow et al. 2014).

    rpgan alone needs `real_logits`: G raises each fake above its paired real.
    """
    if loss_type == "bce":
        return F.softplus(-fake_logits).mean(-1)
    if loss_type == "lsgan":
        return 0.5 * (fake_logits - 1).square().mean(-1)
    if loss_type in ("hinge", "wgan_gp"):
        return -fake_logits.mean(-1)
    if loss_type == "rpgan":
        return F.softplus(real_logits - fake_logits).mean(-1)
    raise ConfigError(f"loss.type={loss_type!r} is not one of {list(LOSS_TYPES)}")


def _input_gradient(D: Callable[[Tensor], Tensor], x: Tensor, lead: int = 1) -> Tensor:
    """dD/dx per sample, flattened to (N, F) ((K, N, F) with lead=2: a population's
    samples), kept in the graph so a penalty on it trains D."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return grad.flatten(lead)


def gradient_penalty(
    D: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    alpha: Tensor | None = None,
    lead: int = 1,
) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): mean (||grad D||_2 - 1)^2 at random interpolates.

    `alpha` (one per sample, drawn here when not given) places each interpolate.
    """
    if alpha is None:
        alpha_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
        alpha = torch.rand(alpha_shape, device=real.device, dtype=real.dtype)
    interpolates = torch.lerp(real.detach(), fake.detach(), alpha)
    grad = _input_gradient(D, interpolates, lead)
    # The epsilon keeps the norm's own gradient finite where D is flat (grad = 0).
    norm = (grad.square().sum(-1) + 1e-12).sqrt()
    return (norm - 1).square().mean(-1)


def r1_penalty(D: Callable[[Tensor], Tensor], x: Tensor, lead: int = 1) -> Tensor:
    """R1 (Mescheder et al. 2018): 0.5 * mean ||grad D(x)||^2 at real data; the same at
    fakes is R2 (R3GAN pairs them). The caller weights it."""
    return 0.5 * _input_gradient(D, x, lead).square().sum(-1).mean(-1)


def info_loss(q_out: Tensor, category: Tensor | None, continuous: Tensor) -> Tensor:
    """InfoGAN (Chen et al. 2016): minus the mutual-information lower bound, up to H(c).

    Cross-entropy of Q's categorical logits against the drawn category, plus the Gaussian
    (unit-variance) negative log-likelihood of the continuous codes: -E log Q(c|x) + const.
    Reduces over the last axes, so a population's (K, N, codes) gives one value per member.
    """
    k = q_out.shape[-1] - continuous.shape[-1]
    loss = 0.5 * (q_out[..., k:] - continuous).square().sum(-1).mean(-1)
    if category is not None:  # F.cross_entropy's value, written to reduce per member
        picked = q_out[..., :k].log_softmax(-1).gather(-1, category.unsqueeze(-1))
        loss = loss - picked.squeeze(-1).mean(-1)
    return loss


def feature_matching(D: torch.nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """||mean f(real) - mean f(fake)||^2 on D's penultimate features (Salimans et al. 2016).

    Real features are detached: this term trains G only.
    """
    with torch.no_grad():  # no graph through D for the real half: nothing trains on it
        real_mean = D.features(real).mean(-2)
    return (real_mean - D.features(fake).mean(-2)).square().sum(-1)

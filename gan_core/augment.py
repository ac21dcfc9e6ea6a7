"""DiffAugment (Zhao et al. 2020): random, differentiable augmentations of D's inputs.

The same policies are applied to real and fake images, every time D sees them (its
update and G's), so D cannot memorise the few real images and G's gradient flows
back through the augmentation. The three policies follow the paper's code: colour
(brightness, saturation, contrast), translation by up to 1/8 of the side with
zero padding, and cutout of a square half the side. Each draw is per sample,
from torch's global stream (the trainer's own, so runs stay reproducible).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gan_core.config import DIFFAUGMENT_POLICIES, ConfigError

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def _per_sample(x: Tensor) -> Tensor:
    """A uniform [0, 1) draw per sample, shaped to broadcast over (C, H, W)."""
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)


def color(x: Tensor) -> Tensor:
    x = x + (_per_sample(x) - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_per_sample(x) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_per_sample(x) + 0.5) + mean  # contrast


def _grid(n: int, h: int, w: int, device) -> tuple[Tensor, Tensor, Tensor]:
    return torch.meshgrid(
        torch.arange(n, device=device),
        torch.arange(h, device=device),
        torch.arange(w, device=device),
        indexing="ij",
    )


def translation(x: Tensor) -> Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    b, gy, gx = _grid(n, h, w, x.device)
    gy = (gy + dy + 1).clamp(0, h + 1)  # +1: index into the zero-padded image
    gx = (gx + dx + 1).clamp(0, w + 1)
    padded = torch.nn.functional.pad(x, [1, 1, 1, 1])
    return padded.permute(0, 2, 3, 1)[b, gy, gx].permute(0, 3, 1, 2)


def cutout(x: Tensor) -> Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    b, gy, gx = _grid(n, ch, cw, x.device)
    gy = (gy + oy - ch // 2).clamp(0, h - 1)
    gx = (gx + ox - cw // 2).clamp(0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    mask[b, gy, gx] = 0
    return x * mask.unsqueeze(1)


POLICIES = {"color": color, "translation": translation, "cutout": cutout}


def diffaugment(x: Tensor, policies: list[str]) -> Tensor:
    """x with each policy applied in the paper's order (color, translation, cutout)."""
    if not policies:
        return x
    if x.dim() != 4:
        raise ConfigError(
            f"tricks.diffaugment={','.join(policies)} augments images (N, C, H, W), but the "
            f"data's samples have shape {tuple(x.shape[1:])}; set tricks.diffaugment: [] "
            "for points and tables"
        )
    for name in DIFFAUGMENT_POLICIES:
        if name in policies:
            x = POLICIES[name](x)
    return x

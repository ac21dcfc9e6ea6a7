"""DiffAugment (Zhao et al. 2020): random, differentiable augmentations of D's inputs.

The same policies are applied to real and fake images, every time D sees them (its
update and G's), so D cannot memorise the few real images and G's gradient flows
back through the augmentation. The three policies follow the paper's code: colour
(brightness, saturation, contrast), translation by up to 1/8 of the side with
zero padding, and cutout of a square half the side.

Each policy is a draw (per sample, from a generator: None is torch's global stream,
the plain trainer's own) and an apply on (N, C, H, W). A population draws each member's
samples from the member's own generator, in the plain order, and applies every policy
once to all members' images side by side (gan_core/population/step.py), so a member is
augmented exactly as its plain run is.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from gan_core.config import DIFFAUGMENT_POLICIES, ConfigError

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5

Draws = tuple[Tensor, ...]


def _uniform(n: int, like: Tensor, generator) -> Tensor:
    """A uniform [0, 1) draw per sample, shaped to broadcast over (C, H, W)."""
    return torch.rand(n, 1, 1, 1, dtype=like.dtype, device=like.device, generator=generator)


def draw_color(n: int, like: Tensor, generator=None) -> Draws:
    return tuple(_uniform(n, like, generator) for _ in range(3))  # brightness, saturation, contrast


def color(x: Tensor, draws: Draws) -> Tensor:
    brightness, saturation, contrast = draws
    x = x + (brightness - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (saturation * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (contrast + 0.5) + mean


def _shift(x: Tensor) -> tuple[int, int]:
    h, w = x.shape[-2:]
    return int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)


def _cut(x: Tensor) -> tuple[int, int]:
    h, w = x.shape[-2:]
    return int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)


def draw_translation(n: int, like: Tensor, generator=None) -> Draws:
    sh, sw = _shift(like)
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), device=like.device, generator=generator)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), device=like.device, generator=generator)
    return dy, dx


def _grid(n: int, h: int, w: int, device) -> tuple[Tensor, Tensor, Tensor]:
    return torch.meshgrid(
        torch.arange(n, device=device),
        torch.arange(h, device=device),
        torch.arange(w, device=device),
        indexing="ij",
    )


def translation(x: Tensor, draws: Draws) -> Tensor:
    (n, _, h, w), (dy, dx) = x.shape, draws
    b, gy, gx = _grid(n, h, w, x.device)
    gy = (gy + dy + 1).clamp(0, h + 1)  # +1: index into the zero-padded image
    gx = (gx + dx + 1).clamp(0, w + 1)
    padded = torch.nn.functional.pad(x, [1, 1, 1, 1])
    return padded.permute(0, 2, 3, 1)[b, gy, gx].permute(0, 3, 1, 2)


def draw_cutout(n: int, like: Tensor, generator=None) -> Draws:
    (h, w), (ch, cw) = like.shape[-2:], _cut(like)
    oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=like.device, generator=generator)
    ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=like.device, generator=generator)
    return oy, ox


def cutout(x: Tensor, draws: Draws) -> Tensor:
    (n, _, h, w), (ch, cw), (oy, ox) = x.shape, _cut(x), draws
    b, gy, gx = _grid(n, ch, cw, x.device)
    gy = (gy + oy - ch // 2).clamp(0, h - 1)
    gx = (gx + ox - cw // 2).clamp(0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    mask[b, gy, gx] = 0
    return x * mask.unsqueeze(1)


# name -> (draw(n, like, generator), apply(x, draws)), applied in DIFFAUGMENT_POLICIES' order
POLICIES: dict[str, tuple[Callable[..., Draws], Callable[[Tensor, Draws], Tensor]]] = {
    "color": (draw_color, color),
    "translation": (draw_translation, translation),
    "cutout": (draw_cutout, cutout),
}


def check_images(x: Tensor, policies: list[str], lead: int = 1) -> None:
    """DiffAugment needs images: (N, C, H, W), or (K, N, C, H, W) for a population."""
    if x.dim() != 3 + lead:
        raise ConfigError(
            f"tricks.diffaugment={','.join(policies)} augments images (N, C, H, W), but the "
            f"data's samples have shape {tuple(x.shape[lead:])}; set tricks.diffaugment: [] "
            "for points and tables"
        )


def in_order(policies: list[str]) -> list[str]:
    return [name for name in DIFFAUGMENT_POLICIES if name in policies]


def diffaugment(x: Tensor, policies: list[str], generator=None) -> Tensor:
    """x with each policy applied in the paper's order (color, translation, cutout)."""
    if not policies:
        return x
    check_images(x, policies)
    for name in in_order(policies):
        draw, apply = POLICIES[name]
        x = apply(x, draw(x.shape[0], x, generator))
    return x

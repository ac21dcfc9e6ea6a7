"""tricks.diffaugment for K members: gan_core/augment.py's policies on (K, N, C, H, W).

Each member's per-sample draws come from its own generator, in the order its plain run
draws them (colour's three, then translation's two, then cutout's two), and each policy
is applied once to all members' images laid side by side: the arithmetic per image is
the plain one, so a member is augmented exactly as it would be alone.
"""

from __future__ import annotations

import torch

from gan_core.augment import POLICIES, check_images, in_order
from gan_core.population.batched import Generators, shared, sitting_out


def _member_draws(draw, n: int, like: torch.Tensor, generators: Generators):
    """One policy's draws for K members of n samples each, stacked to (K * n, ...).

    generators None (or one shared): a single draw for all from that stream. A member
    whose generator is None sits the update out: it draws nothing; zeros stand in for its
    draws and batched_diffaugment hands its images back unchanged.
    """
    k = like.shape[0] // n
    one = None if generators is None else shared(generators)
    if generators is None or one is not None:
        return draw(k * n, like, one)
    drawn = {i: draw(n, like, g) for i, g in enumerate(generators) if g is not None}
    filler = tuple(torch.zeros_like(t) for t in next(iter(drawn.values())))
    parts = [drawn.get(i, filler) for i in range(k)]
    return tuple(torch.cat(column) for column in zip(*parts, strict=True))


def batched_diffaugment(x: torch.Tensor, policies: list[str], generators: Generators):
    """x (K, N, C, H, W) with each member's images augmented from its own stream."""
    if not policies or (generators is not None and all(g is None for g in generators)):
        return x
    check_images(x, policies, lead=2)
    k, n = x.shape[:2]
    flat = x.reshape(k * n, *x.shape[2:])
    for name in in_order(policies):
        draw, apply = POLICIES[name]
        flat = apply(flat, _member_draws(draw, n, flat, generators))
    out = flat.view(x.shape)
    if idle := sitting_out(generators):  # their images pass through, as their state does
        keep = torch.ones(k, dtype=torch.bool, device=x.device)
        keep[idle] = False
        out = torch.where(keep.view(-1, *([1] * (x.dim() - 1))), out, x)
    return out

"""One training step of a population: gan_core/step.py's step over K members at once.

The losses and penalties are gan_core/losses.py's own functions (they reduce over the
last axis, so they return one value per member); the per-member parts are the tricks'
values (a (K, ...) tensor where the plain step has a float) and each member's random
stream: member k's draws come from its own generator in the order the plain step makes
them from torch's global stream, so its run equals the plain run of its config.

`active[k]` False makes member k sit a whole update out: it draws nothing, its weights,
optimizer, running statistics, gradients and step outputs stay as they are. That is how
members with different optim.d_steps_per_g / g_steps_per_d (or paused ones) share a step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from gan_core import losses
from gan_core.config import GanConfig
from gan_core.models import info_codes, sample_latent
from gan_core.models.layers import latent_width
from gan_core.population.adam import BatchedAdam
from gan_core.population.augment import batched_diffaugment
from gan_core.population.batched import BatchedModule, Generators, draw_per_member, shared
from gan_core.population.ema import BatchedEma
from gan_core.step import _d_targets, instance_noise_std

Mask = Sequence[bool]


@dataclass
class PopulationModules:
    G: BatchedModule
    D: BatchedModule
    opt_g: BatchedAdam
    opt_d: BatchedAdam
    ema: BatchedEma | None


@dataclass
class PopulationStepOutput:
    """Each member's last D loss and logits and last G loss: (K,), (K, N), (K, N), (K,)."""

    d_loss: torch.Tensor
    g_loss: torch.Tensor
    real_logits: torch.Tensor
    fake_logits: torch.Tensor


class WithStreams:
    """A batched D called as the losses call a plain one: D(x), D.features(x)."""

    def __init__(self, D: BatchedModule, generators: Generators) -> None:
        self.D, self.generators = D, generators

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.D(x, self.generators)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.D.features(x, self.generators)

    def q(self, x: torch.Tensor) -> torch.Tensor:
        return self.D.q(x, self.generators)


def only(generators: list[torch.Generator], mask: Mask) -> Generators:
    """The generators of the members in `mask`; None (sit this forward out) for the rest.

    Every member taking part in one shared stream: None as a whole, the layers' fast
    path (one batched draw for all members).
    """
    if all(mask) and shared(generators) is not None:
        return None
    return [g if m else None for g, m in zip(generators, mask, strict=True)]


def per_member(values: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    """(K,) floats -> (K, 1, ...) in like's dtype: a Python float as a kernel casts it."""
    t = torch.tensor([float(v) for v in values], dtype=torch.float64)
    return t.to(like.device, like.dtype).view(-1, *([1] * (like.dim() - 1)))


def noisy(x: torch.Tensor, stds: Sequence[float], generators) -> torch.Tensor:
    """tricks.instance_noise per member: x + std * N(0, 1), as gan_core/step.py's _noisy."""
    if generators is None:  # the layers' fast path: every member takes part, one draw
        drawing, draws = [s > 0 for s in stds], None
    else:
        drawing = [g is not None and s > 0 for s, g in zip(stds, generators, strict=True)]
        draws = [g if d else None for g, d in zip(generators, drawing, strict=True)]
    if not any(drawing):
        return x
    noise = draw_per_member(
        x, draws, lambda shape, g: torch.randn(shape, generator=g, dtype=x.dtype, device=x.device)
    )
    scale = [s if d else 0.0 for s, d in zip(stds, drawing, strict=True)]
    return x + per_member(scale, x) * noise


def _targets(cfgs: list[GanConfig], logits: torch.Tensor, generators) -> tuple:
    """Each member's real and fake targets (gan_core/step.py's _d_targets), as (K, N)."""
    n = logits.shape[1]
    taking_part = [True] * len(cfgs) if generators is None else [g is not None for g in generators]
    members = list(zip(cfgs, taking_part, strict=True))
    if not any(c.tricks.label_flip > 0 and part for c, part in members):
        # No member draws flips: one constant target per member (_d_targets' floats, cast
        # as there), built as one tensor instead of K small ones stacked.
        smooth = [1.0 - c.tricks.label_smoothing if part else 1.0 for c, part in members]
        real_t = torch.tensor(smooth, dtype=torch.float64).to(logits.device, logits.dtype)
        return real_t.view(-1, 1).expand(-1, n).contiguous(), torch.zeros_like(logits)
    generators = generators or [None] * len(cfgs)  # None: the global stream (fast path)
    real, fake = [], []
    for cfg, g, part in zip(cfgs, generators, taking_part, strict=True):
        r, f = _d_targets(cfg, n, logits.device, g) if part else (1.0, 0.0)
        real.append(torch.as_tensor(r, dtype=logits.dtype, device=logits.device).expand(n))
        fake.append(torch.as_tensor(f, dtype=logits.dtype, device=logits.device).expand(n))
    return torch.stack(real), torch.stack(fake)


def _backward_and_step(opt: BatchedAdam, loss: torch.Tensor, active: Mask) -> None:
    """Backward the members' summed losses (each member's gradient is its own loss's), then
    step the active members; the others keep the gradients of their own last update."""
    params = opt.params  # the module's parameters in order, without walking its modules
    idle = [k for k, a in enumerate(active) if not a]
    kept = [p.grad[idle].clone() if p.grad is not None else None for p in params] if idle else []
    opt.zero_grad()
    loss.sum().backward()
    for p, old in zip(params, kept, strict=True) if idle else ():
        if old is not None:
            p.grad[idle] = old
    opt.step(active)


def d_update(m, real, z, cfgs, stds, generators, active):
    """One D update (gan_core/step.py's d_update) for the active members."""
    gens = only(generators, active)
    with torch.no_grad():
        fake = m.G(z, gens)
    policies = cfgs[0].tricks.diffaugment  # a shape key: the same for every member
    real = batched_diffaugment(real, policies, gens)  # tricks.diffaugment, each member's draws
    fake = batched_diffaugment(fake, policies, gens)
    D = WithStreams(m.D, gens)
    real_in, fake_in = noisy(real, stds, gens), noisy(fake, stds, gens)
    if cfgs[0].tricks.separate_batches:  # a shape key: the same for every member
        real_logits, fake_logits = D(real_in), D(fake_in)
    else:  # equal halves: packs (model.pack) never mix the two
        real_logits, fake_logits = D(torch.cat([real_in, fake_in], dim=1)).chunk(2, dim=1)
    real_t, fake_t = _targets(cfgs, real_logits, gens)
    loss_type = cfgs[0].loss.type
    loss = losses.d_loss(loss_type, real_logits, fake_logits, real_t, fake_t)
    if loss_type == "wgan_gp":
        alpha = draw_per_member(
            real.new_zeros(*real.shape[:2], *([1] * (real.dim() - 2))),  # one per sample
            gens,
            lambda shape, g: torch.rand(shape, generator=g, dtype=real.dtype, device=real.device),
        )
        gp = losses.gradient_penalty(D, real, fake, alpha=alpha, lead=2)
        loss = loss + per_member([c.loss.gp_weight for c in cfgs], gp) * gp
    r1_weights = [c.loss.r1_weight for c in cfgs]
    r1_members = [w > 0 and a for w, a in zip(r1_weights, active, strict=True)]
    if any(r1_members):
        r1 = losses.r1_penalty(WithStreams(m.D, only(generators, r1_members)), real, lead=2)
        loss = loss + per_member(r1_weights, r1) * r1
    r2_weights = [c.loss.r2_weight for c in cfgs]
    r2_members = [w > 0 and a for w, a in zip(r2_weights, active, strict=True)]
    if any(r2_members):  # loss.r2_weight: R2, the same zero-centred penalty at fakes
        r2 = losses.r1_penalty(WithStreams(m.D, only(generators, r2_members)), fake, lead=2)
        loss = loss + per_member(r2_weights, r2) * r2
    if m.D.q_head is not None:  # model.info_*: Q (on D's body) learns to read the codes
        loss = loss + _info_term(D, fake, z, cfgs)
    _backward_and_step(m.opt_d, loss, active)
    return loss, real_logits, fake_logits


def _info_term(D: WithStreams, fake: torch.Tensor, z: torch.Tensor, cfgs) -> torch.Tensor:
    """gan_core/step.py's _info_term per member: lambda_k * (-MI lower bound), (K,)."""
    term = losses.info_loss(D.q(fake), *info_codes(z, cfgs[0].model))
    return per_member([c.loss.info_weight for c in cfgs], term) * term


def _requires_grad(params: list[torch.nn.Parameter], flag: bool) -> None:
    """module.requires_grad_(flag) over the parameters the optimizer holds (the module's)."""
    for p in params:
        p.requires_grad_(flag)


def g_update(m, real, z, cfgs, stds, generators, active):
    """One G update (gan_core/step.py's g_update) for the active members."""
    gens = only(generators, active)
    _requires_grad(m.opt_d.params, False)  # as the plain step: D's .grad keeps its last update
    fake = m.G(z, gens)
    D, loss_type = WithStreams(m.D, gens), cfgs[0].loss.type
    policies = cfgs[0].tricks.diffaugment
    seen = batched_diffaugment(fake, policies, gens)  # G's gradient flows through it
    # rpgan: G raises each fake above its paired real; D sees the reals first, as the plain step
    real_logits = (
        D(noisy(batched_diffaugment(real, policies, gens), stds, gens))
        if loss_type == "rpgan"
        else None
    )
    loss = losses.g_loss(loss_type, D(noisy(seen, stds, gens)), real_logits)
    if m.D.q_head is not None:  # model.info_*: G makes its codes readable from its samples
        loss = loss + _info_term(D, fake, z, cfgs)
    fm_weights = [c.loss.feature_matching for c in cfgs]
    fm_members = [w > 0 and a for w, a in zip(fm_weights, active, strict=True)]
    if any(fm_members):
        D_fm = WithStreams(m.D, only(generators, fm_members))
        fm = losses.feature_matching(D_fm, real, fake)
        loss = loss + per_member(fm_weights, fm) * fm
    try:
        _backward_and_step(m.opt_g, loss, active)
    finally:
        _requires_grad(m.opt_d.params, True)
    if m.ema is not None:  # tricks.ema_decay
        m.ema.update(m.G, [k for k, a in enumerate(active) if a and cfgs[k].tricks.ema_decay > 0])
    return loss


def _where(mask: Mask, new: torch.Tensor, old: torch.Tensor | None) -> torch.Tensor:
    if old is None or all(mask):
        return new
    keep = torch.tensor(list(mask), device=new.device).view(-1, *([1] * (new.dim() - 1)))
    return torch.where(keep, new, old)


def train_step(
    m: PopulationModules,
    next_batch: Callable[[Mask], torch.Tensor],
    cfgs: list[GanConfig],
    steps: list[int],
    generators: list[torch.Generator],
    stepping: Mask,
    last: PopulationStepOutput | None,
    last_batch: torch.Tensor | None,
) -> tuple[PopulationStepOutput, torch.Tensor]:
    """Each stepping member's optim.d_steps_per_g D updates, then its g_steps_per_d G
    updates (gan_core/step.py's train_step); returns the outputs and the last real batch."""
    stds = [instance_noise_std(c, s) for c, s in zip(cfgs, steps, strict=True)]
    n = cfgs[0].optim.batch_size
    weight = m.opt_g.params[0]  # the population's device and dtype
    members = [c for c, s in zip(cfgs, stepping, strict=True) if s]
    d_rounds = max(c.optim.d_steps_per_g for c in members)
    g_rounds = max(c.optim.g_steps_per_d for c in members)
    out = last
    real, z = last_batch, None
    for i in range(d_rounds):
        active = [s and i < c.optim.d_steps_per_g for c, s in zip(cfgs, stepping, strict=True)]
        real = _where(active, next_batch(active), real)
        z = _where(active, _latents(cfgs, n, weight, generators, active), z)
        d_loss, real_logits, fake_logits = d_update(m, real, z, cfgs, stds, generators, active)
        out = PopulationStepOutput(
            _where(active, d_loss.detach(), out.d_loss if out else None),
            out.g_loss if out else torch.zeros_like(d_loss),
            _where(active, real_logits.detach(), out.real_logits if out else None),
            _where(active, fake_logits.detach(), out.fake_logits if out else None),
        )
    for i in range(g_rounds):
        active = [s and i < c.optim.g_steps_per_d for c, s in zip(cfgs, stepping, strict=True)]
        fresh = [a and c.tricks.fresh_noise_g for a, c in zip(active, cfgs, strict=True)]
        if any(fresh):  # fresh z for G (docs/field-notes.md#note-004)
            z = _where(fresh, _latents(cfgs, n, weight, generators, fresh), z)
        g_loss = g_update(m, real, z, cfgs, stds, generators, active)
        out.g_loss = _where(active, g_loss.detach(), out.g_loss)
    return out, real


def _latents(cfgs, n, like: torch.Tensor, generators, mask) -> torch.Tensor:
    """Member k's z from its own stream (zeros for members not drawing), in like's dtype
    (drawn as sample_latent draws it: a float64 population gets float32 draws, widened)."""
    cfg = cfgs[0].model  # latent_dim and latent_dist are shape keys
    one = shared(generators)
    if one is not None and all(mask):  # one draw for every member from the shared stream
        z = sample_latent(len(mask) * n, cfg, like.device, generator=one)
        return z.view(len(mask), n, -1).to(like.dtype)
    rows = [
        sample_latent(n, cfg, like.device, generator=g)
        if a
        else torch.zeros(n, latent_width(cfg), device=like.device)
        for g, a in zip(generators, mask, strict=True)
    ]
    return torch.stack(rows).to(like.dtype)

"""EMA of G per member: torch.optim.swa_utils.AveragedModel's update over stacked tensors.

The plain trainer keeps AveragedModel(G, multi_avg_fn=get_ema_multi_avg_fn(decay),
use_buffers=True): the first update copies G, later ones lerp every float tensor toward G
by 1 - decay and blend integer buffers as p * decay + q * (1 - decay). Here each member
has its own decay and count; members not updated this time keep their values exactly.
"""

from __future__ import annotations

import copy

import torch

from gan_core.population.batched import BatchedModule


class BatchedEma:
    def __init__(self, G: BatchedModule, decays: list[float]) -> None:
        self.module = copy.deepcopy(G)
        self.module.requires_grad_(False)
        self.decays = [float(d) for d in decays]
        self.n_averaged = [0] * len(decays)

    def _pairs(self, G: BatchedModule):
        """(EMA tensor, G tensor) for every tensor a plain G's state dict has."""
        own = self.module.state_dict(keep_vars=True)
        live = G.state_dict(keep_vars=True)
        return [(own[key], live[key]) for key in G._plain_key_map()]

    @torch.no_grad()
    def update(self, G: BatchedModule, members: list[int]) -> None:
        if not members:
            return
        first = [k for k in members if self.n_averaged[k] == 0]
        later = [k for k in members if self.n_averaged[k] > 0]
        K = len(self.decays)
        for ema, live in self._pairs(G):
            ema, live = ema.detach(), live.detach()
            if first:
                idx = torch.tensor(first, device=ema.device)
                ema.index_copy_(0, idx, live.index_select(0, idx))
            if not later:
                continue
            shape = (K, *([1] * (ema.dim() - 1)))
            decay = [self.decays[k] if k in later else 1.0 for k in range(K)]
            if ema.is_floating_point():
                # weight 0 for members not averaged now: lerp leaves them exactly as they are
                weight = torch.tensor([1 - d for d in decay], dtype=torch.float64)
                ema.lerp_(live, weight.to(ema.device, ema.dtype).view(shape))
                continue
            d = torch.tensor(decay, dtype=torch.get_default_dtype(), device=ema.device)
            w = torch.tensor([1 - v for v in decay], dtype=d.dtype, device=ema.device)
            blended = ema * d.view(shape) + live * w.view(shape)
            rows = torch.tensor(later, device=ema.device)
            ema.index_copy_(0, rows, blended.index_select(0, rows).to(ema.dtype))
        for k in members:
            self.n_averaged[k] += 1

    # --- membership --------------------------------------------------------------
    def keep(self, index: torch.Tensor) -> None:
        self.module.keep(index)
        order = [int(i) for i in index]
        self.decays = [self.decays[i] for i in order]
        self.n_averaged = [self.n_averaged[i] for i in order]

    def append(self, states: list[dict], decays: list[float]) -> None:
        self.module.append_members(states)
        self.decays += [float(d) for d in decays]
        self.n_averaged += [0] * len(decays)

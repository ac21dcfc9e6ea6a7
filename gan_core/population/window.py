"""Each member's ScoreWindow (gan_core/monitor.py) as one (K, 4) tensor of on-device sums."""

from __future__ import annotations

import torch

from gan_core.monitor import ScoreWindow, step_values


class PopulationWindow:
    def __init__(self, device: torch.device, num_members: int = 0) -> None:
        self.device = device
        self.sums = torch.zeros(num_members, len(ScoreWindow.KEYS), device=device)
        self.counts = [0] * num_members

    def add(self, out, stepping: list[bool]) -> None:
        """One step's values for the members that stepped (no host sync)."""
        values = step_values(out.d_loss, out.g_loss, out.real_logits, out.fake_logits)
        if all(stepping):
            self.sums += values
        else:
            mask = torch.tensor(stepping, device=self.device).view(-1, 1)
            self.sums = torch.where(mask, self.sums + values, self.sums)
        self.counts = [c + int(s) for c, s in zip(self.counts, stepping, strict=True)]

    def flush(self, k: int) -> dict[str, float]:
        """Member k's means (as ScoreWindow.flush), then a new window for it."""
        if self.counts[k] == 0:
            return {}
        means = (self.sums[k] / self.counts[k]).tolist()
        self.sums[k] = 0
        self.counts[k] = 0
        return dict(zip(ScoreWindow.KEYS, means, strict=True))

    def keep(self, index: torch.Tensor) -> None:
        self.sums = self.sums[index.to(self.device)].clone()
        self.counts = [self.counts[int(i)] for i in index]

    def append(self, n: int) -> None:
        self.sums = torch.cat([self.sums, self.sums.new_zeros(n, self.sums.shape[1])])
        self.counts += [0] * n

    def member_state(self, k: int) -> dict:
        """ScoreWindow.state_dict's form, so a plain Trainer can resume the member."""
        return {"sums": self.sums[k].cpu().clone(), "count": self.counts[k]}

    def load_member_state(self, k: int, state: dict) -> None:
        self.sums[k] = state["sums"].to(self.device)
        self.counts[k] = int(state["count"])

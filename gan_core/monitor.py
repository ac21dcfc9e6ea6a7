"""The scores of the field notes and the failure-mode health verdict.

Generator score = mean D(G(z)); discriminator score = ½·mean D(x) + ½·mean(1 − D(G(z))),
with D's output read as a probability (the sigmoid of its logit, whatever the
loss). Ideal ≈ 0.5 each (docs/field-notes.md#note-002). The window sums stay on the device so a
training step never waits for the host; they are read once per eval point.
"""

from __future__ import annotations

import math

import torch

from gan_core.config import MonitorConfig

FAILURE_MODES = ("d_dominates", "g_dominates", "mode_collapse", "stall")
HEALTH_STATES = ("ok", *FAILURE_MODES, "diverged")


class ScoreWindow:
    """On-device running sums of losses and scores between two eval points."""

    KEYS = ("loss/d", "loss/g", "score/g", "score/d")

    def __init__(self, device: torch.device):
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.sums = torch.zeros(len(self.KEYS), device=self.device)
        self.count = 0

    def add(self, d_loss, g_loss, real_logits, fake_logits) -> None:
        """Add one step's values; no host sync (stack + in-place add on device)."""
        self.sums += step_values(d_loss, g_loss, real_logits, fake_logits)
        self.count += 1

    def flush(self) -> dict[str, float]:
        """Means over the window (one host sync), then start a new window."""
        if self.count == 0:
            return {}
        means = (self.sums / self.count).tolist()
        self.reset()
        return dict(zip(self.KEYS, means, strict=True))

    def state_dict(self) -> dict:
        return {"sums": self.sums.cpu(), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.sums = state["sums"].to(self.device)
        self.count = state["count"]


def step_values(d_loss, g_loss, real_logits, fake_logits) -> torch.Tensor:
    """One step's loss/d, loss/g, score/g, score/d (ScoreWindow.KEYS) on the last axis.

    Means run over the last (sample) axis, so a population's (K,) losses and (K, N)
    logits give its members' values as (K, 4).
    """
    real_p = torch.sigmoid(real_logits.detach().float()).mean(-1)
    fake_p = torch.sigmoid(fake_logits.detach().float()).mean(-1)
    d_score = 0.5 * real_p + 0.5 * (1.0 - fake_p)
    values = [d_loss.detach().float(), g_loss.detach().float(), fake_p, d_score]
    return torch.stack(values, dim=-1)


def condition_at(record: dict, m: MonitorConfig) -> str:
    """The failure condition visible at one eval point, before persistence is asked."""
    watched = [record.get(k, 0.0) for k in ("loss/d", "loss/g", "objective")]
    if not all(math.isfinite(v) for v in watched):
        return "diverged"
    g, d = record.get("score/g", 0.5), record.get("score/d", 0.5)
    if g < m.d_dominates_g_score and d > m.d_dominates_d_score:
        return "d_dominates"
    if g > m.g_dominates_g_score:
        return "g_dominates"
    if record.get("diversity_ratio", 1.0) < m.collapse_diversity:
        return "mode_collapse"
    near_half = abs(g - 0.5) < m.stall_band and abs(d - 0.5) < m.stall_band
    if near_half and record.get("coverage", 1.0) < m.stall_coverage:
        return "stall"
    return "ok"


class HealthMonitor:
    """Reports a failure mode once it has held for `patience` eval points in a row.

    One bad eval point is noise (GAN scores oscillate); a mode that persists is
    the "does not recover" of the field notes. Divergence is reported at once.
    """

    def __init__(self, cfg: MonitorConfig):
        self.cfg = cfg
        self.last = "ok"
        self.streak = 0

    def update(self, record: dict) -> str:
        now = condition_at(record, self.cfg)
        self.streak = self.streak + 1 if now == self.last else 1
        self.last = now
        if now == "diverged" or (now != "ok" and self.streak >= self.cfg.patience):
            return now
        return "ok"

    def state_dict(self) -> dict:
        return {"last": self.last, "streak": self.streak}

    def load_state_dict(self, state: dict) -> None:
        self.last, self.streak = state["last"], state["streak"]

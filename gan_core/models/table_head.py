"""G's output layer for mixed tables: the numeric columns through the usual activation,
each categorical column's block through a softmax (or a Gumbel-softmax while training).

Gumbel-softmax (Jang et al. 2017; CTGAN's choice, tau 0.2) makes a training sample's block
nearly one-hot, as the real rows D sees are; in eval mode the head returns the plain
softmax probabilities, which decoding samples from (Gumbel-max: the same distribution),
so the exported graph stays deterministic. Measured choice: docs/tables.md.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from gan_core.config import ModelConfig
from gan_core.models.layers import output_activation

GUMBEL_TAU = 0.2  # CTGAN's temperature: near one-hot, still differentiable


def gumbel_noise(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """F.gumbel_softmax's noise, -log(Exp(1)), drawn as it draws it; F.gumbel_softmax takes
    no generator, and a population draws each member's from the member's own."""
    exp = torch.empty_like(logits, memory_format=torch.legacy_contiguous_format)
    return -exp.exponential_(generator=generator).log()


class TableHead(nn.Module):
    def __init__(self, cfg: ModelConfig, n_numeric: int, spans: list[tuple[int, int]]) -> None:
        super().__init__()
        self.n_numeric = n_numeric
        self.spans = [(int(s), int(w)) for s, w in spans]
        self.numeric = output_activation(cfg)
        self.gumbel = cfg.categorical_head == "gumbel"

    def forward(self, h: torch.Tensor, noise: Callable = gumbel_noise) -> torch.Tensor:
        """h (..., width): numeric columns, then each block's probabilities. `noise(logits)`
        draws the Gumbel noise (a population passes its per-member draw)."""
        parts = [self.numeric(h[..., : self.n_numeric])]
        for start, width in self.spans:
            logits = h[..., start : start + width]
            if self.gumbel and self.training:  # model.categorical_head: gumbel
                # F.gumbel_softmax(logits, tau, hard=False), with the noise drawn by `noise`
                parts.append(((logits + noise(logits)) / GUMBEL_TAU).softmax(-1))
            else:
                parts.append(torch.softmax(logits, dim=-1))
        return torch.cat(parts, dim=-1)


def table_head(cfg: ModelConfig, dataset) -> nn.Module | None:
    """The head a dataset's table needs, or None (no categorical blocks: the usual output)."""
    part = getattr(dataset, "table", None)
    if part is None or not part.codec.spans:
        return None
    return TableHead(cfg, len(part.codec.numeric), part.codec.spans)

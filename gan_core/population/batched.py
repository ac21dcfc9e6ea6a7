"""The batched-module base and the batched layers every architecture shares.

A batched module holds K members' tensors stacked on dim 0. Its state dict is
the plain module's with that extra axis, so member k's plain state dict is one
slice (`member_state_dict`) and a plain model loads into slot k (`load_member`).
Per-member hyperparameters used in forward (`dropout_p`, `leaky_slope`) are
float buffers of shape (K,) that no plain state dict has: the population sets
them from each member's config (`set_hparam`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

Generators = list[torch.Generator] | None


class BatchedModule(nn.Module):
    """Base of every batched layer and model: membership changes and plain conversion."""

    # Buffers of this class that are per-member hyperparameters, not in the plain state dict.
    HPARAMS: tuple[str, ...] = ()

    def plain_renames(self) -> dict[str, str]:
        """Local tensor name -> the plain module's name, where they differ (spectral norm)."""
        return {}

    # --- the member axis ----------------------------------------------------
    @property
    def num_members(self) -> int:
        for t in self._member_tensors():
            return t.shape[0]
        raise ValueError(f"{type(self).__name__} holds no tensor to read the member count from")

    def _member_tensors(self):
        yield from self.parameters()
        yield from self.buffers()

    @torch.no_grad()
    def keep(self, index: torch.Tensor) -> None:
        """Keep only the members `index` names, in that order (in place: optimizers keep their
        Parameter objects; BatchedAdam slices its own state)."""
        index = torch.as_tensor(index, dtype=torch.long)
        for m in self.modules():
            for p in m._parameters.values():
                if p is None:
                    continue
                p.data = p.data[index.to(p.device)].clone()
                if p.grad is not None:
                    p.grad = p.grad[index.to(p.device)].clone()
            for name, b in m._buffers.items():
                if b is not None:
                    m._buffers[name] = b[index.to(b.device)].clone()

    @torch.no_grad()
    def append_members(self, states: list[dict]) -> None:
        """Grow by len(states) members from plain state dicts; their hyperparameter buffers
        start at 0 until the population sets them (`set_hparam`)."""
        plain = self._plain_key_map()
        for m, prefix in self._modules_with_prefix():
            for name, t in [*m._parameters.items(), *m._buffers.items()]:
                if t is None:
                    continue
                key = plain.get(prefix + name)
                if key is None:
                    new = t.new_zeros((len(states), *t.shape[1:]))
                else:
                    new = torch.stack([s[key].to(t) for s in states])
                grown = torch.cat([t.data, new])
                if name in m._parameters:
                    t.data = grown
                    t.grad = None
                else:
                    m._buffers[name] = grown

    # --- conversion to and from the plain module -----------------------------
    def _modules_with_prefix(self):
        for prefix, m in self.named_modules():
            yield m, f"{prefix}." if prefix else ""

    def _plain_key_map(self) -> dict[str, str]:
        """Batched state-dict key -> plain state-dict key (hyperparameter buffers left out)."""
        out = {}
        for m, prefix in self._modules_with_prefix():
            renames = m.plain_renames() if isinstance(m, BatchedModule) else {}
            hparams = m.HPARAMS if isinstance(m, BatchedModule) else ()
            tensors = {**m._parameters, **m._buffers}
            for name, t in tensors.items():
                if t is not None and name not in hparams:
                    out[prefix + name] = prefix + renames.get(name, name)
        return out

    def member_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Member k as the plain module's state dict (same keys, copies)."""
        state = self.state_dict()
        return {plain: state[key][k].clone() for key, plain in self._plain_key_map().items()}

    @torch.no_grad()
    def load_member(self, k: int, state: dict) -> None:
        """Copy a plain module's state dict into slot k; every key must match."""
        mapping = self._plain_key_map()
        missing = sorted(set(mapping.values()) - set(state))
        extra = sorted(set(state) - set(mapping.values()))
        if missing or extra:
            raise KeyError(f"plain state dict does not fit: missing {missing}, unexpected {extra}")
        own = self.state_dict(keep_vars=True)
        for key, plain in mapping.items():
            own[key][k].copy_(state[plain])

    @torch.no_grad()
    def set_hparam(self, name: str, values: torch.Tensor | list[float]) -> None:
        """Set the per-member buffer `name` (e.g. leaky_slope) in every layer that has it."""
        for m in self.modules():
            if isinstance(m, BatchedModule) and name in m.HPARAMS:
                buf = m._buffers[name]
                m._buffers[name] = torch.as_tensor(values, dtype=buf.dtype, device=buf.device)


class BatchedSequential(BatchedModule):
    """nn.Sequential over batched layers (and parameter-free elementwise ones like ReLU).

    Children are named 0, 1, ... as in nn.Sequential, so state-dict keys match the plain
    model's; `generators` reaches every batched child (dropout draws from them).
    """

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            self.add_module(str(i), layer)

    def __iter__(self):
        return iter(self._modules.values())

    def __len__(self) -> int:
        return len(self._modules)

    def forward(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        for layer in self:
            x = layer(x, generators) if isinstance(layer, BatchedModule) else layer(x)
        return x


class BatchedLinear(BatchedModule):
    """K independent nn.Linear layers: (K, N, in) -> (K, N, out), one batched matmul."""

    def __init__(
        self,
        num_members: int,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(num_members, out_features, in_features, **kw))
        bias_t = nn.Parameter(torch.empty(num_members, out_features, **kw)) if bias else None
        self.register_parameter("bias", bias_t)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Linear's init, member by member (a population loads plain models over it)."""
        bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
        for k in range(self.weight.shape[0]):
            nn.init.kaiming_uniform_(self.weight[k], a=math.sqrt(5))
            if self.bias is not None:
                nn.init.uniform_(self.bias[k], -bound, bound)

    def forward(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        weight = self.weight.transpose(1, 2)
        if self.bias is None:
            return torch.bmm(x, weight)
        return torch.baddbmm(self.bias.unsqueeze(1), x, weight)

    def extra_repr(self) -> str:
        k, out, inp = self.weight.shape
        return f"members={k}, in_features={inp}, out_features={out}, bias={self.bias is not None}"

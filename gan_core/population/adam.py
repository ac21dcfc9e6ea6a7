"""Adam with a learning rate, betas and eps per member, and a per-member update mask.

torch.optim.Adam takes one scalar learning rate per parameter group (pytorch/pytorch#145461),
so K members would need K optimizers over K separate tensors. This is torch's single-tensor
Adam (the CPU default) over stacked (K, ...) tensors, with each scalar of its update turned
into a (K, 1, ...) tensor: member k's parameters, moments and step count equal those of
torch.optim.Adam on member k alone, bit for bit on CPU (tests/test_population_adam.py).
Members whose mask is False skip the step entirely (the update ratio, members that left).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class BatchedAdam:
    def __init__(
        self,
        params: Sequence[torch.nn.Parameter],
        lr: Sequence[float],
        betas: Sequence[tuple[float, float]],
        eps: Sequence[float] | None = None,
    ) -> None:
        self.params = list(params)
        k = self.params[0].shape[0]
        if any(p.shape[0] != k for p in self.params) or len(lr) != k or len(betas) != k:
            raise ValueError("every parameter, lr and betas needs one entry per member")
        # Python floats, as torch.optim.Adam keeps them: bias corrections are computed in
        # double on the host and cast to the parameter's dtype only where they meet a tensor.
        self.lr = [float(v) for v in lr]
        self.betas = [(float(b1), float(b2)) for b1, b2 in betas]
        self.eps = [float(v) for v in eps] if eps is not None else [1e-8] * k
        self.steps = [0] * k
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self._scratch_buffers: dict = {}  # scratch for the update, by shape (_scratch)

    @property
    def num_members(self) -> int:
        return len(self.lr)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, active: Sequence[bool] | None = None) -> None:
        """One Adam step for the members `active` marks (all by default)."""
        members = [k for k in range(self.num_members) if active is None or active[k]]
        if not members:
            return
        for k in members:
            self.steps[k] += 1
        scalars = self._scalars(members)
        subset = None if len(members) == self.num_members else torch.tensor(members)
        shaped: dict = {}  # the scalars as (K, 1, ...) tensors, once per dtype and rank
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            key = (p.dtype, p.device, p.dim())
            if key not in shaped:
                shaped[key] = _shaped(scalars, p)
            s = shaped[key]
            tensors = [p, p.grad, self.exp_avg[i], self.exp_avg_sq[i]]
            if subset is None:
                _adam_update(*tensors, s, self._scratch(p))
                continue
            idx = subset.to(p.device)
            param, grad, exp_avg, exp_avg_sq = (t.index_select(0, idx) for t in tensors)
            _adam_update(param, grad, exp_avg, exp_avg_sq, s, self._scratch(param))
            p.index_copy_(0, idx, param)
            self.exp_avg[i].index_copy_(0, idx, exp_avg)
            self.exp_avg_sq[i].index_copy_(0, idx, exp_avg_sq)

    def _scratch(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two buffers of like's shape, kept between steps: allocating the update's
        temporaries anew each step cost more than the arithmetic (fresh pages of memory
        for every (K, ...) tensor; docs/population.md, "Speed on a CPU")."""
        key = (tuple(like.shape), like.dtype, like.device)
        if key not in self._scratch_buffers:
            self._scratch_buffers[key] = (torch.empty_like(like), torch.empty_like(like))
        return self._scratch_buffers[key]

    def _scalars(self, members: list[int]) -> dict[str, float | torch.Tensor]:
        """The per-member scalars of torch's single-tensor Adam, computed as it does (double):
        one Python float where every stepping member has the same value (then the update
        makes torch's own calls), else a (members,) float64 tensor."""
        out: dict[str, list[float]] = {
            "w1": [],
            "b2": [],
            "w2": [],
            "bc2_sqrt": [],
            "eps": [],
            "neg_step": [],
        }
        for k in members:
            beta1, beta2 = self.betas[k]
            step = self.steps[k]
            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            out["w1"].append(1 - beta1)
            out["b2"].append(beta2)
            out["w2"].append(1 - beta2)
            out["bc2_sqrt"].append(bias_correction2**0.5)
            out["eps"].append(self.eps[k])
            out["neg_step"].append(-(self.lr[k] / bias_correction1))
        return {
            name: v[0] if all(x == v[0] for x in v) else torch.tensor(v, dtype=torch.float64)
            for name, v in out.items()
        }

    # --- membership ----------------------------------------------------------
    def keep(self, index: torch.Tensor) -> None:
        """Keep only these members' state, in this order (the params were sliced by
        BatchedModule.keep, which keeps the Parameter objects this optimizer holds)."""
        order = [int(i) for i in index]
        self._scratch_buffers.clear()  # other shapes from now on
        for name in ("lr", "betas", "eps", "steps"):
            setattr(self, name, [getattr(self, name)[i] for i in order])
        for moments in (self.exp_avg, self.exp_avg_sq):
            for i, t in enumerate(moments):
                moments[i] = t[torch.as_tensor(order, dtype=torch.long, device=t.device)].clone()

    def append(self, lr: Sequence[float], betas: Sequence[tuple[float, float]], eps=None) -> None:
        """Add members at step 0 with zero moments (the params were grown by append_members)."""
        n = len(lr)
        self._scratch_buffers.clear()  # other shapes from now on
        self.lr += [float(v) for v in lr]
        self.betas += [(float(b1), float(b2)) for b1, b2 in betas]
        self.eps += [float(v) for v in eps] if eps is not None else [1e-8] * n
        self.steps += [0] * n
        for moments in (self.exp_avg, self.exp_avg_sq):
            for i, t in enumerate(moments):
                moments[i] = torch.cat([t, t.new_zeros((n, *t.shape[1:]))])

    # --- member views and checkpoints -----------------------------------------
    def member_state(self, k: int) -> dict:
        """Member k's state in torch.optim.Adam's per-parameter form (step, exp_avg, exp_avg_sq)."""
        return {
            i: {
                "step": torch.tensor(float(self.steps[k])),
                "exp_avg": self.exp_avg[i][k].clone(),
                "exp_avg_sq": self.exp_avg_sq[i][k].clone(),
            }
            for i in range(len(self.params))
        }

    def state_dict(self) -> dict:
        return {
            "lr": list(self.lr),
            "betas": [list(b) for b in self.betas],
            "eps": list(self.eps),
            "steps": list(self.steps),
            "exp_avg": [t.clone() for t in self.exp_avg],
            "exp_avg_sq": [t.clone() for t in self.exp_avg_sq],
        }

    def load_state_dict(self, state: dict) -> None:
        self.lr = [float(v) for v in state["lr"]]
        self.betas = [(float(a), float(b)) for a, b in state["betas"]]
        self.eps = [float(v) for v in state["eps"]]
        self.steps = [int(v) for v in state["steps"]]
        devices = [p.device for p in self.params]
        self.exp_avg = [t.to(d) for t, d in zip(state["exp_avg"], devices, strict=True)]
        self.exp_avg_sq = [t.to(d) for t, d in zip(state["exp_avg_sq"], devices, strict=True)]


def _shaped(scalars: dict, like: torch.Tensor) -> dict[str, float | torch.Tensor]:
    """Each per-member scalar tensor cast from double to like's dtype, as a kernel casts a
    Python scalar, and shaped (K, 1, ...) to broadcast over a member's block; floats stay."""
    view = (-1, *([1] * (like.dim() - 1)))
    return {
        name: v if isinstance(v, float) else v.to(like.device, like.dtype).view(view)
        for name, v in scalars.items()
    }


def _adam_update(param, grad, exp_avg, exp_avg_sq, s: dict, scratch) -> None:
    """torch's _single_tensor_adam body, op for op, with a (K, 1, ...) tensor for each scalar
    the members do not share.

    addcmul/addcdiv compute self + value * t1 op t2 with value rounded into t1 first, so a
    tensor factor multiplied into t1 beforehand (into a scratch buffer) rounds the same
    product; a shared value is passed as torch passes it, and saves that pass.
    """
    product, denom = scratch
    exp_avg.lerp_(grad, s["w1"])
    exp_avg_sq.mul_(s["b2"])
    if isinstance(s["w2"], float):
        exp_avg_sq.addcmul_(grad, grad, value=s["w2"])
    else:
        exp_avg_sq.addcmul_(torch.mul(s["w2"], grad, out=product), grad)
    torch.sqrt(exp_avg_sq, out=denom).div_(s["bc2_sqrt"]).add_(s["eps"])
    if isinstance(s["neg_step"], float):
        param.addcdiv_(exp_avg, denom, value=s["neg_step"])
    else:
        param.addcdiv_(torch.mul(s["neg_step"], exp_avg, out=product), denom)

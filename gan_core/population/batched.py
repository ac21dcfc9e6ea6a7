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
from collections.abc import Callable

import torch
from torch import nn

from gan_core.models.layers import Maxout, MinibatchStd

Generators = list[torch.Generator] | None


class _BatchedAffine(torch.autograd.Function):
    """y = x W^T + b per member, with F.linear's backward formulas.

    Autograd's own bmm backward computes W's gradient as (x^T g)^T, F.linear's as g^T x:
    equal in value but not in float64 bits or memory layout (which changes a later sum).
    Written with differentiable ops, so R1 and the gradient penalty can differentiate again.
    """

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        if weight.shape[1] == 1:
            # One output (D's head): F.linear's addmm then multiplies in the other order
            # (its (N, 1) result counts as column-major); do the same.
            out = torch.bmm(weight, x.transpose(1, 2)).transpose(1, 2)
            return out if bias is None else out + bias.unsqueeze(1)
        if bias is None:
            return torch.bmm(x, weight.transpose(1, 2))
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        grad_x = torch.bmm(grad, weight) if need_x else None
        grad_w = _weight_grad(grad, x) if need_w else None
        grad_b = grad.sum(1) if need_b and ctx.has_bias else None
        return grad_x, grad_w, grad_b


def _weight_grad(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """grad^T x per member, F.linear's weight gradient bit for bit for any K.

    For K > 1 matrices bmm's CPU kernel sums a member's rows in another order than its
    kernel for one matrix when a side is not a multiple of 8 (D's head of one output on a
    minibatch-std width of 33 or 201, G's 2-D output on an odd width, out 5 or 6 on any
    width: measured in tests/test_population_layers.py), so a member's run would depend on
    K. Those layers (mostly a model's first or last: a 2-D latent or output, a table's
    columns, D's head) take their gradient member by member, each exactly as a population
    of one (= F.linear) does; the others stay one batched product."""
    if len(grad) > 1 and (grad.shape[2] % 8 or x.shape[2] % 8):
        parts = [
            torch.bmm(g.transpose(1, 2), xk)
            for g, xk in zip(grad.split(1), x.split(1), strict=True)
        ]
        return torch.cat(parts)
    return torch.bmm(grad.transpose(1, 2), x)


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
        """Grow by len(states) members from plain state dicts (matched in state-dict order);
        their hyperparameter buffers start at 0 until the population sets them (`set_hparam`)."""
        for state in states:
            self._check_fits(list(state), state)
        plain = {key: i for i, key in enumerate(self._plain_key_map())}
        values = [list(state.values()) for state in states]
        for m, prefix in self._modules_with_prefix():
            for name, t in [*m._parameters.items(), *m._buffers.items()]:
                if t is None:
                    continue
                i = plain.get(prefix + name)
                if i is None:
                    new = t.new_zeros((len(states), *t.shape[1:]))
                else:
                    new = torch.stack([v[i].to(t) for v in values])
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

    def member_state_dict(self, k: int, like=None) -> dict[str, torch.Tensor]:
        """Member k as the plain module's state dict (copies).

        Keys are this layout's plain names; pass the plain module's state dict (or its keys)
        as `like` to take its keys instead (a member at dropout 0 has no Dropout layer, so its
        nn.Sequential indices differ while its tensors are the same, in the same order).
        """
        state = self.state_dict()
        mapping = self._plain_key_map()
        keys = list(like) if like is not None else list(mapping.values())
        self._check_fits(keys, None)
        return {plain: state[key][k].clone() for key, plain in zip(mapping, keys, strict=True)}

    @torch.no_grad()
    def load_member(self, k: int, state: dict) -> None:
        """Copy a plain module's state dict into slot k, tensor by tensor in state-dict order."""
        self._check_fits(list(state), state)
        own = self.state_dict(keep_vars=True)
        for key, value in zip(self._plain_key_map(), state.values(), strict=True):
            own[key][k].copy_(value)

    def _check_fits(self, keys: list[str], plain: dict | None) -> None:
        state = self.state_dict()
        mapping = self._plain_key_map()
        if len(keys) != len(mapping):
            raise KeyError(
                f"plain state dict does not fit {type(self).__name__}: {len(keys)} tensors "
                f"{keys} for {len(mapping)} {list(mapping.values())}"
            )
        if plain is None:
            return
        for key, (plain_key, value) in zip(mapping, plain.items(), strict=True):
            if tuple(value.shape) != tuple(state[key].shape[1:]):
                raise KeyError(
                    f"plain {plain_key} has shape {tuple(value.shape)}, the batched {key} "
                    f"holds {tuple(state[key].shape[1:])} per member"
                )

    def hparam_floats(self, name: str) -> list[float]:
        """A hyperparameter buffer as Python floats, read from the device once per change."""
        buf = self._buffers[name]
        cache = self.__dict__.setdefault("_floats_of", {})
        cached = cache.get(name)
        if cached is None or cached[0] is not buf or cached[1] != buf._version:
            cache[name] = (buf, buf._version, buf.tolist())  # holds buf: no id reuse
        return cache[name][2]

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

    def append(self, layer: nn.Module) -> None:
        """One more layer at the end, named as nn.Sequential.append names it."""
        self.add_module(str(len(self)), layer)

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
        return self.apply_weight(x, self.weight)

    def apply_weight(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """x @ weight^T + bias per member: F.linear's arithmetic, bit for bit on CPU."""
        return _BatchedAffine.apply(x, weight, self.bias)

    def extra_repr(self) -> str:
        k, out, inp = self.weight.shape
        return f"members={k}, in_features={inp}, out_features={out}, bias={self.bias is not None}"


def shared(generators) -> torch.Generator | None:
    """The one generator object all of two or more members were given, or None.

    [g] * K is the fast mode for a GPU: z, batches and noise in one draw each, dropout in
    the layers' batched draw from torch's global stream. Members then depend on each other's
    draws: equal in distribution, not run for run. PopulationTrainer gives each member its
    own generator (the exact mode); gan_core/population/step.py serves both.
    """
    first = generators[0] if generators else None
    if first is None or len(generators) < 2 or any(g is not first for g in generators):
        return None
    return first


def draw_per_member(like: torch.Tensor, generators, draw: Callable) -> torch.Tensor:
    """One (N, ...) draw per member with a generator, zeros for the others (one draw of the
    whole (K, N, ...) from a shared stream). generators=None: the layers' fast path."""
    if generators is None:
        return draw(like.shape, None)  # torch's global stream
    one = shared(generators)
    if one is not None:
        return draw(like.shape, one)
    out = torch.zeros_like(like)
    for k, g in enumerate(generators):
        if g is not None:
            out[k] = draw(like.shape[1:], g)
    return out


def sitting_out(generators: Generators) -> list[int]:
    """Members whose generator is None: they sit this forward out (no draws, no state change).

    The population passes None for a member the plain model would not run this forward for
    (an update-ratio substep it skips, a penalty it does not use), so its random stream and
    running statistics stay exactly where the plain run leaves them. `generators=None` as a
    whole is the fast path: every member takes part, random draws are batched.
    """
    return [] if generators is None else [k for k, g in enumerate(generators) if g is None]


class BatchedBatchNorm(BatchedModule):
    """K nn.BatchNorm1d/2d: member k's channels normalised over its own batch.

    Members' channels are laid side by side, (K, N, C, ...) -> (N, K*C, ...), and one
    F.batch_norm runs over K*C channels: per-channel arithmetic and running-stat updates are
    the plain layer's, bit for bit on CPU (tests/test_population_layers.py).
    """

    def __init__(self, num_members: int, num_features: int, eps=1e-5, momentum=0.1, **kw):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_members, num_features, **kw))
        self.bias = nn.Parameter(torch.zeros(num_members, num_features, **kw))
        self.register_buffer("running_mean", torch.zeros(num_members, num_features, **kw))
        self.register_buffer("running_var", torch.ones(num_members, num_features, **kw))
        counts = torch.zeros(num_members, dtype=torch.long, device=kw.get("device"))
        self.register_buffer("num_batches_tracked", counts)

    def forward(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        k, n = x.shape[:2]
        side_by_side = x.transpose(0, 1).reshape(n, k * x.shape[2], *x.shape[3:])
        out = side_by_side
        idle = sitting_out(generators) if self.training else []
        saved = [t[idle].clone() for t in self._stats()] if idle else None
        if self.training:
            self.num_batches_tracked.add_(1)
        out = nn.functional.batch_norm(
            side_by_side,
            self.running_mean.view(-1),
            self.running_var.view(-1),
            self.weight.reshape(-1),
            self.bias.reshape(-1),
            self.training,
            self.momentum,
            self.eps,
        )
        if saved is not None:
            # Through .data, as F.batch_norm's own update: autograd saved these buffers and
            # would refuse a version bump (it reads them in backward, in eval mode only).
            for t, old in zip(self._stats(), saved, strict=True):
                t.data[idle] = old
        return out.reshape(n, k, *x.shape[2:]).transpose(0, 1)

    def _stats(self) -> list[torch.Tensor]:
        return [self.running_mean, self.running_var, self.num_batches_tracked]


def _shape_for(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(K,) -> (K, 1, 1, ...) to broadcast over a member's (N, ...) block."""
    return values.view(-1, *([1] * (x.dim() - 1)))


class BatchedDropout(BatchedModule):
    """nn.Dropout at each member's rate `dropout_p` (a float64 buffer: the config's exact value).

    With generators, member k's mask is drawn with generators[k] exactly as F.dropout draws
    it on CPU (empty_like(x).bernoulli_(1 - p), divided by 1 - p), and a member at p = 0
    draws nothing: the plain model has no dropout layer there.
    """

    HPARAMS = ("dropout_p",)

    def __init__(self, num_members: int, p: float = 0.0, device=None) -> None:
        super().__init__()
        rates = torch.full((num_members,), float(p), dtype=torch.float64, device=device)
        self.register_buffer("dropout_p", rates)

    def rates(self) -> list[float]:
        return self.hparam_floats("dropout_p")

    def forward(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        rates = self.rates()
        if not self.training or not any(rates):
            return x  # as the plain model, which has no dropout layer at rate 0
        if generators is None:  # fast path: one draw for every member
            keep = _shape_for(1 - self.dropout_p.to(x.dtype), x)
            return x * (torch.rand_like(x) < keep).to(x.dtype) / keep
        if all(g is None for g in generators):
            return x
        # One mask in x's own layout (a member at p = 0 or sitting out keeps 1s: x * 1 == x),
        # each member's slice drawn contiguous as the plain layer's input is: x[k] may be a
        # strided view (the DCGAN's side-by-side channels), which empty_like would follow.
        mask = torch.ones_like(x)
        for k, (p, g) in enumerate(zip(rates, generators, strict=True)):
            if p > 0 and g is not None:
                noise = torch.empty(x[k].shape, dtype=x.dtype, device=x.device)
                mask[k] = noise.bernoulli_(1 - p, generator=g).div_(1 - p)
        return x * mask


class BatchedLeakyReLU(BatchedModule):
    """nn.LeakyReLU at each member's `leaky_slope` (buffer in the model's dtype, as F.leaky_relu
    casts its slope to the input's dtype)."""

    HPARAMS = ("leaky_slope",)

    def __init__(self, num_members: int, slope: float = 0.01, **kw) -> None:
        super().__init__()
        self.register_buffer("leaky_slope", torch.full((num_members,), float(slope), **kw))

    def forward(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        slopes = self.hparam_floats("leaky_slope")
        if all(v == slopes[0] for v in slopes):  # one slope: the plain kernel, 5x faster
            return nn.functional.leaky_relu(x, slopes[0])
        # F.prelu with one slope per channel of dim 1: members moved there, (N, K, ...).
        # The same arithmetic as F.leaky_relu (x or slope * x), one kernel each way
        # (torch.where(x > 0, x, slope * x) took 3 and 30 % of a 3x128 MLP's step).
        return nn.functional.prelu(x.transpose(0, 1), self.leaky_slope).transpose(0, 1)


@torch.no_grad()
def power_iteration(
    weight_mat: torch.Tensor, u: torch.Tensor, v: torch.Tensor, members: list[int] | None
) -> None:
    """One power-iteration step of torch's spectral norm, in place on u (K, O) and v (K, I).

    members=None: batched (fast path). A list: member by member with torch's own calls
    (mv, normalize), which matches the plain parametrization bit for bit; members left out
    keep their vectors (they sit this forward out).
    """
    eps = SPECTRAL_EPS
    if members is None:
        ut = torch.bmm(weight_mat, v.unsqueeze(-1))[..., 0]
        u.copy_(nn.functional.normalize(ut, dim=-1, eps=eps))
        vt = torch.bmm(weight_mat.transpose(1, 2), u.unsqueeze(-1))[..., 0]
        v.copy_(nn.functional.normalize(vt, dim=-1, eps=eps))
        return
    for k in members:
        nn.functional.normalize(torch.mv(weight_mat[k], v[k]), dim=0, eps=eps, out=u[k])
        nn.functional.normalize(torch.mv(weight_mat[k].H, u[k]), dim=0, eps=eps, out=v[k])


SPECTRAL_EPS = 1e-12  # torch.nn.utils.parametrizations.spectral_norm's default


def spectrally_normalized(
    weight: torch.Tensor, u: torch.Tensor, v: torch.Tensor, exact: bool
) -> torch.Tensor:
    """weight_k / sigma_k with sigma_k = u_k . (W_k v_k), W_k = weight_k flattened to (O, -1).

    exact: member by member with torch's calls (vdot, mv, a 0-dim divide), so the value and
    its gradient are the plain parametrization's bit for bit; else batched.
    """
    u, v = u.clone(), v.clone()
    mats = weight.flatten(2)
    if not exact:
        sigma = torch.linalg.vecdot(u, torch.bmm(mats, v.unsqueeze(-1))[..., 0])
        return weight / sigma.view(-1, *([1] * (weight.dim() - 1)))
    return torch.stack(
        [weight[k] / torch.vdot(u[k], torch.mv(mats[k], v[k])) for k in range(len(u))]
    )


class BatchedSpectralNormLinear(BatchedLinear):
    """BatchedLinear whose weight is divided by its spectral norm, as
    torch.nn.utils.parametrizations.spectral_norm does: one power iteration per training
    forward (per member taking part), none in eval mode.

    Tensors in the plain parametrized Linear's state-dict order: bias, weight (the
    parametrization's `original`), u, v.
    """

    def __init__(self, num_members: int, in_features: int, out_features: int, bias=True, **kw):
        super().__init__(num_members, in_features, out_features, bias=bias, **kw)
        # Registered after bias so the order is the plain module's: bias, original, _u, _v.
        weight = self._parameters.pop("weight")
        self.register_parameter("weight", weight)
        for name, size in (("_u", out_features), ("_v", in_features)):
            vector = weight.detach().new_empty(num_members, size).normal_()
            self.register_buffer(name, nn.functional.normalize(vector, dim=-1))

    def plain_renames(self) -> dict[str, str]:
        return {
            "weight": "parametrizations.weight.original",
            "_u": "parametrizations.weight.0._u",
            "_v": "parametrizations.weight.0._v",
        }

    def forward(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        exact = generators is not None
        if self.training:
            idle = set(sitting_out(generators))
            members = [k for k in range(len(self._u)) if k not in idle] if exact else None
            power_iteration(self.weight.flatten(2), self._u, self._v, members)
        return self.apply_weight(x, spectrally_normalized(self.weight, self._u, self._v, exact))


def batched_d_activation(cfg, k: int, leaky: type = BatchedLeakyReLU) -> tuple[int, nn.Module]:
    """models.layers.d_activation for K members: (width multiplier of the layer before,
    activation); `leaky` is the layout's LeakyReLU (the DCGAN's: population/conv.py)."""
    if cfg.d_activation == "maxout":  # model.d_activation: PacGAN's maxout D
        return cfg.maxout_pieces, Maxout(cfg.maxout_pieces, dim=2)  # after the member axis
    return 1, leaky(k, cfg.leaky_slope)


class BatchedDiscriminator(BatchedModule):
    """models.layers.Discriminator for K members: D = head(body(pack(x))), logits (K, N / pack).

    Subclasses build `body` (a BatchedSequential ending in flat features) and call
    `_make_heads`, as the plain architectures do, so the state dicts match member by member.
    """

    body: BatchedSequential
    head: BatchedLinear
    q_head: BatchedLinear | None  # InfoGAN's Q; set by _make_heads
    pack: int

    def _make_heads(self, cfg, width: int, k: int, linear: type[BatchedLinear]) -> None:
        """The logit head and Q (of the same layer kind: spectral norm wraps both in the
        plain D) on `width` features (plus minibatch std's one, if on)."""
        if cfg.minibatch_std:  # model.minibatch_std: the batch's spread as a feature
            self.body.append(MinibatchStd(cfg.minibatch_std))  # per member: its own groups
            width += 1
        self.pack = cfg.pack
        self.head = linear(k, width, 1)
        codes = cfg.info_categorical + cfg.info_continuous
        self.q_head = linear(k, width, codes) if codes else None

    def packed(self, x: torch.Tensor) -> torch.Tensor:
        # model.pack per member: (K, N, C, ...) -> (K, N / m, m * C, ...), as the plain D
        k, n, c = x.shape[:3]
        return x.reshape(k, n // self.pack, self.pack * c, *x.shape[3:])

    def forward(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        """One logit per member and pack, (K, N / model.pack)."""
        return self.head(self.features(x, generators), generators)[..., 0]

    def features(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        """The head's input per member, (K, N / model.pack, F): feature matching reads it."""
        return self.body(self.packed(x), generators)

    def q(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        """InfoGAN's Q per member, (K, N, codes): the plain D's q."""
        return self.q_head(self.features(x, generators), generators)

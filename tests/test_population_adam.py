"""BatchedAdam equals torch.optim.Adam member by member: parameters and state, bit for bit."""

import pytest
import torch

from gan_core.population.adam import BatchedAdam

HYPER = [  # (lr, beta1, beta2, eps) per member
    (2e-4, 0.5, 0.999, 1e-8),
    (1e-3, 0.9, 0.99, 1e-8),
    (5e-5, 0.0, 0.9, 1e-6),
]


def stacked_and_plain(dtype, hyper=HYPER):
    torch.manual_seed(0)
    shapes = [(33, 17), (17,)]
    stacked = [torch.randn(len(hyper), *s, dtype=dtype, requires_grad=True) for s in shapes]
    plain = [
        [t[k].detach().clone().requires_grad_(True) for t in stacked] for k in range(len(hyper))
    ]
    opt = BatchedAdam(
        stacked, lr=[h[0] for h in hyper], betas=[h[1:3] for h in hyper], eps=[h[3] for h in hyper]
    )
    plain_opts = [
        torch.optim.Adam(ps, lr=lr, betas=(b1, b2), eps=eps)
        for ps, (lr, b1, b2, eps) in zip(plain, hyper, strict=True)
    ]
    return stacked, plain, opt, plain_opts


def set_grads(stacked, plain, step):
    g = torch.Generator().manual_seed(step)
    for i, t in enumerate(stacked):
        t.grad = torch.randn(t.shape, generator=g, dtype=t.dtype)
        for k, ps in enumerate(plain):
            ps[i].grad = t.grad[k].clone()


def assert_member_equal(stacked, plain, opt, plain_opts, k):
    for i, p in enumerate(plain[k]):
        assert torch.equal(stacked[i][k], p)
        ref = plain_opts[k].state[p]
        mine = opt.member_state(k)[i]
        assert torch.equal(mine["exp_avg"], ref["exp_avg"])
        assert torch.equal(mine["exp_avg_sq"], ref["exp_avg_sq"])
        assert mine["step"] == ref["step"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batched_adam_equals_torch_adam_member_by_member(dtype):
    stacked, plain, opt, plain_opts = stacked_and_plain(dtype)
    for step in range(20):
        set_grads(stacked, plain, step)
        opt.step()
        for o in plain_opts:
            o.step()
    for k in range(len(HYPER)):
        assert_member_equal(stacked, plain, opt, plain_opts, k)


# Distinct lr and betas: every scalar is a per-member tensor. Shared ones: the update passes
# Python floats as torch's Adam does, and once the masks put members at different steps the
# bias corrections become tensors next to shared floats (both forms in one update).
MASKED = {
    "distinct": (HYPER, [(True, False, True), (False, True, True), (True, True, True)], [8, 8, 12]),
    "shared": ([HYPER[0]] * 3, [(True, True, True), (True, False, True), (True, True, True)],
               [12, 8, 12]),
}  # fmt: skip


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", sorted(MASKED))
def test_masked_members_skip_the_step_and_stay_equal_to_their_own_adam(case, dtype):
    hyper, masks, steps = MASKED[case]
    stacked, plain, opt, plain_opts = stacked_and_plain(dtype, hyper)
    for step, mask in enumerate(masks * 4):
        set_grads(stacked, plain, step)
        opt.step(mask)
        for o, active in zip(plain_opts, mask, strict=True):
            if active:
                o.step()
    assert opt.steps == steps
    for k in range(len(hyper)):
        assert_member_equal(stacked, plain, opt, plain_opts, k)


def test_keep_append_and_checkpoint_carry_each_members_state():
    stacked, plain, opt, plain_opts = stacked_and_plain(torch.float32)
    for step in range(3):
        set_grads(stacked, plain, step)
        opt.step()
        for o in plain_opts:
            o.step()
    index = torch.tensor([2, 0])
    for t in stacked:  # what BatchedModule.keep does to the parameters
        t.data = t.data[index].clone()
    opt.keep(index)
    assert opt.lr == [5e-5, 2e-4] and opt.steps == [3, 3]
    assert torch.equal(
        opt.member_state(0)[0]["exp_avg"], plain_opts[2].state[plain[2][0]]["exp_avg"]
    )
    for t in stacked:
        t.data = torch.cat([t.data, torch.zeros_like(t.data[:1])])
    opt.append([1e-2], [(0.5, 0.9)])
    assert opt.steps == [3, 3, 0]
    assert torch.equal(opt.exp_avg[0][2], torch.zeros(33, 17))
    restored = BatchedAdam(stacked, lr=[0.0] * 3, betas=[(0.0, 0.0)] * 3)
    restored.load_state_dict(opt.state_dict())
    assert restored.lr == opt.lr and restored.betas == opt.betas and restored.steps == opt.steps
    assert all(torch.equal(a, b) for a, b in zip(restored.exp_avg_sq, opt.exp_avg_sq, strict=True))

"""A fault the population sweep test puts into a sweep: one member whose batched step
raises (tests/test_sweep_populations.py). Nothing in gansweep imports this module.

The driver marks one member by its seed (`mark_member`, in the driver process, where the
searcher writes each member's config); Ray starts every worker with
`raise_for_the_marked_member` (`ray.init(runtime_env={"worker_process_setup_hook": ...})`),
which makes the population's train step raise once the marked member is at RAISE_AT.
"""

from __future__ import annotations

MARKED_SEED = 4242
RAISE_AT = 70  # between eval points (tiny: every 20), so the member repeats 60 -> 70 alone
MESSAGE = "test: the batched step raises for the marked member"


def raise_for_the_marked_member() -> None:
    from gan_core.population import trainer

    real = trainer.train_step

    def train_step(modules, next_batch, cfgs, steps, *args, **kwargs):
        if any(
            c.train.seed == MARKED_SEED and s >= RAISE_AT for c, s in zip(cfgs, steps, strict=True)
        ):
            raise RuntimeError(MESSAGE)
        return real(modules, next_batch, cfgs, steps, *args, **kwargs)

    trainer.train_step = train_step


def mark_member(suffix: str = "-m1") -> None:
    """The first member whose id ends with `suffix` trains with seed MARKED_SEED."""
    from pipelines.sweep.trial import TrialPlan

    real = TrialPlan.record_config
    marked: list[str] = []

    def record_config(self, trial_id, sampled):
        if trial_id.endswith(suffix) and not marked:
            marked.append(trial_id)
            sampled = {**sampled, "train.seed": MARKED_SEED}
        real(self, trial_id, sampled)

    TrialPlan.record_config = record_config

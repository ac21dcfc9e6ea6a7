"""A population step reuses freed memory instead of fresh pages (gan_core/population/memory.py)."""

import resource

import pytest

from gan_core.population.memory import keep_freed_memory
from gan_core.population.step import train_step
from gan_core.population.trainer import PopulationTrainer
from tests.helpers import tiny_digits_config


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def test_a_population_step_reuses_freed_memory_instead_of_fresh_pages():
    # 8 digits DCGAN members at the benchmark's size: a step's tensors are 0.5-2 MB each,
    # which glibc's default thresholds served with ~1,400 fresh pages per step.
    shape = {"model.ngf": 16, "model.ndf": 16, "optim.batch_size": 64}
    pop = PopulationTrainer([tiny_digits_config(**shape, **{"train.seed": s}) for s in range(8)])
    if not keep_freed_memory():
        pytest.skip("the allocator is not glibc's: nothing is tuned")
    state = pop._last, pop._last_batch

    def steps(n: int) -> None:
        nonlocal state
        for _ in range(n):
            state = train_step(
                pop.modules, pop.next_batch, pop.cfgs, pop.steps, pop.generators,
                [True] * pop.num_members, *state,
            )  # fmt: skip

    steps(6)  # first-call allocations (optimizer scratch, oneDNN primitives)
    before = minor_faults()
    steps(6)
    faults = (minor_faults() - before) / 6
    assert faults < 200, f"{faults:.0f} page faults per step (1,100-1,800 with glibc's defaults)"

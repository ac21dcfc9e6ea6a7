"""What a loaded space is: plain frozen dataclasses, already validated by `parse.py`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gan_core.config import ConfigError, GanConfig
from gan_core.monitor import FAILURE_MODES


class SpaceError(ConfigError):
    """A search space that cannot be swept; the message names the file, line and key."""


@dataclass(frozen=True)
class Param:
    """One sampled config key. `when` makes it conditional: {parent key: allowed values}."""

    key: str
    kind: str  # "float" | "int" | "categorical"
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple = ()
    when: tuple[tuple[str, tuple], ...] = ()

    def is_active(self, values: dict[str, Any]) -> bool:
        """Whether this key is sampled, given the values sampled before it."""
        return all(values.get(parent) in allowed for parent, allowed in self.when)


@dataclass(frozen=True)
class Budget:
    trials: int = 16
    max_steps: int = 2000
    concurrency: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    # members trained as one batched model per Ray trial (docs/population.md); 1: one each
    population: int = 1


@dataclass(frozen=True)
class Pruning:
    """The pruning settings of a space."""

    milestones: tuple[int, ...] = (500, 1000)  # as written; `milestones_for` doubles onwards
    quantile: float = 0.5  # share of the trials seen at a milestone that are stopped there
    min_peers: int = 3  # results a milestone needs before it ranks anyone
    health: tuple[str, ...] = FAILURE_MODES  # failure modes that stop a trial
    health_from: int = 500  # ... from this step on (diverged stops at any step)

    def milestones_for(self, max_steps: int) -> tuple[int, ...]:
        """The written milestones, then doubling the last one, all below max_steps.

        (500, 1000) with 6000 steps -> (500, 1000, 2000, 4000); () turns rank pruning off.
        """
        out = [m for m in self.milestones if m < max_steps]
        if out:
            nxt = out[-1] * 2
            while nxt < max_steps:
                out.append(nxt)
                nxt *= 2
        return tuple(out)


@dataclass(frozen=True)
class Space:
    name: str
    path: Path
    description: str
    base: GanConfig  # base file + `set`, with train.steps = budget.max_steps
    params: tuple[Param, ...]
    metric: str
    direction: str  # "min" | "max"
    budget: Budget
    pruning: Pruning
    seed: int = 0
    startup_trials: int = 5
    raw_base: dict = field(default_factory=dict, repr=False)

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.params]

    @property
    def milestones(self) -> tuple[int, ...]:
        return self.pruning.milestones_for(self.budget.max_steps)

    def config_for(self, overrides: dict[str, Any]) -> GanConfig:
        """The full config of one trial: base + its sampled dotted overrides."""
        return self.base.with_overrides(dict(overrides), source=f"{self.name} trial")

    def with_budget(self, **changes: Any) -> Space:
        """A copy with budget fields replaced (None leaves a field as it is)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            return self
        from search_spaces.parse import check_budget

        budget = dataclasses.replace(self.budget, **changes)
        check_budget(budget, str(self.path))
        base = self.base.with_overrides({"train.steps": budget.max_steps}, source="budget")
        return dataclasses.replace(self, budget=budget, base=base)

    def with_data(self, source: str | None) -> Space:
        """A copy whose base config reads another data set (DATA=path on the command line)."""
        if not source:
            return self
        base = self.base.with_overrides({"data.source": source}, source="DATA")
        return dataclasses.replace(self, base=base)

"""Refuse a sweep that cannot learn before Ray starts: the core's pre-flight checks on the
base config and on the corners of the space, and the objective's direction against the
data family's evaluator."""

from __future__ import annotations

from gan_core.checks import PreflightError, preflight
from gan_core.data import load_dataset
from gan_core.metrics import build_evaluator
from search_spaces import Space, SpaceError
from search_spaces.combos import corner_assignments

MAX_CORNERS_CHECKED = 64


def check_space_before_start(space: Space) -> list[str]:
    """Warnings to print; raises PreflightError/SpaceError with what to change."""
    cfg = space.base
    dataset = load_dataset(cfg.data, cfg.train.seed)
    warnings = preflight(cfg, dataset)
    for values in corner_assignments(space.params)[:MAX_CORNERS_CHECKED]:
        try:
            preflight(space.config_for(values), dataset)
        except PreflightError as err:
            shown = ", ".join(f"{k}={v!r}" for k, v in values.items())
            raise SpaceError(
                f"{space.path}: params: the space can sample a config that fails the "
                f"pre-flight checks: {shown}\n{err}"
            ) from err
    # Building the evaluator here also fills the feature-net cache once, before the trials
    # would each train it at the same time.
    evaluator = build_evaluator(dataset, cfg.train.eval_samples, cfg.train.seed)
    if space.metric == "objective" and evaluator.direction != space.direction:
        raise SpaceError(
            f"{space.path}: objective.direction is {space.direction!r}, but the "
            f"{dataset.family} objective ({evaluator.objective}) is better when "
            f"{evaluator.direction}; write direction: {evaluator.direction}"
        )
    if space.metric != "objective" and space.metric not in evaluator.keys:
        raise SpaceError(
            f"{space.path}: objective.metric {space.metric!r} is not a metric of the "
            f"{dataset.family} family; choose one of {list(evaluator.keys)}"
        )
    return warnings

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
    warnings = device_against_budget(space)
    dataset = load_dataset(cfg.data, cfg.train.seed)
    warnings += preflight(cfg, dataset)
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


def device_against_budget(space: Space) -> list[str]:
    """The base's train.device must agree with the GPUs each trial asks Ray for."""
    device, gpus = space.base.train.device, space.budget.gpus_per_trial
    if device.startswith("cuda") and gpus == 0:
        raise SpaceError(
            f"{space.path}: train.device is {device!r} but budget.gpus_per_trial is 0, so "
            "Ray reserves no GPU for the trials and every one would share the first GPU "
            "unaccounted; give each trial a share (make sweep GPUS_PER_TRIAL=0.25 packs 4 "
            "on a GPU), or set train.device: auto (the GPU when Ray gives one, else the CPU)"
        )
    if device == "cpu" and gpus > 0:
        return [
            f"budget.gpus_per_trial is {gpus:g} but train.device is 'cpu': each trial holds "
            "a GPU share it does not use; set train.device: auto to train on it"
        ]
    return []

"""A space as Optuna sees it: a define-by-run function (so conditional keys are only sampled
when their parent's value enables them) and the seeded multivariate TPE sampler."""

from __future__ import annotations

import warnings
from typing import Any

import optuna

from search_spaces import Param, Space


def define_by_run(space: Space) -> DefineByRun:
    """Sample each active key of `space` in order; Ray's OptunaSearch captures the values.

    The parameter names are the dotted config keys, so what Optuna, Ray, MLflow and the
    exported config show are the same names.
    """
    return DefineByRun(space.params)


class DefineByRun:
    """A picklable define-by-run function (OptunaSearch pickles it with the searcher state)."""

    def __init__(self, params: tuple[Param, ...]):
        self.params = params

    def __call__(self, trial: optuna.Trial) -> None:
        values: dict[str, Any] = {}
        for p in self.params:
            if p.is_active(values):
                values[p.key] = suggest(trial, p)


def suggest(trial: optuna.Trial, p: Param) -> Any:
    if p.kind == "categorical":
        return trial.suggest_categorical(p.key, list(p.choices))
    if p.kind == "int":
        return trial.suggest_int(p.key, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
    return trial.suggest_float(p.key, float(p.low), float(p.high), step=p.step, log=p.log)


def distributions(space: Space) -> dict[str, optuna.distributions.BaseDistribution]:
    """Each key's Optuna distribution (to rebuild a study from the table of trials)."""
    out: dict[str, optuna.distributions.BaseDistribution] = {}
    for p in space.params:
        if p.kind == "categorical":
            out[p.key] = optuna.distributions.CategoricalDistribution(list(p.choices))
        elif p.kind == "int":
            out[p.key] = optuna.distributions.IntDistribution(
                int(p.low), int(p.high), log=p.log, step=int(p.step or 1)
            )
        else:
            out[p.key] = optuna.distributions.FloatDistribution(
                float(p.low), float(p.high), log=p.log, step=p.step
            )
    return out


def sampler_for(space: Space) -> optuna.samplers.TPESampler:
    """Multivariate TPE, seeded; `group` so conditional keys are modelled with their parents.

    constant_liar: with several trials running at once, TPE pretends the running ones
    scored badly so it does not propose the same point to each of them.
    """
    has_conditions = any(p.when for p in space.params)
    with warnings.catch_warnings():  # `group` is marked experimental since Optuna 2.8
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=space.seed,
            n_startup_trials=space.startup_trials,
            multivariate=True,
            group=has_conditions,
            constant_liar=True,
        )

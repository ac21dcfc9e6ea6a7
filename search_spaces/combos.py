"""Catch, at load time, sampled combinations the config refuses (its cross-key rules).

Each key alone may be fine while a combination is not: label smoothing with the hinge
loss, or d_steps_per_g and g_steps_per_d both above 1. Every combination of the
categorical choices is tried with the numeric keys at their low and at their high ends,
so a trial never dies on a config error that the space file could have prevented.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from gan_core.config import ConfigError, GanConfig
from search_spaces.model import Param, SpaceError
from search_spaces.where import Where

MAX_COMBINATIONS = 512  # beyond this, a seeded sample of them (loading must stay instant)


def check_combinations(params: tuple[Param, ...], base: GanConfig, where: Where) -> None:
    for values in corner_assignments(params):
        try:
            base.with_overrides(values, source="combination")
        except ConfigError as err:
            shown = ", ".join(f"{k}={v!r}" for k, v in values.items())
            raise SpaceError(
                f"{where.at('params')}: the space can sample a config the trainer refuses: "
                f"{shown}\n  -> {err}\n  Make the dependent key conditional with "
                "`when: {<categorical key>: [<values it works with>]}`, or narrow its range."
            ) from err


def corner_assignments(params: tuple[Param, ...]) -> list[dict[str, Any]]:
    """Active values for each categorical combination x {all numeric low, all numeric high}."""
    categorical = [p for p in params if p.kind == "categorical"]
    combos = list(itertools.islice(itertools.product(*(p.choices for p in categorical)), 100_000))
    if len(combos) > MAX_COMBINATIONS:
        combos = random.Random(0).sample(combos, MAX_COMBINATIONS)
    out = []
    for combo in combos:
        chosen = dict(zip((p.key for p in categorical), combo, strict=True))
        for end in ("low", "high"):
            values: dict[str, Any] = {}
            for p in params:
                if p.is_active(values):
                    values[p.key] = chosen[p.key] if p.kind == "categorical" else getattr(p, end)
            out.append(values)
    return out

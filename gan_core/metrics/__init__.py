"""Quality metrics of generated samples, one evaluator per data family.

    evaluator = build_evaluator(dataset, n_samples=2000, seed=0)
    metrics = evaluator(fake)            # {"metric/...": float, "coverage": ..., "diversity_ratio": ...}
    metrics[evaluator.objective]         # the family's default objective; evaluator.direction: min|max

Every evaluator draws a fixed real reference sample of n_samples with the seed
and precomputes what depends on it alone, so a call pays for the fakes only.
Definitions, default objectives and measured floors: docs/metrics.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gan_core.metrics.base import Evaluator, MetricError
from gan_core.metrics.images import ImageEvaluator
from gan_core.metrics.points import PointsEvaluator
from gan_core.metrics.tables import TableEvaluator
from gan_core.metrics.threads import one_thread

if TYPE_CHECKING:
    from gan_core.data import Dataset

EVALUATORS: dict[str, type[Evaluator]] = {
    "points": PointsEvaluator,
    "image": ImageEvaluator,
    "table": TableEvaluator,
}


def build_evaluator(dataset: Dataset, n_samples: int, seed: int = 0) -> Evaluator:
    """The evaluator of the dataset's family, with its reference sample drawn with `seed`."""
    family = getattr(dataset, "family", None)
    if family not in EVALUATORS:
        raise MetricError(
            f"data set {getattr(dataset, 'name', '?')!r}: no metrics for family {family!r}; "
            f"known families: {sorted(EVALUATORS)}"
        )
    with one_thread():  # the reference features and statistics: see threads.py
        return EVALUATORS[family](dataset, n_samples, seed)


__all__ = [
    "EVALUATORS",
    "Evaluator",
    "ImageEvaluator",
    "MetricError",
    "PointsEvaluator",
    "TableEvaluator",
    "build_evaluator",
]

"""Metrics of tables, in model scale (every column scaled alike, so columns compare).

Per column: the two-sample Kolmogorov-Smirnov statistic and the Wasserstein-1
distance. Between columns: the Pearson correlation matrices. The summary
`quality` in [0, 1] follows SDMetrics' quality report: the mean of "column
shapes" (mean of 1 - KS) and "column pair trends" (mean over column pairs of
1 - |r_real - r_fake| / 2). The default objective is `quality_gap` = 1 - quality
(lower is better): it sees the marginals and the dependencies between columns,
where the mean KS alone would pass a generator that shuffles columns apart.
"""

from __future__ import annotations

import numpy as np
import torch

from gan_core.metrics.base import Evaluator
from gan_core.metrics.distances import knn_reference, prdc


def correlation_matrix(x: np.ndarray) -> np.ndarray:
    """Pearson correlations; a constant column correlates 0 with the rest (not NaN)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(x, rowvar=False)
    return np.nan_to_num(np.atleast_2d(corr), nan=0.0)


def column_distances(real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column: KS statistic and Wasserstein-1 distance (scipy.stats)."""
    from scipy.stats import ks_2samp, wasserstein_distance  # lazy: keeps the core import light

    ks = np.array([ks_2samp(real[:, j], fake[:, j]).statistic for j in range(real.shape[1])])
    w1 = np.array([wasserstein_distance(real[:, j], fake[:, j]) for j in range(real.shape[1])])
    return ks, w1


class TableEvaluator(Evaluator):
    family = "table"
    keys = (
        "metric/ks_mean",
        "metric/ks_max",
        "metric/w1_mean",
        "metric/corr_dist",
        "metric/column_shapes",
        "metric/column_pair_trends",
        "metric/quality",
        "metric/quality_gap",
        "metric/precision",
        "metric/recall",
        "metric/density",
        "coverage",
        "diversity_ratio",
    )
    objective = "metric/quality_gap"
    direction = "min"

    def __init__(self, dataset, n_samples: int, seed: int = 0) -> None:
        super().__init__(dataset, n_samples, seed)
        names = dataset.columns or [f"x{j}" for j in range(self.sample_shape[0])]
        self.columns = [str(c) for c in names]
        self.scaler = dataset.scaler
        self.real = self.reference.double().numpy()
        self.real_corr = correlation_matrix(self.real)
        self.pairs = np.triu_indices(self.real.shape[1], k=1)
        self.real_knn = knn_reference(self.reference)

    def _evaluate(self, fake: torch.Tensor) -> dict[str, float]:
        x = fake.double().numpy()
        ks, w1 = column_distances(self.real, x)
        corr_diff = np.abs(correlation_matrix(x) - self.real_corr)[self.pairs]
        # One column has no pairs: its tables are judged on column shapes alone.
        corr_dist = float(corr_diff.mean()) if corr_diff.size else 0.0
        shapes = float(np.mean(1.0 - ks))
        trends = 1.0 - corr_dist / 2.0 if corr_diff.size else shapes
        quality = (shapes + trends) / 2.0
        knn = prdc(self.real_knn, fake)
        return {
            "metric/ks_mean": float(ks.mean()),
            "metric/ks_max": float(ks.max()),
            "metric/w1_mean": float(w1.mean()),
            "metric/corr_dist": corr_dist,
            "metric/column_shapes": shapes,
            "metric/column_pair_trends": trends,
            "metric/quality": quality,
            "metric/quality_gap": 1.0 - quality,
            "metric/precision": knn["precision"],
            "metric/recall": knn["recall"],
            "metric/density": knn["density"],
            "coverage": knn["coverage"],
            "diversity_ratio": knn["mean_pairwise"] / self.real_knn.mean_pairwise,
        }

    def column_report(self, fake: torch.Tensor) -> list[dict]:
        """Per column: KS, W1 in model scale and, with a scaler, W1 in the original units."""
        x = self._check(fake).double().numpy()
        ks, w1 = column_distances(self.real, x)
        rows = [
            {"column": c, "ks": float(k), "w1": float(w)} for c, k, w in zip(self.columns, ks, w1)
        ]
        if self.scaler is not None:
            real_raw = self.scaler.inverse_transform(self.real)
            _, w1_raw = column_distances(real_raw, self.scaler.inverse_transform(x))
            for row, w in zip(rows, w1_raw):
                row["w1_original_units"] = float(w)
        return rows

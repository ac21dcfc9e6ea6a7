"""The table metrics measure what they claim, on scikit-learn's breast cancer table."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_core.metrics import build_evaluator
from gan_core.metrics.tables import column_distances
from tests.metrics_helpers import load, noisy, split, strictly_increasing

OBJECTIVE = "metric/quality_gap"


@pytest.fixture(scope="module")
def table():
    """(evaluator on 285 real rows, the other 284 rows, data set)."""
    ds = load("breast_cancer")
    ref, other, _ = split(ds, 285)
    return build_evaluator(ref, 2000, seed=0), other, ds


def test_real_vs_disjoint_real_is_the_floor(table):
    ev, other, _ = table
    m = ev(other)
    assert ev.objective == OBJECTIVE and ev.direction == "min"
    assert 0 <= m["metric/quality"] <= 1 and m["metric/quality"] > 0.9
    assert m["metric/quality_gap"] == pytest.approx(1 - m["metric/quality"])
    assert m["metric/ks_mean"] < 0.1 and m["metric/corr_dist"] < 0.1
    assert m["coverage"] > 0.9 and m["diversity_ratio"] == pytest.approx(1.0, abs=0.1)


def test_shifted_columns_worsen_every_column_metric_step_by_step(table):
    ev, other, _ = table
    half = torch.arange(other.shape[1]) % 2 == 0  # shift every other column
    steps = [other + shift * half for shift in (0, 0.05, 0.1, 0.2, 0.4, 0.8)]
    metrics = [ev(s) for s in steps]
    for key in (OBJECTIVE, "metric/ks_mean", "metric/w1_mean"):
        assert strictly_increasing([m[key] for m in metrics]), key
    # A shift moves marginals, not correlations.
    assert all(
        m["metric/corr_dist"] == pytest.approx(metrics[0]["metric/corr_dist"]) for m in metrics
    )


def test_noise_worsens_the_objective_step_by_step(table):
    ev, other, _ = table
    steps = [noisy(other, s) for s in (0, 0.1, 0.2, 0.4, 0.8)]
    assert strictly_increasing([ev(s)[OBJECTIVE] for s in steps])


def test_objective_sees_broken_dependencies_that_the_marginals_hide(table):
    """Each column shuffled on its own: identical marginals, correlations gone."""
    ev, other, _ = table
    g = torch.Generator().manual_seed(0)
    shuffled = torch.stack([c[torch.randperm(len(c), generator=g)] for c in other.T], dim=1)
    real, broken = ev(other), ev(shuffled)
    assert broken["metric/ks_mean"] == pytest.approx(real["metric/ks_mean"])
    assert broken["metric/corr_dist"] > 4 * real["metric/corr_dist"]
    assert broken[OBJECTIVE] > 2 * real[OBJECTIVE]


def test_a_one_row_generator_scores_as_collapsed(table):
    ev, other, _ = table
    m = ev(other[:1].expand(200, -1))
    assert m["diversity_ratio"] < 0.1 and m["coverage"] < 0.1
    assert m[OBJECTIVE] > 5 * ev(other)[OBJECTIVE]


def test_column_report_names_columns_and_reads_w1_in_original_units(table):
    ev, other, ds = table
    rows = ev.column_report(other + 0.1)
    assert [r["column"] for r in rows] == ds.columns
    scale = torch.as_tensor(ds.scaler.scale)
    for row, s in zip(
        rows, scale, strict=True
    ):  # min-max is affine: original W1 = model W1 / scale
        assert row["w1_original_units"] == pytest.approx(row["w1"] / float(s), rel=1e-6)


def test_column_distances_agree_with_scipy_even_with_ties():
    from scipy.stats import ks_2samp, wasserstein_distance

    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(300, 4)), rng.normal(0.2, 1.5, size=(700, 4))
    fake[:, 1] = np.round(fake[:, 1])  # ties, as in integer-valued columns
    ks, w1 = column_distances(real, fake)
    for j in range(4):
        assert ks[j] == pytest.approx(ks_2samp(real[:, j], fake[:, j]).statistic, abs=1e-12)
        assert w1[j] == pytest.approx(wasserstein_distance(real[:, j], fake[:, j]), abs=1e-12)


def test_a_constant_generated_column_gives_finite_metrics(table):
    ev, other, _ = table
    fake = other.clone()
    fake[:, 0] = 0.5  # a dead output unit
    assert all(np.isfinite(v) for v in ev(fake).values())

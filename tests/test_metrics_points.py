"""The 2-D mixture metrics measure what they claim: floor, corruption, collapse, precision."""

from __future__ import annotations

import math

import pytest
import torch

from gan_core.metrics import MetricError, build_evaluator
from tests.metrics_helpers import (
    evaluate_each,
    load,
    noisy,
    split,
    strictly_decreasing,
    strictly_increasing,
)

OBJECTIVE = "metric/swd_precision"


@pytest.fixture(scope="module", params=["ring8", "grid25"])
def mixture(request):
    """(evaluator on 2000 real points, 2000 other real points, their components, data set)."""
    ds = load(request.param, n_points=6000)
    ref, other, labels = split(ds, 2000)
    return build_evaluator(ref, 2000, seed=0), other[:2000], labels[:2000], ds


def test_real_vs_disjoint_real_is_the_floor(mixture):
    ev, other, _, ds = mixture
    m = ev(other)
    k = len(ds.modes)
    assert ev.objective == OBJECTIVE and ev.direction == "min"
    assert m["metric/modes"] == k and m["coverage"] == 1.0
    # P(|N(0, I_2)| < 3) = 1 - exp(-4.5) = 98.9 %; the mean radius of a 2-D normal is sqrt(pi/2)
    assert m["metric/hq_percent"] == pytest.approx(98.9, abs=0.8)
    assert m["metric/mode_dist_sigma"] == pytest.approx(math.sqrt(math.pi / 2), abs=0.08)
    assert m["metric/reverse_kl"] < 0.02
    assert m["diversity_ratio"] == pytest.approx(1.0, abs=0.05)


def test_objective_and_quality_worsen_step_by_step_with_noise(mixture):
    ev, other, _, ds = mixture
    steps = [noisy(other, s * ds.mode_std) for s in (0, 1, 2, 4, 8, 16, 32)]
    assert strictly_increasing(evaluate_each(ev, steps, OBJECTIVE))
    assert strictly_decreasing(evaluate_each(ev, steps[:6], "metric/hq_percent"))


def test_objective_ranks_samples_that_no_mode_count_can_tell_apart(mixture):
    """Early generators: every point far from every mode (0 modes, 0 % high quality)."""
    ev, other, _, ds = mixture
    steps = [noisy(other * t, 10 * ds.mode_std) for t in (0.95, 0.8, 0.6, 0.4, 0.2)]
    metrics = [ev(s) for s in steps]
    assert all(m["metric/hq_percent"] < 10 for m in metrics)
    assert strictly_increasing([m[OBJECTIVE] for m in metrics])


def test_dropping_modes_worsens_objective_coverage_and_reverse_kl(mixture):
    ev, other, labels, ds = mixture
    k = len(ds.modes)
    keeps = [k, k - 1, k // 2, 2, 1]
    steps = [other[labels < keep] for keep in keeps]
    metrics = [ev(s) for s in steps]
    assert [m["metric/modes"] for m in metrics] == keeps
    assert [m["coverage"] for m in metrics] == [keep / k for keep in keeps]
    assert strictly_increasing([m[OBJECTIVE] for m in metrics])
    assert strictly_increasing([m["metric/reverse_kl"] for m in metrics])
    assert metrics[-1]["metric/reverse_kl"] == pytest.approx(math.log(k), abs=1e-6)


def test_a_one_mode_generator_scores_as_collapsed(mixture):
    ev, other, _, ds = mixture
    one_mode = noisy(ds.modes[0].expand(2000, 2), ds.mode_std)
    m = ev(one_mode)
    assert m["metric/modes"] == 1 and m["coverage"] == pytest.approx(1 / len(ds.modes))
    assert m["diversity_ratio"] < 0.1  # the monitor's default collapse threshold
    assert m[OBJECTIVE] > 10 * ev(other)[OBJECTIVE]


def test_precision_term_sees_what_sliced_wasserstein_misses():
    """SWD picked a trial with 25 modes but 10 % high quality (docs/field-notes.md#design-runs)."""
    ds = load("grid25", n_points=4000)
    ref, other, _ = split(ds, 2000)
    ev = build_evaluator(ref, 2000)
    g = torch.Generator().manual_seed(3)
    spray = torch.rand(2000, 2, generator=g) * 10 - 5  # uniform over the grid's square
    tight = ev(other)
    for loose in (ev(noisy(other, 5 * ds.mode_std)), ev(spray)):
        assert loose["metric/hq_percent"] < 20
        swd_ratio = loose["metric/swd"] / tight["metric/swd"]
        objective_ratio = loose[OBJECTIVE] / tight[OBJECTIVE]
        assert objective_ratio > 1.5 * swd_ratio  # the objective sees the loss of precision


def test_fewer_fakes_than_the_reference_still_measure_the_floor(mixture):
    ev, other, _, _ = mixture
    assert ev(other[:500])[OBJECTIVE] < 1.5 * ev(other)[OBJECTIVE]


def test_points_without_modes_are_refused_with_the_reason():
    ds = load("ring8", n_points=200)
    ds.modes = None
    with pytest.raises(MetricError, match="modes"):
        build_evaluator(ds, 100)


def test_a_spray_covers_many_modes_for_pacgan_but_few_fairly():
    """docs/health.md, "The spray": uniform samples over grid25's square put one or two
    high-quality samples near most modes, which PacGAN's rule counts as covered."""
    ds = load("grid25", n_points=4000)
    ref, other, _ = split(ds, 2000)
    ev = build_evaluator(ref, 2000)
    g = torch.Generator().manual_seed(3)
    spray = ev(torch.rand(2000, 2, generator=g) * 10 - 5)
    assert spray["metric/hq_percent"] < 3
    assert spray["metric/modes"] >= 15  # PacGAN's count, kept as published
    assert spray["metric/fair_modes"] <= 1


def test_real_and_mildly_noisy_samples_cover_every_mode_fairly(mixture):
    ev, other, labels, ds = mixture
    k = len(ds.modes)
    assert ev(other)["metric/fair_modes"] == k
    assert ev(noisy(other, 2 * ds.mode_std))["metric/fair_modes"] == k
    half = ev(other[labels < k // 2])  # dropped modes get no fair share either
    assert half["metric/fair_modes"] == k // 2 == half["metric/modes"]


def test_hq_kl_weighs_blur_that_pacgans_reverse_kl_does_not_see(mixture):
    """Balanced but blurred samples: PacGAN's reverse KL (high-quality samples only) stays
    near its floor, metric/hq_kl (one more bin for the rest) rises with the blur."""
    ev, other, _, ds = mixture
    blurred = [ev(noisy(other, s * ds.mode_std)) for s in (0, 1, 2, 3)]
    assert blurred[0]["metric/hq_kl"] < 0.02  # real against real: the floor
    assert all(m["metric/reverse_kl"] < 0.05 for m in blurred)
    assert strictly_increasing([m["metric/hq_kl"] for m in blurred])
    assert blurred[-1]["metric/hq_kl"] > 10 * blurred[0]["metric/reverse_kl"]


def test_hq_kl_rises_as_modes_are_dropped(mixture):
    ev, other, labels, ds = mixture
    k = len(ds.modes)
    metrics = [ev(other[labels < keep]) for keep in (k, k - 1, k // 2, 1)]
    assert strictly_increasing([m["metric/hq_kl"] for m in metrics])
    # every sample sharp, one mode of K: KL = log of the real share of that mode ~ log K
    assert metrics[-1]["metric/hq_kl"] == pytest.approx(math.log(k), abs=0.15)

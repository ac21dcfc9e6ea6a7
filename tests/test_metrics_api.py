"""The evaluator contract, input errors, the shared distances against known values,
and the classifier's training, determinism and cache."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan_core.data import Dataset
from gan_core.metrics import MetricError, build_evaluator, feature_net
from gan_core.metrics import distances as dist
from gan_core.metrics.base import reference_sample
from tests.metrics_helpers import load, split

# --- the contract ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "n_ref"), [("ring8", 500), ("digits", 900), ("breast_cancer", 285)]
)
def test_every_family_returns_its_objective_coverage_and_diversity(
    source, n_ref, tmp_path, monkeypatch
):
    monkeypatch.setenv("GANSWEEP_CACHE", str(tmp_path))
    ds = load(source, **({"n_points": 1000} if source == "ring8" else {}))
    # digits: the 900-image split of the other tests, so one process trains one classifier
    ref, other, _ = split(ds, n_ref)
    ev = build_evaluator(ref, 2000, seed=0)
    m = ev(other[:200])
    assert set(m) == set(ev.keys)
    assert ev.objective in m and ev.direction in ("min", "max")
    assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())
    assert 0.0 <= m["coverage"] <= 1.0 and m["diversity_ratio"] > 0
    assert all(k.startswith("metric/") or k in ("coverage", "diversity_ratio") for k in m)


def test_non_finite_samples_give_nan_everywhere():
    ds = load("ring8", n_points=500)
    ev = build_evaluator(ds, 200)
    fake = ds.x[:200].clone()
    fake[3, 0] = float("inf")
    m = ev(fake)
    assert set(m) == set(ev.keys) and all(math.isnan(v) for v in m.values())


def test_bad_input_is_refused_with_what_to_change():
    ds = load("ring8", n_points=500)
    ev = build_evaluator(ds, 200)
    with pytest.raises(MetricError, match=r"shape \(200, 3\).*\(N, 2\)"):
        ev(torch.zeros(200, 3))
    with pytest.raises(MetricError, match="eval_samples"):
        ev(ds.x[:5])
    with pytest.raises(MetricError, match="eval_samples"):
        build_evaluator(ds, 5)
    odd = Dataset("odd", "table", torch.zeros(10, 2))
    odd.family = "audio"
    with pytest.raises(MetricError, match="audio.*known families"):
        build_evaluator(odd, 100)


def test_reference_sample_is_seeded_and_never_repeats_a_row():
    x = torch.arange(100.0).unsqueeze(1)
    a, b = reference_sample(x, 40, seed=1), reference_sample(x, 40, seed=1)
    assert torch.equal(a, b) and len(torch.unique(a)) == 40
    assert not torch.equal(a, reference_sample(x, 40, seed=2))
    assert torch.equal(reference_sample(x, 500, seed=1), x)  # all rows, none twice


# --- the shared distances against known values --------------------------------------------


def test_frechet_distance_matches_the_closed_form_and_scipy():
    from scipy.linalg import sqrtm

    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 6, generator=g, dtype=torch.float64)
    b = torch.randn(4000, 6, generator=g, dtype=torch.float64) * 2 + 1
    ref = dist.gaussian_reference(a)
    ca, cb = np.cov(a.numpy(), rowvar=False), np.cov(b.numpy(), rowvar=False)
    diff = a.numpy().mean(0) - b.numpy().mean(0)
    expected = diff @ diff + np.trace(ca + cb - 2 * sqrtm(ca @ cb).real)
    assert dist.frechet_distance(ref, b) == pytest.approx(expected, rel=1e-6)
    assert dist.frechet_distance(ref, a) == pytest.approx(0.0, abs=1e-9)
    # N(0, I) vs N(1, 4I) in 6-D: |mu|^2 = 6, tr(I + 4I - 2*2I) = 6 -> 12
    assert dist.frechet_distance(ref, b) == pytest.approx(12.0, rel=0.1)


def test_sliced_wasserstein_of_a_shift_is_its_mean_projected_length():
    """Shifting a 2-D sample by v moves every projection by |v cos t|: mean 2|v|/pi."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3000, 2, generator=g)
    directions = dist.projection_directions(2, 256)
    real_sorted = dist.sorted_projections(x, directions)
    v = torch.tensor([0.3, 0.4])  # |v| = 0.5
    assert dist.sliced_wasserstein(real_sorted, x + v, directions) == pytest.approx(
        1 / math.pi, rel=1e-3
    )
    assert dist.sliced_wasserstein(real_sorted, x, directions) == pytest.approx(0.0, abs=1e-7)
    # Unequal sizes go through the quantile function and still see the shift.
    assert dist.sliced_wasserstein(real_sorted, x[:1000] + v, directions) == pytest.approx(
        1 / math.pi, rel=0.1
    )


def test_prdc_on_identical_and_on_far_samples():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 4, generator=g)
    real = dist.knn_reference(x)
    same = dist.prdc(real, x)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    far = dist.prdc(real, x + 100)
    assert far["precision"] == far["recall"] == far["coverage"] == far["density"] == 0.0
    assert same["mean_pairwise"] == pytest.approx(real.mean_pairwise)
    assert real.mean_pairwise == pytest.approx(float(torch.pdist(x).mean()), rel=1e-5)


def test_kl_divergence_known_values():
    uniform = np.full(4, 0.25)
    assert dist.kl_divergence([5, 5, 5, 5], uniform) == pytest.approx(0.0, abs=1e-5)
    assert dist.kl_divergence([7, 0, 0, 0], uniform) == pytest.approx(math.log(4), abs=1e-5)
    assert dist.kl_divergence([1, 1, 0, 0], uniform) == pytest.approx(math.log(2), abs=1e-5)
    assert math.isfinite(dist.kl_divergence([1, 1], [1.0, 0.0]))  # eps keeps it finite


# --- the classifier -----------------------------------------------------------------


@pytest.fixture()
def digits_split():
    ref, other, other_labels = split(load("digits"), 900)
    return ref, other, other_labels


def test_classifier_learns_digits_and_is_deterministic(digits_split):
    ref, _, _ = digits_split
    state = torch.get_rng_state()
    model, info = feature_net.train_classifier(ref.x, ref.labels, seed=0)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random stream is untouched
    assert info["val_accuracy"] > 0.9
    again, _ = feature_net.train_classifier(ref.x, ref.labels, seed=0)
    for p, q in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.equal(p, q)


def test_classifier_cache_on_disk_and_in_process(digits_split, tmp_path, monkeypatch):
    monkeypatch.setenv("GANSWEEP_CACHE", str(tmp_path))
    monkeypatch.setattr(feature_net, "_MEMORY", {})
    ref, other, _ = digits_split
    first = feature_net.load_or_train_classifier(ref.x, ref.labels)
    files = list(tmp_path.glob("classifier-*.pt"))
    assert len(files) == 1
    assert feature_net.load_or_train_classifier(ref.x, ref.labels) is first  # this process
    monkeypatch.setattr(feature_net, "_MEMORY", {})  # a new process: from disk, no training
    monkeypatch.setattr(feature_net, "train_classifier", _must_not_train)
    loaded = feature_net.load_or_train_classifier(ref.x, ref.labels)
    assert torch.equal(loaded.features(other), first.features(other))
    assert feature_net.classifier_info(ref.x, ref.labels)["val_accuracy"] > 0.9
    # Other data: another key, so another file.
    assert feature_net.data_key(other[:900], ref.labels, 0) != feature_net.data_key(
        ref.x, ref.labels, 0
    )


def test_a_damaged_cache_file_is_retrained_not_fatal(digits_split, tmp_path, monkeypatch):
    monkeypatch.setenv("GANSWEEP_CACHE", str(tmp_path))
    monkeypatch.setattr(feature_net, "_MEMORY", {})
    ref, _, _ = digits_split
    path = tmp_path / f"classifier-{feature_net.data_key(ref.x, ref.labels, 0)}.pt"
    path.write_bytes(b"not a checkpoint")
    model = feature_net.load_or_train_classifier(ref.x, ref.labels)
    assert isinstance(model, feature_net.SmallCNN)
    assert torch.load(path, weights_only=True)["info"]["val_accuracy"] > 0.9  # overwritten


def _must_not_train(*args, **kwargs):
    raise AssertionError("the cached classifier should have been loaded, not retrained")


def test_random_features_are_fixed_by_their_seed():
    x = torch.randn(8, 3, 16, 16)
    a = feature_net.RandomConvFeatures(3, seed=0).features(x)
    assert torch.equal(a, feature_net.RandomConvFeatures(3, seed=0).features(x))
    assert not torch.equal(a, feature_net.RandomConvFeatures(3, seed=1).features(x))

"""The image metrics measure what they claim, with the trained classifier (labelled digits)
and with the random-feature net (the same digits without labels)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from gan_core.data import Dataset
from gan_core.metrics import build_evaluator, feature_net
from tests.metrics_helpers import (
    blur,
    load,
    noisy,
    non_increasing,
    split,
    strictly_decreasing,
    strictly_increasing,
)

OBJECTIVE = "metric/frechet"


@pytest.fixture(scope="module")
def classifier_cache(tmp_path_factory):
    """A private classifier cache for this module: tests never touch ~/.cache/gansweep."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANSWEEP_CACHE", str(tmp_path_factory.mktemp("gansweep-cache")))
        yield


@pytest.fixture(scope="module", params=["classifier", "random_features"])
def digits(request, classifier_cache):
    """(evaluator on 900 real digits, the other 897, their labels, labelled?)."""
    ds = load("digits")
    if request.param == "random_features":
        ds = dataclasses.replace(ds, labels=None)
    ref, other, _ = split(ds, 900)
    _, _, other_labels = split(load("digits"), 900)
    return build_evaluator(ref, 2000, seed=0), other, other_labels, request.param == "classifier"


def test_real_vs_disjoint_real_is_the_floor(digits):
    ev, other, _, labelled = digits
    m = ev(other)
    assert ev.objective == OBJECTIVE and ev.direction == "min"
    assert m["metric/precision"] > 0.9 and m["metric/recall"] > 0.9 and m["coverage"] > 0.9
    assert m["metric/density"] == pytest.approx(1.0, abs=0.15)
    assert m["diversity_ratio"] == pytest.approx(1.0, abs=0.05)
    assert ("metric/class_coverage" in m) == labelled
    if labelled:
        assert m["metric/class_coverage"] == 1.0 and m["metric/class_kl"] < 0.02


@pytest.mark.parametrize(
    ("corrupt", "levels"),
    [(noisy, (0, 0.2, 0.4, 0.8, 1.6)), (blur, (0, 0.5, 1.0, 1.5, 2.0))],
    ids=["noise", "blur"],
)
def test_frechet_and_coverage_worsen_step_by_step(digits, corrupt, levels):
    ev, other, _, _ = digits
    steps = [corrupt(other, level) for level in levels]
    metrics = [ev(s) for s in steps]
    assert strictly_increasing([m[OBJECTIVE] for m in metrics])
    coverage = [m["coverage"] for m in metrics]
    assert non_increasing(coverage) and coverage[-1] < 0.1 * coverage[0]  # may bottom out at 0
    assert metrics[-1][OBJECTIVE] > 10 * metrics[0][OBJECTIVE]


def test_dropping_classes_worsens_every_class_and_coverage_metric(digits):
    ev, other, labels, labelled = digits
    keeps = (10, 8, 5, 2, 1)
    steps = [other[labels < keep] for keep in keeps]
    metrics = [ev(s) for s in steps]
    assert strictly_increasing([m[OBJECTIVE] for m in metrics])
    assert strictly_decreasing([m["coverage"] for m in metrics])
    assert strictly_decreasing([m["metric/recall"] for m in metrics])
    if labelled:
        assert [m["metric/class_coverage"] for m in metrics] == [k / 10 for k in keeps]
        assert strictly_increasing([m["metric/class_kl"] for m in metrics])


def test_a_one_image_generator_scores_as_collapsed(digits):
    ev, other, _, _ = digits
    one = noisy(other[:1].expand(500, -1, -1, -1), 0.01)
    m = ev(one)
    assert m["diversity_ratio"] < 0.1  # the monitor's default collapse threshold
    assert m["coverage"] < 0.05 and m["metric/recall"] < 0.05
    assert m[OBJECTIVE] > 50 * ev(other)[OBJECTIVE]


def test_noise_images_reach_no_real_data_though_the_classifier_names_many_classes(digits):
    """Why "coverage" is the k-NN coverage: a classifier labels noise as some class anyway."""
    ev, _, _, labelled = digits
    g = torch.Generator().manual_seed(0)
    m = ev(torch.rand(900, 1, 8, 8, generator=g) * 2 - 1)
    assert m["coverage"] < 0.05 and m["metric/precision"] < 0.05
    if labelled:
        assert m["metric/class_coverage"] >= 0.3  # measured 0.6


@pytest.mark.parametrize("labelled", [True, False])
def test_evaluation_is_deterministic_and_leaves_the_global_rng_alone(classifier_cache, labelled):
    ds = load("digits")
    if not labelled:
        ds = dataclasses.replace(ds, labels=None)
    ref, other, _ = split(ds, 900)
    state = torch.get_rng_state()
    first = build_evaluator(ref, 900, seed=0)(other)
    assert torch.equal(torch.get_rng_state(), state)
    assert build_evaluator(ref, 900, seed=0)(other) == first


def test_color_images_of_another_size_get_a_classifier_too(classifier_cache):
    """3 x 16 x 16, two classes told apart by colour: the classifier adapts to any shape."""
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (300,), generator=g)
    x = 0.3 * torch.randn(300, 3, 16, 16, generator=g)
    x[:, 0] += (labels * 2 - 1).view(-1, 1, 1).float() * 0.5  # class 1 redder
    ds = Dataset("colours", "image", x.clamp(-1, 1), labels)
    ref, other, other_labels = split(ds, 150)
    ev = build_evaluator(ref, 150)
    assert ev(other)["metric/class_coverage"] == 1.0
    assert ev(other[other_labels == 0])["metric/class_coverage"] == 0.5


@pytest.mark.slow
def test_mnist_classifier_is_accurate_and_its_floor_sits_far_below_one_class(classifier_cache):
    ds = load("mnist")
    ref, other, other_labels = split(ds, 2500)
    ev = build_evaluator(ref, 2000)
    info = feature_net.classifier_info(ref.x, ref.labels)
    assert info is not None and info["val_accuracy"] > 0.93
    floor, one_class = ev(other[:2000]), ev(other[other_labels == 3])
    assert floor["metric/class_coverage"] == 1.0 and floor["metric/class_kl"] < 0.02
    # <= 0.2, not == 0.1: a 95 % classifier confuses up to ~10 % of some classes (4 -> 9).
    assert one_class["metric/class_coverage"] <= 0.2
    assert one_class[OBJECTIVE] > 100 * floor[OBJECTIVE]

"""Metrics of image data sets, in the feature space of a network that needs no download.

Labelled images (digits, MNIST): the features are the penultimate layer of a
small classifier trained on the real data (`feature_net.SmallCNN`), and its
predictions give class coverage and the KL of the class histogram.
Unlabelled images: the features of a fixed random conv net, and no class metrics.

Both report the Fréchet distance (the default objective, lower is better),
k-NN precision, recall, density and coverage (k = 5), and the diversity ratio,
all in that feature space. "coverage" is the k-NN coverage of Naeem et al.:
the share of real images whose ball out to their 5th nearest real neighbour
holds a generated image; near 0 for noise and for a collapsed generator alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from gan_core.metrics.base import Evaluator
from gan_core.metrics.distances import (
    frechet_distance,
    gaussian_reference,
    kl_divergence,
    knn_reference,
    prdc,
)
from gan_core.metrics.feature_net import RandomConvFeatures, batched, load_or_train_classifier

if TYPE_CHECKING:
    from gan_core.data import Dataset

CLASS_HIT_SHARE = 0.5  # a class is hit when it gets >= half its real share of the samples
RANDOM_NET_SEED = 0  # fixed, not the trial's seed: random-feature numbers compare across runs

_SHARED_KEYS = (
    "metric/frechet",
    "metric/precision",
    "metric/recall",
    "metric/density",
    "coverage",
    "diversity_ratio",
)


def _class_indices(labels: torch.Tensor) -> torch.Tensor:
    """Labels as 0..K-1 in sorted order of the original values."""
    return torch.unique(labels, return_inverse=True)[1]


class ImageEvaluator(Evaluator):
    family = "image"
    objective = "metric/frechet"
    direction = "min"

    def __init__(self, dataset: Dataset, n_samples: int, seed: int = 0) -> None:
        super().__init__(dataset, n_samples, seed)
        labels = dataset.labels
        self.labelled = labels is not None and len(torch.unique(labels)) >= 2
        if self.labelled:
            self.net = load_or_train_classifier(dataset.x, _class_indices(labels), seed=0)
            self.keys = (*_SHARED_KEYS, "metric/class_coverage", "metric/class_kl")
        else:
            self.net = RandomConvFeatures(dataset.x.shape[1], seed=RANDOM_NET_SEED)
            self.keys = _SHARED_KEYS
        self.net.eval()
        real = batched(self.net.features, self.reference)
        self.real_gaussian = gaussian_reference(real)
        self.real_knn = knn_reference(real)
        if self.labelled:
            self.real_class_share = self._class_share(real)

    def _class_share(self, features: torch.Tensor) -> np.ndarray:
        """Share of images the classifier assigns to each class, from their features."""
        predicted = self.net.head(features).argmax(dim=1)
        counts = torch.bincount(predicted, minlength=self.net.head.out_features).double()
        return (counts / counts.sum()).numpy()

    def _evaluate(self, fake: torch.Tensor) -> dict[str, float]:
        features = batched(self.net.features, fake)
        knn = prdc(self.real_knn, features)
        out = {
            "metric/frechet": frechet_distance(self.real_gaussian, features),
            "metric/precision": knn["precision"],
            "metric/recall": knn["recall"],
            "metric/density": knn["density"],
            "coverage": knn["coverage"],
            "diversity_ratio": knn["mean_pairwise"] / self.real_knn.mean_pairwise,
        }
        if self.labelled:
            share = self._class_share(features)
            hit = share >= CLASS_HIT_SHARE * self.real_class_share
            out["metric/class_coverage"] = float(hit[self.real_class_share > 0].mean())
            out["metric/class_kl"] = kl_divergence(share, self.real_class_share)
        return out

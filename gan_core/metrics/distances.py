"""Distances between a generated and a real sample, shared by every data family.

Everything that depends on the real sample alone (sorted projections, mean and
covariance square root, k-NN radii, mean pairwise distance) is computed once by
the `*_reference` helpers, so that a call on the fakes only pays for the fakes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

KNN_K = 5  # Naeem et al. 2020 use k = 5 for density and coverage
PAIRWISE_MAX = 1000  # mean pairwise distance on at most this many points: O(n^2) otherwise


# --- sliced Wasserstein ----------------------------------------------------------


def projection_directions(dim: int, n: int, seed: int = 0) -> torch.Tensor:
    """n unit directions (n, dim); evenly spaced angles in 2-D, seeded Gaussian otherwise.

    Evenly spaced angles remove the Monte-Carlo noise of random directions in
    the plane, where 2-D mixtures live.
    """
    if dim == 2:
        angles = torch.arange(n, dtype=torch.float64) * math.pi / n
        return torch.stack([angles.cos(), angles.sin()], dim=1).float()
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(n, dim, generator=g, dtype=torch.float64)
    return (d / d.norm(dim=1, keepdim=True)).float()


def sorted_projections(x: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Each row: the sample projected on one direction, sorted (n_directions, N).

    numpy sorts rows of 2000 values ~7x faster than torch.sort on this CPU (measured).
    """
    projected = (directions @ x.flatten(1).T).numpy()
    return torch.from_numpy(np.sort(projected, axis=1))


def _quantiles(sorted_values: torch.Tensor, m: int) -> torch.Tensor:
    """The empirical quantile function of each row at the m mid-point levels (i+0.5)/m."""
    n = sorted_values.shape[1]
    pos = ((torch.arange(m, dtype=torch.float64) + 0.5) * n / m - 0.5).clamp(0, n - 1)
    lo = pos.floor().long()
    hi = pos.ceil().long()
    w = (pos - lo).float()
    return sorted_values[:, lo] * (1 - w) + sorted_values[:, hi] * w


def sliced_wasserstein(
    real_sorted: torch.Tensor, fake: torch.Tensor, directions: torch.Tensor
) -> float:
    """SW1: the Wasserstein-1 distance of the 1-D projections, averaged over directions.

    Equal sample sizes compare sorted values one to one (the exact 1-D W1);
    otherwise the real quantile function is read at the fake sample's levels.
    """
    fake_sorted = sorted_projections(fake, directions)
    if fake_sorted.shape[1] != real_sorted.shape[1]:
        real_sorted = _quantiles(real_sorted, fake_sorted.shape[1])
    return float((fake_sorted - real_sorted).abs().mean())


# --- Fréchet distance ------------------------------------------------------------


@dataclass
class GaussianReference:
    """Mean, covariance and the covariance's square root of the real features (float64)."""

    mean: torch.Tensor
    cov: torch.Tensor
    cov_sqrt: torch.Tensor


def _mean_cov(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    f = features.double()
    return f.mean(dim=0), torch.atleast_2d(torch.cov(f.T))


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def gaussian_reference(features: torch.Tensor) -> GaussianReference:
    mean, cov = _mean_cov(features)
    return GaussianReference(mean, cov, _psd_sqrt(cov))


def frechet_distance(ref: GaussianReference, features: torch.Tensor) -> float:
    """||mu_r - mu_f||^2 + tr(S_r) + tr(S_f) - 2 tr((S_r S_f)^(1/2)).

    tr((S_r S_f)^(1/2)) is the sum of the square roots of the eigenvalues of
    S_r^(1/2) S_f S_r^(1/2), a symmetric PSD matrix: `eigvalsh` on it is stable
    where `scipy.linalg.sqrtm` of the non-symmetric product can return complex noise.
    """
    mean, cov = _mean_cov(features)
    middle = ref.cov_sqrt @ cov @ ref.cov_sqrt
    eig = torch.linalg.eigvalsh((middle + middle.T) / 2)
    tr_sqrt = float(eig.clamp(min=0).sqrt().sum())
    diff = ref.mean - mean
    value = float(diff @ diff + ref.cov.trace() + cov.trace()) - 2.0 * tr_sqrt
    return max(value, 0.0)  # rounding can leave a tiny negative at the floor


# --- k-NN precision, recall, density, coverage -------------------------------------


@dataclass
class KnnReference:
    """A sample with the k-NN radius of each point and its mean pairwise distance."""

    points: torch.Tensor
    radii: torch.Tensor
    mean_pairwise: float


def knn_reference(x: torch.Tensor, k: int = KNN_K) -> KnnReference:
    """One distance matrix gives both the k-NN radii (self excluded) and the diversity."""
    x = x.flatten(1)
    d = torch.cdist(x, x)
    radii = d.topk(k + 1, dim=1, largest=False).values[:, k]
    n = len(x)
    return KnnReference(x, radii, float(d.sum()) / (n * (n - 1)))


def prdc(real: KnnReference, fake: torch.Tensor, k: int = KNN_K) -> dict[str, float]:
    """Precision/recall (Kynkäänniemi et al. 2019), density/coverage (Naeem et al. 2020).

    precision: share of fakes inside some real k-NN ball; recall: share of reals
    inside some fake k-NN ball; density: fakes per real ball, divided by k (1 at
    the floor, can exceed 1); coverage: share of real balls that hold a fake.
    Also the fakes' mean pairwise distance, from the fake-fake matrix recall needs.
    """
    fake_ref = knn_reference(fake, k)
    d = torch.cdist(real.points, fake_ref.points)  # (N_real, N_fake)
    inside = d < real.radii.unsqueeze(1)
    return {
        "precision": float(inside.any(dim=0).float().mean()),
        "recall": float((d < fake_ref.radii.unsqueeze(0)).any(dim=1).float().mean()),
        "density": float(inside.sum()) / (k * len(fake)),
        "coverage": float(inside.any(dim=1).float().mean()),
        "mean_pairwise": fake_ref.mean_pairwise,
    }


# --- diversity and histograms ---------------------------------------------------------


def mean_pairwise_distance(x: torch.Tensor, max_n: int = PAIRWISE_MAX) -> float:
    """Mean Euclidean distance between distinct points of (the first max_n of) a sample."""
    return float(torch.pdist(x[:max_n].flatten(1).double()).mean())


def kl_divergence(counts: np.ndarray, reference: np.ndarray, eps: float = 1e-6) -> float:
    """KL(p || q) of the normalised histogram `counts` against the probabilities `reference`.

    Bins that p leaves empty add nothing; eps keeps a bin that q leaves empty finite.
    """
    p = np.asarray(counts, dtype=np.float64)
    p = p / p.sum()
    q = np.asarray(reference, dtype=np.float64) + eps
    q = q / q.sum()
    nz = p > 0
    return float((p[nz] * np.log(p[nz] / q[nz])).sum())

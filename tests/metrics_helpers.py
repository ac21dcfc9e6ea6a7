"""Shared by the metrics tests: real data split into a reference and a disjoint real sample,
and the step-by-step corruptions the metrics must rank."""

from __future__ import annotations

import dataclasses
from itertools import pairwise

import torch
import torch.nn.functional as F

from gan_core.config import DataConfig
from gan_core.data import Dataset, load_dataset


def load(source: str, **kw) -> Dataset:
    return load_dataset(DataConfig(source=source, **kw))


def split(ds: Dataset, n_ref: int, seed: int = 0):
    """(reference data set of n_ref rows, the other rows, their labels): disjoint real samples."""
    order = torch.randperm(len(ds.x), generator=torch.Generator().manual_seed(seed))
    ref, other = order[:n_ref], order[n_ref:]
    labels = None if ds.labels is None else ds.labels
    ref_ds = dataclasses.replace(ds, x=ds.x[ref], labels=None if labels is None else labels[ref])
    return ref_ds, ds.x[other], None if labels is None else labels[other]


def evaluate_each(ev, samples: list[torch.Tensor], key: str) -> list[float]:
    return [ev(s)[key] for s in samples]


def strictly_increasing(values: list[float]) -> bool:
    return all(b > a for a, b in pairwise(values))


def strictly_decreasing(values: list[float]) -> bool:
    return all(b < a for a, b in pairwise(values))


def non_increasing(values: list[float]) -> bool:
    return all(b <= a for a, b in pairwise(values))


def noisy(x: torch.Tensor, std: float, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return x + std * torch.randn(x.shape, generator=g)


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with replicate padding; sigma 0 returns the images."""
    if sigma == 0:
        return images
    r = max(1, int(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = (k / k.sum()).to(images.dtype)
    c = images.shape[1]
    rows = F.conv2d(
        F.pad(images, (r, r, 0, 0), mode="replicate"),
        k.view(1, 1, 1, -1).repeat(c, 1, 1, 1),
        groups=c,
    )
    return F.conv2d(
        F.pad(rows, (0, 0, r, r), mode="replicate"),
        k.view(1, 1, -1, 1).repeat(c, 1, 1, 1),
        groups=c,
    )

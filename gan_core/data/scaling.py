"""Scalers that bring raw data to model scale and back (`inverse_transform`).

One affine map covers every case: model = raw * scale + shift, with one (scale, shift)
per column for tables and points, and a single pair for all pixels of an image set (a
per-pixel map would erase the brightness structure a GAN must learn).
"""

from __future__ import annotations

import numpy as np

_TOL = 1e-6  # float images written as k/255 may round a hair past 0 or 1


class AffineScaler:
    """model = raw * scale + shift; `kind` says how scale and shift were chosen."""

    def __init__(self, kind: str, scale: np.ndarray | float, shift: np.ndarray | float) -> None:
        self.kind = kind
        self.scale = np.asarray(scale, dtype=np.float64)
        self.shift = np.asarray(shift, dtype=np.float64)

    def transform(self, values) -> np.ndarray:
        return _as_numpy(values) * self.scale + self.shift

    def inverse_transform(self, values) -> np.ndarray:
        return (_as_numpy(values) - self.shift) / self.scale

    def __repr__(self) -> str:
        return f"AffineScaler(kind={self.kind!r}, scale={self.scale}, shift={self.shift})"


def identity_scaler(kind: str = "none") -> AffineScaler:
    return AffineScaler(kind, 1.0, 0.0)


def range_to_unit(lo, hi, kind: str) -> AffineScaler:
    """The map of [lo, hi] onto [-1, 1]; a constant (hi == lo) maps to 0."""
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    varies = hi > lo
    scale = 2.0 / np.where(varies, hi - lo, 2.0)  # 1 for a constant, without dividing by 0
    return AffineScaler(kind, scale, np.where(varies, -1.0 - lo * scale, -lo))


def fit_column_scaler(values: np.ndarray, kind: str) -> AffineScaler:
    """Per-column scaler of an (N, D) array: minmax to [-1, 1], standard, or none."""
    if kind == "none":
        return identity_scaler()
    if kind == "minmax":
        return range_to_unit(values.min(axis=0), values.max(axis=0), "minmax")
    if kind == "standard":
        return _standard(values.mean(axis=0), values.std(axis=0))
    raise ValueError(f"unknown column scaling {kind!r}")


def fit_image_scaler(
    values: np.ndarray, kind: str, known_range: tuple[float, float] | None = None
) -> AffineScaler:
    """One scaler for all pixels. `auto` reads the range from the dtype and the values."""
    if kind == "none":
        return identity_scaler()
    if kind == "minmax":
        return range_to_unit(values.min(), values.max(), "minmax")
    if kind == "standard":
        return _standard(values.mean(), values.std())
    if kind == "auto":
        lo, hi = known_range or _image_source_range(values)
        return range_to_unit(lo, hi, f"auto [{lo:g}, {hi:g}] -> [-1, 1]")
    raise ValueError(f"unknown image scaling {kind!r}")


def _image_source_range(values: np.ndarray) -> tuple[float, float]:
    """The range the pixels were stored in: uint8 0..255, floats in [0, 1] or [-1, 1], ..."""
    dtype = values.dtype
    lo, hi = float(values.min()), float(values.max())
    if dtype == np.bool_:
        return 0.0, 1.0
    if np.issubdtype(dtype, np.integer):
        if dtype == np.uint16 and hi > 255:
            return 0.0, 65535.0
        if lo >= 0 and hi <= 255:  # uint8, or 8-bit values stored in a wider int
            return 0.0, 255.0
        return lo, hi
    if lo >= -_TOL and hi <= 1 + _TOL:
        return 0.0, 1.0
    if lo >= -1 - _TOL and hi <= 1 + _TOL:
        return -1.0, 1.0  # already in model scale: the map is the identity
    if lo >= 0 and hi <= 255:
        return 0.0, 255.0  # 8-bit pixels cast to float
    return lo, hi  # unknown convention: the data's own range


def _standard(mean, std) -> AffineScaler:
    std = np.where(np.asarray(std) > 0, std, 1.0)  # a constant column stays put, centred
    scale = 1.0 / std
    return AffineScaler("standard", scale, -np.asarray(mean) * scale)


def _as_numpy(values) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)

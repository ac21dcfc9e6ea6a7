"""The data set every other part of the core trains on and measures against."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

FAMILIES = ("points", "image", "table")
# The rank of x each family stores: (N, D) for points and tables, (N, C, H, W) for images.
_NDIM = {"points": 2, "table": 2, "image": 4}


class DataError(ValueError):
    """Data that cannot be loaded or used, with a message naming the file or key and the fix."""


@dataclass
class Dataset:
    """Training data in model scale, plus what is needed to read it back in original units.

    `x` is float32 on the CPU: (N, D) for points and tables, (N, C, H, W) for images.
    `raw_min`, `raw_max` and `raw_dtype` describe the data *before* scaling, so pre-flight
    messages can say "your images are uint8 in [0, 255]"; they default to x's own.
    """

    name: str
    family: str  # "points" | "image" | "table"
    x: torch.Tensor
    labels: torch.Tensor | None = None  # int64 classes, or the mixture component for points
    modes: torch.Tensor | None = None  # (K, 2) centres of ring8/grid25, in model scale
    mode_std: float | None = None  # component std in model scale
    columns: list[str] | None = None
    scaler: object | None = None  # has inverse_transform(np.ndarray) -> original units
    raw_min: float = math.nan
    raw_max: float = math.nan
    raw_dtype: str = ""
    table: object | None = None  # tables: gan_core.data.tables.TablePart (codec, held-out rows)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise DataError(
                f"data set {self.name!r}: family {self.family!r} is not one of {FAMILIES}"
            )
        if not isinstance(self.x, torch.Tensor):
            raise DataError(f"data set {self.name!r}: x must be a torch.Tensor, got {type(self.x)}")
        if self.x.ndim != _NDIM[self.family]:
            raise DataError(
                f"data set {self.name!r}: a {self.family} data set needs x with {_NDIM[self.family]} "
                f"dimensions, got shape {tuple(self.x.shape)}"
            )
        self.x = self.x.detach().to("cpu", torch.float32)
        if self.labels is not None and len(self.labels) != len(self.x):
            raise DataError(
                f"data set {self.name!r}: {len(self.labels)} labels for {len(self.x)} samples"
            )
        if math.isnan(self.raw_min) and self.x.numel():
            self.raw_min = float(self.x.min())
        if math.isnan(self.raw_max) and self.x.numel():
            self.raw_max = float(self.x.max())
        if not self.raw_dtype:
            self.raw_dtype = str(self.x.dtype).removeprefix("torch.")

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return len(self.x)

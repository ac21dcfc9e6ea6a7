"""What a reader hands to `load_dataset` before selection and scaling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class RawData:
    """Data in its original units and dtype; `values` is (N, D) or (N, C, H, W)."""

    family: str  # "points" | "image" | "table"
    values: np.ndarray
    labels: np.ndarray | None = None
    columns: list[str] | None = None  # tables: one name per column of values
    modes: np.ndarray | None = None  # points: (K, 2) mixture centres
    mode_std: float | None = None
    known_range: tuple[float, float] | None = None  # images whose range is documented
    frame: Any = None  # tables read from files: the pandas DataFrame (values is None then)

    def table_frame(self):
        """A table as a DataFrame with string column names (arrays get x0, x1, ...)."""
        import pandas as pd

        if self.frame is not None:
            return self.frame
        names = self.columns or [f"x{i}" for i in range(self.values.shape[1])]
        return pd.DataFrame(self.values, columns=[str(c) for c in names])

    def take(self, rows: np.ndarray) -> RawData:
        """The same data restricted to `rows` (indices)."""
        labels = None if self.labels is None else self.labels[rows]
        return RawData(
            self.family,
            self.values[rows],
            labels,
            self.columns,
            self.modes,
            self.mode_std,
            self.known_range,
        )

"""How a sampled value reads in the summary, the report and the tables: short."""

from __future__ import annotations

from typing import Any


def short(value: Any) -> str:
    """Numbers with 3 significant digits (also numbers MLflow gives back as text), the
    rest as they are: 0.000213 -> '0.000213', '2.5e-05' -> '2.5e-05', 'hinge' -> 'hinge'."""
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, str):
        try:
            return f"{float(value):.3g}"
        except ValueError:
            return value
    return str(value)

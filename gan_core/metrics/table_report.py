"""SDMetrics' own QualityReport and a copy check, on the held-out rows of a table.

sdmetrics is imported here only, inside the functions: a points or image run never pays
its import time (~seconds). Both take DataFrames in original units (the codec's decoding),
as a user would hand them to SDMetrics. Timings and the choice to run them at the end of
a run only: docs/tables.md.
"""

from __future__ import annotations

import time

import numpy as np

REPORT_KEYS = (
    "sdmetrics/quality",
    "sdmetrics/column_shapes",
    "sdmetrics/column_pair_trends",
    "privacy/closer_to_train",
    "privacy/dcr_overfitting",
    "perf/sdmetrics_s",
)


def metadata(sdtypes: dict[str, str]) -> dict:
    return {"columns": {c: {"sdtype": t} for c, t in sdtypes.items()}}


def quality(real, synthetic, sdtypes: dict[str, str]) -> dict[str, float]:
    """SDMetrics QualityReport: overall score and its Column Shapes / Column Pair Trends."""
    from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    report.generate(real, synthetic, metadata(sdtypes), verbose=False)
    parts = report.get_properties().set_index("Property")["Score"]
    return {
        "sdmetrics/quality": float(report.get_score()),
        "sdmetrics/column_shapes": float(parts["Column Shapes"]),
        # one column has no pairs: SDMetrics reports NaN there, the score is the shapes alone
        "sdmetrics/column_pair_trends": float(parts.get("Column Pair Trends", np.nan)),
    }


def copy_check(train, holdout, synthetic, sdtypes: dict[str, str]) -> dict[str, float]:
    """SDMetrics' DCROverfittingProtection: the share of synthetic rows whose closest real
    row is a training row rather than a held-out one (0.5-ish for a generator that does not
    copy, with equal-sized sets; 1.0 for one that replays its training rows), and the
    metric's score (1 = no sign of copying)."""
    from sdmetrics.single_table import DCROverfittingProtection

    out = DCROverfittingProtection.compute_breakdown(
        real_training_data=train,
        synthetic_data=synthetic,
        real_validation_data=holdout,
        metadata=metadata(sdtypes),
    )
    return {
        "privacy/closer_to_train": float(out["synthetic_data_percentages"]["closer_to_training"]),
        "privacy/dcr_overfitting": float(out["score"]),
    }


def held_out_report(part, synthetic) -> dict[str, float]:
    """Quality and copy check of `synthetic` (a decoded DataFrame) against a TablePart."""
    if part.holdout is None or len(part.holdout) < 2:
        return {}
    start = time.perf_counter()
    sdtypes = part.sdtypes()
    out = quality(part.holdout, synthetic, sdtypes)
    out.update(copy_check(part.train, part.holdout, synthetic, sdtypes))
    out["perf/sdmetrics_s"] = time.perf_counter() - start
    return out

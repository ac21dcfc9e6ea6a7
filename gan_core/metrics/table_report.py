"""SDMetrics' own QualityReport and a copy check, on the held-out rows of a table.

sdmetrics is imported here only, inside the functions: a points or image run never pays
its import time (~seconds). Both take DataFrames in original units (the codec's decoding),
as a user would hand them to SDMetrics. Timings and the choice to run them at the end of
a run only: docs/tables.md.
"""

from __future__ import annotations

import time

import numpy as np

TABLE = "table"  # the one table's name in SDMetrics' multi-table metadata

REPORT_KEYS = (
    "sdmetrics/quality",
    "sdmetrics/column_shapes",
    "sdmetrics/column_pair_trends",
    "privacy/closer_to_train",
    "privacy/exact_copies",
    "privacy/median_dcr",
    "privacy/median_dcr_holdout",
    "perf/sdmetrics_s",
)


def metadata(sdtypes: dict[str, str]) -> dict:
    return {"columns": {c: {"sdtype": t} for c, t in sdtypes.items()}}


def quality(real, synthetic, sdtypes: dict[str, str]) -> dict[str, float]:
    """SDMetrics QualityReport: overall score and its Column Shapes / Column Pair Trends."""
    from sdmetrics.reports import QualityReport

    report = QualityReport()  # sdmetrics.reports' (its single-table one is deprecated)
    tables = {"tables": {TABLE: metadata(sdtypes)}}
    report.generate({TABLE: real}, {TABLE: synthetic}, tables, verbose=False)
    parts = report.get_properties().set_index("Property")["Score"]
    return {
        "sdmetrics/quality": float(report.get_score()),
        "sdmetrics/column_shapes": float(parts["Column Shapes"]),
        # one column has no pairs: SDMetrics reports NaN there, the score is the shapes alone
        "sdmetrics/column_pair_trends": float(parts.get("Column Pair Trends", np.nan)),
    }


def copy_check(train, holdout, synthetic, sdtypes: dict[str, str]) -> dict[str, float]:
    """Does G copy training rows? Each synthetic row's distance to its closest training row
    (SDMetrics' DCR: per column |difference| / range, or 0/1 for categories, averaged) is
    set against the same distance of the held-out rows, which are fresh draws of the data:
    `privacy/closer_to_train` is the share of synthetic rows nearer the training rows than
    the median held-out row is (0.5: like fresh data; 1.0: copies), `privacy/exact_copies`
    the share at distance 0. Both sets are measured against the same training rows, so the
    check is fair at any data.holdout (SDMetrics' own DCROverfittingProtection compares
    against a training and a held-out set and needs them of equal size)."""
    from sdmetrics.single_table.privacy.dcr_utils import calculate_dcr

    meta = metadata(sdtypes)
    synthetic_dcr = calculate_dcr(dataset=synthetic, reference_dataset=train, metadata=meta)
    holdout_dcr = calculate_dcr(dataset=holdout, reference_dataset=train, metadata=meta)
    baseline = float(np.median(holdout_dcr))
    return {
        "privacy/closer_to_train": float(np.mean(synthetic_dcr.to_numpy() < baseline)),
        "privacy/exact_copies": float(np.mean(synthetic_dcr.to_numpy() == 0.0)),
        "privacy/median_dcr": float(np.median(synthetic_dcr)),
        "privacy/median_dcr_holdout": baseline,
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

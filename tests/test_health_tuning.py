"""benchmarks/health_tuning.py's leave-one-data-set-out folds: what each fold is tuned on."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import health_tuning  # noqa: E402

FAMILIES = {"ring8": "points", "grid25": "points", "digits": "images"}
FAMILIES |= {"breast_cancer": "tables", "heavy_tail": "tables"}


@pytest.fixture
def tuned_on(monkeypatch):
    """Which data sets each fold's tuning saw (tune and the scoring replaced by recorders)."""
    seen = {}

    def tune(train, labels, grid):
        seen[len(seen)] = sorted({r["data"] for r in train})
        return health_tuning.Tuned(cfg=None, score=None, tried=0, feasible=0)

    monkeypatch.setattr(health_tuning, "tune", tune)
    monkeypatch.setattr(health_tuning, "first_flag_steps", lambda arrays, cfg: [])
    monkeypatch.setattr(health_tuning, "score_flags", lambda steps, labels: None)
    monkeypatch.setattr(
        health_tuning.RecordArrays, "from_runs", lambda runs: type("A", (), {"names": []})
    )
    return seen


def runs():
    return [
        {"name": f"{d}-{i}", "data": d, "family": f} for d, f in FAMILIES.items() for i in (0, 1)
    ]


def labels():
    return {r["name"]: {} for r in runs()}


def test_across_families_each_fold_is_tuned_on_every_other_data_set(tuned_on):
    rows = health_tuning.leave_one_data_set_out(runs(), labels())
    assert [r[0] for r in rows] == sorted(FAMILIES)
    for (left_out, *_), seen in zip(rows, tuned_on.values(), strict=True):
        assert seen == sorted(set(FAMILIES) - {left_out})


def test_within_family_each_fold_is_tuned_on_its_family_only(tuned_on):
    rows = health_tuning.leave_one_data_set_out(runs(), labels(), within_family=True)
    # digits is the only image data set: nothing to tune it on, so no fold
    assert [r[0] for r in rows] == ["breast_cancer", "grid25", "heavy_tail", "ring8"]
    assert list(tuned_on.values()) == [["heavy_tail"], ["ring8"], ["breast_cancer"], ["grid25"]]

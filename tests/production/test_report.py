"""`gansweep report`: one standalone HTML file from MLflow alone, logged on the sweep."""

from __future__ import annotations

import re
from pathlib import Path

from mlflow import MlflowClient

from pipelines.report.data import collect
from pipelines.report.page import REPORT_ARTIFACT, write_report
from pipelines.tracking.lookup import find_sweep
from tests.production.fake_sweep import png_bytes


def test_view_has_every_trial_its_history_and_the_prune_reasons(fake_sweep):
    parent, _ = fake_sweep
    view = collect(MlflowClient(), find_sweep(MlflowClient(), parent))
    assert {t.trial_id for t in view.trials} == {
        "t_good", "t_best", "t_pruned", "t_stall", "t_failed"
    }  # fmt: skip
    assert [t.trial_id for t in view.ranked] == ["t_best", "t_good"]  # finished only
    assert view.prune_counts == {"rank@40": 1, "stall": 1}
    assert view.state_counts == {"finished": 2, "pruned": 2, "failed": 1, "running": 0}
    best = view.ranked[0]
    assert best.history == [(40, 8.0), (80, 5.0), (120, 3.0)]
    assert best.params == {"optim.lr_d": "0.0002"}
    assert view.milestones == [40, 80]
    assert view.summary["importance"]["optim.lr_d"] == 0.7


def test_report_stands_alone_and_is_logged_on_the_parent_run(fake_sweep, tmp_path):
    parent, _ = fake_sweep
    out = write_report(out=tmp_path / "r.html")
    page = out.read_text()
    # every picture is inline: objective plot, prune reasons, importance, 2 grids, scores
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 6
    assert "src='http" not in page and 'src="http' not in page
    grid = __import__("base64").b64encode(png_bytes((200, 30, 30))).decode()
    assert images.count(grid) == 2  # the best two trials' sample grids, side by side
    assert "Winner: t_best" in page and f"make export SWEEP={parent}" in page
    for trial in ("t_good", "t_pruned", "t_stall", "t_failed"):
        assert trial in page
    assert "rank@40" in page and "stall" in page

    c = MlflowClient()
    logged = c.download_artifacts(parent, REPORT_ARTIFACT, str(tmp_path / "dl"))
    assert Path(logged).read_text() == page


def test_report_of_a_sweep_with_no_finished_trial_says_so(store, tmp_path):
    from tests.production.fake_sweep import FakeTrial, write_fake_sweep

    write_fake_sweep(store, [FakeTrial("p1", "pruned", [1.0, 2.0], 1e-4, reason="stall")])
    page = write_report(out=tmp_path / "r.html").read_text()
    assert "No trial ran to its end" in page
    assert "too few finished trials" not in page  # the fake summary has importances

"""The loop a user runs, on a real tiny sweep (Ray, Optuna, the milestone scheduler,
MLflow): sweep -> export -> production training from the export -> the logged model
loaded with mlflow.pytorch.load_model -> samples; the trial's objective reproduced."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
import torch
from mlflow import MlflowClient

from gan_core.config import GanConfig
from gan_core.platform import platform_name
from pipelines.cli import main
from pipelines.export import read_provenance

pytestmark = pytest.mark.slow


def test_sweep_export_train_load_sample_reproduces_the_trial(sweep_store, tmp_path):
    uri, result = sweep_store
    c = MlflowClient(uri)
    best_yaml = tmp_path / "configs" / "best.yaml"
    assert main(["export", "--sweep", result.parent_run_id, "--out", str(best_yaml)]) == 0

    prov = read_provenance(best_yaml)
    finished = result.table[result.table.state == "finished"].sort_values("objective")
    assert prov["trial_id"] == finished.trial_id.iloc[0]  # the sweep's own best finished
    assert c.get_run(prov["trial_run_id"]).data.tags["state"] == "finished"
    cfg = GanConfig.load(best_yaml)
    assert cfg.train.steps == prov["step"] == int(finished.steps.iloc[0])

    run_dir = tmp_path / "run"
    assert main(["train", "--config", str(best_yaml), "--out", str(run_dir), "--quiet"]) == 0
    run_id = json.loads((run_dir / "mlflow_run.json").read_text())["run_id"]
    run = c.get_run(run_id)
    assert run.data.tags["source.trial_run_id"] == prov["trial_run_id"]
    retrained = {m.step: m.value for m in c.get_metric_history(run_id, "objective")}
    assert retrained[prov["step"]] == prov["value"]  # the same value, not a close one
    assert run.data.tags["source.reproduced"] == "true"
    # where each trained, so a number that differs elsewhere says why (gan_core/platform.py)
    here = platform_name("cpu")
    trial_tags = c.get_run(prov["trial_run_id"]).data.tags
    assert prov["platform"] == trial_tags["platform"] == run.data.tags["platform"] == here

    G = mlflow.pytorch.load_model(f"runs:/{run_id}/generator")
    with torch.no_grad():
        fake = G(torch.randn(64, cfg.model.latent_dim))
    assert fake.shape == (64, 2) and torch.isfinite(fake).all()
    table = tmp_path / "samples.csv"
    assert main(["sample", "--run", run_id, "--n", "64", "--out", str(table)]) == 0
    assert pd.read_csv(table).shape == (64, 2)


def test_report_of_the_real_sweep_shows_every_trial(sweep_store, tmp_path):
    uri, result = sweep_store
    out = tmp_path / "report.html"
    assert main(["report", "--sweep", result.parent_run_id, "--out", str(out)]) == 0
    page = out.read_text()
    for trial_id in result.table.trial_id:
        assert trial_id in page
    for reason in set(result.table.reason) - {""}:
        assert reason in page
    assert page.count("data:image/png;base64,") >= 3

"""`gansweep export`: the best trial that ran to its end, read from MLflow, written as a
config GanConfig.load reads back unchanged, with its provenance."""

from __future__ import annotations

import json

import pytest

from gan_core.config import GanConfig
from pipelines.cli import main
from pipelines.export import ExportError, export_best, read_provenance
from pipelines.tracking.lookup import SweepNotFound, config_from_params
from tests.production.fake_sweep import (
    STANDARD_TRIALS,
    FakeTrial,
    trial_config,
    write_fake_sweep,
)

BY_ID = {t.trial_id: t for t in STANDARD_TRIALS}


def test_best_finished_trial_wins_over_better_pruned_and_failed_ones(fake_sweep, tmp_path):
    parent, ids = fake_sweep
    (best,) = export_best(out=tmp_path / "best.yaml")
    # t_pruned (1.0) and t_failed (0.5) have lower objectives but never ran to the end
    assert best.provenance["trial_id"] == "t_best"
    assert best.provenance["trial_run_id"] == ids["t_best"]
    assert best.provenance["sweep_run_id"] == parent
    assert best.provenance["value"] == 3.0 and best.provenance["step"] == 120
    assert best.provenance["metric"] == "objective" and best.provenance["mode"] == "min"
    assert best.provenance["code_version"] == "0123abc"


def test_export_loads_back_as_the_trials_config_with_its_provenance(fake_sweep, tmp_path):
    parent, ids = fake_sweep
    out = tmp_path / "configs" / "best.yaml"
    export_best(out=out)
    loaded = GanConfig.load(out)
    assert loaded.to_dict() == trial_config(BY_ID["t_best"]).to_dict()
    assert out.read_text().startswith("# ")  # provenance is a comment block
    prov = read_provenance(out)
    assert prov["trial_run_id"] == ids["t_best"] and prov["sweep_run_id"] == parent
    assert prov["value"] == 3.0


def test_another_metric_and_mode_and_top_k(fake_sweep, tmp_path):
    _, ids = fake_sweep
    out = tmp_path / "by_modes.yaml"
    written = export_best(out=out, metric="metric/modes", mode="max", top=3)
    # only two trials finished: t_good (6 modes) beats t_best (4); pruned ones have 8
    assert [w.provenance["trial_id"] for w in written] == ["t_good", "t_best"]
    assert [w.path.name for w in written] == ["by_modes.yaml", "by_modes-2.yaml"]
    assert [w.provenance["rank"] for w in written] == [1, 2]
    assert GanConfig.load(written[1].path).optim.lr_d == BY_ID["t_best"].lr_d


def test_json_export_with_a_provenance_sidecar(fake_sweep, tmp_path):
    out = tmp_path / "best.json"
    export_best(out=out, fmt="json")
    assert json.loads(out.read_text())["optim"]["lr_d"] == BY_ID["t_best"].lr_d
    assert GanConfig.load(out).to_dict() == trial_config(BY_ID["t_best"]).to_dict()
    assert read_provenance(out)["trial_id"] == "t_best"


def test_sweep_found_by_name_and_by_parent_id(fake_sweep, tmp_path):
    parent, _ = fake_sweep
    by_name = export_best("fake-20260101-000000", out=tmp_path / "a.yaml")
    by_id = export_best(parent, out=tmp_path / "b.yaml")
    assert by_name[0].provenance["sweep_run_id"] == by_id[0].provenance["sweep_run_id"] == parent


def test_sweep_found_by_its_folder_as_the_sweep_prints_it(fake_sweep, tmp_path):
    parent, _ = fake_sweep
    folder = tmp_path / "sweeps" / "fake-20260101-000000"
    folder.mkdir(parents=True)
    (folder / "sweep.json").write_text(json.dumps({"parent_run_id": parent}))
    (best,) = export_best(str(folder), out=tmp_path / "c.yaml")
    assert best.provenance["sweep_run_id"] == parent


def test_unknown_sweep_is_named_and_the_latest_sweeps_are_listed(fake_sweep, tmp_path):
    parent, _ = fake_sweep
    with pytest.raises(SweepNotFound) as err:
        export_best("no-such-sweep", out=tmp_path / "x.yaml")
    text = str(err.value)
    assert "'no-such-sweep'" in text
    assert "fake-20260101-000000" in text and parent in text


def test_a_trial_run_id_is_refused_as_a_sweep(fake_sweep, tmp_path):
    _, ids = fake_sweep
    with pytest.raises(SweepNotFound, match="not a sweep's parent run"):
        export_best(ids["t_best"], out=tmp_path / "x.yaml")


def test_a_sweep_without_finished_trials_exports_nothing(store, tmp_path):
    trials = [
        FakeTrial("p1", "pruned", [1.0], 1e-4, reason="stall"),
        FakeTrial("f1", "failed", [], 2e-4),
    ]
    write_fake_sweep(store, trials)
    with pytest.raises(ExportError, match="no finished trial") as err:
        export_best(out=tmp_path / "x.yaml")
    assert "1 pruned" in str(err.value) and "1 failed" in str(err.value)
    assert not (tmp_path / "x.yaml").exists()


def test_empty_store_says_how_to_get_a_sweep(store, tmp_path):
    with pytest.raises(SweepNotFound, match="make sweep"):
        export_best(out=tmp_path / "x.yaml")


def test_params_rebuild_the_same_config_as_the_artifact(fake_sweep):
    from mlflow import MlflowClient

    _, ids = fake_sweep
    run = MlflowClient().get_run(ids["t_best"])
    rebuilt = config_from_params(run.data.params, "params")
    assert rebuilt.to_dict() == trial_config(BY_ID["t_best"]).to_dict()


def test_cli_export_prints_the_winner_and_errors_cleanly(fake_sweep, tmp_path, capsys):
    assert main(["export", "--out", str(tmp_path / "best.yaml")]) == 0
    out = capsys.readouterr().out
    assert "t_best" in out and "make train CONFIG=" in out
    assert main(["export", "--sweep", "nope", "--out", str(tmp_path / "x.yaml")]) == 2
    assert "no sweep 'nope'" in capsys.readouterr().err

"""Fixtures of the production tests: a tracking store per test (with a fake sweep in it),
and one real tiny sweep per session for the slow tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from search_spaces import SPACES_DIR
from tests.production.fake_sweep import STANDARD_TRIALS, write_fake_sweep


@pytest.fixture(scope="session")
def empty_db(tmp_path_factory) -> Path:
    """A migrated, empty MLflow database: creating one takes seconds, copying it none."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("empty-store") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture()
def store(empty_db, tmp_path, monkeypatch) -> str:
    """An empty SQLite tracking store that tracking.tracking_uri() points to."""
    shutil.copyfile(empty_db, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    monkeypatch.chdir(tmp_path)  # runs/ and reports/ land here, not in the repo
    return uri


@pytest.fixture()
def fake_sweep(store):
    """(parent run id, {trial_id: run id}) of STANDARD_TRIALS in the test's store."""
    return write_fake_sweep(store, STANDARD_TRIALS)


def tiny_space_file(folder: Path) -> Path:
    """The tiny space, 4 trials, health pruning off: the first trial to reach each
    milestone has no peers to rank against, so at least one trial always finishes."""
    raw = yaml.safe_load((SPACES_DIR / "tiny.yaml").read_text())
    raw["budget"]["trials"] = 4
    raw["pruning"]["health"] = False
    path = folder / "tiny_e2e.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def tiny_sweep_store(tmp_path_factory):
    """A real tiny sweep (Ray, Optuna, the scheduler, MLflow) run once per session;
    returns (tracking URI, SweepResult)."""
    folder = tmp_path_factory.mktemp("tiny-sweep")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("GANSWEEP_STORAGE", str(folder / "sweeps"))
        mp.delenv("RAY_ADDRESS", raising=False)
        import ray

        from pipelines.sweep.driver import run_sweep

        try:
            result = run_sweep(str(tiny_space_file(folder)))
        finally:
            if ray.is_initialized():
                ray.shutdown()  # frees the cores for the rest of the session
    return uri, result


@pytest.fixture()
def sweep_store(tiny_sweep_store, tmp_path, monkeypatch):
    """The session's real sweep, with the test's env pointing at its store."""
    uri, result = tiny_sweep_store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    monkeypatch.chdir(tmp_path)
    return uri, result

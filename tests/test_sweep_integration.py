"""End to end on a local Ray (2 CPUs): the tiny space through Optuna, the milestone
scheduler, MLflow and the Parquet table; and a driver killed mid-sweep, then resumed.

Each sweep here takes ~30-60 s on 2 cores (mostly Ray's start and worker imports).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gan_core.config import GanConfig
from gan_core.platform import platform_name
from pipelines.tracking.trial_runs import STAGING_PREFIX
from search_spaces import SPACES_DIR

pytestmark = pytest.mark.slow

REASON = re.compile(r"^(diverged|d_dominates|g_dominates|mode_collapse|stall|rank@\d+)$")
BAD_DATA = "/nonexistent/gansweep-test/points.npy"
REPO = Path(__file__).resolve().parent.parent
HOLD_S = 1.5
LONG_RUNNER_STEPS = 2000


@pytest.fixture()
def sweep_env(tmp_path, monkeypatch):
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "GANSWEEP_STORAGE": str(tmp_path / "sweeps"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    yield env
    import ray

    if ray.is_initialized():
        ray.shutdown()


def tiny_with_a_failing_choice(tmp_path) -> Path:
    """The tiny space plus a data source that does not exist: trials that draw it fail."""
    raw = yaml.safe_load((SPACES_DIR / "tiny.yaml").read_text())
    raw["params"]["data.source"] = {"choices": ["ring8", BAD_DATA]}
    path = tmp_path / "tiny_failing.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def tiny_with_long_runners(tmp_path) -> Path:
    """The tiny space with 2000 steps, no health pruning and one milestone at 1000 that
    ranks from 3 values on, so that every trial runs long enough to be caught mid-run and
    killed, and later ones may still be pruned. Its MLP trains 250-450 steps/s on an idle
    2-core EPYC (2026-12-01): with the earlier 600 steps and a milestone at 300, trials were
    over in 1.3-2.3 s, or pruned 0.6 s after they started, before a kill could land. A trial
    now reaches the milestone 2-4 s after its start there (8 s on the slower machines of
    earlier sessions), and no milestone comes after it (the next, 2000, is the last step)."""
    raw = yaml.safe_load((SPACES_DIR / "tiny.yaml").read_text())
    raw["budget"]["max_steps"] = LONG_RUNNER_STEPS
    raw["pruning"].update(health=False, min_peers=3, milestones=[LONG_RUNNER_STEPS // 2])
    path = tmp_path / "tiny_long.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def tiny_on_auto_device(tmp_path) -> Path:
    """The tiny space with train.device auto (it ships with cpu), so a trial trains on the
    GPU Ray gives it, if any."""
    raw = yaml.safe_load((SPACES_DIR / "tiny.yaml").read_text())
    raw["base"]["train"]["device"] = "auto"
    path = tmp_path / "tiny_gpu.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def check_optuna_study(folder: Path, table: pd.DataFrame) -> None:
    """The Optuna study in the sweep folder's SQLite file (what `make dashboard` shows)
    holds each trial of the table once, in the state the table gives it, with its value
    or prune reason; nothing is left running."""
    import optuna
    from optuna.trial import TrialState

    from pipelines.sweep.searcher import LOST_IN_RESTART
    from pipelines.sweep.study import storage_url, study_name

    study = optuna.load_study(study_name=study_name(folder), storage=storage_url(folder))
    assert storage_url(folder) == f"sqlite:///{folder / 'optuna.db'}"
    told = [t for t in study.trials if "trial_id" in t.user_attrs]
    assert sorted(t.user_attrs["trial_id"] for t in told) == sorted(table.trial_id)
    lost = [t for t in study.trials if "trial_id" not in t.user_attrs]
    assert all(t.state == TrialState.FAIL and t.user_attrs["lost"] == LOST_IN_RESTART for t in lost)
    state = {
        "finished": TrialState.COMPLETE,
        "pruned": TrialState.PRUNED,
        "failed": TrialState.FAIL,
    }
    rows = table.set_index("trial_id")
    for t in told:
        row = rows.loc[t.user_attrs["trial_id"]]
        assert t.state == state[row.state], (t.user_attrs, row.state)
        if row.state == "finished":
            assert t.value == pytest.approx(row.objective)
        if row.state == "pruned":
            assert t.user_attrs["prune_reason"] == row.reason
            assert t.intermediate_values  # TPE learns from what a pruned trial reported


def mlflow_client():
    from mlflow import MlflowClient

    return MlflowClient(os.environ["MLFLOW_TRACKING_URI"])


def test_tiny_sweep_end_to_end(sweep_env, tmp_path):
    from pipelines.sweep.driver import run_sweep

    result = run_sweep(str(tiny_with_a_failing_choice(tmp_path)))
    table = result.table
    assert result.complete and len(table) == 6 and table.trial_id.is_unique
    assert set(table.state) <= {"finished", "pruned", "failed"}
    assert {"pruned", "failed"} <= set(table.state), table[["state", "data.source"]]

    # outcomes: failed exactly where the data is missing, with the error; reasons only on pruned
    bad = table["data.source"] == BAD_DATA
    assert (table.state[bad] == "failed").all() and (table.state[~bad] != "failed").all()
    assert table.error[bad].str.contains("points.npy").all()
    pruned = table[table.state == "pruned"]
    assert pruned.reason.map(lambda r: bool(REASON.match(r))).all()
    assert (table.reason[table.state != "pruned"] == "").all()
    assert (table.steps[table.state == "finished"] == 120).all()
    assert (pruned.steps < 120).all()

    # the Parquet table on disk is the same table, with milestones and sampled keys
    on_disk = pd.read_parquet(result.path / "trials.parquet")
    assert list(on_disk.trial_id) == list(table.trial_id)
    assert {"objective@40", "objective@80", "optim.lr_g", "wall_s"} <= set(on_disk.columns)
    reached_40 = on_disk[on_disk.steps >= 40]
    assert reached_40["objective@40"].notna().all()

    check_parent_run(result, table)
    check_child_runs(result, table)
    check_optuna_study(result.path, table)


def test_trials_no_node_can_hold_are_refused_before_anything_is_recorded(sweep_env, tmp_path):
    """GPUS_PER_TRIAL=1 on a machine without a GPU: Ray Tune alone would wait for ever
    (it warns once a minute); the sweep stops at once, names the budget keys, and has
    opened no MLflow run."""
    import torch

    from pipelines.sweep.driver import run_sweep
    from search_spaces import SpaceError

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: a 1-GPU trial fits")
    with pytest.raises(SpaceError) as err:
        run_sweep(str(tiny_on_auto_device(tmp_path)), gpus_per_trial=1)
    message = str(err.value)
    assert "tiny_gpu.yaml" in message and "budget.gpus_per_trial" in message
    assert "1 GPU" in message and "0 GPU" in message and "GPUS_PER_TRIAL" in message
    c = mlflow_client()
    experiments = [e.experiment_id for e in c.search_experiments()]
    assert c.search_runs(experiments) == []


def check_parent_run(result, table):
    c = mlflow_client()
    parent = c.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.params["budget.trials"] == "6"
    assert parent.data.params["space"] == "tiny_failing"
    assert parent.data.tags["git_commit"]
    names = {a.path for a in c.list_artifacts(result.parent_run_id)}
    assert {
        "trials.parquet",
        "summary.json",
        "summary.txt",
        "base_config.yaml",
        "tiny_failing.yaml",
    } <= names
    logged = pd.read_parquet(c.download_artifacts(result.parent_run_id, "trials.parquet"))
    assert sorted(logged.trial_id) == sorted(table.trial_id)


def check_child_runs(result, table):
    from pipelines.tracking import store as tracking

    c = mlflow_client()
    runs = tracking.child_runs(c, result.experiment_id, result.parent_run_id)
    by_trial = {r.data.tags["trial_id"]: r for r in runs}
    assert sorted(by_trial) == sorted(table.trial_id)  # one run per trial, no more
    status = {"finished": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}
    for row in table.itertuples():
        run = by_trial[row.trial_id]
        tags, params = run.data.tags, run.data.params
        assert tags["state"] == row.state and tags["prune_reason"] == row.reason
        assert tags["final_health"] == row.health and tags["node"]
        assert row.state == "failed" or tags["platform"] == platform_name("cpu")
        assert run.info.status == status[row.state]
        assert params["optim.lr_g"] == str(float(table.loc[row.Index, "optim.lr_g"]))
        assert params["train.steps"] == "120" and len(params) == len(GanConfig().flat())
        arts = {a.path for a in c.list_artifacts(run.info.run_id)}
        assert "config.yaml" in arts
        config_file = c.download_artifacts(run.info.run_id, "config.yaml")
        cfg = GanConfig.from_dict(yaml.safe_load(Path(config_file).read_text()))
        assert cfg.data.source == table.loc[row.Index, "data.source"]
        if row.state == "failed":
            assert "points.npy" in tags["error"]
            continue
        steps = [m.step for m in c.get_metric_history(run.info.run_id, "objective")]
        assert steps == sorted(set(steps)) and steps[-1] == row.steps  # once each, in order
        assert "scores.png" in arts
        grids = {a.path for a in c.list_artifacts(run.info.run_id, "samples")}
        assert {"samples/step_000040.png", "samples/final.png"} <= grids


def test_killed_driver_resumes_without_loss_or_repeat(sweep_env, tmp_path):
    """SIGKILL the driver's whole process group (driver and its local Ray) while trials run,
    then RESUME=1: every trial that had ended keeps its outcome, the budget is met exactly,
    and MLflow holds each trial once with each step once."""
    space = tiny_with_long_runners(tmp_path)
    driver = start_driver(f"run_sweep({str(space)!r}, trials=8)", tmp_path / "first.log")
    storage = Path(sweep_env["GANSWEEP_STORAGE"])
    folder, before, long_runner = wait_for_kill_point(storage, driver)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait(timeout=30)
    (folder / f"{STAGING_PREFIX}killed").mkdir(exist_ok=True)  # as if killed mid-upload

    resumed = start_driver(f"run_sweep({str(space)!r}, resume=True)", tmp_path / "second.log")
    assert resumed.wait(timeout=300) == 0, (tmp_path / "second.log").read_text()[-3000:]
    check_resumed(folder, before, long_runner, f"run_trial_{long_runner}_*")


def check_resumed(folder: Path, before: dict, long_runner: str, ray_dir: str) -> pd.DataFrame:
    """After a killed driver's sweep was resumed to its end: every trial that had ended
    keeps its outcome, the running ones went on (the long runner's Ray trial, folder
    `ray_dir`, from its checkpoint), the budget is met exactly, the Optuna study agrees,
    and MLflow holds each trial once with each step once. Returns the table."""
    meta = json.loads((folder / "sweep.json").read_text())
    assert meta["status"] == "finished"
    assert not list(folder.glob(f"{STAGING_PREFIX}*")), "an upload's staging folder was left"
    table = pd.read_parquet(folder / "trials.parquet")
    assert len(table) == 8 and table.trial_id.is_unique and "running" not in set(table.state)
    ledger = json.loads((folder / "ledger.json").read_text())
    final = table.set_index("trial_id")
    for row in before["rows"]:
        if row["trial_id"] in ledger["lost"]:
            continue  # began after Ray's last snapshot; its work was redone as another trial
        kept = final.loc[row["trial_id"]]
        if row["state"] == "running":  # continued from its checkpoint, not from step 0
            assert kept.steps >= row["steps"]
        else:
            assert (kept.state, kept.reason, kept.steps) == (
                row["state"],
                row["reason"],
                row["steps"],
            )
    assert long_runner not in ledger["lost"]  # Ray had it: it was resumed
    reported = ray_reported_steps(folder, ray_dir)
    assert reported == sorted(reported), reported  # went on from its checkpoint, not step 0
    assert reported[-1] >= next(r["steps"] for r in before["rows"] if r["trial_id"] == long_runner)

    check_optuna_study(folder, table)  # the study's database kept up through the restart

    from pipelines.tracking import store as tracking

    c = mlflow_client()
    runs = tracking.child_runs(c, meta["experiment_id"], meta["parent_run_id"])
    assert sorted(r.data.tags["trial_id"] for r in runs) == sorted(table.trial_id)
    for run in runs:
        row = final.loc[run.data.tags["trial_id"]]
        assert run.data.tags["state"] == row.state
        steps = [m.step for m in c.get_metric_history(run.info.run_id, "objective")]
        assert steps == sorted(set(steps)) and steps[-1] == row.steps
    return table


def ray_reported_steps(folder: Path, ray_dir: str) -> list[int]:
    """The GAN steps a Ray trial (its folder: `ray_dir`, a glob) reported to Ray, over both
    driver sessions (its result.json)."""
    (trial_dir,) = folder.glob(ray_dir)
    lines = (trial_dir / "result.json").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines if line.strip()]


def start_driver(call: str, log: Path) -> subprocess.Popen:
    code = f"from pipelines.sweep.driver import run_sweep; {call}"
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the kill takes its Ray along
    )


@contextlib.contextmanager
def driver_process(call: str, log: Path):
    """`start_driver`, and its whole process group killed if it outlives the block."""
    driver = start_driver(call, log)
    try:
        yield driver
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)


def ray_snapshot_text(folder: Path) -> str:
    """Ray's latest experiment snapshot in the sweep folder, as text ('' before the first)."""
    try:
        return max(
            folder.glob("experiment_state-*.json"), key=lambda p: p.stat().st_mtime
        ).read_text()
    except (ValueError, OSError):  # none yet, or replaced while we read
        return ""


def wait_for_kill_point(
    storage: Path, driver: subprocess.Popen, timeout: float = 240, ray_id=lambda t: t
):
    """Poll the sweep's ledger until 2 trials have ended and one has been running past its
    third eval point for HOLD_S and is in Ray's experiment snapshot (taken every 2 s when
    the driver is not busy; under load it was seen to lag, and a trial that began after the
    last snapshot is rightly redone as another one). Returns the folder, the ledger and
    that trial's id. `ray_id` maps a trial id of the ledger to the Ray trial holding it
    (a population's member: tests/test_sweep_populations.py)."""
    deadline, seen = time.time() + timeout, {}
    while time.time() < deadline:
        assert driver.poll() is None, "the sweep ended before it could be killed"
        for path in storage.glob("*/ledger.json"):
            try:
                ledger = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            rows = ledger["rows"]
            running = [r["trial_id"] for r in rows if r["state"] == "running" and r["steps"] >= 60]
            for trial_id in running:
                seen.setdefault(trial_id, time.time())
            snapshot = ray_snapshot_text(path.parent)
            held = [t for t in running if time.time() - seen[t] >= HOLD_S and ray_id(t) in snapshot]
            if sum(r["state"] != "running" for r in rows) >= 2 and held:
                return path.parent, ledger, held[0]
        time.sleep(0.1)
    os.killpg(driver.pid, signal.SIGKILL)
    raise AssertionError(f"no kill point within {timeout} s")

"""A population sweep end to end on a local Ray (2 CPUs): the tiny space with
budget.population 4, so each Ray trial trains 4 members as one batched model and every
member is a trial of the sweep (pipelines/sweep/members.py): its row in the Parquet table,
its MLflow child run, its Optuna trial, its prune reason, its export.

Each sweep here takes ~30-60 s on 2 cores (mostly Ray's start and worker imports).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gan_core.config import ConfigError, GanConfig, population_role
from gan_core.platform import platform_name
from gan_core.trainer import Trainer
from pipelines.sweep.trial import TrialPlan
from search_spaces import SPACES_DIR
from tests import test_sweep_integration as plain

pytestmark = pytest.mark.slow

sweep_env = plain.sweep_env  # the same MLflow store and sweep folder under tmp_path
K = 4
MEMBER = re.compile(r"^([0-9a-f]{8})-m([0-3])$")
REFUSED = "test: a member config the rules refuse"


def ray_trial(member: str) -> str:
    """The Ray trial id of a member id (`<Ray trial id>-m<k>`)."""
    return MEMBER.match(member).group(1)


def tiny_space(tmp_path, **budget) -> Path:
    raw = yaml.safe_load((SPACES_DIR / "tiny.yaml").read_text())
    raw["budget"].update(population=K, **budget)
    path = tmp_path / "tiny_population.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture()
def one_refused_member(monkeypatch):
    """Member 1 of the first population is written as a config error, as the searcher
    writes a sampled combination the config rules refuse (TrialPlan.record_config)."""
    real = TrialPlan.record_config
    refused: list[str] = []

    def record_config(self, trial_id, sampled):
        if trial_id.endswith("-m1") and not refused:
            refused.append(trial_id)
            folder = self.trial_folder(trial_id)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "config.json").write_text(json.dumps({"error": REFUSED}))
            return
        real(self, trial_id, sampled)

    monkeypatch.setattr(TrialPlan, "record_config", record_config)
    return refused


def test_population_sweep_records_every_member_as_a_trial(sweep_env, tmp_path, one_refused_member):
    from pipelines.export import export_best
    from pipelines.sweep.driver import run_sweep

    result = run_sweep(str(tiny_space(tmp_path)), trials=8)
    table = result.table
    assert result.complete and len(table) == 8 and table.trial_id.is_unique

    # members: 4 per Ray trial, named <Ray trial id>-m<k>, sharing the shape keys
    groups = table.trial_id.map(ray_trial)
    assert groups.value_counts().tolist() == [K, K]
    shape_keys = [k for k in ("loss.type",) if population_role(k) == "shape"]
    assert shape_keys and (table.groupby(groups)[shape_keys].nunique() == 1).all().all()

    # the refused member failed alone; its population's other members trained
    (refused,) = one_refused_member
    failed = table[table.state == "failed"]
    assert list(failed.trial_id) == [refused] and REFUSED in failed.error.iloc[0]
    neighbours = table[(groups == ray_trial(refused)) & (table.trial_id != refused)]
    assert len(neighbours) == K - 1 and (neighbours.state != "failed").all()
    assert (neighbours.steps >= 40).all()

    # outcomes as in a plain sweep, with the plain reasons, judged across populations
    assert {"finished", "pruned"} <= set(table.state), table[["trial_id", "state"]]
    pruned = table[table.state == "pruned"]
    assert pruned.reason.map(lambda r: bool(plain.REASON.match(r))).all()
    assert (table.steps[table.state == "finished"] == 120).all() and (pruned.steps < 120).all()
    assert (table.wall_s[table.state != "failed"] > 0).all()  # the population's, per member
    rules = json.loads((result.path / "pruning.json").read_text())
    assert rules["reasons"] == dict(zip(pruned.trial_id, pruned.reason, strict=True))
    at_40 = set(rules["values"]["40"])
    assert len({ray_trial(t) for t in at_40}) == 2  # each milestone ranks members of both

    on_disk = pd.read_parquet(result.path / "trials.parquet")
    assert sorted(on_disk.trial_id) == sorted(table.trial_id)
    assert on_disk[on_disk.steps >= 40]["objective@40"].notna().all()

    check_member_runs(result, table)
    plain.check_optuna_study(result.path, table)

    # export of a member, retrained as a plain run: the same objective (CPU, MLP: bit for bit)
    (exported,) = export_best(sweep=str(result.path), out=tmp_path / "best.yaml")
    best = table.set_index("trial_id").loc[exported.provenance["trial_id"]]
    assert MEMBER.match(exported.provenance["trial_id"]) and best.state == "finished"
    trainer = Trainer(GanConfig.load(exported.path))
    trainer.fit()
    assert trainer.history[-1]["objective"] == best.objective


def check_member_runs(result, table):
    """One MLflow child run per member, as a plain trial's: params, steps, tags, grids."""
    from pipelines.tracking import store as tracking

    c = plain.mlflow_client()
    runs = tracking.child_runs(c, result.experiment_id, result.parent_run_id)
    by_trial = {r.data.tags["trial_id"]: r for r in runs}
    assert sorted(by_trial) == sorted(table.trial_id)
    status = {"finished": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}
    for row in table.itertuples():
        run = by_trial[row.trial_id]
        lr_g = table.loc[row.Index, "optim.lr_g"]
        tags = run.data.tags
        assert tags["state"] == row.state and tags["prune_reason"] == row.reason
        assert run.info.status == status[row.state]
        if row.state == "failed":
            assert REFUSED in tags["error"]
            continue
        assert tags["node"] and len(run.data.params) == len(GanConfig().flat())
        assert tags["platform"] == platform_name("cpu")  # where the population trained
        assert run.data.params["optim.lr_g"] == str(float(lr_g))
        steps = [m.step for m in c.get_metric_history(run.info.run_id, "objective")]
        assert steps == sorted(set(steps)) and steps[-1] == row.steps
        arts = {a.path for a in c.list_artifacts(run.info.run_id)}
        assert {"config.yaml", "scores.png"} <= arts
        grids = {a.path for a in c.list_artifacts(run.info.run_id, "samples")}
        assert {"samples/step_000040.png", "samples/final.png"} <= grids


def test_a_population_below_one_is_refused_before_start(sweep_env):
    from pipelines.sweep.driver import run_sweep

    with pytest.raises(ConfigError, match="population=0"):
        run_sweep(str(SPACES_DIR / "tiny.yaml"), population=0)


def test_killed_driver_resumes_populations_without_loss_or_repeat(sweep_env, tmp_path):
    """SIGKILL the driver's process group (driver, its Ray, the population processes)
    while populations train, then RESUME=1: every member that had ended keeps its outcome,
    the running ones go on from their population's checkpoint, the budget is met exactly,
    and MLflow holds each member once with each step once (the plain kill test's pattern)."""
    space = plain.tiny_with_long_runners(tmp_path)
    call = f"run_sweep({str(space)!r}, trials=8, population={K})"
    driver = plain.start_driver(call, tmp_path / "first.log")
    storage = Path(sweep_env["GANSWEEP_STORAGE"])
    folder, before, long_runner = plain.wait_for_kill_point(storage, driver, ray_id=ray_trial)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait(timeout=30)

    resumed = plain.start_driver(f"run_sweep({str(space)!r}, resume=True)", tmp_path / "2.log")
    assert resumed.wait(timeout=300) == 0, (tmp_path / "2.log").read_text()[-3000:]

    ray_dir = f"run_population_{ray_trial(long_runner)}_*"
    table = plain.check_resumed(folder, before, long_runner, ray_dir)
    assert table.trial_id.map(lambda t: bool(MEMBER.match(t))).all()
    assert json.loads((folder / "sweep.json").read_text())["overrides"]["population"] == K


def test_killed_population_process_resumes_from_its_checkpoint(sweep_env, tmp_path):
    """SIGKILL the worker process that trains a population: Ray starts the trial again
    (FailureConfig.max_failures) and the population continues from its checkpoint, not
    from step 0; no member fails for it, and MLflow holds each member's steps once."""
    space = plain.tiny_with_long_runners(tmp_path)
    log = tmp_path / "driver.log"
    storage = Path(sweep_env["GANSWEEP_STORAGE"])
    call = f"run_sweep({str(space)!r}, trials={K}, population={K})"
    with plain.driver_process(call, log) as driver:
        folder, population, killed_pid, killed_at = wait_for_population_result(storage, driver)
        os.kill(killed_pid, signal.SIGKILL)
        assert driver.wait(timeout=300) == 0, log.read_text()[-3000:]
    table = pd.read_parquet(folder / "trials.parquet")
    assert len(table) == K and (table.state != "failed").all(), table[["trial_id", "error"]]
    after = [r for r in population_results(folder, population) if r["pid"] != killed_pid]
    assert after, "the population never ran again"
    assert min(r["step"] for r in after) >= killed_at  # from its checkpoint, not step 0
    meta = json.loads((folder / "sweep.json").read_text())
    from pipelines.tracking import store as tracking

    c = plain.mlflow_client()
    runs = tracking.child_runs(c, meta["experiment_id"], meta["parent_run_id"])
    assert sorted(r.data.tags["trial_id"] for r in runs) == sorted(table.trial_id)
    final = table.set_index("trial_id")
    for run in runs:
        steps = [m.step for m in c.get_metric_history(run.info.run_id, "objective")]
        assert (
            steps == sorted(set(steps)) and steps[-1] == final.loc[run.data.tags["trial_id"]].steps
        )


def test_a_member_whose_batched_step_raises_fails_alone(sweep_env, tmp_path, monkeypatch):
    """The batched step raises once one member (marked by tests/faults.py) is at step 70.
    That member fails alone, with the error, at step 70; the others of its population go on
    alone from the population's checkpoint at step 60 and end as in the batch: each one's
    objective at its last step is a plain Trainer's of its config, bit for bit (CPU)."""
    from tests import faults

    raw = yaml.safe_load((SPACES_DIR / "tiny.yaml").read_text())
    raw["budget"].update(population=K, max_steps=160)
    raw["pruning"].update(health=False, milestones=[120], min_peers=3)
    space = tmp_path / "tiny_fault.yaml"
    space.write_text(yaml.safe_dump(raw, sort_keys=False))
    monkeypatch.setenv("PYTHONPATH", str(plain.REPO))  # Ray's workers import tests.faults
    hook = {"worker_process_setup_hook": "tests.faults.raise_for_the_marked_member"}
    call = (
        f"import ray; ray.init(num_cpus=2, include_dashboard=False, runtime_env={hook!r}); "
        f"import tests.faults; tests.faults.mark_member(); run_sweep({str(space)!r}, trials={K})"
    )
    log = tmp_path / "driver.log"
    with plain.driver_process(call, log) as driver:
        assert driver.wait(timeout=300) == 0, log.read_text()[-3000:]
    (folder,) = [p.parent for p in Path(sweep_env["GANSWEEP_STORAGE"]).glob("*/trials.parquet")]
    table = pd.read_parquet(folder / "trials.parquet")
    plan = TrialPlan(base={}, milestones=(), folder=str(folder))  # only to read configs
    configs = {t: plan.trial_config(t) for t in table.trial_id}
    (marked,) = [t for t, cfg in configs.items() if cfg.train.seed == faults.MARKED_SEED]
    rows = table.set_index("trial_id")
    assert rows.loc[marked].state == "failed" and faults.MESSAGE in rows.loc[marked].error
    assert rows.loc[marked].steps == faults.RAISE_AT
    others = rows.drop(marked)
    assert len(others) == K - 1 and (others.state != "failed").all(), others[["state", "error"]]
    for mid, row in others.iterrows():
        assert (folder / "trials" / mid / "population.pt").is_file()  # it went on alone
        trainer = Trainer(configs[mid])
        trainer.fit()
        (record,) = [r for r in trainer.history if r["step"] == row.steps]
        assert record["objective"] == row.objective, mid
    plain.check_optuna_study(folder, table)


def population_results(folder: Path, population: str) -> list[dict]:
    (trial_dir,) = folder.glob(f"run_population_{population}_*")
    lines = (trial_dir / "result.json").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def wait_for_population_result(storage: Path, driver, min_step: int = 100, timeout=240):
    """The sweep folder, the population, its process id and its step once its result.json
    holds a result at `min_step` or later."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert driver.poll() is None, "the sweep ended before its population could be killed"
        for trial_dir in storage.glob("*/run_population_*"):
            try:
                results = population_results(trial_dir.parent, trial_dir.name.split("_")[2])
            except (ValueError, OSError):  # not created yet, or a line half written
                continue
            if results and results[-1]["step"] >= min_step:
                last = results[-1]
                return trial_dir.parent, trial_dir.name.split("_")[2], last["pid"], last["step"]
        time.sleep(0.05)
    raise AssertionError(f"no population reported step {min_step} within {timeout} s")

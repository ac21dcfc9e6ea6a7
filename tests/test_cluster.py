"""The sweep on a real multi-node Ray cluster on loopback with an MLflow server on
PostgreSQL (deploy/cluster.py), and the faults a cluster brings.

One cluster for the whole module (head + node `w1`, 1 CPU each; PostgreSQL; `mlflow
server`), on ports of its own and state under pytest's tmp folder; the finalizer stops
every process group, and the last test checks that none is left. Skipped, with the reason,
where PostgreSQL or Ray cannot be started here.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import skip_unless_postgres_starts
from tests.test_sweep_integration import (
    start_driver,
    tiny_with_long_runners,
    wait_for_kill_point,
)

# The driver of these tests is the pytest process, which has started a local Ray in earlier
# tests: it holds Ray's token auth for life, so the cluster runs with token auth too
# (deploy/cluster.py, docs/cluster.md "Ray's token authentication").
pytestmark = pytest.mark.slow

EVAL_EVERY = 20  # search_spaces/tiny.yaml


# --- the cluster -----------------------------------------------------------------------


def mount_namespace_works() -> bool:
    probe = ["unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs x /mnt"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def hiding(folder: Path) -> list[str]:
    """A command prefix that runs a Ray node in its own mount namespace where `folder` is an
    empty tmpfs: that node (and every trial it runs) cannot see the driver's files there."""
    mount = 'mount -t tmpfs gansweep-hidden "$0" && exec "$@"'
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", mount, str(folder)]


def start_w1(cluster: dict) -> None:
    """Node w1, where it can be, in a mount namespace that hides the folder `driver_only`."""
    wrap = hiding(cluster["driver_only"]) if cluster["hidden"] else None
    cluster["tool"].start_ray_node(cluster["layout"], "w1", wrap=wrap)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from deploy import cluster as tool

    root = tmp_path_factory.mktemp("cluster")
    layout = tool.Layout(root, ray_port=6391, pg_port=54331, mlflow_port=5056)
    skip_unless_postgres_starts(tool)
    driver_only = root / "driver_only"
    driver_only.mkdir()
    hidden = mount_namespace_works()
    try:
        tool.up(layout, nodes=("head",))
        state = {"layout": layout, "tool": tool, "driver_only": driver_only, "hidden": hidden}
        start_w1(state)
        yield state
    finally:
        tool.down(layout, purge=True)


@pytest.fixture()
def on_cluster(cluster, tmp_path, monkeypatch):
    layout = cluster["layout"]
    env = {
        **cluster["tool"].driver_env(layout),
        "GANSWEEP_STORAGE": str(tmp_path / "sweeps"),
        "GANSWEEP_MLFLOW_WAIT_S": "60",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield cluster
    import ray

    if ray.is_initialized():
        ray.shutdown()


def node_ids() -> dict[str, str]:
    """Ray node id of each of our nodes, by its custom resource (head, w1)."""
    import ray

    if not ray.is_initialized():
        ray.init(address=os.environ["RAY_ADDRESS"], logging_level="WARNING")
    out = {}
    for node in ray.nodes():
        for key in node["Resources"]:
            if node["Alive"] and key.startswith("gansweep_"):
                out[key.removeprefix("gansweep_")] = node["NodeID"]
    return out


def live_nodes(*names: str, timeout_s: float = 60) -> dict[str, str]:
    """node_ids() once the cluster lists every one of `names` as alive (a node restarted by
    the test before may still be registering)."""
    deadline = time.time() + timeout_s
    while not set(names) <= (found := node_ids()).keys() and time.time() < deadline:
        time.sleep(1)
    missing = set(names) - found.keys()
    assert not missing, f"Ray nodes {sorted(missing)} not alive within {timeout_s:.0f} s: {found}"
    return found


def mlflow_runs(meta: dict) -> list:
    from mlflow import MlflowClient

    from pipelines.tracking import store as tracking

    c = MlflowClient(meta["tracking_uri"])
    return tracking.child_runs(c, meta["experiment_id"], meta["parent_run_id"])


def logged_steps(run) -> list[int]:
    from mlflow import MlflowClient

    c = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    return [m.step for m in c.get_metric_history(run.info.run_id, "objective")]


def assert_each_step_once(runs, table: pd.DataFrame) -> None:
    """Every eval point of every trial in MLflow exactly once: none missing, none twice."""
    rows = table.set_index("trial_id")
    assert sorted(r.data.tags["trial_id"] for r in runs) == sorted(table.trial_id)
    for run in runs:
        row = rows.loc[run.data.tags["trial_id"]]
        if row.state == "failed":
            continue
        expected = list(range(EVAL_EVERY, int(row.steps) + 1, EVAL_EVERY))
        assert logged_steps(run) == expected, (row.name, row.state, row.steps)


# --- the sweep over two nodes -------------------------------------------------------------


def test_sweep_spreads_over_two_nodes_and_logs_to_the_server(on_cluster):
    from pipelines.sweep.driver import run_sweep

    result = run_sweep("tiny", trials=4)
    assert result.complete and len(result.table) == 4
    nodes = node_ids()
    meta = json.loads((result.path / "sweep.json").read_text())
    runs = mlflow_runs(meta)
    ran_on = {r.data.tags["node"].split("/")[-1] for r in runs}
    assert ran_on == {nodes["head"], nodes["w1"]}, ran_on  # spread, and named by node id
    assert_each_step_once(runs, result.table)
    # artifacts went through the server into its artifact store, not to a node's disk
    run = runs[0]
    assert run.info.artifact_uri.startswith("mlflow-artifacts:"), run.info.artifact_uri
    store = on_cluster["layout"].root / "mlflow-artifacts"
    assert list(store.rglob("config.yaml")), "no artifact in the server's store"
    # the Optuna study went to the cluster's PostgreSQL, not to a file in the sweep folder
    assert_study_in_postgres(result.path, result.table)


def assert_study_in_postgres(folder: Path, table: pd.DataFrame) -> None:
    import optuna

    url = os.environ["GANSWEEP_OPTUNA_STORAGE"]
    assert url.startswith("postgresql+psycopg2://") and ":" not in url.split("@")[0].split("//")[1]
    study = optuna.load_study(study_name=folder.name, storage=url)
    told = sorted(t.user_attrs["trial_id"] for t in study.trials if "trial_id" in t.user_attrs)
    assert told == sorted(table.trial_id)
    assert not (folder / "optuna.db").exists()
    assert json.loads((folder / "sweep.json").read_text())["optuna_storage"] == "env"


# --- faults --------------------------------------------------------------------------------


def wait_for_running_trial(
    storage: Path, driver, min_step: int, timeout: float = 180, node: str = ""
):
    """(sweep folder, trial id, its steps) of a trial running past `min_step` (on the node
    whose Ray id is `node`, if given)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert driver is None or driver.poll() is None, "the sweep ended too early"
        for path in storage.glob("*/ledger.json"):
            try:
                rows = json.loads(path.read_text())["rows"]
            except (OSError, json.JSONDecodeError, KeyError):
                continue
            for row in rows:
                here = row.get("node", "").endswith(node)
                if row["state"] == "running" and row["steps"] >= min_step and here:
                    return path.parent, row["trial_id"], row["steps"]
        time.sleep(0.1)
    raise AssertionError(f"no trial ran past step {min_step} within {timeout} s")


def ray_results(folder: Path, trial_id: str) -> list[dict]:
    """Ray's results of a trial, or of a population (`trial_id` its Ray id: run_population_*)."""
    (trial_dir,) = [
        *folder.glob(f"run_trial_{trial_id}_*"),
        *folder.glob(f"run_population_{trial_id}_*"),
    ]
    lines = (trial_dir / "result.json").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def last_ray_result(folder: Path, trial_id: str, min_step: int, timeout: float = 30) -> dict:
    """The trial's last result in Ray's result.json once it holds `min_step` (Ray writes the
    file a moment after the driver's ledger sees the result)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            results = ray_results(folder, trial_id)
        except (ValueError, OSError):  # not created yet, or a line half written
            results = []
        if results and results[-1]["step"] >= min_step:
            return results[-1]
        time.sleep(0.05)
    raise AssertionError(f"result.json of {trial_id} never reached step {min_step}")


@pytest.mark.parametrize("population", [1, 2])
def test_killed_trial_process_resumes_from_its_checkpoint(on_cluster, tmp_path, population):
    """SIGKILL the worker process that runs a trial (with populations of 2: a population):
    Ray starts it again (FailureConfig.max_failures), it continues from its own checkpoint,
    not from step 0, no trial fails for it, and MLflow holds every eval point once."""
    from tests.test_sweep_populations import ray_trial

    space = tiny_with_long_runners(tmp_path)
    log = tmp_path / "driver.log"
    driver = start_driver(f"run_sweep({str(space)!r}, trials=3, population={population})", log)
    storage = Path(os.environ["GANSWEEP_STORAGE"])
    try:
        folder, trial_id, steps = wait_for_running_trial(storage, driver, min_step=100)
        ray_id = ray_trial(trial_id) if population > 1 else trial_id
        last = last_ray_result(folder, ray_id, steps)
        killed_pid, killed_at = last["pid"], last["step"]
        os.kill(killed_pid, signal.SIGKILL)
        assert driver.wait(timeout=300) == 0, log.read_text()[-3000:]
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    table = pd.read_parquet(folder / "trials.parquet")
    assert len(table) == 3 and (table.state != "failed").all(), table[["trial_id", "error"]]
    after = [r for r in ray_results(folder, ray_id) if r["pid"] != killed_pid]
    assert after, "the trial never ran again"
    assert min(r["step"] for r in after) >= killed_at  # from the checkpoint, not step 0
    meta = json.loads((folder / "sweep.json").read_text())
    assert_each_step_once(mlflow_runs(meta), table)


def kill_w1_while_it_trains(cluster, tmp_path, budget: str, before_kill):
    """Run the long-runner tiny sweep with `budget` (run_sweep's keyword arguments), SIGKILL
    node w1 once a trial (a member) on it is past step 100, wait for the sweep to end and
    start w1 again. Returns the sweep folder, that trial's id, its steps then, what
    `before_kill(folder, trial id, steps)` returned, and w1's and the head's Ray node ids."""
    tool, layout = cluster["tool"], cluster["layout"]
    nodes = live_nodes("head", "w1")
    w1, head = nodes["w1"], nodes["head"]
    space = tiny_with_long_runners(tmp_path)
    log = tmp_path / "driver.log"
    driver = start_driver(f"run_sweep({str(space)!r}, {budget})", log)
    storage = Path(os.environ["GANSWEEP_STORAGE"])
    try:
        folder, trial_id, steps = wait_for_running_trial(storage, driver, 100, node=w1)
        seen = before_kill(folder, trial_id, steps)
        tool.stop(layout, "ray-w1", sig=signal.SIGKILL)
        assert driver.wait(timeout=400) == 0, log.read_text()[-3000:]
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
        start_w1(cluster)
    return folder, trial_id, steps, seen, w1, head


def test_killed_worker_node_its_trial_resumes_on_another_node(on_cluster, tmp_path):
    """SIGKILL the whole node w1 (its raylet, object store and workers: the process group
    that `ray start` heads) while it runs a trial. Ray declares the node dead, Tune starts
    the trial again on the head (FailureConfig.max_failures) from the trial's checkpoint on
    the shared storage, and its MLflow run holds every eval point once. w1 is started again
    afterwards for the tests that follow."""

    def last_step(folder, trial_id, steps):
        return last_ray_result(folder, trial_id, steps)["step"]

    folder, trial_id, _, killed_at, w1, head = kill_w1_while_it_trains(
        on_cluster, tmp_path, "trials=3", last_step
    )
    table = pd.read_parquet(folder / "trials.parquet")
    row = table.set_index("trial_id").loc[trial_id]
    assert row.state != "failed", row.error
    assert row.node.endswith(head), row.node  # it ended where it could: on the head
    results = ray_results(folder, trial_id)
    on_w1 = [r["step"] for r in results if r["node"].endswith(w1)]
    after = [r["step"] for r in results if r["node"].endswith(head)]
    assert after, "the trial never ran again"
    assert min(after) > max(on_w1) - 2 * EVAL_EVERY  # from its checkpoint, not from step 0
    assert max(on_w1) >= killed_at
    meta = json.loads((folder / "sweep.json").read_text())
    assert_each_step_once(mlflow_runs(meta), table)


def test_killed_worker_node_its_population_resumes_on_another_node(on_cluster, tmp_path):
    """The same fault for a population sweep (budget.population 2): SIGKILL node w1 while
    it trains a population. Tune starts that Ray trial again on the head from the
    population's checkpoint (`trials/<Ray id>/population.pt` on the shared storage), the
    pruning judge actor is found or started again (pipelines/sweep/judge.py), no member fails
    for it, each member ends on the head, and each member's MLflow run holds every eval
    point once."""
    from tests.test_sweep_populations import population_results, ray_trial

    def pids(folder, member, steps):
        # Ray writes result.json a moment after the ledger sees the step: wait for it, or
        # the set is empty and every result counts as "after the kill"
        last_ray_result(folder, ray_trial(member), steps)
        return {r["pid"] for r in population_results(folder, ray_trial(member))}

    folder, member, steps, before, _, head = kill_w1_while_it_trains(
        on_cluster, tmp_path, "trials=4, population=2", pids
    )
    population = ray_trial(member)
    table = pd.read_parquet(folder / "trials.parquet")
    assert len(table) == 4 and (table.state != "failed").all(), table[["trial_id", "error"]]
    rows = table.set_index("trial_id")
    members = [t for t in table.trial_id if ray_trial(t) == population]
    assert len(members) == 2 and member in members
    for m in members:
        assert rows.loc[m].node.endswith(head), (m, rows.loc[m].node)  # ended on the head
    after = [r["step"] for r in population_results(folder, population) if r["pid"] not in before]
    assert after, "the population never ran again"
    assert min(after) > steps - 2 * EVAL_EVERY  # from its checkpoint, not from step 0
    meta = json.loads((folder / "sweep.json").read_text())
    assert_each_step_once(mlflow_runs(meta), table)


@pytest.mark.parametrize("population", [1, 2])
def test_killed_driver_resumes_on_the_cluster(on_cluster, tmp_path, population):
    """SIGKILL the driver (its process group) mid-sweep; the cluster and the server stay up.
    RESUME=1 finishes the sweep: the budget is met exactly, trials that had ended keep their
    outcome, and MLflow on the server holds each trial once with each eval point once. With
    populations of 2 every member is a trial here, and the study in PostgreSQL holds each."""
    from tests.test_sweep_populations import ray_trial

    space = tiny_with_long_runners(tmp_path)
    call = f"run_sweep({str(space)!r}, trials=5, population={population})"
    first = start_driver(call, tmp_path / "first.log")
    storage = Path(os.environ["GANSWEEP_STORAGE"])
    try:
        ray_id = ray_trial if population > 1 else (lambda t: t)
        folder, before, _ = wait_for_kill_point(storage, first, ray_id=ray_id)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    second = start_driver(f"run_sweep({str(space)!r}, resume=True)", tmp_path / "second.log")
    try:
        assert second.wait(timeout=300) == 0, (tmp_path / "second.log").read_text()[-3000:]
    finally:
        if second.poll() is None:
            os.killpg(second.pid, signal.SIGKILL)
    table = pd.read_parquet(folder / "trials.parquet")
    assert len(table) == 5 and table.trial_id.is_unique and "running" not in set(table.state)
    lost = json.loads((folder / "ledger.json").read_text())["lost"]
    final = table.set_index("trial_id")
    for row in before["rows"]:
        if row["state"] != "running" and row["trial_id"] not in lost:
            kept = final.loc[row["trial_id"]]
            assert (kept.state, kept.steps) == (row["state"], row["steps"])
    meta = json.loads((folder / "sweep.json").read_text())
    assert_each_step_once(mlflow_runs(meta), table)
    assert_study_in_postgres(folder, table)  # the study caught up with the restart


def test_mlflow_server_restarted_mid_sweep_loses_no_metric(
    on_cluster, tmp_path, monkeypatch, capfd
):
    """Kill the MLflow server (SIGKILL, a crash) while trials report, start it again: the
    driver queues the writes and logs them when the server is back; every step is there once.
    The sweep's trials run 2000 steps, so they outlast a restart (a minute on a loaded 2-core
    machine), and the sweep waits up to 4 minutes for the server at its end."""
    from pipelines.sweep.driver import run_sweep

    tool, layout = on_cluster["tool"], on_cluster["layout"]
    storage = Path(os.environ["GANSWEEP_STORAGE"])
    monkeypatch.setenv("GANSWEEP_MLFLOW_WAIT_S", "240")
    restarted = threading.Event()

    def restart_server() -> None:
        wait_for_running_trial(storage, None, min_step=40)
        tool.stop(layout, "mlflow", sig=signal.SIGKILL)
        time.sleep(3)
        tool.start_mlflow(layout)
        restarted.set()

    thread = threading.Thread(target=restart_server, daemon=True)
    thread.start()
    result = run_sweep(str(tiny_with_long_runners(tmp_path)), trials=3)
    thread.join(timeout=240)
    assert restarted.is_set()
    assert "writes queued, retrying" in capfd.readouterr().err  # it was down mid-sweep
    assert not (result.path / "mlflow_pending.json").exists()
    meta = json.loads((result.path / "sweep.json").read_text())
    assert_each_step_once(mlflow_runs(meta), result.table)


def test_data_missing_on_a_worker_names_the_path_and_the_node(on_cluster, tmp_path):
    """Simulation: on a loopback cluster every node shares this machine's disk, so node w1
    runs in its own mount namespace where the folder `driver_only` is an empty tmpfs. The
    driver and the head see the data file there; w1 does not, as a worker without the
    driver's disk would not. Trials on w1 must fail naming the path and w1; trials on the
    head train."""
    if not on_cluster["hidden"]:
        pytest.skip("no mount namespaces here (needs root): cannot hide a path from one node")
    from pipelines.sweep.driver import run_sweep

    data = on_cluster["driver_only"] / "ring.npy"
    angles = np.random.default_rng(0).uniform(0, 2 * np.pi, 2000)
    np.save(data, np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32))
    result = run_sweep("tiny", trials=4, data=str(data))
    w1 = node_ids()["w1"]
    table = result.table
    failed = table[table.state == "failed"]
    assert len(failed), table[["state", "node"]]
    for row in failed.itertuples():
        assert str(data) in row.error and w1 in row.error, row.error
        assert row.node.endswith(w1)
    assert (~table.node[table.state != "failed"].str.endswith(w1)).all()


def test_mlflow_down_at_the_end_keeps_the_writes_for_relog(tmp_path, monkeypatch):
    """No cluster needed: the logger against a server that is not there queues its writes,
    and at the end keeps them in the sweep's folder; `relog` logs them once it is back."""
    from pipelines.sweep.trial import TrialPlan
    from pipelines.tracking import store as tracking
    from pipelines.tracking import trial_runs

    class Row:
        state, reason, health, error, node, history = "running", "", "ok", "", "n1", []
        platform = "torch 2.13.0+cpu, cpu test AVX2"  # as pipelines/sweep/ledger.py's TrialRow

    class Ledger:
        def row(self, trial):
            return Row

    class Trial:
        trial_id, config = "t1", {"optim.lr_g": 0.001}

    from gan_core.config import GanConfig

    plan = TrialPlan(base=GanConfig().to_dict(), milestones=(40,), folder=str(tmp_path))
    plan.record_config(Trial.trial_id, Trial.config)  # as the searcher does where it samples
    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = tracking.MlflowClient(db)
    exp = tracking.experiment_id(client, "relog")
    parent = client.create_run(exp).info.run_id
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    logger = trial_runs.TrialRunLogger(Ledger(), plan, exp, parent, "s", "http://127.0.0.1:9")
    logger.on_trial_start(0, [], Trial())
    for step in (20, 40):
        logger.on_trial_result(0, [], Trial(), {"step": step, "objective": 1.0 / step})
    Row.state = "finished"
    logger.on_trial_complete(0, [], Trial())
    assert not logger.flush_or_keep(wait_s=0)
    pending = tmp_path / trial_runs.PENDING_FILE
    saved = json.loads(pending.read_text())
    assert [op[0] for op in saved["pending"]] == ["run", "metrics", "metrics", "finish"]
    saved["uri"] = db  # the server is back (here: a store that answers)
    pending.write_text(json.dumps(saved))
    assert trial_runs.relog(tmp_path)
    (run,) = tracking.child_runs(client, exp, parent)
    assert [m.step for m in client.get_metric_history(run.info.run_id, "objective")] == [20, 40]
    assert run.data.tags["state"] == "finished" and run.info.status == "FINISHED"


def test_the_database_password_stays_out_of_argv_logs_and_exports(cluster):
    """The secret reaches PostgreSQL and the MLflow server (which is up on it), and
    nothing a user sees: no command line (`ps`), no log, no printed export line."""
    tool, layout = cluster["tool"], cluster["layout"]
    secret = layout.password_file.read_text().strip()
    assert len(secret) >= 40 and tool.http_ok(f"{layout.tracking_uri}/health")
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert secret.encode() not in cmdline.read_bytes(), cmdline
        except OSError:
            continue  # the process ended meanwhile
    for log in (layout.root / "logs").iterdir():
        assert secret not in log.read_text(errors="replace"), log
    assert secret not in tool.exports(layout)
    # the driver reaches the Optuna database through a libpq password file only it can read
    assert stat.S_IMODE(layout.pgpass_file.stat().st_mode) == 0o600
    assert f"PGPASSFILE={layout.pgpass_file}" in tool.exports(layout)


def test_cluster_down_leaves_no_process(cluster):
    tool, layout = cluster["tool"], cluster["layout"]
    groups = [int(layout.pid_file(n).read_text()) for n in tool.ORDER if tool.running(layout, n)]
    assert len(groups) == 4
    tool.down(layout, purge=True)
    assert not any(tool.group_alive(g) for g in groups)
    assert not any(tool.group_has_members(g) for g in groups)
    leftovers = subprocess.run(["pgrep", "-f", str(layout.root)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", leftovers.stdout

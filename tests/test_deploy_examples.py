"""The cluster examples under deploy/ are valid and their pieces agree with each other and
with what the sweep reads. Neither can be brought up here (no SSH hosts, no Kubernetes), so
these are the checks that can be made without them: Ray's own schema for the cluster
launcher file, and the cross-references of the KubeRay manifest."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
VENV_RAY = "/opt/gansweep/.venv/bin/ray"


def launcher_config() -> dict:
    return yaml.safe_load((DEPLOY / "ray-cluster.example.yaml").read_text())


def test_cluster_launcher_example_passes_rays_own_validation():
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(launcher_config())  # what `ray up` does first
    validate_config(prepared)  # Ray's ray-schema.json; raises on a bad or unknown field
    assert prepared["provider"]["type"] == "local"
    assert prepared["max_workers"] == len(prepared["provider"]["worker_ips"])


def test_cluster_launcher_nodes_run_the_venvs_ray_with_token_auth_and_the_token():
    config = launcher_config()
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    ray_starts = [c for c in starts if " start " in c]
    assert len(ray_starts) == 2
    for command in ray_starts:
        words = shlex.split(command)
        assert "RAY_AUTH_MODE=token" in words, command  # a node without it refuses the driver
        assert VENV_RAY in words, command  # the same Ray and torch as the driver's venv
    assert "~/.ray/auth_token" in config["file_mounts"]
    assert config["file_mounts"]["/opt/gansweep"] == "."
    assert ".venv" in config["rsync_exclude"]  # each node builds its own venv
    assert any("make -C /opt/gansweep install" in c for c in config["setup_commands"])


def kuberay_docs() -> dict[str, dict]:
    docs = yaml.safe_load_all((DEPLOY / "kuberay-rayjob.example.yaml").read_text())
    return {doc["kind"]: doc for doc in docs}


def pod_specs(cluster: dict) -> list[dict]:
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    return [group["template"]["spec"] for group in groups]


def make_vars(entrypoint: str) -> dict[str, str]:
    return dict(w.split("=", 1) for w in shlex.split(entrypoint) if "=" in w)


def test_kuberay_job_runs_make_sweep_with_the_variables_the_sweep_reads():
    job = kuberay_docs()["RayJob"]["spec"]
    words = shlex.split(job["entrypoint"])
    assert words[:4] == ["make", "-C", "/opt/gansweep", "sweep"]
    env = yaml.safe_load(job["runtimeEnvYAML"])["env_vars"]
    assert env["MLFLOW_TRACKING_URI"].startswith("http")  # a server, not a pod's SQLite file
    assert set(env) >= {"MLFLOW_TRACKING_URI", "GANSWEEP_STORAGE"}
    assert job["rayClusterSpec"]["authOptions"]["mode"] == "token"


def test_kuberay_every_pod_mounts_the_shared_volume_under_the_storage_path():
    docs = kuberay_docs()
    claim = docs["PersistentVolumeClaim"]
    assert "ReadWriteMany" in claim["spec"]["accessModes"]  # every pod writes the sweep
    job = docs["RayJob"]["spec"]
    storage = yaml.safe_load(job["runtimeEnvYAML"])["env_vars"]["GANSWEEP_STORAGE"]
    for spec in pod_specs(job["rayClusterSpec"]):
        volumes = {v["name"]: v for v in spec["volumes"]}
        (container,) = spec["containers"]
        mounts = [
            m
            for m in container["volumeMounts"]
            if volumes[m["name"]]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        ]
        assert any(storage.startswith(m["mountPath"]) for m in mounts), container["name"]


def test_kuberay_gpu_packing_fits_the_worker_gpus_and_cpus():
    job = kuberay_docs()["RayJob"]["spec"]
    want = make_vars(job["entrypoint"])
    per_trial, concurrency = float(want["GPUS_PER_TRIAL"]), int(want["CONCURRENCY"])
    gpus = cpus = 0.0
    for group in job["rayClusterSpec"]["workerGroupSpecs"]:
        (container,) = group["template"]["spec"]["containers"]
        limits = container["resources"]["limits"]
        gpus += group["minReplicas"] * float(limits.get("nvidia.com/gpu", 0))
        cpus += group["minReplicas"] * float(limits["cpu"])
    assert per_trial * concurrency <= gpus  # every trial of the concurrency finds its GPU share
    assert concurrency <= cpus  # and its CPU (budget.cpus_per_trial: 1 in the shipped spaces)

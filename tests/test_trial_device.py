"""Which device a trial trains on, and the space checks that keep train.device and the
GPUs each trial asks Ray for in agreement (pipelines/sweep/trial.py, pipelines/sweep/space_checks.py)."""

from __future__ import annotations

import dataclasses

import pytest
import ray

from gan_core.config import GanConfig
from pipelines.sweep.space_checks import device_against_budget
from pipelines.sweep.trial import on_the_device_ray_gave
from search_spaces import SpaceError, load_space


def test_auto_means_the_gpu_ray_gave_else_the_cpu(monkeypatch):
    # ray.get_gpu_ids() is what Ray answers inside a trial's actor; here it stands for a
    # trial that was given GPU 0, then for one that asked for none
    monkeypatch.setattr(ray, "get_gpu_ids", lambda: [0])
    assert on_the_device_ray_gave(GanConfig()).train.device == "cuda"
    monkeypatch.setattr(ray, "get_gpu_ids", lambda: [])
    assert on_the_device_ray_gave(GanConfig()).train.device == "cpu"


def test_an_explicit_device_is_left_as_written(monkeypatch):
    monkeypatch.setattr(ray, "get_gpu_ids", lambda: [0])
    cfg = GanConfig().with_overrides({"train.device": "cpu"})
    assert on_the_device_ray_gave(cfg).train.device == "cpu"


def space_with(device: str, gpus: float):
    space = load_space("tiny")
    base = space.base.with_overrides({"train.device": device})
    return dataclasses.replace(space, base=base).with_budget(gpus_per_trial=gpus)


def test_cuda_without_gpus_per_trial_is_refused_with_the_fix():
    with pytest.raises(SpaceError) as err:
        device_against_budget(space_with("cuda", 0))
    message = str(err.value)
    assert "tiny.yaml" in message and "budget.gpus_per_trial is 0" in message
    assert "GPUS_PER_TRIAL" in message and "train.device: auto" in message


def test_cpu_with_a_gpu_share_warns_and_auto_is_quiet():
    (warning,) = device_against_budget(space_with("cpu", 0.5))
    assert "gpus_per_trial is 0.5" in warning and "train.device: auto" in warning
    assert device_against_budget(space_with("auto", 0.5)) == []
    assert device_against_budget(space_with("auto", 0)) == []

"""The core and the sweep on CUDA. Skipped where torch sees no GPU (CI and the CPU
development machines); on a GPU machine `make test` runs them with the rest, or alone:
`.venv/bin/python -m pytest -q tests/test_gpu.py`. The core tests need torch alone, so
they also run on a GPU machine that has no Ray or MLflow."""

from __future__ import annotations

import math

import pytest
import torch

from gan_core.population.trainer import PopulationTrainer
from gan_core.trainer import Trainer, load_checkpoint
from tests.helpers import tiny_digits_config, tiny_points_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


@pytest.mark.parametrize("make_cfg", [tiny_points_config, tiny_digits_config])
@pytest.mark.parametrize("amp", [False, True])
def test_trains_on_cuda_with_and_without_amp(make_cfg, amp):
    trainer = Trainer(make_cfg(**{"train.device": "cuda", "train.amp": amp}))
    last = trainer.fit()
    assert trainer.device.type == "cuda"
    assert next(trainer.modules.G.parameters()).is_cuda
    assert math.isfinite(last["objective"]) and last["health"] != "diverged"


def test_cuda_checkpoint_resumes_on_cuda(tmp_path):
    cfg = tiny_points_config(**{"train.device": "cuda", "train.steps": 40, "train.eval_every": 10})
    first = Trainer(cfg)
    first.fit(until=20)
    first.save_checkpoint(tmp_path / "ck.pt")
    resumed = Trainer.from_checkpoint(tmp_path / "ck.pt")
    assert resumed.step == 20 and resumed.device.type == "cuda"
    last = resumed.fit()
    assert last["step"] == 40 and math.isfinite(last["objective"])


@pytest.mark.parametrize("make_cfg", [tiny_points_config, tiny_digits_config])
def test_population_members_track_their_single_trainers_on_cuda(make_cfg):
    """Three members (own seeds and learning rates) trained as one batched model on CUDA end
    where their single Trainers end, up to the GPU's rounding: the distance between the two
    G's is a small share of the distance G moved (a wrong gradient or stream makes it ~1)."""
    cfgs = [
        make_cfg(**{"train.device": "cuda", "train.seed": s, "optim.lr_g": 2e-4 * (1 + s)})
        for s in range(3)
    ]
    pop = PopulationTrainer(cfgs)
    assert next(pop.modules.G.parameters()).is_cuda
    ids = list(pop.ids)
    records = pop.fit()  # every member finishes and leaves; its last state is in pop.left
    for member_id, cfg in zip(ids, cfgs, strict=True):
        single = Trainer(cfg)
        start = {key: v.clone() for key, v in single.modules.G.state_dict().items()}
        single.fit()
        plain = single.modules.G.state_dict()
        member = pop.left[member_id]["G"]
        off = sum((member[key] - v).abs().sum().item() for key, v in plain.items())
        moved = sum((v - start[key]).abs().sum().item() for key, v in plain.items())
        assert off < 0.05 * moved, (member_id, off, moved)
        assert math.isfinite(records[member_id]["objective"])


@pytest.mark.slow
def test_sweep_packs_two_trials_on_one_gpu(tmp_path, monkeypatch):
    """gpus_per_trial 0.5 with train.device auto: both trials run at once on the GPU Ray
    hands them (pipelines/sweep/trial.py turns auto into the device Ray gave)."""
    pytest.importorskip("ray", reason="Ray is not installed here (the GPU image lacks it)")
    from pipelines.sweep.driver import run_sweep
    from tests.test_sweep_integration import tiny_on_auto_device

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("GANSWEEP_STORAGE", str(tmp_path / "sweeps"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    try:
        result = run_sweep(str(tiny_on_auto_device(tmp_path)), trials=2, gpus_per_trial=0.5)
    finally:
        import ray

        ray.shutdown()  # the next tests start their own Ray
    assert result.complete and set(result.table.state) <= {"finished", "pruned"}
    devices = set()
    for trial_id in result.table.trial_id:
        state = load_checkpoint(result.path / "trials" / trial_id / "trainer.pt")
        devices.add(state["config"]["train"]["device"])
    assert devices == {"cuda"}

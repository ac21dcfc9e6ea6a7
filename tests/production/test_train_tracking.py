"""`make train` in MLflow: a run linked to the trial it came from, step metrics, grids,
checkpoints, the generator as an MLflow PyTorch model; resume continues the same run
with nothing lost and no step twice; `make sample` draws from the logged model."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow import MlflowClient
from PIL import Image

from gan_core.data import load_dataset
from gan_core.models import sample_latent
from gan_core.trainer import Trainer
from pipelines.export import export_best
from pipelines.sample import sample_run
from pipelines.tracking.generator_model import draw, load_generator
from pipelines.tracking.train_runs import (
    SOURCE_TAG,
    TrainRunLogger,
    reproduction_verdict,
    train_tracked,
)
from pipelines.train import METRICS, train_production
from tests.helpers import tiny_points_config


def artifact_paths(c: MlflowClient, run_id: str, folder: str | None = None) -> set[str]:
    out = set()
    for a in c.list_artifacts(run_id, folder):
        out |= artifact_paths(c, run_id, a.path) if a.is_dir else {a.path}
    return out


def steps_of(c: MlflowClient, run_id: str, key: str = "objective") -> list[int]:
    return sorted(m.step for m in c.get_metric_history(run_id, key))


def test_exported_config_trains_into_a_linked_run_with_a_loadable_ema_generator(
    fake_sweep, tmp_path
):
    _, ids = fake_sweep
    config = tmp_path / "best.yaml"
    export_best(out=config)
    cfg = load_cfg(config, **{"train.steps": 40, "train.checkpoint_every": 20})
    cfg.tricks.ema_decay = 0.9
    record, run = train_tracked(cfg, tmp_path / "run", config_path=str(config), progress=False)

    c = MlflowClient()
    got = c.get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.tags[SOURCE_TAG] == ids["t_best"]
    assert got.data.tags["source.trial_id"] == "t_best"
    assert got.data.params["optim.lr_d"] == str(cfg.optim.lr_d)
    assert got.data.params["tricks.ema_decay"] == "0.9"
    assert steps_of(c, run.run_id) == [20, 40]
    assert got.data.metrics["objective"] == record["objective"]
    arts = artifact_paths(c, run.run_id)
    for path in ("samples/step_0000020.png", "samples/step_0000040.png", "scores.png",
                 "samples.png", "checkpoint/checkpoint.pt", "config.yaml", "metrics.jsonl",
                 "source_config/best.yaml"):  # fmt: skip
        assert path in arts

    G = mlflow.pytorch.load_model(f"runs:/{run.run_id}/generator")
    trainer = Trainer.from_checkpoint(tmp_path / "run" / "checkpoint.pt")
    z = sample_latent(64, cfg.model, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logged = G(z)
        ema = trainer.generator.eval()(z)
        raw = trainer.modules.G.eval()(z)
    assert logged.shape == (64, 2)
    assert torch.allclose(logged, ema, atol=1e-6)  # the EMA weights were logged ...
    assert not torch.allclose(logged, raw, atol=1e-4)  # ... not the raw generator's

    png = sample_run(run.run_id, 64, tmp_path / "s.png")
    assert Image.open(png).size[0] > 100


def load_cfg(path, **overrides):
    from gan_core.config import GanConfig

    return GanConfig.load(path).with_overrides(overrides)


def test_resume_continues_the_same_run_with_every_step_once(store, tmp_path, monkeypatch):
    cfg = tiny_points_config(
        **{"train.steps": 80, "train.eval_every": 10, "train.checkpoint_every": 20}
    )
    reference = tmp_path / "reference"
    train_production(cfg, reference, progress=False)
    expected = [json.loads(line)["objective"] for line in (reference / METRICS).open()]

    # a hard crash right after the checkpoint at step 40 was written, before MLflow heard
    # of steps 30 and 40, and without any cleanup (as under SIGKILL)
    original = TrainRunLogger.checkpointed

    def crash_at_40(self, trainer, path):
        if trainer.step == 40:
            raise KeyboardInterrupt
        original(self, trainer, path)

    monkeypatch.setattr(TrainRunLogger, "checkpointed", crash_at_40)
    monkeypatch.setattr(TrainRunLogger, "stopped", lambda self, status: None)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_tracked(cfg, out, progress=False)
    c = MlflowClient()
    run_id = json.loads((out / "mlflow_run.json").read_text())["run_id"]
    assert steps_of(c, run_id) == [10, 20]  # what MLflow had when the process died

    monkeypatch.setattr(TrainRunLogger, "checkpointed", original)
    _, run = train_tracked(cfg, out, resume=True, progress=False)
    assert run.run_id == run_id
    history = sorted((m.step, m.value) for m in c.get_metric_history(run_id, "objective"))
    assert [s for s, _ in history] == list(range(10, 81, 10))
    assert [v for _, v in history] == expected  # nothing lost, bit for bit on CPU
    assert c.get_run(run_id).info.status == "FINISHED"
    grids = {p for p in artifact_paths(c, run_id) if p.startswith("samples/step_")}
    assert grids == {f"samples/step_{s:07d}.png" for s in range(10, 81, 10)}
    lines = [json.loads(line)["step"] for line in (out / METRICS).open()]
    assert lines == list(range(10, 81, 10))  # metrics.jsonl: no step twice either


def test_table_samples_come_out_in_the_datas_original_units(store, tmp_path):
    cfg = tiny_points_config(
        **{
            "data.source": "breast_cancer",
            "model.latent_dim": 8,
            "train.steps": 20,
            "train.eval_every": 10,
            "model.output_activation": "tanh",
            "data.holdout": 0.0,  # no end-of-run SDMetrics report: this test is about units
        }  # fmt: skip
    )
    _, run = train_tracked(cfg, tmp_path / "run", progress=False)
    dataset = load_dataset(cfg.data, cfg.train.seed)

    csv = pd.read_csv(sample_run(run.run_id, 50, tmp_path / "s.csv", seed=3))
    parquet = pd.read_parquet(sample_run(run.run_id, 50, tmp_path / "s.parquet", seed=3))
    G, meta = load_generator(f"runs:/{run.run_id}/generator")
    expected = dataset.scaler.inverse_transform(draw(G, meta, 50, seed=3).numpy())
    assert list(csv.columns) == list(dataset.columns) == list(parquet.columns)
    assert np.allclose(csv.to_numpy(), expected) and np.allclose(parquet.to_numpy(), expected)
    area = list(dataset.columns).index("mean area")  # hundreds to thousands in the data
    assert np.abs(expected[:, area]).max() > 10


def test_a_mixed_table_samples_back_its_categories_and_held_out_scores(store, tmp_path):
    from tests.test_tables import penguin_like, tiny_table_config, write

    frame = penguin_like()
    frame.loc[[3, 8], "species"] = None
    source = write(frame, tmp_path)
    cfg = tiny_table_config(source, **{"data.missing": "category", "train.steps": 20})
    record, run = train_tracked(cfg, tmp_path / "run", progress=False)
    assert 0 < record["sdmetrics/quality"] <= 1  # at the end, on the held-out rows
    logged = MlflowClient().get_run(run.run_id).data.metrics
    assert logged["sdmetrics/quality"] == pytest.approx(record["sdmetrics/quality"])
    out = pd.read_csv(sample_run(run.run_id, 300, tmp_path / "s.csv", seed=1))
    assert list(out.columns) == list(frame.columns)
    assert set(out["species"].dropna()) <= {"Adelie", "Gentoo", "Chinstrap"}
    assert set(out["year"]) <= {2007, 2008, 2009} and set(out["male"]) <= {True, False}
    assert out["body_mass_g"].between(2000, 7000).all()  # grams, not model scale
    sample_run(run.run_id, 50, tmp_path / "s.png")  # categories as bars, numbers as histograms
    with pytest.raises(ValueError, match=r"categories goes to \.csv or \.parquet"):
        sample_run(run.run_id, 8, tmp_path / "s.npy")


def test_sample_names_an_unknown_run_and_a_run_without_a_generator(fake_sweep, tmp_path):
    _, ids = fake_sweep
    with pytest.raises(ValueError, match="no run 'ffff'"):
        sample_run("ffff", 8, tmp_path / "x.png")
    with pytest.raises(ValueError, match="has no logged generator"):
        sample_run(ids["t_best"], 8, tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"\.png, \.npy"):
        sample_run(ids["t_best"], 8, tmp_path / "x.txt")


def test_an_infogan_generator_is_logged_and_drawn_with_its_codes(store, tmp_path):
    codes = {"model.info_categorical": 3, "model.info_continuous": 1}
    cfg = tiny_points_config(**codes, **{"train.steps": 10, "train.eval_every": 10})
    _, run = train_tracked(cfg, tmp_path / "run", progress=False)
    G, meta = load_generator(f"runs:/{run.run_id}/generator")
    assert (meta.info_categorical, meta.info_continuous) == (3, 1)
    assert draw(G, meta, 16, seed=0).shape == (16, 2)  # G's input: z (2) + 3 + 1 codes


def test_the_reproduction_verdict_names_the_platforms_when_a_retrained_value_differs():
    src = {"trial_id": "t1", "metric": "objective", "value": 0.5, "step": 100}
    here = "torch 2.13.0+cpu, cpu AVX512"
    assert reproduction_verdict(src | {"platform": here}, 0.5, here).startswith(
        "reproduced trial t1: objective 0.5 at step 100"
    )
    elsewhere = reproduction_verdict(src | {"platform": "torch 2.13.0+cpu, cpu AVX2"}, 0.6, here)
    assert "not reproduced: objective 0.6 at step 100, the trial had 0.5" in elsewhere
    assert "trained on torch 2.13.0+cpu, cpu AVX2, this run on " + here in elsewhere
    assert "a bug" in reproduction_verdict(src | {"platform": here}, 0.6, here)
    assert "trained on unknown" in reproduction_verdict(src, 0.6, here)  # exported before tags

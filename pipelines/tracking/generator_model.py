"""The trained generator as an MLflow PyTorch model, and back.

Logged as `pt2` (torch.export): a traced graph that `mlflow.pytorch.load_model` loads
with torch alone, no gansweep code and no pickle, with a dynamic batch dimension. What it
takes to sample from it travels in the model's metadata (`gansweep` key): the latent size
and distribution, the sample shape, the data family, the table's columns and the scaler
that maps model scale back to the data's original units.

    G = mlflow.pytorch.load_model(f"runs:/{run_id}/generator")
    x = G(torch.randn(64, latent_dim))   # model scale; inverse-scale with the metadata

(With InfoGAN codes, G's input is z followed by the codes: `GeneratorMeta.latent` draws it.)
"""

from __future__ import annotations

import contextlib
import copy
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gan_core.data.scaling import AffineScaler
from gan_core.models import sample_latent
from gan_core.trainer import Trainer

MODEL_NAME = "generator"
META_KEY = "gansweep"
ENV_URI = "MLFLOW_TRACKING_URI"


@dataclass
class GeneratorMeta:
    family: str
    sample_shape: list[int]
    latent_dim: int
    latent_dist: str
    columns: list[str] | None
    scaler: dict[str, Any] | None  # {"kind", "scale", "shift"} of an AffineScaler
    data_source: str
    step: int
    ema: bool
    table: dict[str, Any] | None = None  # a table's TableCodec.to_dict(): decodes categories
    info_categorical: int = 0  # InfoGAN codes after z in G's input (docs/infogan.md)
    info_continuous: int = 0

    def to_table_codec(self):
        from gan_core.data.tables import TableCodec

        return TableCodec.from_dict(self.table) if self.table else None

    def to_scaler(self) -> AffineScaler | None:
        if not self.scaler:
            return None
        s = self.scaler
        return AffineScaler(s["kind"], np.asarray(s["scale"]), np.asarray(s["shift"]))

    def latent(self, n: int, seed: int) -> torch.Tensor:
        from gan_core.config import ModelConfig

        cfg = ModelConfig(
            latent_dim=self.latent_dim,
            latent_dist=self.latent_dist,
            info_categorical=self.info_categorical,
            info_continuous=self.info_continuous,
        )
        return sample_latent(n, cfg, "cpu", generator=torch.Generator().manual_seed(seed))


def meta_of(trainer: Trainer) -> GeneratorMeta:
    ds, cfg = trainer.dataset, trainer.cfg
    scaler = ds.scaler if isinstance(ds.scaler, AffineScaler) else None
    return GeneratorMeta(
        family=ds.family,
        sample_shape=[int(s) for s in ds.sample_shape],
        latent_dim=cfg.model.latent_dim,
        latent_dist=cfg.model.latent_dist,
        columns=list(ds.columns) if ds.columns else None,
        scaler=_scaler_dict(scaler) if scaler is not None else None,
        data_source=cfg.data.source,
        step=int(trainer.step),
        ema=trainer.modules.ema is not None,
        table=ds.table.codec.to_dict() if getattr(ds, "table", None) is not None else None,
        info_categorical=cfg.model.info_categorical,
        info_continuous=cfg.model.info_continuous,
    )


def log_generator(uri: str, run_id: str, trainer: Trainer):
    """Log the trainer's sampling generator (EMA weights if enabled) on the run, which ends
    FINISHED; returns
    MLflow's ModelInfo (its `model_uri` is `models:/<id>`; `runs:/<run>/generator` works too)."""
    import mlflow

    G = copy.deepcopy(trainer.generator).cpu().eval()
    meta = meta_of(trainer)
    # a batch above 1: torch.export keeps that dimension dynamic (a batch of 1 it fixes)
    example = meta.latent(4, seed=0)
    # the active run gives the model its experiment (without one MLflow files it under the
    # Default experiment); leaving the block marks the run FINISHED, as it is by then
    with _tracking_uri(uri), mlflow.start_run(run_id=run_id):
        return mlflow.pytorch.log_model(
            G,
            name=MODEL_NAME,
            input_example=example.numpy(),
            serialization_format="pt2",
            # listed, not inferred: inference loads the model again in a subprocess (seconds)
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
            metadata={META_KEY: meta.__dict__},
        )


def load_generator(model_uri: str) -> tuple[torch.nn.Module, GeneratorMeta]:
    import mlflow

    G = mlflow.pytorch.load_model(model_uri, map_location="cpu")
    raw = mlflow.models.get_model_info(model_uri).metadata or {}
    if META_KEY not in raw:
        raise ValueError(
            f"{model_uri} was not logged by gansweep (no '{META_KEY}' metadata): "
            "it does not say its latent size or data scaling"
        )
    return G, GeneratorMeta(**raw[META_KEY])


@torch.no_grad()
def draw(G: torch.nn.Module, meta: GeneratorMeta, n: int, seed: int = 0) -> torch.Tensor:
    """n samples in model scale, in chunks so memory stays bounded for large n."""
    chunks = []
    z = meta.latent(n, seed)
    for start in range(0, n, 1024):
        chunks.append(G(z[start : start + 1024]).float())
    return torch.cat(chunks) if chunks else torch.empty(0, *meta.sample_shape)


def _scaler_dict(scaler: AffineScaler) -> dict[str, Any]:
    return {
        "kind": scaler.kind,
        "scale": np.atleast_1d(scaler.scale).tolist(),
        "shift": np.atleast_1d(scaler.shift).tolist(),
    }


@contextlib.contextmanager
def _tracking_uri(uri: str):
    """mlflow's model logging reads the global tracking URI; set it for the call only.

    mlflow.set_tracking_uri also writes MLFLOW_TRACKING_URI into the environment and
    deletes it when set back to None, so both the global and the variable are put back
    as they were (pinning either would send later calls to this store)."""
    import mlflow
    from mlflow.tracking._tracking_service import utils

    before_global = utils._tracking_uri
    before_env = os.environ.get(ENV_URI)
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before_global)
        if before_env is None:
            os.environ.pop(ENV_URI, None)
        else:
            os.environ[ENV_URI] = before_env

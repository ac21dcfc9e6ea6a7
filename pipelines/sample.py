"""`make sample RUN=<run id> N=64 OUT=samples.png`: draw from a generator that
`make train` logged to MLflow, with nothing but the tracking store.

The file type picks the output: .png a picture (an image grid, a scatter of points, or
histograms of a table's columns), .csv/.parquet a table in the data's original units
(points: the logged scaler's inverse; tables: the logged codec's decoding in gan_core, with
the original columns, categories and units), .npy the raw array in original units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pipelines.tracking import store
from pipelines.tracking.generator_model import GeneratorMeta, draw, load_generator
from pipelines.tracking.schema import MODEL_URI_TAG

TABLE_SUFFIXES = (".csv", ".parquet")
SUFFIXES = (".png", ".npy", *TABLE_SUFFIXES)


def sample_run(run: str, n: int, out: str | Path, seed: int = 0) -> Path:
    """Draw n samples from the run's logged generator (or a model URI) and write `out`."""
    out = Path(out)
    if out.suffix not in SUFFIXES:
        raise ValueError(f"--out {out}: write one of {', '.join(SUFFIXES)}")
    if n < 1:
        raise ValueError(f"--n {n}: draw at least one sample")
    G, meta = load_generator(model_uri(run))
    if out.suffix in TABLE_SUFFIXES and meta.family == "image":
        raise ValueError(f"--out {out}: images go to .png or .npy, not a table")
    codec = meta.to_table_codec()
    if out.suffix == ".npy" and codec is not None and codec.mixed:
        raise ValueError(f"--out {out}: a table with categories goes to .csv or .parquet")
    fake = draw(G, meta, n, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".png":
        save_picture(fake, meta, out)
    elif out.suffix == ".npy":
        np.save(out, original_units(fake, meta))
    else:
        write_table(table_frame(fake, meta, seed), out)
    return out


def model_uri(run: str) -> str:
    """A run id -> its logged generator; a URI (runs:/..., models:/...) is taken as is."""
    if ":/" in run:
        return run
    from mlflow.exceptions import MlflowException

    c = store.client()
    try:
        found = c.get_run(run)
    except MlflowException:
        raise ValueError(
            f"no run {run!r} in the tracking store {c.tracking_uri}; {describe_trained(c)}"
        ) from None
    if MODEL_URI_TAG not in found.data.tags:
        raise ValueError(
            f"run {run} has no logged generator: `make train` logs it at the end of a run "
            f"(resume an interrupted one with RESUME=1); {describe_trained(c)}"
        )
    return found.data.tags[MODEL_URI_TAG]


def describe_trained(c, n: int = 5) -> str:
    from pipelines.tracking.train_runs import EXPERIMENT

    exp = c.get_experiment_by_name(EXPERIMENT)
    runs = (
        c.search_runs(
            [exp.experiment_id],
            filter_string=f"tags.{MODEL_URI_TAG} != ''",
            order_by=["attributes.start_time DESC"],
            max_results=n,
        )
        if exp
        else []
    )
    if not runs:
        return f"no run in experiment {EXPERIMENT} has a generator yet: run `make train` first"
    listed = ", ".join(f"{r.info.run_id} ({r.info.run_name})" for r in runs)
    return f"latest runs with a generator: {listed}"


def original_units(fake: torch.Tensor, meta: GeneratorMeta) -> np.ndarray:
    scaler = meta.to_scaler()
    values = fake.numpy().astype(np.float64)
    return scaler.inverse_transform(values) if scaler is not None else values


def table_frame(fake: torch.Tensor, meta: GeneratorMeta, seed: int = 0):
    """Samples as a DataFrame in original units: a table's codec decodes them (categories
    drawn from G's softmax blocks); points and older logged tables take the scaler's inverse."""
    import pandas as pd

    codec = meta.to_table_codec()
    if codec is not None:
        return codec.decode(fake.numpy(), seed)
    flat = original_units(fake, meta).reshape(len(fake), -1)
    names = meta.columns or [f"x{i}" for i in range(flat.shape[1])]
    return pd.DataFrame(flat, columns=names)


def write_table(frame, out: Path) -> None:
    if out.suffix == ".csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False)


def save_picture(fake: torch.Tensor, meta: GeneratorMeta, out: Path) -> None:
    if meta.family == "image":
        from PIL import Image

        from gan_core.plots import image_grid

        grid = image_grid(fake[:256], ncols=16 if len(fake) > 64 else 8)
        img = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
        img.resize((img.width * 4, img.height * 4), Image.NEAREST).save(out)
        return
    frame = table_frame(fake, meta)
    values = frame.to_numpy()
    from gan_core.plots import pyplot

    plt = pyplot()
    if meta.family == "points":
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.scatter(values[:, 0], values[:, 1], s=3, c="tab:red", alpha=0.6)
        ax.set_aspect("equal")
        ax.set_title(f"{len(values)} samples of {meta.data_source}")
    else:
        k = min(6, frame.shape[1])
        fig, axes = plt.subplots(1, k, figsize=(3 * k, 2.6), squeeze=False)
        codec = meta.to_table_codec()
        for name, ax in zip(frame.columns, axes[0], strict=False):
            if codec is not None and name in codec.levels:  # a category: its counts
                counts = frame[name].astype(str).value_counts().sort_index()
                ax.bar(counts.index, counts.to_numpy(), color="tab:red")
                ax.tick_params(axis="x", labelrotation=45, labelsize=6)
            else:
                ax.hist(frame[name].dropna(), bins=30, color="tab:red")
            ax.set_title(str(name)[:20], fontsize=8)
        fig.suptitle(f"{len(values)} samples of {meta.data_source}, original units")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)

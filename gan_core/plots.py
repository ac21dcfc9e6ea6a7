"""Pictures a person reads at a glance: sample grids and the score plot of the field notes.

matplotlib is imported lazily (Agg backend) so the training loop never pays for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gan_core.data import Dataset


def pyplot():
    """matplotlib.pyplot on the Agg backend, imported on first use (files, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def image_grid(images: torch.Tensor, ncols: int = 8) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> one uint8 (rows·H, cols·W, C) mosaic with 1-px gaps."""
    x = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    n, c, h, w = x.shape
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    grid = np.zeros((nrows * (h + 1) + 1, ncols * (w + 1) + 1, c), np.uint8)
    for i in range(n):
        r, col = divmod(i, ncols)
        grid[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + col * (w + 1) : 1 + col * (w + 1) + w] = x[
            i
        ].transpose(1, 2, 0)
    return grid


def save_image_rows(images: torch.Tensor, path: str | Path, ncols: int) -> Path:
    """A mosaic of (N, C, H, W) images in rows of `ncols` (e.g. one row per latent code)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save_image_grid(images, path, ncols=ncols)
    return path


def save_samples(fake: torch.Tensor, dataset: Dataset, path: str | Path, title: str = "") -> Path:
    """Write a picture of generated samples suited to the data family."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if dataset.family == "image":
        _save_image_grid(fake[:64], path)
    elif dataset.family == "points":
        _save_scatter(fake, dataset, path, title)
    else:
        _save_histograms(fake, dataset, path, title)
    return path


def _save_image_grid(images: torch.Tensor, path: Path, scale: int = 4, ncols: int = 8) -> None:
    from PIL import Image

    grid = image_grid(images, ncols)
    img = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    img.resize((img.width * scale, img.height * scale), Image.NEAREST).save(path)


def _save_scatter(fake: torch.Tensor, dataset: Dataset, path: Path, title: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    real = dataset.x[: len(fake)].numpy()
    ax.scatter(real[:, 0], real[:, 1], s=2, c="0.75", label="real")
    f = fake.numpy()
    ax.scatter(f[:, 0], f[:, 1], s=2, c="tab:red", alpha=0.6, label="generated")
    ax.set_aspect("equal")
    ax.legend(loc="upper right", markerscale=4)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _save_histograms(fake: torch.Tensor, dataset: Dataset, path: Path, title: str) -> None:
    plt = pyplot()
    real, f = dataset.x.numpy(), fake.numpy()
    k = min(6, real.shape[1])
    names = dataset.columns or [f"x{i}" for i in range(real.shape[1])]
    fig, axes = plt.subplots(1, k, figsize=(3 * k, 2.6), squeeze=False)
    for i, ax in enumerate(axes[0]):
        bins = np.linspace(
            min(real[:, i].min(), f[:, i].min()), max(real[:, i].max(), f[:, i].max()), 30
        )
        ax.hist(real[:, i], bins=bins, density=True, color="0.7", label="real")
        ax.hist(
            f[:, i], bins=bins, density=True, histtype="step", color="tab:red", label="generated"
        )
        ax.set_title(str(names[i])[:20], fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_score_plot(history: list[dict], path: str | Path, title: str = "") -> Path:
    """G and D scores over steps (docs/field-notes.md#note-002), with 0.5 marked and failure verdicts shaded."""
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    steps = [r["step"] for r in history]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(steps, [r.get("score/g", np.nan) for r in history], label="generator score")
    ax.plot(steps, [r.get("score/d", np.nan) for r in history], label="discriminator score")
    ax.axhline(0.5, color="0.6", ls="--", lw=1)
    for r in history:
        if r.get("health", "ok") != "ok":
            ax.axvline(r["step"], color="tab:red", alpha=0.15, lw=6)
    bad = sorted({r["health"] for r in history if r.get("health", "ok") != "ok"})
    ax.set_ylim(0, 1)
    ax.set_xlabel("step")
    ax.set_ylabel("score")
    ax.set_title(title + (f"  (shaded: {', '.join(bad)})" if bad else ""))
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

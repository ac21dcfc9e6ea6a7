"""The two generated data sets of the larger calibration set, written once, deterministically.

- `heavy_tail.csv`: a physics-like table (5000 rows, 6 columns) with the tails that
  min-max scaling squashes: a Pareto transverse momentum, a Breit-Wigner (Cauchy)
  mass peak, an exponential missing energy, and an energy that follows from them,
  so the columns are correlated as well as heavy-tailed.
- `photo_patches.npy`: 4000 random 16x16 RGB patches (uint8, N x 16 x 16 x 3) of
  scikit-learn's two sample photos (`load_sample_images`: china.jpg and flower.jpg,
  shipped inside scikit-learn, nothing downloads): a 3-channel image set without labels.

Both go to `$GANSWEEP_CACHE/health/` (default ~/.cache/gansweep/health) and are
rewritten only when missing, so every run of a build reads the same bytes.
"""

from __future__ import annotations

import numpy as np

from gan_core.metrics.feature_net import cache_dir

SEED = 0
TABLE_ROWS = 5000
PATCHES, PATCH_SIDE = 4000, 16


def folder():
    out = cache_dir() / "health"
    out.mkdir(parents=True, exist_ok=True)
    return out


def heavy_tail_table(rows: int = TABLE_ROWS, seed: int = SEED) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    pt = 20.0 * (1.0 + rng.pareto(2.5, rows))  # GeV; a power-law tail, as jet spectra have
    eta = rng.normal(0.0, 1.2, rows)
    phi = rng.uniform(-np.pi, np.pi, rows)
    # a Z-like resonance: Cauchy around 91.2 GeV (width 2.5), cut to the window analyses keep
    mass = np.clip(91.2 + 1.25 * rng.standard_cauchy(rows), 60.0, 120.0)
    met = rng.exponential(15.0, rows) + 0.1 * pt  # missing energy grows with the activity
    energy = pt * np.cosh(eta)  # follows from pt and eta: a correlation the GAN must keep
    return {"pt": pt, "eta": eta, "phi": phi, "mass": mass, "met": met, "energy": energy}


def photo_patches(n: int = PATCHES, side: int = PATCH_SIDE, seed: int = SEED) -> np.ndarray:
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images  # two 427 x 640 x 3 uint8 arrays
    rng = np.random.default_rng(seed)
    which = rng.integers(len(photos), size=n)
    out = np.empty((n, side, side, 3), dtype=np.uint8)
    for i, p in enumerate(which):
        h, w, _ = photos[p].shape
        y, x = rng.integers(h - side + 1), rng.integers(w - side + 1)
        out[i] = photos[p][y : y + side, x : x + side]
    return out


def ensure() -> dict[str, str]:
    """Write what is missing; return data name -> data.source path."""
    import pandas as pd

    out = folder()
    table, patches = out / "heavy_tail.csv", out / "photo_patches.npy"
    if not table.is_file():
        tmp = table.with_suffix(".tmp")
        pd.DataFrame(heavy_tail_table()).to_csv(tmp, index=False)
        tmp.replace(table)
    if not patches.is_file():
        with open(patches.with_suffix(".tmp"), "wb") as f:
            np.save(f, photo_patches())
        patches.with_suffix(".tmp").replace(patches)
    return {"heavy_tail": str(table), "photo_patches": str(patches)}

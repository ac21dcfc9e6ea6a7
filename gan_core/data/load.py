"""`load_dataset`: from a DataConfig to a Dataset in model scale.

Order: read (built-in or file) -> keep max_rows -> refuse empty or non-finite data ->
record the raw range -> scale -> (images) channels and size.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import torch

from gan_core.config import DataConfig
from gan_core.data import builtin, files
from gan_core.data.dataset import DataError, Dataset
from gan_core.data.images import convert_channels, resize
from gan_core.data.raw import RawData
from gan_core.data.scaling import AffineScaler, fit_column_scaler, fit_image_scaler
from gan_core.data.tables import split_table

BUILTIN_NAMES = tuple(builtin.BUILTIN_FAMILIES)
_SUBSET_SEED = 0  # max_rows keeps the same rows for every training seed, so trials compare


def load_dataset(cfg: DataConfig, seed: int = 0) -> Dataset:
    """The data set `cfg.source` names, in model scale.

    A built-in name wins over a file of the same name (write ./mnist for the folder).
    `seed` only matters for the sampled 2-D mixtures (ring8, grid25).
    """
    if cfg.channels not in (0, 1, 3):
        raise DataError(f"data.channels: {cfg.channels} must be 0 (keep), 1 (gray) or 3 (RGB)")
    raw = _read(cfg, seed)
    where = f"data.source {cfg.source}"
    _check_options_fit(cfg, raw.family, where)
    if raw.family == "table":
        return _load_table(raw.table_frame(), raw.labels, cfg, where)
    raw = _keep_rows(raw, cfg.max_rows)  # a no-op for a folder: it read only max_rows files
    _check_not_empty(raw, where)
    _check_finite(raw, where)
    return _to_model_scale(raw, cfg)


def depends_on_seed(cfg: DataConfig) -> bool:
    """True where load_dataset's `seed` changes the data: the sampled 2-D mixtures."""
    return builtin.BUILTIN_FAMILIES.get(cfg.source) == "points"


def _read(cfg: DataConfig, seed: int) -> RawData:
    if cfg.source in builtin.BUILTIN_FAMILIES:
        return builtin.load_builtin(cfg.source, cfg.n_points, seed)
    path = Path(cfg.source).expanduser()
    if not path.exists():
        raise DataError(_missing_source_message(cfg.source, path))
    if path.is_dir():
        images = files.list_images(path)
        rows = _subset(len(images), cfg.max_rows)
        if rows is not None:
            images = [images[i] for i in rows]
        return files.read_image_folder(path, images, cfg.image_size, cfg.channels)
    if files.file_kind(path) == "array":
        return files.read_array_file(path)
    return files.read_table_file(path)


def _missing_source_message(source: str, path: Path) -> str:
    message = f"data.source {source!r}: no such file or folder ({path.resolve()})"
    close = difflib.get_close_matches(source.lower(), BUILTIN_NAMES, n=1, cutoff=0.6)
    if close:
        return f"{message}; did you mean the built-in data set {close[0]!r}? built-ins: {BUILTIN_NAMES}"
    if not path.suffix and "/" not in source:
        return f"{message}, and not a built-in data set either: {BUILTIN_NAMES}"
    return message


def _check_options_fit(cfg: DataConfig, family: str, where: str) -> None:
    """Refuse options that would be silently ignored for this kind of data."""
    if cfg.columns and family != "table":
        raise DataError(
            f"{where}: data.columns: {cfg.columns} selects table columns, but this is {family} "
            "data; remove data.columns"
        )
    for key in ("image_size", "channels"):
        if getattr(cfg, key) and family != "image":
            raise DataError(
                f"{where}: data.{key}: {getattr(cfg, key)} applies to images, but this is "
                f"{family} data; set data.{key}: 0"
            )


def _load_table(frame, labels: np.ndarray | None, cfg: DataConfig, where: str) -> Dataset:
    """Columns -> max_rows -> missing policy and categories -> held-out rows -> encoding."""
    if cfg.columns:
        files.require_columns(cfg.columns, list(frame.columns), where)
        frame = frame[list(cfg.columns)]
    rows = _subset(len(frame), cfg.max_rows)
    frame = frame if rows is None else frame.iloc[rows]  # keeps the positions: labels follow
    if len(frame) == 0 or frame.shape[1] == 0:
        raise DataError(f"{where}: holds no rows; it needs at least one sample")
    part = split_table(frame, cfg, where)
    codec = part.codec
    x = _tensor(codec.encode(part.train))
    scaler = None if codec.mixed else codec.scaler  # a mixed row has no affine way back
    numbers = part.train[codec.numeric].to_numpy(dtype=np.float64, na_value=np.nan)
    stats = {"raw_min": float(np.nanmin(numbers, initial=np.inf)) if numbers.size else 0.0}
    stats["raw_max"] = float(np.nanmax(numbers, initial=-np.inf)) if numbers.size else 1.0
    stats["raw_dtype"] = str(numbers.dtype)
    if labels is not None:
        labels = torch.tensor(labels[part.train_rows], dtype=torch.int64)
    return Dataset(
        cfg.source,
        "table",
        x,
        labels,
        columns=codec.encoded_columns,
        scaler=scaler,
        table=part,
        **stats,
    )


def _subset(n: int, max_rows: int) -> np.ndarray | None:
    """Sorted indices of max_rows rows drawn at random (files are often sorted by class)."""
    if max_rows == 0 or max_rows >= n:
        return None
    rng = np.random.default_rng(_SUBSET_SEED)
    return np.sort(rng.choice(n, size=max_rows, replace=False))


def _keep_rows(raw: RawData, max_rows: int) -> RawData:
    rows = _subset(len(raw.values), max_rows)
    return raw if rows is None else raw.take(rows)


def _check_not_empty(raw: RawData, where: str) -> None:
    if len(raw.values) == 0:
        raise DataError(f"{where}: holds no rows; it needs at least one sample")
    if raw.values.size == 0:
        raise DataError(f"{where}: samples of shape {raw.values.shape[1:]} hold no values")


def _check_finite(raw: RawData, where: str) -> None:
    values = raw.values
    if not np.issubdtype(values.dtype, np.floating):
        return  # integers and bools are always finite
    bad = ~np.isfinite(values)
    count = int(bad.sum())
    if count == 0:
        return
    if raw.family == "image":
        images = np.flatnonzero(bad.reshape(len(bad), -1).any(axis=1))
        place = (
            f"in {len(images)} images (indices {images[:5].tolist()}{'...' * (len(images) > 5)})"
        )
    else:
        per_column = bad.sum(axis=0)
        place = "in columns " + ", ".join(
            f"{name} ({n})" for name, n in zip(raw.columns, per_column, strict=True) if n
        )
    raise DataError(
        f"{where}: {count} NaN/inf values {place}; drop or fill them before training"
        + (", or leave those columns out with data.columns" if raw.family == "table" else "")
    )


def _to_model_scale(raw: RawData, cfg: DataConfig) -> Dataset:
    values = raw.values
    stats = {
        "raw_min": float(values.min()),
        "raw_max": float(values.max()),
        "raw_dtype": str(values.dtype),
    }
    labels = None if raw.labels is None else torch.tensor(raw.labels, dtype=torch.int64)
    modes, mode_std = None, None
    if raw.family == "image":
        scaler = fit_image_scaler(values, cfg.scaling, raw.known_range)
        x = _tensor(scaler.transform(values))
        x = resize(convert_channels(x, cfg.channels, f"data.source {cfg.source}"), cfg.image_size)
    else:
        scaler = fit_column_scaler(values, _column_scaling(raw.family, cfg.scaling))
        x = _tensor(scaler.transform(values))
    if raw.modes is not None:
        modes = _tensor(scaler.transform(raw.modes))
        mode_std = raw.mode_std * _mean_scale(scaler)
    return Dataset(cfg.source, raw.family, x, labels, modes, mode_std, raw.columns, scaler, **stats)


def _column_scaling(family: str, scaling: str) -> str:
    """`auto` for tables is min-max to [-1, 1]; the 2-D mixtures are already in model units
    (PacGAN's ±4 grid and unit ring), so `auto` leaves them as they are."""
    if scaling != "auto":
        return scaling
    return "none" if family == "points" else "minmax"


def _mean_scale(scaler: AffineScaler) -> float:
    # x and y get nearly the same factor on the symmetric mixtures; their mean is the std's.
    return float(np.mean(np.abs(scaler.scale)))


def _tensor(values: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))

"""Mixed-type tables: which columns are categories, the missing-value policy, the held-out
rows, and the codec between a DataFrame in original units and G's encoded rows.

Encoded row = [numeric columns, scaled (data.scaling)] + [one one-hot block per categorical
column]. D sees that encoding (real rows one-hot, fakes the head's soft blocks); decoding
draws each category from its block, so samples come back with the original categories,
column names, dtypes and units (docs/tables.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gan_core.data.dataset import DataError
from gan_core.data.scaling import AffineScaler, fit_column_scaler

DISCRETE_MAX_LEVELS = 10  # whole-number columns with at most this many values are categories
ID_MIN_LEVELS = 50  # a text column with more levels than this, nearly all unique, is an id
HOLDOUT_SEED = 0  # one split for every training seed, so trials score on the same rows
MISSING = "<missing>"  # the level that stands for a missing category in the codec's JSON
INDICATOR_SUFFIX = " (missing)"  # name of the block that says a numeric value was missing


@dataclass
class TableCodec:
    """DataFrame (original units) <-> encoded float rows; JSON-able via to_dict/from_dict."""

    columns: list[str]  # original column order
    numeric: list[str]
    levels: dict[str, list]  # categorical column -> its levels (MISSING for a missing value)
    scaler: AffineScaler  # of the numeric columns
    dtypes: dict[str, str] = field(default_factory=dict)  # original dtype of every column
    indicators: list[str] = field(default_factory=list)  # numeric columns with a missing block
    whole: list[str] = field(default_factory=list)  # numeric columns of whole numbers only

    @property
    def blocks(self) -> list[tuple[str, list]]:
        """(name, levels) of each one-hot block, in encoded order: categories, then indicators."""
        cats = [(c, self.levels[c]) for c in self.columns if c in self.levels]
        return cats + [(c + INDICATOR_SUFFIX, [False, True]) for c in self.indicators]

    @property
    def spans(self) -> list[tuple[int, int]]:
        """(start, width) of each one-hot block in the encoded row."""
        out, start = [], len(self.numeric)
        for _, levels in self.blocks:
            out.append((start, len(levels)))
            start += len(levels)
        return out

    @property
    def width(self) -> int:
        return len(self.numeric) + sum(len(levels) for _, levels in self.blocks)

    @property
    def encoded_columns(self) -> list[str]:
        names = list(self.numeric)
        for name, levels in self.blocks:
            names += [f"{name}={level}" for level in levels]
        return names

    @property
    def mixed(self) -> bool:
        """True when some column is not a plain scaled number (then no affine scaler maps back)."""
        return bool(self.levels or self.indicators)

    # --- encoding ------------------------------------------------------------------------
    def encode(self, frame) -> np.ndarray:
        """Rows of `frame` (missing policy already applied) as encoded float64 rows."""
        out = np.zeros((len(frame), self.width))
        if self.numeric:
            numbers = frame[self.numeric].to_numpy(dtype=np.float64, na_value=np.nan)
            filled = np.where(np.isnan(numbers), self._fill_values(), numbers)
            out[:, : len(self.numeric)] = self.scaler.transform(filled)
        for (name, levels), (start, _) in zip(self.blocks, self.spans, strict=True):
            index = self._level_index(frame, name, levels)
            out[np.arange(len(frame)), start + index] = 1.0
        return out

    def _fill_values(self) -> np.ndarray:
        # a missing number is imputed with the scaler's centre; its indicator block says "missing"
        centre = -self.scaler.shift / self.scaler.scale  # model 0 in raw units
        return np.broadcast_to(centre, (len(self.numeric),))

    def _level_index(self, frame, name: str, levels: list) -> np.ndarray:
        if name.endswith(INDICATOR_SUFFIX) and name not in frame:
            return frame[name.removesuffix(INDICATOR_SUFFIX)].isna().to_numpy().astype(int)
        keys = [_level_key(v) for v in frame[name].tolist()]
        lookup = {_level_key(level): i for i, level in enumerate(levels)}
        unknown = sorted({str(k) for k in keys if k not in lookup})
        if unknown:
            raise DataError(f"column {name!r}: values {unknown[:5]} are not among its levels")
        return np.array([lookup[k] for k in keys], dtype=int)

    # --- decoding ------------------------------------------------------------------------
    def choose(self, values: np.ndarray, seed: int = 0) -> list[np.ndarray]:
        """The level index of each block per row, drawn from the block read as probabilities
        (the Gumbel-max view: the category a Gumbel-softmax head would have produced)."""
        rng = np.random.default_rng(seed)
        chosen = []
        for start, width in self.spans:
            p = np.clip(values[:, start : start + width], 0.0, None) + 1e-12
            cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
            u = rng.random((len(values), 1))
            chosen.append(np.minimum((cdf < u).sum(axis=1), width - 1))
        return chosen

    def harden(self, values: np.ndarray, seed: int = 0) -> np.ndarray:
        """Encoded rows with every soft block replaced by the one-hot of its drawn level."""
        out = np.array(values, dtype=np.float64, copy=True)
        for (start, width), index in zip(self.spans, self.choose(out, seed), strict=True):
            out[:, start : start + width] = 0.0
            out[np.arange(len(out)), start + index] = 1.0
        return out

    def decode(self, values, seed: int = 0):
        """Encoded rows (G's output) -> a DataFrame in the original columns, dtypes and units."""
        import pandas as pd

        values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        numbers = self.scaler.inverse_transform(values[:, : len(self.numeric)])
        chosen = dict(zip([n for n, _ in self.blocks], self.choose(values, seed), strict=True))
        data: dict[str, Any] = {}
        for j, name in enumerate(self.numeric):
            column = numbers[:, j]
            if name in self.indicators:
                column = np.where(chosen[name + INDICATOR_SUFFIX] == 1, np.nan, column)
            if name in self.whole:  # whole numbers in (counts, grams), whole numbers out
                column = np.round(column)
            data[name] = _numeric_dtype(column, self.dtypes.get(name, "float64"))
        for name, levels in self.levels.items():
            picked = [levels[i] for i in chosen[name]]
            data[name] = pd.Series([np.nan if v == MISSING else v for v in picked], dtype=object)
            data[name] = _category_dtype(data[name], self.dtypes.get(name, "object"))
        return pd.DataFrame({c: data[c] for c in self.columns})

    # --- JSON ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "columns": self.columns,
            "numeric": self.numeric,
            "levels": self.levels,
            "scaler": {
                "kind": self.scaler.kind,
                "scale": np.atleast_1d(self.scaler.scale).tolist(),
                "shift": np.atleast_1d(self.scaler.shift).tolist(),
            },
            "dtypes": self.dtypes,
            "indicators": self.indicators,
            "whole": self.whole,
        }

    @classmethod
    def from_dict(cls, raw: dict) -> TableCodec:
        s = raw["scaler"]
        scaler = AffineScaler(s["kind"], np.asarray(s["scale"]), np.asarray(s["shift"]))
        return cls(
            list(raw["columns"]),
            list(raw["numeric"]),
            {k: list(v) for k, v in raw["levels"].items()},
            scaler,
            dict(raw.get("dtypes", {})),
            list(raw.get("indicators", [])),
            list(raw.get("whole", [])),
        )


def _level_key(value):
    """Levels compare by value; every kind of missing (None, NaN, pd.NA) is the one MISSING."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is MISSING:
        return MISSING
    if type(value).__name__ == "NAType":
        return MISSING
    return value.item() if isinstance(value, np.generic) else value


def _numeric_dtype(column: np.ndarray, dtype: str):
    import pandas as pd

    if dtype.lower().startswith(("int", "uint")):  # an integer column comes back integer
        rounded = np.round(column)
        if np.isnan(rounded).any():
            return pd.array(np.where(np.isnan(rounded), None, rounded), dtype="Int64")
        return rounded.astype(np.int64)
    return column


def _category_dtype(series, dtype: str):
    if dtype == "bool" and series.notna().all():
        return series.astype(bool)
    if dtype.lower().startswith(("int", "uint")) and series.notna().all():
        return series.astype(np.int64)
    return series


# --- from a DataFrame to training rows -------------------------------------------------


@dataclass
class TablePart:
    """A table in original units split into the rows G trains on and the rows held out."""

    codec: TableCodec
    train: Any  # pandas DataFrame, original units, after the missing policy
    holdout: Any  # pandas DataFrame, never trained on (data.holdout)
    notes: list[str]  # what the policies did, shown by pre-flight (nothing happens silently)
    train_rows: np.ndarray  # positions in the table read (before max_rows) of the train rows

    def sdtypes(self) -> dict[str, str]:
        """SDMetrics' sdtype of every column: 'categorical' or 'numerical'."""
        cats = self.codec.levels
        return {c: "categorical" if c in cats else "numerical" for c in self.codec.columns}


def split_table(frame, cfg, where: str) -> TablePart:
    """Classify the columns, apply data.missing, hold out data.holdout of the rows, fit the codec.

    `cfg` is a DataConfig; the codec's scaler is fitted on the training rows only.
    """
    categorical = categorical_columns(frame, cfg.categorical, where)
    frame, notes = apply_missing(frame, cfg.missing, categorical, where)
    train, holdout = holdout_split(frame, cfg.holdout, where)
    train_rows = train.index.to_numpy()
    train = train.reset_index(drop=True)
    numeric = [c for c in frame.columns if c not in categorical]
    indicators = [c for c in numeric if frame[c].isna().any()]
    levels = {c: _levels(frame[c]) for c in frame.columns if c in categorical}
    numbers = train[numeric].to_numpy(dtype=np.float64, na_value=np.nan)
    scaler = fit_column_scaler(_fill_for_fit(numbers), cfg_scaling(cfg.scaling))
    dtypes = {c: str(frame[c].dtype) for c in frame.columns}
    whole = [c for c in numeric if _all_whole(frame[c])]
    codec = TableCodec(list(frame.columns), numeric, levels, scaler, dtypes, indicators, whole)
    return TablePart(codec, train, holdout, notes, train_rows)


def cfg_scaling(scaling: str) -> str:
    return "minmax" if scaling == "auto" else scaling


def _fill_for_fit(numbers: np.ndarray) -> np.ndarray:
    """Missing numbers (policy `category`) take the column median for fitting the scaler."""
    if not np.isnan(numbers).any():
        return numbers
    median = np.nanmedian(np.where(np.isnan(numbers).all(axis=0), 0.0, numbers), axis=0)
    return np.where(np.isnan(numbers), median, numbers)


def _levels(series) -> list:
    values = sorted({_level_key(v) for v in series.tolist()} - {MISSING}, key=_sort_key)
    return values + ([MISSING] if series.isna().any() else [])


def _sort_key(value):
    return (type(value).__name__, value)


def categorical_columns(frame, declared: list[str], where: str) -> list[str]:
    """Text, boolean and category columns always; small whole-number columns unless
    data.categorical is given (then exactly those plus the columns that are not numbers)."""
    import pandas as pd

    names = list(frame.columns)
    unknown = [c for c in declared if c not in names]
    if unknown:
        raise DataError(
            f"{where}: data.categorical names {unknown}, which are not among the modelled "
            f"columns {names}"
        )
    types = pd.api.types
    out = []
    for name in names:
        col = frame[name]
        if types.is_datetime64_any_dtype(col) or types.is_complex_dtype(col):
            raise DataError(
                f"{where}: column {name!r} holds {col.dtype} values; convert it to numbers or "
                "text first, or leave it out with data.columns"
            )
        text = not types.is_numeric_dtype(col) or types.is_bool_dtype(col)
        if text and name not in declared:
            _refuse_identifier(col, name, names, where)
        small = not (declared or text) and _few_whole_numbers(col)
        if name in declared or text or small:
            out.append(name)
    return out


def _all_whole(col) -> bool:
    values = col.dropna().to_numpy(dtype=np.float64)
    return bool(values.size) and bool(np.all(values == np.round(values)))


def _few_whole_numbers(col) -> bool:
    values = col.dropna().to_numpy(dtype=np.float64)
    return _all_whole(col) and len(np.unique(values)) <= DISCRETE_MAX_LEVELS


def _refuse_identifier(col, name: str, names: list[str], where: str) -> None:
    n_levels = col.nunique()
    if n_levels > ID_MIN_LEVELS and n_levels > 0.5 * len(col):
        keep = [c for c in names if c != name]
        raise DataError(
            f"{where}: column {name!r} has {n_levels} distinct text values in {len(col)} rows: "
            f"an identifier, not a category; leave it out with data.columns (e.g. "
            f"data.columns: {keep}) or declare it in data.categorical to model it anyway"
        )


def apply_missing(frame, policy: str, categorical: list[str], where: str):
    """data.missing: error (refuse, naming the columns), drop (rows with a missing value) or
    category (a missing category is a level of its own; a missing number is imputed and
    an indicator block records that it was missing). Infinite numbers are always refused."""
    numeric = [c for c in frame.columns if c not in categorical]
    numbers = frame[numeric].to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(numbers).any():
        counts = np.isinf(numbers).sum(axis=0)
        place = ", ".join(f"{c} ({n})" for c, n in zip(numeric, counts, strict=True) if n)
        raise DataError(
            f"{where}: {int(counts.sum())} inf values in columns {place}; replace them "
            "(a GAN cannot produce infinity), or leave those columns out with data.columns"
        )
    counts = frame.isna().sum()
    if not counts.any():
        return frame, []
    place = ", ".join(f"{c} ({n})" for c, n in counts.items() if n)
    rows = int(frame.isna().any(axis=1).sum())
    if policy == "error":
        raise DataError(
            f"{where}: {int(counts.sum())} NaN/missing values in columns {place}; set "
            "data.missing: drop (leave out the rows that have one) or data.missing: category "
            "(model 'missing' as a value of its own), drop or fill them before training, "
            "or leave those columns out with data.columns"
        )
    if policy == "drop":
        kept = frame.dropna()
        if len(kept) == 0:
            raise DataError(f"{where}: data.missing: drop leaves no rows (missing: {place})")
        return kept, [f"data.missing: drop left out {rows} of {len(frame)} rows (missing: {place})"]
    return frame, [f"data.missing: category models missing values in {place} as their own value"]


def holdout_split(frame, fraction: float, where: str):
    """(train, holdout): a fixed-seed share of the rows that training never sees; train keeps
    the frame's index (the rows' positions in the table read), holdout is renumbered."""
    n_hold = int(round(fraction * len(frame)))
    if n_hold == 0:
        return frame, None
    if n_hold >= len(frame):
        raise DataError(
            f"{where}: data.holdout: {fraction} of {len(frame)} rows leaves none to train on; "
            "lower data.holdout"
        )
    order = np.random.default_rng(HOLDOUT_SEED).permutation(len(frame))
    hold = np.sort(order[:n_hold])
    train = np.sort(order[n_hold:])
    return frame.iloc[train], frame.iloc[hold].reset_index(drop=True)

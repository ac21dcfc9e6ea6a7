"""Mixed-type tables: categories in and out, the missing-value policy, the held-out rows,
and SDMetrics' score on them (gan_core/data/tables.py, gan_core/metrics/table_report.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from gan_core.checks import preflight
from gan_core.config import DataConfig, GanConfig, ModelConfig
from gan_core.data import DataError, load_dataset
from gan_core.data.tables import MISSING, TableCodec
from gan_core.models.table_head import TableHead
from gan_core.trainer import Trainer


def penguin_like(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A small mixed table: text, bool, a small whole-number column, two numbers that
    depend on the species (so column pairs have structure)."""
    rng = np.random.default_rng(seed)
    species = rng.choice(["Adelie", "Gentoo", "Chinstrap"], n, p=[0.5, 0.3, 0.2])
    gentoo = species == "Gentoo"
    mass = np.where(gentoo, 5000.0, 3700.0) + rng.normal(0, 300, n)
    return pd.DataFrame(
        {
            "species": species,
            "body_mass_g": mass.round(),
            "male": rng.random(n) < 0.5,
            "year": rng.choice([2007, 2008, 2009], n),
            "bill_mm": np.where(gentoo, 47.0, 39.0) + rng.normal(0, 2, n),
        }
    )


def write(frame: pd.DataFrame, tmp_path, name: str = "t.csv") -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def tiny_table_config(source: str, **overrides) -> GanConfig:
    base = {
        "data.source": source,
        "model.latent_dim": 8,
        "model.ngf": 32,
        "model.ndf": 32,
        "model.g_depth": 2,
        "model.d_depth": 2,
        "optim.batch_size": 64,
        "train.steps": 30,
        "train.eval_every": 15,
        "train.eval_samples": 100,
        "train.device": "cpu",
    }
    return GanConfig().with_overrides({**base, **overrides})


# --- types and encoding ----------------------------------------------------------------


def test_text_bool_and_small_integer_columns_become_one_hot_blocks(tmp_path):
    ds = load_dataset(DataConfig(source=write(penguin_like(), tmp_path), holdout=0.0))
    codec = ds.table.codec
    assert codec.numeric == ["body_mass_g", "bill_mm"]
    assert codec.levels == {
        "species": ["Adelie", "Chinstrap", "Gentoo"],
        "male": [False, True],
        "year": [2007, 2008, 2009],
    }
    assert ds.x.shape == (400, 2 + 3 + 2 + 3) and ds.columns[2] == "species=Adelie"
    blocks = ds.x[:, 2:]
    assert set(blocks.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(blocks.sum(dim=1), torch.full((400,), 3.0))  # one level per block
    assert ds.x[:, :2].min() >= -1 and ds.x[:, :2].max() <= 1  # numbers: minmax as before


def test_declared_categorical_is_exact_for_numbers(tmp_path):
    path = write(penguin_like(), tmp_path)
    ds = load_dataset(DataConfig(source=path, categorical=["body_mass_g"], holdout=0.0))
    # declared: year is a number now, body_mass_g a category; text and bools stay categories
    assert ds.table.codec.numeric == ["year", "bill_mm"]
    assert set(ds.table.codec.levels) == {"species", "male", "body_mass_g"}
    with pytest.raises(DataError, match=r"data\.categorical names \['sex'\]"):
        load_dataset(DataConfig(source=path, categorical=["sex"]))


def test_encoding_decodes_back_to_the_original_table():
    frame = penguin_like(200)
    frame.loc[[3, 9], "species"] = None
    frame.loc[[4, 5, 6], "bill_mm"] = np.nan
    ds = load_dataset_from(frame, missing="category", holdout=0.0)
    back = ds.table.codec.decode(ds.x.numpy())
    assert list(back.columns) == list(frame.columns)
    # NaN where it was missing, as pandas reads a missing text value
    assert back["species"].fillna("?").tolist() == frame["species"].fillna("?").tolist()
    assert back["male"].dtype == bool and back["male"].tolist() == frame["male"].tolist()
    assert back["year"].dtype == np.int64 and back["year"].tolist() == frame["year"].tolist()
    # whole numbers in (a float column here), whole numbers out
    assert (back["body_mass_g"] == frame["body_mass_g"]).all()
    np.testing.assert_allclose(back["bill_mm"], frame["bill_mm"], rtol=1e-4)  # NaN at 4, 5, 6
    assert back["bill_mm"].isna().tolist() == frame["bill_mm"].isna().tolist()


def load_dataset_from(frame: pd.DataFrame, **data) -> object:
    """load_dataset on a frame (through a CSV in a temp file, as a user's file goes)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        frame.to_csv(path, index=False)
        return load_dataset(DataConfig(source=str(path), **data))


def test_codec_survives_json():
    import json

    codec = load_dataset_from(penguin_like(100), holdout=0.0).table.codec
    again = TableCodec.from_dict(json.loads(json.dumps(codec.to_dict())))
    values = np.random.default_rng(0).random((50, codec.width))
    pd.testing.assert_frame_equal(codec.decode(values, seed=3), again.decode(values, seed=3))


def test_identifier_like_text_column_is_refused_unless_declared(tmp_path):
    frame = penguin_like(120).assign(name=[f"bird {i}" for i in range(120)])
    path = write(frame, tmp_path)
    with pytest.raises(DataError, match=r"'name' has 120 distinct text values.*data\.columns"):
        load_dataset(DataConfig(source=path))
    ds = load_dataset(DataConfig(source=path, categorical=["name"], holdout=0.0))
    assert len(ds.table.codec.levels["name"]) == 120


# --- missing values --------------------------------------------------------------------


def with_missing() -> pd.DataFrame:
    frame = penguin_like(100)
    frame.loc[[1, 2], "species"] = None
    frame.loc[[2, 3, 4], "bill_mm"] = np.nan
    return frame


def test_missing_values_are_refused_by_default_naming_the_policies():
    with pytest.raises(DataError, match=r"5 NaN/missing values in columns species \(2\), bill_mm"):
        load_dataset_from(with_missing())


def test_missing_drop_leaves_out_those_rows_and_says_so():
    ds = load_dataset_from(with_missing(), missing="drop", holdout=0.0)
    assert len(ds) == 96 and not ds.table.train.isna().any().any()
    cfg = GanConfig().with_overrides({"data.missing": "drop", "data.holdout": 0.0})
    [note] = preflight(cfg, ds)
    assert "data.missing: drop left out 4 of 100 rows" in note


def test_missing_category_is_a_level_and_an_indicator():
    ds = load_dataset_from(with_missing(), missing="category", holdout=0.0)
    codec = ds.table.codec
    assert len(ds) == 100 and codec.levels["species"][-1] == MISSING
    assert codec.indicators == ["bill_mm"]
    indicator = ds.x[:, -2:]  # the last block: bill_mm (missing) = False | True
    assert torch.nonzero(indicator[:, 1]).view(-1).tolist() == [2, 3, 4]
    assert torch.isfinite(ds.x).all()  # the imputed numbers are finite, never NaN


# --- held-out rows ---------------------------------------------------------------------


def test_held_out_rows_are_never_trained_on(tmp_path):
    frame = penguin_like(300)
    frame["bill_mm"] = np.arange(300, dtype=float)  # every row told apart by this column
    cfg = tiny_table_config(write(frame, tmp_path), **{"data.holdout": 0.2})
    trainer = Trainer(cfg)
    part = trainer.dataset.table
    assert len(part.holdout) == 60 and len(trainer.real) == 240
    seen = set(part.train["bill_mm"]) | set(part.codec.decode(trainer.real.numpy())["bill_mm"])
    assert seen.isdisjoint(set(part.holdout["bill_mm"]))
    again = load_dataset(cfg.data, seed=5).table
    assert again.holdout["bill_mm"].tolist() == part.holdout["bill_mm"].tolist()  # fixed split


def test_holdout_that_leaves_nothing_is_refused():
    with pytest.raises(DataError, match=r"data\.holdout: 0\.9 of 3 rows leaves none"):
        load_dataset_from(penguin_like(3), holdout=0.9)


# --- G's categorical head --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gumbel", "softmax"])
def test_head_blocks_are_distributions_and_gumbel_samples_while_training(kind):
    head = TableHead(ModelConfig(categorical_head=kind), 2, [(2, 3), (5, 2)])
    h = torch.randn(64, 7, generator=torch.Generator().manual_seed(0))
    head.train()
    first, second = head(h), head(h)
    assert torch.allclose(first[:, 2:5].sum(1), torch.ones(64), atol=1e-5)
    assert torch.equal(first[:, :2], torch.tanh(h[:, :2]))
    assert torch.equal(first, second) == (kind == "softmax")  # Gumbel noise differs per call
    head.eval()
    torch.testing.assert_close(head(h)[:, 5:], torch.softmax(h[:, 5:], dim=1))


def test_a_mixed_table_trains_and_samples_back_its_categories(tmp_path):
    frame = penguin_like()
    cfg = tiny_table_config(write(frame, tmp_path), **{"train.steps": 200})
    trainer = Trainer(cfg)
    record = trainer.fit()
    assert record["health"] != "diverged"
    samples = trainer.dataset.table.codec.decode(trainer.sample(500, seed=1).numpy())
    assert list(samples.columns) == list(frame.columns)
    assert set(samples["species"]) <= {"Adelie", "Gentoo", "Chinstrap"}
    assert set(samples["year"]) <= {2007, 2008, 2009} and samples["male"].dtype == bool
    assert samples["body_mass_g"].between(2500, 6500).all()  # in the table's own units
    # 200 steps learn the marginals roughly: every species appears, none takes over
    shares = samples["species"].value_counts(normalize=True)
    assert len(shares) == 3 and shares.max() < 0.9


# --- SDMetrics on held-out rows ------------------------------------------------------


SDTYPES = {
    "species": "categorical",
    "body_mass_g": "numerical",
    "male": "categorical",
    "year": "categorical",
    "bill_mm": "numerical",
}


def test_sdmetrics_quality_of_real_against_real_is_near_its_ceiling_and_falls():
    from gan_core.metrics.table_report import quality

    frame = penguin_like(1000)
    real, other = frame.iloc[:500].reset_index(drop=True), frame.iloc[500:].reset_index(drop=True)
    same = quality(real, other, SDTYPES)
    assert same["sdmetrics/quality"] > 0.93  # two halves of one table: sampling noise only
    rng = np.random.default_rng(0)
    shuffled = other.apply(lambda col: col.sample(frac=1, random_state=rng).to_numpy())
    broken = quality(real, shuffled, SDTYPES)  # marginals kept, every pair torn apart
    assert broken["sdmetrics/column_shapes"] == pytest.approx(same["sdmetrics/column_shapes"])
    assert broken["sdmetrics/column_pair_trends"] < same["sdmetrics/column_pair_trends"] - 0.1
    shifted = other.assign(body_mass_g=other["body_mass_g"] + 600, bill_mm=other["bill_mm"] + 4)
    moved = quality(real, shifted, SDTYPES)
    assert moved["sdmetrics/column_shapes"] < same["sdmetrics/column_shapes"] - 0.15


def test_copy_check_tells_copies_from_fresh_rows():
    from gan_core.metrics.table_report import copy_check

    frame = penguin_like(500)
    train, holdout = frame.iloc[:400], frame.iloc[400:].reset_index(drop=True)
    copies = copy_check(train, holdout, train.sample(100, random_state=0), SDTYPES)
    assert copies["privacy/closer_to_train"] == 1.0 and copies["privacy/exact_copies"] == 1.0
    fresh = copy_check(train, holdout, penguin_like(300, seed=7), SDTYPES)
    assert 0.3 < fresh["privacy/closer_to_train"] < 0.7 and fresh["privacy/exact_copies"] == 0


def test_a_trained_table_reports_sdmetrics_on_its_held_out_rows(tmp_path):
    trainer = Trainer(tiny_table_config(write(penguin_like(), tmp_path)))
    trainer.fit()
    report = trainer.held_out_report()
    assert 0 < report["sdmetrics/quality"] <= 1 and 0 <= report["privacy/closer_to_train"] <= 1
    assert {"sdmetrics/column_shapes", "sdmetrics/column_pair_trends"} <= set(report)
    no_holdout = Trainer(tiny_table_config(write(penguin_like(), tmp_path), **{"data.holdout": 0}))
    assert no_holdout.held_out_report() == {}


def test_the_tanh_range_check_reads_the_numeric_columns_of_a_mixed_table(tmp_path):
    from gan_core.checks import PreflightError

    source = write(penguin_like(), tmp_path)
    standard = tiny_table_config(source, **{"data.scaling": "standard"})
    with pytest.raises(PreflightError, match=r"model\.output_activation: tanh") as err:
        preflight(standard)
    assert "field-notes.md#note-003" in str(err.value)
    linear = standard.with_overrides({"model.output_activation": "linear"})
    assert preflight(linear) == []  # the one-hot blocks (0/1) are the softmax head's business

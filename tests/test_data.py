"""Built-in data sets, user files and their errors (gan_core.data)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import torch

from gan_core.config import DataConfig
from gan_core.data import BUILTIN_NAMES, DataError, Dataset, load_dataset
from gan_core.data import builtin as builtin_module


def load(source, **kw) -> Dataset:
    return load_dataset(DataConfig(source=str(source), **kw))


# --- built-ins -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "n_modes", "std", "spread"), [("ring8", 8, 0.01, 1.0), ("grid25", 25, 0.05, 4.0)]
)
def test_mixtures_follow_the_pacgan_definitions(name, n_modes, std, spread):
    ds = load(name, n_points=4000)
    assert ds.family == "points" and ds.x.shape == (4000, 2) and ds.x.dtype == torch.float32
    assert ds.modes.shape == (n_modes, 2) and ds.mode_std == std
    assert float(ds.modes.abs().max()) == pytest.approx(spread)
    assert set(ds.labels.tolist()) == set(range(n_modes))
    offsets = ds.x - ds.modes[ds.labels]  # every point lies near the centre of its component
    assert float(offsets.std()) == pytest.approx(std, rel=0.1)
    assert float(offsets.abs().max()) < 6 * std
    assert ds.raw_min == pytest.approx(float(ds.x.min()), abs=1e-6)  # auto leaves them as is


def test_ring8_modes_sit_on_the_unit_circle():
    modes = load("ring8", n_points=100).modes
    assert torch.allclose(modes.norm(dim=1), torch.ones(8))


def test_grid25_modes_are_the_5x5_grid():
    modes = {tuple(m) for m in load("grid25", n_points=100).modes.tolist()}
    ticks = (-4.0, -2.0, 0.0, 2.0, 4.0)
    assert modes == {(a, b) for a in ticks for b in ticks}


def test_mixture_sampling_follows_the_seed():
    cfg = DataConfig(source="grid25", n_points=500)
    same = load_dataset(cfg, seed=3).x, load_dataset(cfg, seed=3).x
    assert torch.equal(*same)
    assert not torch.equal(same[0], load_dataset(cfg, seed=4).x)


def test_mixture_minmax_scaling_moves_modes_and_std_too():
    ds = load("grid25", n_points=5000, scaling="minmax")
    assert float(ds.x.min()) == pytest.approx(-1) and float(ds.x.max()) == pytest.approx(1)
    assert ds.mode_std == pytest.approx(0.05 * 2 / 8.4, rel=0.05)  # range ±4.2 -> ±1
    offsets = ds.x - ds.modes[ds.labels]
    assert float(offsets.std()) == pytest.approx(ds.mode_std, rel=0.1)
    back = ds.scaler.inverse_transform(ds.x)
    assert np.allclose(back, load("grid25", n_points=5000).x.numpy(), atol=1e-5)


def test_digits_are_8x8_images_in_minus1_1():
    ds = load("digits")
    assert ds.family == "image" and ds.x.shape == (1797, 1, 8, 8)
    assert float(ds.x.min()) == -1.0 and float(ds.x.max()) == 1.0
    assert (ds.raw_min, ds.raw_max) == (0.0, 16.0)
    assert set(ds.labels.tolist()) == set(range(10)) and ds.labels.dtype == torch.int64
    assert np.allclose(ds.scaler.inverse_transform(ds.x).max(), 16.0)


def test_mnist_is_5000_real_28x28_digits_parsed_fast():
    builtin_module._mnist_arrays.cache_clear()
    start = time.perf_counter()
    ds = load("mnist")
    assert time.perf_counter() - start < 2.0
    assert ds.x.shape == (5000, 1, 28, 28) and ds.raw_dtype == "uint8"
    assert (ds.raw_min, ds.raw_max) == (0.0, 255.0)
    assert float(ds.x.min()) == -1.0 and float(ds.x.max()) == 1.0
    counts = torch.bincount(ds.labels, minlength=10)
    assert len(counts) == 10 and int(counts.min()) > 300  # every digit, roughly balanced


def test_cached_builtins_hand_out_fresh_tensors():
    first = load("mnist")
    first.x.fill_(0.5)
    assert float(load("mnist").x.min()) == -1.0


def test_breast_cancer_is_a_minmax_scaled_table_with_feature_names():
    from sklearn.datasets import load_breast_cancer

    ds = load("breast_cancer", holdout=0.0)
    assert ds.family == "table" and ds.x.shape == (569, 30)
    assert ds.columns[:2] == ["mean radius", "mean texture"] and len(ds.columns) == 30
    assert torch.allclose(ds.x.min(dim=0).values, -torch.ones(30))
    assert torch.allclose(ds.x.max(dim=0).values, torch.ones(30))
    original = load_breast_cancer().data
    assert np.allclose(ds.scaler.inverse_transform(ds.x), original, rtol=1e-5, atol=1e-4)


def test_standard_scaling_gives_zero_mean_unit_variance():
    x = load("breast_cancer", scaling="standard").x
    assert torch.allclose(x.mean(dim=0), torch.zeros(30), atol=1e-5)
    assert torch.allclose(x.std(dim=0, unbiased=False), torch.ones(30), atol=1e-4)


def test_scaling_none_keeps_raw_pixel_values():
    ds = load("mnist", scaling="none")
    assert float(ds.x.max()) == 255.0 and float(ds.x.min()) == 0.0


def test_columns_select_builtin_table_columns():
    ds = load("breast_cancer", columns=["mean area", "mean radius"], holdout=0.0)
    assert ds.columns == ["mean area", "mean radius"] and ds.x.shape == (569, 2)


def test_max_rows_keeps_a_fixed_spread_out_subset():
    ds = load("mnist", max_rows=200)
    assert len(ds) == 200
    assert len(ds.labels.unique()) == 10  # the file is sorted by label; the first 200 are all 0
    again = load_dataset(DataConfig(source="mnist", max_rows=200), seed=7)
    assert torch.equal(ds.x, again.x)


def test_channels_and_image_size_convert_digits():
    ds = load("digits", channels=3, image_size=16)
    assert ds.x.shape == (1797, 3, 16, 16)
    assert torch.equal(ds.x[:, 0], ds.x[:, 2])
    assert float(ds.x.min()) >= -1 - 1e-6 and float(ds.x.max()) <= 1 + 1e-6


# --- user arrays ---------------------------------------------------------------------


def test_npy_table_round_trips(tmp_path):
    values = np.random.default_rng(0).normal(5, 3, size=(300, 4))
    np.save(tmp_path / "t.npy", values)
    ds = load(tmp_path / "t.npy", holdout=0.0)
    assert (
        ds.family == "table" and ds.x.shape == (300, 4) and ds.columns == ["x0", "x1", "x2", "x3"]
    )
    assert float(ds.x.min()) == pytest.approx(-1) and float(ds.x.max()) == pytest.approx(1)
    assert np.allclose(ds.scaler.inverse_transform(ds.x), values, atol=1e-4)


def test_npz_uses_x_and_its_labels(tmp_path):
    x = np.random.default_rng(0).random((50, 3))
    np.savez(tmp_path / "d.npz", other=np.zeros(3), x=x, y=np.arange(50) % 5)
    ds = load(tmp_path / "d.npz", holdout=0.0)
    assert ds.x.shape == (50, 3) and ds.labels.tolist() == (np.arange(50) % 5).tolist()
    held = load(tmp_path / "d.npz")  # the labels of the training rows only
    assert held.labels.tolist() == [int(v) % 5 for v in held.table.train_rows]


def test_npz_with_one_array_of_any_name(tmp_path):
    np.savez(tmp_path / "d.npz", data=np.ones((10, 2)))
    assert load(tmp_path / "d.npz", holdout=0.0).x.shape == (10, 2)


def test_npz_with_several_arrays_and_no_x_is_refused(tmp_path):
    np.savez(tmp_path / "d.npz", a=np.ones((10, 2)), b=np.ones((10, 2)))
    with pytest.raises(DataError, match=r"d\.npz.*\['a', 'b'\].*'x'"):
        load(tmp_path / "d.npz")


def _images_uint8(shape):
    return np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)


def test_npy_gray_images_nhw(tmp_path):
    images = _images_uint8((20, 12, 12))
    np.save(tmp_path / "g.npy", images)
    ds = load(tmp_path / "g.npy")
    assert ds.family == "image" and ds.x.shape == (20, 1, 12, 12) and ds.raw_dtype == "uint8"
    assert torch.allclose(ds.x[:, 0], torch.tensor(images / 127.5 - 1, dtype=torch.float32))


def test_npy_channel_last_and_channel_first_give_the_same_images(tmp_path):
    nhwc = _images_uint8((10, 16, 16, 3))
    np.save(tmp_path / "last.npy", nhwc)
    np.save(tmp_path / "first.npy", nhwc.transpose(0, 3, 1, 2))
    last, first = load(tmp_path / "last.npy"), load(tmp_path / "first.npy")
    assert last.x.shape == first.x.shape == (10, 3, 16, 16)
    assert torch.equal(last.x, first.x)


def test_rgba_arrays_lose_their_alpha(tmp_path):
    np.save(tmp_path / "rgba.npy", _images_uint8((4, 8, 8, 4)))
    assert load(tmp_path / "rgba.npy").x.shape == (4, 3, 8, 8)


@pytest.mark.parametrize(
    ("low", "high", "expected_low", "expected_high"),
    [(0.0, 1.0, -1.0, 1.0), (-1.0, 1.0, -1.0, 1.0), (0.0, 255.0, -1.0, 1.0)],
)
def test_auto_scaling_reads_the_float_image_convention(
    tmp_path, low, high, expected_low, expected_high
):
    images = np.linspace(low, high, 4 * 64, dtype=np.float32).reshape(4, 8, 8)
    np.save(tmp_path / "f.npy", images)
    ds = load(tmp_path / "f.npy")
    assert float(ds.x.min()) == pytest.approx(expected_low)
    assert float(ds.x.max()) == pytest.approx(expected_high)
    assert np.allclose(ds.scaler.inverse_transform(ds.x)[:, 0], images, atol=1e-4)


def test_already_scaled_images_are_left_as_they_are(tmp_path):
    images = np.random.default_rng(0).uniform(-0.9, 0.5, size=(4, 8, 8)).astype(np.float32)
    np.save(tmp_path / "s.npy", images)
    assert torch.equal(load(tmp_path / "s.npy").x[:, 0], torch.from_numpy(images))


def test_max_rows_limits_image_arrays(tmp_path):
    np.save(tmp_path / "g.npy", _images_uint8((30, 8, 8)))
    assert len(load(tmp_path / "g.npy", max_rows=7)) == 7


def test_breast_cancer_unknown_column_suggests_the_close_one():
    with pytest.raises(DataError, match=r"'mean radios' \(did you mean 'mean radius'\?\)"):
        load("breast_cancer", columns=["mean radios"])


def test_image_size_resizes_arrays(tmp_path):
    np.save(tmp_path / "g.npy", _images_uint8((5, 10, 10)))
    x = load(tmp_path / "g.npy", image_size=16).x
    assert x.shape == (5, 1, 16, 16) and float(x.abs().max()) <= 1 + 1e-6


# --- image folders -------------------------------------------------------------------


def _write_png(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_folder_of_gray_pngs_round_trips(tmp_path):
    images = _images_uint8((6, 12, 12))
    for i, img in enumerate(images):
        _write_png(tmp_path / f"img{i}.png", img)
    ds = load(tmp_path)
    assert ds.family == "image" and ds.x.shape == (6, 1, 12, 12) and ds.labels is None
    back = ds.scaler.inverse_transform(ds.x)[:, 0]
    assert np.allclose(back, images, atol=1e-3)


def test_folder_of_rgb_images_with_class_subfolders(tmp_path):
    rgb = _images_uint8((4, 10, 10, 3))
    for i, img in enumerate(rgb):
        _write_png(tmp_path / ("cat" if i < 2 else "dog") / f"{i}.png", img)
    ds = load(tmp_path)
    assert ds.x.shape == (4, 3, 10, 10) and ds.labels.tolist() == [0, 0, 1, 1]
    assert np.allclose(ds.scaler.inverse_transform(ds.x[0]), rgb[0].transpose(2, 0, 1), atol=1e-3)


def test_folder_keeps_16_bit_depth(tmp_path):
    deep = (np.arange(64).reshape(8, 8) * 1000).astype(np.uint16)
    for name in ("a.png", "b.png"):
        _write_png(tmp_path / name, deep)
    ds = load(tmp_path)
    assert ds.raw_dtype == "uint16" and ds.raw_max == 63000.0
    assert np.allclose(ds.scaler.inverse_transform(ds.x[0, 0]), deep)


def test_folder_reads_jpeg_and_forces_gray(tmp_path):
    from PIL import Image

    Image.fromarray(_images_uint8((16, 16, 3))).save(tmp_path / "a.jpg")
    Image.fromarray(_images_uint8((16, 16, 3))).save(tmp_path / "b.jpeg")
    assert load(tmp_path, channels=1).x.shape == (2, 1, 16, 16)


def test_folder_with_two_sizes_names_both_files(tmp_path):
    _write_png(tmp_path / "small.png", _images_uint8((8, 8)))
    _write_png(tmp_path / "wide.png", _images_uint8((8, 12)))
    with pytest.raises(DataError, match=r"small\.png is 8x8.*wide\.png is 12x8.*data\.image_size"):
        load(tmp_path)
    assert load(tmp_path, image_size=8).x.shape == (2, 1, 8, 8)


def test_folder_without_images_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("no pictures here")
    with pytest.raises(DataError, match=rf"{tmp_path}.*no images.*notes\.txt"):
        load(tmp_path)


def test_folder_max_rows_reads_only_that_many_files(tmp_path):
    for i in range(10):
        _write_png(tmp_path / f"{i}.png", _images_uint8((8, 8)))
    assert len(load(tmp_path, max_rows=4)) == 4


def test_corrupt_image_names_the_file(tmp_path):
    _write_png(tmp_path / "good.png", _images_uint8((8, 8)))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"bad\.png"):
        load(tmp_path)


# --- tables --------------------------------------------------------------------------


def _frame():
    import pandas as pd

    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"energy": rng.normal(50, 10, 40), "eta": rng.uniform(-2, 2, 40), "hits": np.arange(40)}
    )


def test_csv_round_trips_with_column_names(tmp_path):
    frame = _frame()
    frame.to_csv(tmp_path / "t.csv", index=False)
    ds = load(tmp_path / "t.csv", holdout=0.0)
    assert ds.columns == ["energy", "eta", "hits"] and ds.x.shape == (40, 3)
    assert np.allclose(ds.scaler.inverse_transform(ds.x), frame.to_numpy(), atol=1e-4)


def test_parquet_round_trips_and_columns_select(tmp_path):
    frame = _frame()
    frame.to_parquet(tmp_path / "t.parquet")
    ds = load(tmp_path / "t.parquet", columns=["eta", "energy"], holdout=0.0)
    assert ds.columns == ["eta", "energy"]
    assert np.allclose(ds.scaler.inverse_transform(ds.x), frame[["eta", "energy"]], atol=1e-4)


def test_an_identifier_text_column_is_named_unless_left_out(tmp_path):
    frame = _frame().assign(particle=["mu", "e"] * 20)
    frame = pd.concat([frame] * 2, ignore_index=True).assign(event=[f"ev{i}" for i in range(80)])
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"t\.csv.*'event' has 80 distinct text.*data\.columns"):
        load(tmp_path / "t.csv")
    ds = load(tmp_path / "t.csv", columns=["energy", "particle"], holdout=0.0)
    assert ds.columns == ["energy", "particle=e", "particle=mu"] and ds.x.shape == (80, 3)


def test_unknown_column_suggests_the_close_one(tmp_path):
    _frame().to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"'enrgy' \(did you mean 'energy'\?\)"):
        load(tmp_path / "t.csv", columns=["enrgy"])


def test_nan_in_a_table_names_count_and_columns(tmp_path):
    frame = _frame()
    frame.loc[[3, 7], "eta"] = np.nan
    frame.loc[5, "energy"] = np.inf
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"t\.csv: 1 inf values in columns energy \(1\)"):
        load(tmp_path / "t.csv")
    frame.loc[5, "energy"] = np.nan
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(
        DataError, match=r"t\.csv: 3 NaN/missing values in columns energy \(1\), eta \(2\)"
    ) as err:
        load(tmp_path / "t.csv")
    assert "data.missing: drop" in str(err.value) and "data.missing: category" in str(err.value)


def test_inf_in_images_names_the_images(tmp_path):
    images = np.zeros((6, 8, 8), dtype=np.float32)
    images[4, 2, 2] = np.inf
    np.save(tmp_path / "i.npy", images)
    with pytest.raises(DataError, match=r"i\.npy: 1 NaN/inf values in 1 images \(indices \[4\]\)"):
        load(tmp_path / "i.npy")


def test_csv_max_rows(tmp_path):
    _frame().to_csv(tmp_path / "t.csv", index=False)
    assert len(load(tmp_path / "t.csv", max_rows=10, holdout=0.0)) == 10


def test_header_only_csv_is_empty(tmp_path):
    (tmp_path / "e.csv").write_text("a,b\n")
    with pytest.raises(DataError, match=r"e\.csv: holds no rows"):
        load(tmp_path / "e.csv")


# --- errors --------------------------------------------------------------------------


def test_misspelt_builtin_suggests_the_name_and_lists_builtins():
    with pytest.raises(
        DataError, match=r"'grid52'.*did you mean the built-in data set 'grid25'"
    ) as err:
        load("grid52")
    assert all(name in str(err.value) for name in BUILTIN_NAMES)


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "data.npy"
    with pytest.raises(DataError, match=rf"{missing}.*no such file"):
        load(missing)


@pytest.mark.parametrize(("name", "content"), [("bad.npy", b"garbage"), ("bad.npz", b"PK garbage")])
def test_malformed_array_file_names_it_and_the_parser_error(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=rf"{name}: can't read it as \.np[yz]: \w+"):
        load(tmp_path / name)


def test_a_file_that_is_no_numpy_file_is_not_called_a_pickle(tmp_path):
    path = tmp_path / "bad.npy"
    path.write_bytes(b"garbage, not an array")
    with pytest.raises(DataError) as err:
        load(path)
    message = str(err.value)
    assert "bad.npy" in message and "not a NumPy file" in message and "numpy.save" in message
    assert "pickle" not in message


def test_malformed_parquet_names_it(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"bad\.parquet: can't read it as a table: \w+"):
        load(tmp_path / "bad.parquet")


def test_unsupported_suffix_lists_the_supported_ones(tmp_path):
    (tmp_path / "d.xlsx").write_bytes(b"")
    with pytest.raises(DataError, match=r"d\.xlsx: unsupported file type.*\.npy.*\.parquet"):
        load(tmp_path / "d.xlsx")


def test_object_arrays_are_refused(tmp_path):
    np.save(tmp_path / "s.npy", np.array([["a", "b"]]))
    with pytest.raises(DataError, match=r"s\.npy.*<U1"):
        load(tmp_path / "s.npy")


@pytest.mark.parametrize(
    ("kw", "key"),
    [({"columns": ["x"]}, "data.columns"), ({"image_size": 16}, "data.image_size")],
)
def test_options_that_do_not_apply_are_refused(kw, key):
    with pytest.raises(DataError, match=key):
        load("ring8", n_points=100, **kw)


def test_two_channels_are_refused():
    with pytest.raises(DataError, match="data.channels: 2"):
        load("digits", channels=2)


def test_dataset_fills_raw_range_from_x_and_checks_family():
    ds = Dataset("hand", "table", torch.tensor([[0.0, 2.0], [1.0, -3.0]]))
    assert (ds.raw_min, ds.raw_max, ds.raw_dtype, ds.sample_shape) == (-3.0, 2.0, "float32", (2,))
    with pytest.raises(DataError, match="family"):
        Dataset("hand", "audio", torch.zeros(2, 2))

"""Readers for user files: .npy/.npz arrays, .csv/.parquet tables, folders of images."""

from __future__ import annotations

import difflib
import zipfile
from pathlib import Path

import numpy as np

from gan_core.data.dataset import DataError
from gan_core.data.images import to_nchw
from gan_core.data.raw import RawData

ARRAY_SUFFIXES = (".npy", ".npz")
TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
_LABEL_KEYS = ("y", "labels")  # optional class labels stored next to `x` in an .npz


def file_kind(path: Path) -> str:
    """'array', 'table' or 'image' from the file name; a DataError for anything else."""
    name = path.name.lower()
    for kind, suffixes in (("array", ARRAY_SUFFIXES), ("table", TABLE_SUFFIXES)):
        if name.endswith(suffixes):
            return kind
    if name.endswith(IMAGE_SUFFIXES):
        raise DataError(
            f"data.source {path} is a single image; point data.source at the folder that holds "
            "the images"
        )
    supported = ", ".join(ARRAY_SUFFIXES + TABLE_SUFFIXES)
    raise DataError(
        f"data.source {path}: unsupported file type; use {supported} or a folder of images"
    )


# --- arrays ------------------------------------------------------------------------------


def read_array_file(path: Path) -> RawData:
    """An .npy array, or the array `x` (or the only array) of an .npz."""
    check_numpy_header(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                array, labels = _pick_npz_arrays(loaded, path)
        else:
            array, labels = loaded, None
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"data.source {path}: can't read it as {path.suffix}: {err}") from err
    return array_to_raw(array, labels, f"data.source {path}")


NUMPY_HEADERS = (b"\x93NUMPY", b"PK\x03\x04", b"PK\x05\x06")  # .npy; .npz (a zip), empty zip


def check_numpy_header(path: Path) -> None:
    """np.load takes a file with neither header for a pickle and, with pickles refused,
    says "contains pickled (object) data ... allow_pickle=": wrong advice for a file that
    is no NumPy file at all, so say what it is instead."""
    try:
        with path.open("rb") as f:
            head = f.read(6)
    except OSError as err:
        raise DataError(f"data.source {path}: can't read it: {err}") from err
    if not head.startswith(NUMPY_HEADERS):
        raise DataError(
            f"data.source {path}: can't read it as {path.suffix}: it is not a NumPy file "
            f"(it starts with {head!r}, not an .npy or .npz header); write it with "
            "numpy.save / numpy.savez, or give a .csv, .parquet or image folder instead"
        )


def _pick_npz_arrays(npz, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    keys = list(npz.files)
    if "x" in keys:
        data_key = "x"
    elif len(keys) == 1:
        data_key = keys[0]
    else:
        raise DataError(
            f"data.source {path}: holds arrays {keys}; store the data under the key 'x' "
            "(np.savez(path, x=data, y=labels))"
        )
    array = npz[data_key]
    for key in _LABEL_KEYS:
        if key in keys and key != data_key:
            labels = npz[key]
            if labels.shape == (len(array),) and np.issubdtype(labels.dtype, np.integer):
                return array, labels.astype(np.int64)
    return array, None


def array_to_raw(array: np.ndarray, labels: np.ndarray | None, where: str) -> RawData:
    """ndim 1 or 2: table rows; ndim 3 or 4: images (channel-first or channel-last)."""
    is_real = np.issubdtype(array.dtype, np.number) and not np.iscomplexobj(array)
    if not (is_real or array.dtype == np.bool_):
        raise DataError(f"{where}: holds {array.dtype} values; a GAN needs real numbers")
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim == 2:
        return RawData("table", array, labels, [f"x{i}" for i in range(array.shape[1])])
    if array.ndim in (3, 4):
        return RawData("image", to_nchw(array, where), labels)
    raise DataError(
        f"{where}: an array of shape {array.shape}; expected (N, D) rows or images "
        "(N, H, W), (N, H, W, C), (N, C, H, W)"
    )


# --- tables ------------------------------------------------------------------------------


def read_table_file(path: Path) -> RawData:
    """A .csv/.parquet table as a DataFrame: its columns are typed and encoded later
    (gan_core/data/tables.py), so text and missing values reach their policies."""
    import pandas as pd

    try:
        if path.name.lower().endswith((".parquet", ".pq")):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    # pandas and pyarrow raise many types (ParserError, UnicodeDecodeError, ArrowInvalid, ...)
    except Exception as err:
        raise DataError(f"data.source {path}: can't read it as a table: {err}") from err
    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    return RawData("table", None, None, list(frame.columns), frame=frame)


def require_columns(wanted: list[str], have: list[str], where: str) -> None:
    missing = [c for c in wanted if c not in have]
    if not missing:
        return
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, have, n=1)
        hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    raise DataError(
        f"{where}: data.columns names columns that are not there: {', '.join(hints)}; "
        f"the columns are {have}"
    )


# --- image folders -----------------------------------------------------------------------

_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "F")
_HIGH_BIT_MODES = ("I", "I;16", "I;16L", "I;16B", "F")  # read as they are, not cut to 8 bits


def list_images(folder: Path) -> list[Path]:
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        others = sorted(p.name for p in folder.rglob("*") if p.is_file())[:3]
        seen = f"; it holds other files, e.g. {others}" if others else "; it is empty"
        raise DataError(
            f"data.source {folder}: a folder with no images ({', '.join(IMAGE_SUFFIXES)}) in it "
            f"or its subfolders{seen}"
        )
    return files


def read_image_folder(folder: Path, files: list[Path], image_size: int, channels: int) -> RawData:
    """Images of a folder, resized to image_size when given; labels from class subfolders."""
    images = [_open_image(p, image_size) for p in files]
    if channels == 0:
        channels = 1 if all(img.mode in _GRAY_MODES for img in images) else 3
    if image_size == 0:
        _require_one_size(files, images, folder)
    pixels = np.stack([_pixels(img, channels) for img in images])
    return RawData("image", pixels, _subfolder_labels(folder, files))


def _open_image(path: Path, image_size: int):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise DataError(f"data.source: can't read the image {path}: {err}") from err
    if image_size and img.size != (image_size, image_size):
        img = img.resize((image_size, image_size), Image.Resampling.BILINEAR)
    return img


def _require_one_size(files: list[Path], images: list, folder: Path) -> None:
    first = images[0].size
    for path, img in zip(files, images, strict=True):
        if img.size != first:
            raise DataError(
                f"data.source {folder}: images differ in size: {files[0].name} is "
                f"{first[0]}x{first[1]}, {path.relative_to(folder)} is {img.size[0]}x{img.size[1]}; "
                "set data.image_size to resize them all"
            )


def _pixels(img, channels: int) -> np.ndarray:
    """(C, H, W) pixels in the image's own dtype (uint8, or uint16/int32/float for deep modes)."""
    if img.mode in _HIGH_BIT_MODES:
        gray = np.asarray(img)[None]
        return np.repeat(gray, 3, axis=0) if channels == 3 else gray
    array = np.asarray(img.convert("L" if channels == 1 else "RGB"))
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _subfolder_labels(folder: Path, files: list[Path]) -> np.ndarray | None:
    """Class index of each image by its first-level subfolder, when every image has one."""
    parents = [p.relative_to(folder).parts for p in files]
    if any(len(parts) < 2 for parts in parents):
        return None
    classes = sorted({parts[0] for parts in parents})
    index = {name: i for i, name in enumerate(classes)}
    return np.array([index[parts[0]] for parts in parents], dtype=np.int64)

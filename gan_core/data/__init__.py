"""Data sets in model scale: built-ins (ring8, grid25, digits, mnist, breast_cancer) and
user files (.npy/.npz, image folders, .csv/.parquet). See `load_dataset`."""

from gan_core.data.dataset import FAMILIES, DataError, Dataset
from gan_core.data.load import BUILTIN_NAMES, load_dataset

__all__ = ["BUILTIN_NAMES", "FAMILIES", "DataError", "Dataset", "load_dataset"]

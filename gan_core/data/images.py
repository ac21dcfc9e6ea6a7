"""Image arrays into the (N, C, H, W) layout, channel count and size the config asks for."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from gan_core.data.dataset import DataError

_MAX_CHANNELS = 4  # gray, gray+alpha, RGB, RGBA
_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, what PIL's convert("L") uses


def to_nchw(array: np.ndarray, where: str) -> np.ndarray:
    """(N, H, W), (N, H, W, C) or (N, C, H, W) -> (N, C, H, W) without alpha."""
    if array.ndim == 3:
        return array[:, None]
    if array.ndim != 4:
        raise DataError(f"{where}: an image array needs 3 or 4 dimensions, got shape {array.shape}")
    if _channel_axis(array.shape, where) == 3:
        array = array.transpose(0, 3, 1, 2)
    channels = array.shape[1]
    if channels in (2, 4):  # gray+alpha or RGBA: a GAN models the colour, not the transparency
        array = array[:, : channels - 1]
    return np.ascontiguousarray(array)


def _channel_axis(shape: tuple[int, ...], where: str) -> int:
    """1 for channel-first, 3 for channel-last; decided by which axis is small enough."""
    _, a, h, c = shape
    first_fits, last_fits = a <= _MAX_CHANNELS, c <= _MAX_CHANNELS
    if first_fits and last_fits:  # tiny images such as (N, 3, 4, 3): prefer square H x W
        return 3 if a == h and h != c else 1
    if first_fits:
        return 1
    if last_fits:
        return 3
    raise DataError(
        f"{where}: can't tell the channel axis of an array of shape {shape}; store images as "
        f"(N, H, W), (N, H, W, C) or (N, C, H, W) with C between 1 and {_MAX_CHANNELS}"
    )


def convert_channels(x: torch.Tensor, channels: int, where: str) -> torch.Tensor:
    """Gray <-> RGB on an (N, C, H, W) tensor; 0 keeps what the data has."""
    have = x.shape[1]
    if channels == 0 or channels == have:
        return x
    if have == 1 and channels == 3:
        return x.repeat(1, 3, 1, 1)
    if have == 3 and channels == 1:
        weights = torch.tensor(_LUMA, dtype=x.dtype).view(1, 3, 1, 1)
        return (x * weights).sum(dim=1, keepdim=True)
    raise DataError(
        f"{where}: data.channels: {channels} can't be made from images with {have} channels; "
        "use 1 (gray), 3 (RGB) or 0 (keep)"
    )


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize to size x size; 0 keeps the native size.

    Antialiased bilinear weights are non-negative and sum to 1, so the value range (and with it
    the [-1, 1] scaling) survives the resize.
    """
    if size == 0 or tuple(x.shape[2:]) == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)

"""Run the metrics' small kernels on one torch thread."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """One torch thread inside, the caller's count restored after.

    The metrics' kernels are small (a 2000 x 128 feature matrix, a 128 x 128
    eigendecomposition): on the shared 2-core CPU two threads made them 4-7x
    slower than one (measured: classifier training 2.6 s vs 17 s, a 352 x 352
    eigvalsh 26 ms vs 187 ms), and a Ray trial runs on one thread anyway.
    """
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)

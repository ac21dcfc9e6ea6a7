"""What every evaluator shares: the fixed real reference sample and the input checks."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from gan_core.metrics.threads import one_thread

if TYPE_CHECKING:
    from gan_core.data import Dataset

MIN_SAMPLES = 10  # k-NN balls (k = 5) and covariances need a handful of points


class MetricError(ValueError):
    """Metrics cannot be computed for this data or these samples; the message says why."""


def reference_sample(x: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n real samples drawn without replacement with `seed`; all of x when n >= len(x).

    Without replacement: a duplicated real point has a k-NN radius of 0 and
    would distort precision, recall, density and coverage.
    """
    if n >= len(x):
        return x
    g = torch.Generator().manual_seed(seed)
    return x[torch.randperm(len(x), generator=g)[:n]]


class Evaluator:
    """Quality metrics of generated samples against a fixed real reference sample.

    Subclasses set `family`, `keys` (every key a call returns), `objective` and
    `direction`, and implement `_evaluate` on a finite float32 CPU batch.
    """

    family: str = ""
    keys: tuple[str, ...] = ()
    objective: str = ""
    direction: str = "min"

    def __init__(self, dataset: Dataset, n_samples: int, seed: int = 0) -> None:
        if n_samples < MIN_SAMPLES:
            raise MetricError(
                f"n_samples={n_samples}: metrics need at least {MIN_SAMPLES} samples; "
                f"raise train.eval_samples"
            )
        self.name = dataset.name
        self.sample_shape = tuple(dataset.sample_shape)
        self.n_samples = n_samples
        self.seed = seed
        self.reference = reference_sample(dataset.x, n_samples, seed)

    @torch.no_grad()
    def __call__(self, fake: torch.Tensor) -> dict[str, float]:
        fake = self._check(fake)
        with one_thread():
            if not bool(torch.isfinite(fake).all()):
                # A diverged generator: every number is NaN, which the monitor reads as "diverged".
                return dict.fromkeys(self.keys, math.nan)
            return self._evaluate(fake)

    def _check(self, fake: torch.Tensor) -> torch.Tensor:
        if not isinstance(fake, torch.Tensor):
            raise MetricError(f"{self.name}: expected a torch.Tensor of samples, got {type(fake)}")
        if tuple(fake.shape[1:]) != self.sample_shape:
            raise MetricError(
                f"{self.name}: samples have shape {tuple(fake.shape)}, expected "
                f"(N, {', '.join(map(str, self.sample_shape))}) like the data set"
            )
        if len(fake) < MIN_SAMPLES:
            raise MetricError(
                f"{self.name}: {len(fake)} samples; metrics need at least {MIN_SAMPLES} "
                f"(raise train.eval_samples)"
            )
        return fake.detach().to("cpu", torch.float32)

    def _evaluate(self, fake: torch.Tensor) -> dict[str, float]:
        raise NotImplementedError

    def final(self, fake: torch.Tensor) -> dict[str, float]:
        """Metrics too costly for every eval point, for the end of a run (none by default)."""
        return {}

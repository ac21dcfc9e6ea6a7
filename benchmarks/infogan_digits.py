"""Does InfoGAN's categorical code pick the digit? One train run on digits, then the code varied.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/infogan_digits.py [--steps 4000]

Trains configs/digits_dcgan.yaml with a 10-way categorical and 2 continuous InfoGAN
codes (`model.info_*`, `loss.info_weight`), then draws `--columns` noise vectors z
(continuous codes 0) and renders each with every value of the categorical code:
row k of the picture holds code k, column j the same z. The feature network of the
image metrics (`gan_core/metrics/feature_net.py`, a classifier trained on the real
digits) labels every sample, and the script reports:

- code -> class purity: the share of samples whose class is the most frequent class
  of their code (1 when the code alone sets the digit; when it does nothing, the share
  of G's most common class, which is why the mutual information is reported too);
- the mutual information between code and predicted class, in nats (max log 10 = 2.30),
  from the code x class counts;
- Q's lower bound on I(code; G(z, code)): log 10 minus Q's cross-entropy on those samples.

The picture goes to docs/img/infogan_digits.png; docs/infogan.md holds the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from gan_core.config import GanConfig
from gan_core.metrics.feature_net import load_or_train_classifier
from gan_core.metrics.images import _class_indices
from gan_core.models import sample_latent
from gan_core.plots import save_image_rows
from gan_core.trainer import Trainer

CODES = {"model.info_categorical": 10, "model.info_continuous": 2, "loss.info_weight": 1.0}


def code_grid(trainer: Trainer, columns: int, seed: int = 0) -> torch.Tensor:
    """(10 * columns, latent) z: row k = categorical code k on the same `columns` noises."""
    m = trainer.cfg.model
    rng = torch.Generator().manual_seed(seed)
    noise = sample_latent(columns, m, generator=rng)[:, : m.latent_dim]
    rows = []
    for k in range(m.info_categorical):
        onehot = F.one_hot(torch.full((columns,), k), m.info_categorical).float()
        rows.append(torch.cat([noise, onehot, torch.zeros(columns, m.info_continuous)], 1))
    return torch.cat(rows)


def mutual_information(counts: np.ndarray) -> float:
    """I(code; class) in nats from a code x class count table."""
    p = counts / counts.sum()
    outer = p.sum(1, keepdims=True) * p.sum(0, keepdims=True)
    nz = p > 0
    return float((p[nz] * np.log(p[nz] / outer[nz])).sum())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--columns", type=int, default=200, help="noise vectors per code")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--picture", default="docs/img/infogan_digits.png")
    args = parser.parse_args(argv)

    overrides = {
        **CODES,
        "model.ngf": 32,
        "model.ndf": 32,
        "train.steps": args.steps,
        "train.eval_every": args.steps,
        "train.seed": args.seed,
        "train.threads": 1,
        "train.device": "cpu",
    }
    cfg = GanConfig.load("configs/digits_dcgan.yaml").with_overrides(overrides)
    start = time.perf_counter()
    trainer = Trainer(cfg)
    last = trainer.fit()
    train_s = time.perf_counter() - start

    z = code_grid(trainer, args.columns)
    G, D = trainer.generator, trainer.modules.D
    G.eval(), D.eval()
    with torch.no_grad():
        fake = G(z)
        q_ce = F.cross_entropy(D.q(fake)[:, :10], torch.arange(10).repeat_interleave(args.columns))
        data = trainer.dataset
        net = load_or_train_classifier(data.x, _class_indices(data.labels), seed=0).eval()
        predicted = net(fake).argmax(1).view(10, args.columns)
    counts = np.stack([np.bincount(row.numpy(), minlength=10) for row in predicted])
    result = {
        "steps": args.steps,
        "seed": args.seed,
        "train_s": round(train_s, 1),
        "purity": float(counts.max(1).sum() / counts.sum()),
        "mi_code_class_nats": mutual_information(counts),
        "q_mi_lower_bound_nats": math.log(10) - float(q_ce),
        "classes_reached": int(len(set(counts.argmax(1).tolist()))),
        "class_of_each_code": counts.argmax(1).tolist(),
        "metric/frechet": last["metric/frechet"],
        "metric/class_coverage": last["metric/class_coverage"],
    }
    save_image_rows(
        fake.view(10, args.columns, *fake.shape[1:])[:, :12].flatten(0, 1), args.picture, ncols=12
    )
    print(json.dumps(result, indent=1))
    print(
        "code x predicted class counts:\n"
        + "\n".join(" ".join(f"{c:3d}" for c in row) for row in counts)
    )


if __name__ == "__main__":
    main()

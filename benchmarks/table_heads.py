"""Gumbel-softmax vs softmax for G's categorical blocks, on palmerpenguins (mixed, with
missing values): the same config and seeds, interleaved, scored by SDMetrics on the
held-out rows at the end (docs/tables.md, "Which head").

    PYTHONPATH=$PWD .venv/bin/python benchmarks/table_heads.py [--steps 2000] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

from gan_core.config import GanConfig
from gan_core.trainer import Trainer


def penguins_csv(folder: Path) -> str:
    import palmerpenguins

    path = folder / "penguins.csv"
    palmerpenguins.load_penguins().to_csv(path, index=False)
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    print(f"load before: {os.getloadavg()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        source = penguins_csv(Path(tmp))
        for seed in args.seeds:
            for head in ("gumbel", "softmax"):  # interleaved: the machine's load hits both
                cfg = GanConfig.load("configs/breast_cancer_mlp.yaml").with_overrides(
                    {
                        "data.source": source,
                        "data.missing": "category",
                        "model.categorical_head": head,
                        "train.steps": args.steps,
                        "train.eval_every": args.steps,
                        "train.eval_samples": 1000,
                        "train.seed": seed,
                        "train.threads": 1,
                    }
                )
                start = time.perf_counter()
                trainer = Trainer(cfg)
                trainer.fit()
                wall = time.perf_counter() - start
                report = trainer.held_out_report()
                rows.append((head, seed, wall, report))
                print(
                    f"{head:8s} seed {seed}  {wall:6.1f} s  quality "
                    f"{report['sdmetrics/quality']:.3f}  shapes "
                    f"{report['sdmetrics/column_shapes']:.3f}  pairs "
                    f"{report['sdmetrics/column_pair_trends']:.3f}  closer-to-train "
                    f"{report['privacy/closer_to_train']:.2f}",
                    flush=True,
                )
    for head in ("gumbel", "softmax"):
        q = [r["sdmetrics/quality"] for h, _, _, r in rows if h == head]
        print(f"{head:8s} mean quality {sum(q) / len(q):.3f} over seeds {args.seeds}")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

"""benchmarks/pacgan_table.py: one record per seed at PacGAN's 2500 samples, and a rerun
that trains only what is missing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = """\
data: {source: ring8, n_points: 2000}
model: {latent_dim: 2, ngf: 16, ndf: 16, g_depth: 1, d_depth: 1, output_activation: linear}
optim: {batch_size: 32}
"""


def table(tmp_path, seeds):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    cmd = [
        sys.executable,
        "benchmarks/pacgan_table.py",
        "--config",
        str(config),
        "--seeds",
        str(seeds),
        "--steps",
        "20",
        "--workers",
        "1",
        "--out",
        str(tmp_path / "out"),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout


@pytest.mark.slow  # four torch start-ups (two runs, each with a worker process)
def test_records_each_seed_and_resumes_with_only_the_missing_ones(tmp_path):
    first = table(tmp_path, 1)
    assert "0 recorded, 1 to train" in first and "PacGAN paper: PacGAN4 | 10 | 7.8" in first
    record = json.loads((tmp_path / "out" / "seed_1000.json").read_text())
    assert record["steps"] == 20 and 0 <= record["metric/modes"] <= 8
    again = table(tmp_path, 2)
    assert "1 recorded, 1 to train" in again and "| 2 |" in again.splitlines()[-1]

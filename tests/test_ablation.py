"""benchmarks/ablation.py: one arm per key the winner changed, each set back to the base's
value, trained on the same seeds through the PacGAN table's runner."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gan_core.config import GanConfig

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from ablation import arm_overrides  # noqa: E402

BASE = """\
data: {source: ring8, n_points: 2000}
model: {latent_dim: 2, ngf: 16, ndf: 16, g_depth: 1, d_depth: 1, output_activation: linear}
optim: {batch_size: 32}
"""
WINNER_SETS = {"loss.r1_weight": 2.0, "tricks.instance_noise": 0.1, "train.steps": 30}


def configs(tmp_path):
    (tmp_path / "base.yaml").write_text(BASE)
    base = GanConfig.load(tmp_path / "base.yaml")
    winner = base.with_overrides(WINNER_SETS)
    winner.save(tmp_path / "winner.yaml")
    return winner, base


def test_arms_revert_each_changed_key_but_not_the_run_length(tmp_path):
    winner, base = configs(tmp_path)
    arms = arm_overrides(winner, base, [])
    assert arms == {
        "none": {},
        "loss.r1_weight": {"loss.r1_weight": 0.0},
        "tricks.instance_noise": {"tricks.instance_noise": 0.0},
    }
    assert list(arm_overrides(winner, base, ["loss.r1_weight"])) == ["none", "loss.r1_weight"]
    with pytest.raises(SystemExit, match="no config key loss.r1weight"):
        arm_overrides(winner, base, ["loss.r1weight"])  # a typo is named, not a KeyError


@pytest.mark.slow  # two torch start-ups and three tiny trainings
def test_trains_every_arm_on_the_same_seed_and_resumes(tmp_path):
    configs(tmp_path)
    cmd = [sys.executable, "benchmarks/ablation.py", "--config", str(tmp_path / "winner.yaml")]
    cmd += ["--base", str(tmp_path / "base.yaml"), "--seeds", "1", "--steps", "20"]
    cmd += ["--workers", "1", "--out", str(tmp_path / "out")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True)

    first = run().stdout
    assert "3 arms x 1 seeds, 3 runs to train" in first
    assert sorted(p.parent.name for p in (tmp_path / "out").glob("*/seed_1000.json")) == [
        "loss.r1_weight",
        "none",
        "tricks.instance_noise",
    ]
    lines = first.splitlines()
    assert any(line.startswith("| loss.r1_weight | 0.0 | 1 |") for line in lines)
    assert "0 runs to train" in run().stdout

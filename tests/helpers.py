"""Small configs shared by the tests: fast enough for seconds-long runs on 2 cores."""

from gan_core.config import GanConfig


def tiny_points_config(**overrides) -> GanConfig:
    base = {
        "data.source": "ring8",
        "data.n_points": 2000,
        "model.latent_dim": 2,
        "model.ngf": 32,
        "model.ndf": 32,
        "model.g_depth": 2,
        "model.d_depth": 2,
        "model.output_activation": "linear",
        "optim.batch_size": 64,
        "train.steps": 40,
        "train.eval_every": 20,
        "train.eval_samples": 200,
        "train.device": "cpu",
    }
    return GanConfig().with_overrides({**base, **overrides})


def tiny_digits_config(**overrides) -> GanConfig:
    base = {
        "data.source": "digits",
        "model.latent_dim": 16,
        "model.ngf": 8,
        "model.ndf": 8,
        "optim.batch_size": 32,
        "train.steps": 20,
        "train.eval_every": 10,
        "train.eval_samples": 100,
        "train.device": "cpu",
    }
    return GanConfig().with_overrides({**base, **overrides})


def skip_unless_postgres_starts(tool) -> None:
    """Skip, with the reason, where deploy/cluster.py cannot start PostgreSQL."""
    import os
    import shutil

    import pytest

    try:
        tool.pg_tool("initdb")
    except tool.ClusterError as err:
        pytest.skip(f"PostgreSQL cannot start here: {err}")
    if shutil.which("runuser") is None and os.geteuid() == 0:
        pytest.skip("running as root without runuser: PostgreSQL cannot be started")

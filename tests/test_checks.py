"""Pre-flight checks (gan_core.checks): refuse configs that cannot learn, warn about risky ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gan_core.checks import PreflightError, preflight
from gan_core.config import GanConfig
from gan_core.data import Dataset, load_dataset

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def config(**overrides) -> GanConfig:
    return GanConfig().with_overrides(overrides)


def problems(cfg: GanConfig, dataset: Dataset | None = None) -> list[str]:
    with pytest.raises(PreflightError) as err:
        preflight(cfg, dataset)
    return err.value.problems


@pytest.fixture
def uint8_images(tmp_path) -> str:
    images = np.random.default_rng(0).integers(0, 256, size=(64, 16, 16), dtype=np.uint8)
    np.save(tmp_path / "faces.npy", images)
    return str(tmp_path / "faces.npy")


def test_unscaled_uint8_images_into_tanh_are_refused(uint8_images):
    cfg = config(**{"data.source": uint8_images, "data.scaling": "none"})
    [problem] = problems(cfg)
    assert "data.scaling: auto" in problem and "model.output_activation: linear" in problem
    assert "[0, 255]" in problem and "uint8" in problem


def test_the_same_images_pass_once_scaled_or_with_a_linear_output(uint8_images):
    assert preflight(config(**{"data.source": uint8_images})) == []
    linear = {"data.scaling": "none", "model.output_activation": "linear"}
    assert preflight(config(**{"data.source": uint8_images, **linear})) == []


def test_standardized_table_into_tanh_is_refused_with_the_share_clipped():
    cfg = config(**{"data.source": "breast_cancer", "data.scaling": "standard"})
    [problem] = problems(cfg)
    assert "data.scaling: minmax" in problem and "output_activation: linear" in problem
    share = float(problem.split("produce the ")[1].split("%")[0])
    assert 1 < share < 50  # some, not most, standardized values lie beyond ±1


def test_standardized_table_passes_with_a_linear_output():
    overrides = {"data.source": "breast_cancer", "data.scaling": "standard"}
    assert preflight(config(**overrides, **{"model.output_activation": "linear"})) == []


def test_odd_kernel_size_is_refused_for_the_dcgan():
    [problem] = problems(config(**{"data.source": "digits", "model.kernel_size": 3}))
    assert "model.kernel_size: 3" in problem and "checkerboard" in problem
    assert "model.kernel_size: 4" in problem


def test_kernel_size_does_not_matter_to_an_mlp():
    cfg = config(**{"data.source": "breast_cancer", "model.kernel_size": 3})
    assert preflight(cfg) == []


def test_every_problem_is_reported_at_once(uint8_images):
    cfg = config(**{"data.source": uint8_images, "data.scaling": "none", "model.kernel_size": 5})
    found = problems(cfg)
    assert len(found) == 2
    assert any("kernel_size" in p for p in found) and any("data.scaling" in p for p in found)


def test_points_beyond_tanh_range_are_refused():
    [problem] = problems(config(**{"data.source": "grid25", "data.n_points": 1000}))
    assert "model.output_activation: linear" in problem


def test_tiny_excess_over_one_is_tolerated():
    x = torch.tensor([[-1.0, 0.0], [0.5, 1.0005]])
    small_batch = config(**{"optim.batch_size": 2})
    assert preflight(small_batch, Dataset("t", "table", x)) == []
    assert problems(small_batch, Dataset("t", "table", x * 1.01))


def test_nan_in_a_dataset_is_refused_naming_the_column():
    x = torch.tensor([[0.0, float("nan")], [0.5, 0.2]])
    [problem] = problems(config(), Dataset("t", "table", x, columns=["pt", "eta"]))
    assert "1 NaN/inf" in problem and "eta (1)" in problem


def test_dcgan_on_a_table_is_refused():
    [problem] = problems(config(**{"data.source": "breast_cancer", "model.arch": "dcgan"}))
    assert "model.arch: mlp" in problem


def test_mlp_on_images_is_allowed():
    assert preflight(config(**{"data.source": "digits", "model.arch": "mlp"})) == []


@pytest.mark.parametrize(
    ("shape", "fix"),
    [((1, 8, 12), "square"), ((1, 6, 6), "data.image_size: 8"), ((1, 9, 9), "data.image_size: 10")],
)
def test_image_shapes_the_dcgan_cannot_take_are_refused(shape, fix):
    dataset = Dataset("small", "image", torch.zeros(4, *shape))
    [problem] = problems(config(), dataset)
    assert fix in problem and "data.image_size" in problem


def test_missing_data_is_a_problem_next_to_the_others():
    found = problems(
        config(**{"data.source": "digitz", "model.kernel_size": 3, "model.arch": "dcgan"})
    )
    assert any("did you mean the built-in data set 'digits'" in p for p in found)
    assert any("kernel_size" in p for p in found)


def test_batch_norm_in_d_with_a_gradient_penalty_is_a_warning():
    cfg = config(**{"data.source": "digits", "loss.type": "wgan_gp", "model.d_batchnorm": True})
    [warning] = preflight(cfg)
    assert "model.d_batchnorm" in warning and "wgan_gp" in warning
    r1 = config(**{"data.source": "digits", "loss.r1_weight": 1.0, "model.d_batchnorm": True})
    assert "loss.r1_weight" in preflight(r1)[0]


def test_batch_larger_than_the_data_is_a_warning():
    cfg = config(**{"data.source": "digits", "data.max_rows": 50, "optim.batch_size": 64})
    [warning] = preflight(cfg)
    assert "optim.batch_size: 64" in warning and "50 samples" in warning


def test_a_given_dataset_is_used_instead_of_loading(uint8_images):
    dataset = load_dataset(config(**{"data.source": uint8_images}).data)
    cfg = config(**{"data.source": "does-not-exist.npy"})
    assert preflight(cfg, dataset) == []


SHIPPED = sorted(CONFIGS.glob("*.yaml"))


def test_the_ready_made_configs_are_all_there():
    names = {p.stem for p in SHIPPED}
    expected = {"grid25_mlp", "ring8_mlp", "digits_dcgan", "mnist_dcgan", "breast_cancer_mlp"}
    assert expected <= names


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_each_shipped_config_passes_preflight(path):
    assert preflight(GanConfig.load(path)) == []

"""Pre-flight checks: refuse a config that cannot learn before any compute is spent.

They reason from the config and the data only (no model is built), and report every
problem at once, each with why training cannot learn and which key to change.
"""

from __future__ import annotations

from gan_core.config import GanConfig
from gan_core.data import DataError, Dataset, load_dataset
from gan_core.data.builtin import BUILTIN_FAMILIES

TANH_TOLERANCE = 1e-3  # float noise past ±1 is harmless; anything larger G cannot produce
DCGAN_STRIDE = 2
DCGAN_MIN_SIZE = 8


class PreflightError(ValueError):
    """Every problem pre-flight found; `.problems` lists them, `.warnings` the rest."""

    def __init__(self, problems: list[str], warnings: list[str] | None = None) -> None:
        self.problems = list(problems)
        self.warnings = list(warnings or [])
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"pre-flight: training cannot learn with this config ({len(self.problems)} "
            f"problem{'s' * (len(self.problems) > 1)}):\n{lines}"
        )


def preflight(cfg: GanConfig, dataset: Dataset | None = None) -> list[str]:
    """Warnings for a config that can train; PreflightError listing all problems otherwise.

    Without `dataset` the data is loaded from cfg.data (a load error is one of the problems).
    """
    problems: list[str] = []
    if dataset is None:
        try:
            dataset = load_dataset(cfg.data, seed=cfg.train.seed)
        except DataError as err:
            problems.append(str(err))
    family = dataset.family if dataset is not None else BUILTIN_FAMILIES.get(cfg.data.source)
    arch = resolve_arch(cfg.model.arch, family)
    problems += kernel_problems(cfg, arch)
    if dataset is not None:
        finite = finite_problems(dataset)
        problems += finite
        problems += shape_problems(cfg, arch, dataset)
        if not finite:  # min/max of data with NaN say nothing
            problems += range_problems(cfg, dataset)
    warnings = preflight_warnings(cfg, dataset)
    if problems:
        raise PreflightError(problems, warnings)
    return warnings


def resolve_arch(arch: str, family: str | None) -> str | None:
    """What model.arch means for this data (as the models do); None when the data is unknown."""
    if arch != "auto":
        return arch
    if family is None:
        return None
    return "dcgan" if family == "image" else "mlp"


def kernel_problems(cfg: GanConfig, arch: str | None) -> list[str]:
    k = cfg.model.kernel_size
    if arch != "dcgan" or k % DCGAN_STRIDE == 0:
        return []
    return [
        f"model.kernel_size: {k} is not divisible by the DCGAN's stride {DCGAN_STRIDE}: the "
        "transposed convolutions overlap unevenly and paint checkerboard artifacts on every "
        f"sample (docs/field-notes.md#note-001); set model.kernel_size: {k + 1}"
    ]


def finite_problems(dataset: Dataset) -> list[str]:
    bad = ~dataset.x.isfinite()
    count = int(bad.sum())
    if count == 0:
        return []
    if dataset.family == "image":
        place = f"in {int(bad.flatten(1).any(dim=1).sum())} images"
    else:
        per_column = bad.sum(dim=0).tolist()
        names = dataset.columns or [f"column {i}" for i in range(len(per_column))]
        place = "in " + ", ".join(f"{n} ({c})" for n, c in zip(names, per_column, strict=True) if c)
    return [
        f"data {dataset.name} holds {count} NaN/inf values {place}: one of them in a batch makes "
        "every loss and weight NaN; drop or fill them (or leave those columns out with data.columns)"
    ]


def shape_problems(cfg: GanConfig, arch: str | None, dataset: Dataset) -> list[str]:
    shape = dataset.sample_shape
    if arch == "dcgan" and dataset.family != "image":
        return [
            f"model.arch: dcgan needs images (C, H, W), but data {dataset.name} is "
            f"{dataset.family} data with samples of shape {shape}; set model.arch: mlp (or auto)"
        ]
    if arch != "dcgan":
        return []  # the MLP takes any shape (images flattened)
    _, height, width = shape
    fix = f"set data.image_size: {_dcgan_size_near(max(height, width))}"
    if height != width:
        return [f"the DCGAN needs square images, data {dataset.name} has {height}x{width}; {fix}"]
    if height < DCGAN_MIN_SIZE or height % 2:
        return [
            f"data {dataset.name} has {height}x{width} images; the DCGAN halves the size with "
            f"stride-2 convolutions at least once, so it needs an even size of at least "
            f"{DCGAN_MIN_SIZE}; {fix}"
        ]
    return []


def _dcgan_size_near(size: int) -> int:
    return max(DCGAN_MIN_SIZE, size + size % 2)


def range_problems(cfg: GanConfig, dataset: Dataset) -> list[str]:
    """Data beyond ±1 under a tanh output: G can never produce it, and D learns that first."""
    x = numeric_part(dataset)
    if cfg.model.output_activation != "tanh" or x.numel() == 0:
        return []
    low, high = float(x.min()), float(x.max())
    if low >= -1 - TANH_TOLERANCE and high <= 1 + TANH_TOLERANCE:
        return []
    share = 100 * float((x.abs() > 1).float().mean())
    head = (
        f"data {dataset.name} spans [{low:.4g}, {high:.4g}] under data.scaling: "
        f"{cfg.data.scaling} (raw {dataset.raw_dtype} values in [{dataset.raw_min:.4g}, "
        f"{dataset.raw_max:.4g}]), but model.output_activation: tanh only produces values in "
        f"(-1, 1): the generator can't produce the {share:.1f}% of values beyond ±1"
    )
    return [head + _RANGE_ADVICE[dataset.family]]


def numeric_part(dataset: Dataset):
    """The columns tanh/linear acts on: all of x, or a mixed table's numeric columns (its
    one-hot blocks go through a softmax head instead)."""
    part = getattr(dataset, "table", None)
    return dataset.x if part is None else dataset.x[:, : len(part.codec.numeric)]


_RANGE_ADVICE = {
    "image": (
        ", so D tells real from fake by their range alone and G never catches up "
        "(docs/field-notes.md#note-000: the data had lost its [-1, 1] scaling); set "
        "data.scaling: auto (maps the images to [-1, 1]), or model.output_activation: linear"
    ),
    "table": (
        ", so generated features pile up at ±1, which looks like mode collapse but is a "
        "scaling/activation mismatch (docs/field-notes.md#note-003); use data.scaling: minmax (or auto), "
        "or model.output_activation: linear"
    ),
    "points": (
        "; set model.output_activation: linear (data.scaling: auto keeps the 2-D mixtures in "
        "their own units), or data.scaling: minmax"
    ),
}


def preflight_warnings(cfg: GanConfig, dataset: Dataset | None) -> list[str]:
    # what data.missing did to a table's rows and values: said, never silent
    warnings = list(getattr(dataset, "table", None) and dataset.table.notes or [])
    penalties = [
        name
        for name, on in (
            ("loss.type: wgan_gp", cfg.loss.type == "wgan_gp"),
            (f"loss.r1_weight: {cfg.loss.r1_weight:g}", cfg.loss.r1_weight > 0),
        )
        if on
    ]
    if cfg.model.d_batchnorm and penalties:
        warnings.append(
            f"model.d_batchnorm with {' and '.join(penalties)}: the gradient penalty assumes each "
            "sample's score depends on that sample alone, and batch norm mixes the batch; set "
            "model.d_batchnorm: false (model.spectral_norm: true normalises D without mixing)"
        )
    if dataset is not None and cfg.optim.batch_size > len(dataset):
        warnings.append(
            f"optim.batch_size: {cfg.optim.batch_size} is larger than data {dataset.name} "
            f"({len(dataset)} samples): no batch can hold that many distinct samples; lower "
            "optim.batch_size"
        )
    return warnings

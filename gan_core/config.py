"""The one config type: what a space samples, a trial trains, MLflow shows as
params, export writes and production training reads.

Groups follow PyTorch-StudioGAN (data, model, loss, optim, tricks, train) plus
`monitor` for the failure-mode thresholds. Every key is declared once, with its
help text, its allowed values and bounds (CleanRL's habit), and every key is
addressable by a dotted name (`optim.lr_d`) from YAML, the command line, code
and a search space alike.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A config that cannot be used, with a message that says what to change."""


def load_yaml(path: Path, error: type[ValueError] = ConfigError) -> Any:
    """A YAML file's content; a syntax error names the file, its line and the parser's caret."""
    import yaml  # noqa: PLC0415 -- where used: models and steps need nothing but torch

    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        marks = [getattr(err, m, None) for m in ("context_mark", "problem_mark")]
        marks = [m for m in marks if m is not None]
        for mark in marks:  # the parser read a string: it would say "<unicode string>"
            mark.name = str(path)
        at = f"{path}:{marks[-1].line + 1}:{marks[-1].column + 1}" if marks else str(path)
        raise error(f"{at}: not valid YAML:\n{err}") from None


def opt(default: Any, help: str, choices: tuple | None = None, low=None, high=None):
    """Declare one config key: its default, help text, allowed values and bounds."""
    meta = {"help": help, "choices": choices, "low": low, "high": high}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    source: str = opt(
        "digits",
        "built-in name (ring8, grid25, digits, mnist, breast_cancer) or a path: "
        ".npy/.npz array, folder of PNG/JPEG images, .csv or .parquet table",
    )
    scaling: str = opt(
        "auto",
        "auto: images from their dtype/range to [-1, 1], tables min-max to [-1, 1]; "
        "minmax, standard (zero mean, unit variance), none (use values as they are)",
        choices=("auto", "minmax", "standard", "none"),
    )
    image_size: int = opt(0, "resize images to this square size; 0 keeps the native size", low=0)
    channels: int = opt(
        0, "force 1 (gray) or 3 (RGB) channels for images; 0 keeps native", low=0, high=3
    )
    columns: list = opt([], "table columns to model; empty: every column")
    categorical: list = opt(
        [],
        "table columns to model as categories (one-hot, decoded back to their values); empty: "
        "text, boolean and whole-number columns with at most 10 values (docs/tables.md)",
    )
    missing: str = opt(
        "error",
        "missing table values: error (refuse, naming them), drop (leave out those rows), "
        "category (a missing category is its own value; a missing number gets an indicator)",
        choices=("error", "drop", "category"),
    )
    holdout: float = opt(
        0.2,
        "share of a table's rows held out (fixed seed), never trained on, for the SDMetrics "
        "score and the copy check at the end of a run (points and images: unused)",
        low=0.0,
        high=0.9,
    )
    n_points: int = opt(100_000, "size of the sampled data set for the 2-D mixtures", low=100)
    max_rows: int = opt(0, "use at most this many rows/images of a file (0 = all)", low=0)


@dataclass
class ModelConfig:
    arch: str = opt(
        "auto", "auto picks dcgan for images, mlp otherwise", choices=("auto", "dcgan", "mlp")
    )
    latent_dim: int = opt(64, "size of the generator's input noise z", low=1)
    latent_dist: str = opt(
        "normal", "distribution of z (DCGAN: normal)", choices=("normal", "uniform")
    )
    ngf: int = opt(
        64, "generator width: filters of its last conv block (dcgan) or hidden units (mlp)", low=1
    )
    ndf: int = opt(
        64,
        "discriminator width: filters of its first conv block (dcgan) or hidden units (mlp)",
        low=1,
    )
    g_depth: int = opt(3, "mlp: hidden layers of G (dcgan: set by the image size)", low=1)
    d_depth: int = opt(3, "mlp: hidden layers of D (dcgan: set by the image size)", low=1)
    g_batchnorm: bool = opt(True, "batch norm in G's hidden layers")
    d_batchnorm: bool = opt(False, "batch norm in D's hidden layers (avoid with wgan_gp and r1)")
    leaky_slope: float = opt(0.2, "negative slope of D's LeakyReLU", low=0.0, high=1.0)
    g_dropout: float = opt(0.0, "dropout after each hidden activation of G", low=0.0, high=0.9)
    d_dropout: float = opt(
        0.0, "dropout after each hidden activation of D (field notes: 0.3-0.6)", low=0.0, high=0.9
    )
    spectral_norm: bool = opt(False, "spectral normalization on every layer of D")
    output_activation: str = opt(
        "tanh",
        "G's output: tanh (data in [-1, 1]) or linear (any range)",
        choices=("tanh", "linear"),
    )
    categorical_head: str = opt(
        "softmax",
        "tables: G's output for each categorical column: softmax (measured better, "
        "docs/tables.md) or gumbel (Gumbel-softmax, tau 0.2, as CTGAN)",
        choices=("softmax", "gumbel"),
    )
    kernel_size: int = opt(
        4, "dcgan kernel size; must be divisible by the stride (2) to avoid checkerboards", low=2
    )
    pack: int = opt(
        1,
        "PacGAN: D judges this many samples concatenated (images: along channels) and gives "
        "one logit per pack; 1 = off; optim.batch_size must be divisible by it",
        low=1,
        high=16,
    )
    minibatch_std: int = opt(
        0,
        "ProGAN: D's features get the mean std across groups of this many samples as one "
        "more feature; 0 = off",
        low=0,
        high=64,
    )
    d_activation: str = opt(
        "leaky_relu",
        "D's hidden activation: leaky_relu, or maxout (the max of model.maxout_pieces linear "
        "pieces per unit, PacGAN's D)",
        choices=("leaky_relu", "maxout"),
    )
    maxout_pieces: int = opt(5, "linear pieces per maxout unit (PacGAN: 5)", low=2, high=16)
    info_categorical: int = opt(
        0, "InfoGAN: categories of one categorical latent code fed to G (0 = none)", low=0
    )
    info_continuous: int = opt(
        0, "InfoGAN: continuous latent codes, uniform in [-1, 1], fed to G (0 = none)", low=0
    )


@dataclass
class LossConfig:
    type: str = opt(
        "bce",
        "bce (non-saturating), hinge, lsgan (least squares), wgan_gp (Wasserstein + gradient "
        "penalty), rpgan (relativistic pairing: D scores real minus fake, R3GAN)",
        choices=("bce", "hinge", "lsgan", "wgan_gp", "rpgan"),
    )
    gp_weight: float = opt(10.0, "gradient-penalty weight of wgan_gp", low=0.0)
    r1_weight: float = opt(0.0, "R1 penalty weight on D's gradient at real data (0 = off)", low=0.0)
    r2_weight: float = opt(0.0, "R2 penalty weight on D's gradient at fakes (0 = off)", low=0.0)
    info_weight: float = opt(
        1.0, "InfoGAN: weight of the mutual-information term in G's and Q's loss", low=0.0
    )
    feature_matching: float = opt(
        0.0, "weight of the feature-matching term in G's loss (0 = off)", low=0.0
    )


@dataclass
class OptimConfig:
    lr_g: float = opt(2e-4, "Adam learning rate of G", low=0.0, high=1.0)
    lr_d: float = opt(2e-4, "Adam learning rate of D", low=0.0, high=1.0)
    beta1_g: float = opt(0.5, "Adam beta1 of G", low=0.0, high=1.0)
    beta2_g: float = opt(0.999, "Adam beta2 of G", low=0.0, high=1.0)
    beta1_d: float = opt(0.5, "Adam beta1 of D", low=0.0, high=1.0)
    beta2_d: float = opt(0.999, "Adam beta2 of D", low=0.0, high=1.0)
    batch_size: int = opt(64, "samples per batch, real and fake each", low=1)
    d_steps_per_g: int = opt(1, "D updates per training step", low=1)
    g_steps_per_d: int = opt(1, "G updates per training step", low=1)


@dataclass
class TricksConfig:
    label_smoothing: float = opt(
        0.0, "one-sided: D's target for real is 1 - this (bce, lsgan)", low=0.0, high=0.5
    )
    label_flip: float = opt(
        0.0,
        "probability of swapping a sample's real/fake target for D (bce, lsgan)",
        low=0.0,
        high=0.5,
    )
    instance_noise: float = opt(
        0.0, "std of Gaussian noise added to every D input at step 0", low=0.0
    )
    instance_noise_anneal: int = opt(
        0, "steps over which instance noise decays linearly to 0 (0 = constant)", low=0
    )
    separate_batches: bool = opt(
        True, "D sees real and fake in separate batches (False: one mixed batch)"
    )
    fresh_noise_g: bool = opt(True, "draw new z for the G step instead of reusing the D step's z")
    ema_decay: float = opt(
        0.0, "EMA of G's weights for evaluation and export (0 = off, e.g. 0.999)", low=0.0, high=1.0
    )
    diffaugment: list = opt(
        [],
        "DiffAugment for images: policies applied to real and fake before D, any of "
        "color, translation, cutout (e.g. translation,cutout,color); empty = off",
    )


@dataclass
class MonitorConfig:
    """Failure-mode thresholds, calibrated on 43 labelled runs (docs/health.md)."""

    patience: int = opt(
        2, "eval points a failure mode must persist before health reports it", low=1
    )
    d_dominates_g_score: float = opt(
        0.1, "d_dominates when G score is below this ...", low=0.0, high=1.0
    )
    d_dominates_d_score: float = opt(0.9, "... and D score above this", low=0.0, high=1.0)
    g_dominates_g_score: float = opt(
        0.9, "g_dominates when G score is above this", low=0.0, high=1.0
    )
    collapse_diversity: float = opt(
        0.5,
        "mode_collapse when generated diversity / real diversity falls below this (calibrated: "
        "ring8 runs that ended on 1-3 of 8 modes read 0.02-0.47 at step 1000)",
        low=0.0,
        high=1.0,
    )
    stall_band: float = opt(
        0.02,
        "stall when both scores are within this of 0.5 ... (calibrated: a slow ring8 run that "
        "ended in the best quarter read 0.47 / 0.52 with 0 modes at steps 500-750)",
        low=0.0,
        high=0.5,
    )
    stall_coverage: float = opt(
        0.05,
        "... and coverage of the real data is below this (0 turns the stall rule off)",
        low=0.0,
        high=1.0,
    )


@dataclass
class TrainConfig:
    steps: int = opt(
        5000, "training steps (one step = d_steps_per_g D updates + g_steps_per_d G updates)", low=1
    )
    eval_every: int = opt(
        250, "steps between eval points (scores, metrics, health, callback)", low=1
    )
    checkpoint_every: int = opt(
        1000, "steps between checkpoints in production training (0 = end only)", low=0
    )
    eval_samples: int = opt(2000, "generated samples per evaluation", low=10)
    seed: int = opt(0, "seed of weights, noise and batches")
    device: str = opt("auto", "auto (cuda if available), cpu, cuda, cuda:N")
    amp: bool = opt(False, "bfloat16 autocast on CUDA")
    threads: int = opt(0, "torch CPU threads (0 = torch's default)", low=0)


@dataclass
class GanConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    tricks: TricksConfig = field(default_factory=TricksConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # --- conversions -------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def flat(self) -> dict[str, Any]:
        """Dotted keys -> values: the MLflow params and a space's coordinates."""
        return {f"{g}.{k}": v for g, group in self.to_dict().items() for k, v in group.items()}

    @classmethod
    def from_dict(cls, raw: dict | None, source: str = "config") -> GanConfig:
        cfg = cls()
        raw = raw or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: expected a mapping of groups, got {type(raw).__name__}")
        for group, values in raw.items():
            if values is None:
                continue
            if not isinstance(values, dict):
                raise ConfigError(f"{source}: group {group!r} must be a mapping of keys")
            for key, value in values.items():
                cfg.set(f"{group}.{key}", value, source=source)
        cfg.validate(source)
        return cfg

    def to_yaml(self) -> str:
        import yaml  # noqa: PLC0415 -- see load_yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_yaml())

    @classmethod
    def load(cls, path: str | Path) -> GanConfig:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        return cls.from_dict(load_yaml(path), source=str(path))

    # --- dotted access -----------------------------------------------------
    def get(self, dotted: str) -> Any:
        group, key = _split_key(dotted, "config")
        return getattr(getattr(self, group), key)

    def set(self, dotted: str, value: Any, source: str = "override") -> None:
        group, key = _split_key(dotted, source)
        f = key_field(dotted, source)
        setattr(getattr(self, group), key, coerce(value, f, f"{source}: {dotted}"))

    def with_overrides(self, overrides: dict[str, Any] | list[str], source="override") -> GanConfig:
        """A copy with dotted overrides applied, from a dict or `key=value` strings."""
        cfg = GanConfig.from_dict(self.to_dict())
        items = parse_overrides(overrides) if isinstance(overrides, list) else overrides
        for dotted, value in items.items():
            cfg.set(dotted, value, source=source)
        cfg.validate(source)
        return cfg

    # --- cross-key rules ---------------------------------------------------
    def validate(self, source: str = "config") -> None:
        for dotted, value in self.flat().items():
            _check_bounds(dotted, value, key_field(dotted, source), source)
        if self.optim.d_steps_per_g > 1 and self.optim.g_steps_per_d > 1:
            raise ConfigError(
                f"{source}: optim.d_steps_per_g={self.optim.d_steps_per_g} and "
                f"optim.g_steps_per_d={self.optim.g_steps_per_d}: set at most one of them above 1"
            )
        self._validate_d_batch(source)
        uses_targets = self.loss.type in ("bce", "lsgan")
        for key in ("label_smoothing", "label_flip"):
            if getattr(self.tricks, key) > 0 and not uses_targets:
                raise ConfigError(
                    f"{source}: tricks.{key} needs loss.type bce or lsgan (targets), "
                    f"but loss.type is {self.loss.type!r}; set tricks.{key}: 0 or change the loss"
                )

    def _validate_d_batch(self, source: str) -> None:
        """D's batch tricks need batches that split evenly into packs and groups."""
        m, n = self.model, self.optim.batch_size
        if n % m.pack:
            raise ConfigError(
                f"{source}: optim.batch_size={n} is not divisible by model.pack={m.pack}: D "
                f"judges whole packs; set optim.batch_size to a multiple of {m.pack}"
            )
        if m.minibatch_std and (n // m.pack) % m.minibatch_std:
            raise ConfigError(
                f"{source}: model.minibatch_std={m.minibatch_std} must divide the {n // m.pack} "
                f"inputs D sees per batch (optim.batch_size / model.pack); pick a divisor"
            )
        if m.pack > 1 and (m.info_categorical or m.info_continuous):
            raise ConfigError(
                f"{source}: model.pack={m.pack} with InfoGAN codes: Q predicts one sample's "
                "codes, a packed D sees several; set model.pack: 1 or drop model.info_*"
            )
        unknown = sorted(set(self.tricks.diffaugment) - set(DIFFAUGMENT_POLICIES))
        if unknown:
            raise ConfigError(
                f"{source}: tricks.diffaugment has unknown policies {unknown}; "
                f"use any of {list(DIFFAUGMENT_POLICIES)}"
            )


DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")  # the order they are applied in

# --- populations: which keys may differ between members (docs/population.md) --
# A population trains K trials as one batched model (gan_core/population). Its *shape*
# is every key that changes a tensor's shape or the graph: all members share it. The
# member keys change only values inside the graph (a learning rate, a penalty weight, a
# dropout rate), a masked update (the update ratio) or a member's own random stream.
# Every key is in exactly one of the two sets (tests/test_population_config.py).
POPULATION_MEMBER_KEYS = frozenset(
    {
        "model.leaky_slope",
        "model.g_dropout",
        "model.d_dropout",
        "loss.gp_weight",
        "loss.r1_weight",
        "loss.r2_weight",
        "loss.info_weight",
        "loss.feature_matching",
        "optim.lr_g",
        "optim.lr_d",
        "optim.beta1_g",
        "optim.beta2_g",
        "optim.beta1_d",
        "optim.beta2_d",
        "optim.d_steps_per_g",
        "optim.g_steps_per_d",
        "tricks.label_smoothing",
        "tricks.label_flip",
        "tricks.instance_noise",
        "tricks.instance_noise_anneal",
        "tricks.fresh_noise_g",
        "tricks.ema_decay",
        *(f"monitor.{f.name}" for f in dataclasses.fields(MonitorConfig)),
        "train.steps",  # a member that reaches its own last step leaves the batch
        "train.seed",
    }
)
POPULATION_SHAPE_KEYS = frozenset(
    {
        *(f"data.{f.name}" for f in dataclasses.fields(DataConfig)),  # one data set
        "model.arch",
        "model.latent_dim",
        "model.latent_dist",
        "model.ngf",
        "model.ndf",
        "model.g_depth",
        "model.d_depth",
        "model.g_batchnorm",
        "model.d_batchnorm",
        "model.spectral_norm",
        "model.output_activation",
        "model.categorical_head",  # a table's softmax or Gumbel-softmax blocks: one graph
        "model.kernel_size",
        "model.pack",  # D's input width
        "model.minibatch_std",  # one more D feature
        "model.d_activation",
        "model.maxout_pieces",
        "model.info_categorical",  # G's input width and Q's head
        "model.info_continuous",
        "loss.type",
        "optim.batch_size",
        "tricks.separate_batches",  # D(real), D(fake) vs D(cat): two graphs
        "tricks.diffaugment",
        "train.eval_every",  # members at the same step evaluate together
        "train.checkpoint_every",
        "train.eval_samples",
        "train.device",
        "train.amp",
        "train.threads",
    }
)


def population_role(dotted: str) -> str:
    """'member' (may differ per member), 'shape' (shared), or 'unclassified' (a new key)."""
    if dotted in POPULATION_MEMBER_KEYS:
        return "member"
    return "shape" if dotted in POPULATION_SHAPE_KEYS else "unclassified"


def population_shape(cfg: GanConfig) -> dict[str, Any]:
    """The keys every member of a population must share, with this config's values.

    A key not yet classified counts as shape: a population never batches what it was not
    built to batch.
    """
    return {k: v for k, v in cfg.flat().items() if population_role(k) != "member"}


def check_population(cfgs: list[GanConfig], sources: list[str] | None = None) -> None:
    """Raise ConfigError naming the first shape key on which a member differs from member 0."""
    if not cfgs:
        raise ConfigError("a population needs at least one member config")
    sources = sources or [f"member {i}" for i in range(len(cfgs))]
    first = population_shape(cfgs[0])
    for cfg, source in zip(cfgs[1:], sources[1:], strict=True):
        for key, value in population_shape(cfg).items():
            if value != first[key]:
                raise ConfigError(
                    f"{source}: {key}={value!r} differs from {sources[0]}'s {first[key]!r}, "
                    f"but {key} is part of a population's shape (tensor shapes or graph); "
                    f"members may differ only in: {', '.join(sorted(POPULATION_MEMBER_KEYS))}"
                )


# --- helpers (module level so spaces and the CLI share them) -----------------

GROUPS = tuple(f.name for f in dataclasses.fields(GanConfig))


def all_keys() -> dict[str, dataclasses.Field]:
    """Every dotted key of the config with its field (help, choices, bounds)."""
    hints = typing.get_type_hints(GanConfig)
    out = {}
    for group in GROUPS:
        for f in dataclasses.fields(hints[group]):
            out[f"{group}.{f.name}"] = f
    return out


def _split_key(dotted: str, source: str) -> tuple[str, str]:
    key_field(dotted, source)
    group, key = dotted.split(".", 1)
    return group, key


def key_field(dotted: str, source: str = "config") -> dataclasses.Field:
    keys = _KEYS
    if dotted in keys:
        return keys[dotted]
    leaf = dotted.split(".", 1)[-1]
    close = [k for k in keys if k.endswith("." + leaf)]  # right key in the wrong group?
    close = close or difflib.get_close_matches(dotted, list(keys), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else "; run `gansweep keys` for the list"
    raise ConfigError(f"{source}: unknown config key {dotted!r}{hint}")


def _field_type(f: dataclasses.Field) -> type:
    t = f.type
    if isinstance(t, str):  # `from __future__ import annotations`
        t = {"str": str, "int": int, "float": float, "bool": bool, "list": list}[t]
    if isinstance(t, types.GenericAlias):
        t = typing.get_origin(t)
    return t


def coerce(value: Any, f: dataclasses.Field, where: str) -> Any:
    """Bring a value from YAML, a CLI string or a sampler to the key's type."""
    t = _field_type(f)
    if isinstance(value, str) and t is not str:
        import yaml  # noqa: PLC0415 -- see load_yaml

        with contextlib.suppress(yaml.YAMLError):  # not YAML: keep the string, fail below
            value = yaml.safe_load(value)
    try:
        if t is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, (int, float)) and value in (0, 1):
                return bool(value)
            raise TypeError
        if t is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if t is float:
            if isinstance(value, bool):
                raise TypeError
            return float(value)  # YAML reads 2e-4 as a string; float() takes it
        if t is list:
            if value is None or value == "":  # `key=` on the command line: the empty list
                return []
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, (list, tuple)):
                raise TypeError
            return list(value)
        if t is str:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise TypeError
            return str(value)
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise ConfigError(f"{where}: expected {t.__name__}, got {value!r}")


def _check_bounds(dotted: str, value: Any, f: dataclasses.Field, source: str) -> None:
    meta = f.metadata
    if meta.get("choices") and value not in meta["choices"]:
        close = difflib.get_close_matches(str(value), [str(c) for c in meta["choices"]], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"{source}: {dotted}={value!r} is not one of {list(meta['choices'])}{hint}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{source}: {dotted}={value!r} must be a finite number")
    low, high = meta.get("low"), meta.get("high")
    if low is not None and value < low:
        raise ConfigError(f"{source}: {dotted}={value!r} must be >= {low}")
    if high is not None and value > high:
        raise ConfigError(f"{source}: {dotted}={value!r} must be <= {high}")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`['optim.lr_d=2e-4', 'train.steps=500']` -> {'optim.lr_d': '2e-4', ...}."""
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(
                f"override {item!r} must look like group.key=value (e.g. optim.lr_d=2e-4)"
            )
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def describe_keys() -> str:
    """One line per key with its default, population role and help: `gansweep keys`.

    [member]: may differ between the members of a population; [shape]: shared by them.
    """
    default = GanConfig().flat()
    lines = [
        "# [member]: may differ between the members of a population (docs/population.md); "
        "[shape]: shared by them"
    ]
    for dotted, f in all_keys().items():
        choices = (
            f" {{{', '.join(map(str, f.metadata['choices']))}}}" if f.metadata["choices"] else ""
        )
        role = {"member": "[member]", "shape": "[shape] "}.get(population_role(dotted), "[?]     ")
        lines.append(f"{dotted:34s} {default[dotted]!r:>10} {role}{choices}  {f.metadata['help']}")
    return "\n".join(lines)


_KEYS = all_keys()

"""Named search spaces: a base config, distributions over dotted config keys, an objective,
a budget and pruning settings. `load_space` validates a space against the config type before
Ray starts, so a typo costs a second, not a sweep.

A space file (see stabilizers.yaml for a commented one):

    description: one line for `gansweep spaces`
    base: configs/digits_dcgan.yaml   # a config file, or an inline mapping of groups
    set: {train.eval_every: 250}      # dotted keys fixed for every trial (optional)
    objective: {direction: min}       # `metric` defaults to the trainer's "objective"
    budget: {trials: 16, max_steps: 2000, concurrency: 2, cpus_per_trial: 1, gpus_per_trial: 0,
             population: 1}           # population K: K trials per Ray trial, one batched model
    pruning: {milestones: [500, 1000], quantile: 0.5, min_peers: 3, health: true, health_from: 500}
    sampler: {seed: 0, startup_trials: 5}
    params:
      optim.lr_d: {low: 5.0e-5, high: 1.0e-3, log: true}        # type from the key: float
      loss.type: {choices: [bce, lsgan, wgan_gp]}                 # categorical
      loss.gp_weight: {low: 1, high: 20, log: true, when: {loss.type: [wgan_gp]}}
"""

from __future__ import annotations

from pathlib import Path

from search_spaces.model import Budget, Param, Pruning, Space, SpaceError
from search_spaces.parse import parse_space

SPACES_DIR = Path(__file__).resolve().parent

__all__ = [
    "SPACES_DIR",
    "Budget",
    "Param",
    "Pruning",
    "Space",
    "SpaceError",
    "list_spaces",
    "load_space",
    "space_path",
]


def space_path(name_or_path: str | Path) -> Path:
    """The YAML file of a shipped space name (`stabilizers`) or of a path to one."""
    text = str(name_or_path)
    candidate = Path(text).expanduser()
    if text.endswith((".yaml", ".yml")) or candidate.is_file():
        if not candidate.is_file():
            raise SpaceError(f"space file {candidate} does not exist")
        return candidate
    shipped = SPACES_DIR / f"{text}.yaml"
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(list_spaces())) or "none"
    raise SpaceError(
        f"unknown search space {text!r}; shipped spaces: {names} (or pass a path to a .yaml file)"
    )


def load_space(name_or_path: str | Path) -> Space:
    """Load and validate a space; raise SpaceError naming the file, line and key on bad input."""
    return parse_space(space_path(name_or_path))


def list_spaces() -> dict[str, str]:
    """Shipped space name -> its one-line description (`gansweep spaces`)."""
    import yaml

    out = {}
    for path in sorted(SPACES_DIR.glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            raw = {}
        out[path.stem] = str(raw.get("description", "")).strip() if isinstance(raw, dict) else ""
    return out

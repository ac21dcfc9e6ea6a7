"""Read a space file and validate every part against the config type.

Every error names the file, the line and the key (`stabilizers.yaml:31: params.optim.lr_d:
...`) and says what to write instead.
"""

from __future__ import annotations

import contextlib
import difflib
from pathlib import Path
from typing import Any

import yaml

from gan_core.config import ConfigError, GanConfig, load_yaml
from search_spaces.combos import check_combinations
from search_spaces.model import Budget, Pruning, Space, SpaceError
from search_spaces.params import parse_params
from search_spaces.where import Where

TOP_KEYS = ("description", "base", "set", "objective", "budget", "pruning", "sampler", "params")
REQUIRED = ("description", "base", "objective", "params")


def parse_space(path: Path) -> Space:
    raw, where = _read(path)
    _check_known(raw, TOP_KEYS, where, ())
    for key in REQUIRED:
        if key not in raw:
            raise SpaceError(f"{where.at()}: missing required key {key!r}")
    budget = _budget(raw.get("budget") or {}, where)
    base, raw_base = _base(raw, budget, path, where)
    params = parse_params(raw["params"], base, where)
    fixed = set((raw.get("set") or {}).keys())
    for p in params:
        if p.key in fixed:
            raise SpaceError(
                f"{where.at('params', p.key)}: {p.key} is both fixed in `set` and sampled; "
                "remove it from one of them"
            )
    check_combinations(params, base, where)
    metric, direction = _objective(raw["objective"], where)
    pruning = _pruning(raw.get("pruning") or {}, base, where)
    seed, startup = _sampler(raw.get("sampler") or {}, where)
    return Space(
        name=path.stem,
        path=path,
        description=str(raw["description"]).strip(),
        base=base,
        params=params,
        metric=metric,
        direction=direction,
        budget=budget,
        pruning=pruning,
        seed=seed,
        startup_trials=startup,
        raw_base=raw_base,
    )


def _read(path: Path) -> tuple[dict, Where]:
    raw = load_yaml(path, SpaceError)
    node = yaml.compose(path.read_text())  # parsed once above: the line of every key
    if not isinstance(raw, dict):
        raise SpaceError(f"{path}: a space must be a mapping of keys (description, base, ...)")
    return raw, Where.from_node(path, node)


def _check_known(section: dict, known: tuple[str, ...], where: Where, at: tuple) -> None:
    for key in section:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            raise SpaceError(f"{where.at(*at, key)}: unknown key {key!r}{hint}")


def _mapping(value: Any, where: Where, *at: str) -> dict:
    if not isinstance(value, dict):
        raise SpaceError(f"{where.at(*at)}: expected a mapping, got {value!r}")
    return value


# --- base config ------------------------------------------------------------


def _base(raw: dict, budget: Budget, path: Path, where: Where) -> tuple[GanConfig, dict]:
    base = raw["base"]
    if isinstance(base, str):
        base_path = _resolve_base_file(base, path, where)
        base_raw = load_yaml(base_path, SpaceError) or {}
        source = str(base_path)
    else:
        base_raw = _mapping(base, where, "base")
        source = where.at("base")
    try:
        cfg = GanConfig.from_dict(base_raw, source=source)
    except ConfigError as err:
        raise SpaceError(str(err)) from err
    fixed = _mapping(raw.get("set") or {}, where, "set")
    if "train.steps" in fixed:
        raise SpaceError(
            f"{where.at('set', 'train.steps')}: the trials' length is budget.max_steps; "
            "set that instead"
        )
    overrides = {**fixed, "train.steps": budget.max_steps}
    for key, value in overrides.items():
        try:
            cfg = cfg.with_overrides({key: value}, source=where.at("set", key))
        except ConfigError as err:
            raise SpaceError(str(err)) from err
    return cfg, base_raw


def _resolve_base_file(name: str, space_file: Path, where: Where) -> Path:
    """A base file relative to the space file, the repo root, or the working directory."""
    repo_root = Path(__file__).resolve().parent.parent
    for root in (space_file.parent, repo_root, Path.cwd()):
        candidate = (root / name).expanduser()
        if candidate.is_file():
            return candidate
    raise SpaceError(
        f"{where.at('base')}: base config {name!r} not found next to the space, in the repo "
        f"root ({repo_root}) or the working directory"
    )


# --- objective, budget, pruning, sampler --------------------------------------


def _objective(raw: Any, where: Where) -> tuple[str, str]:
    raw = _mapping(raw, where, "objective")
    _check_known(raw, ("metric", "direction"), where, ("objective",))
    direction = raw.get("direction")
    if direction not in ("min", "max"):
        raise SpaceError(
            f"{where.at('objective', 'direction')}: direction must be min or max, "
            f"got {direction!r} (it must match the evaluator of the data family)"
        )
    metric = raw.get("metric", "objective")
    if not isinstance(metric, str) or not (metric == "objective" or metric.startswith("metric/")):
        raise SpaceError(
            f"{where.at('objective', 'metric')}: metric must be 'objective' (the data family's "
            f"default) or a 'metric/<name>' key of the evaluator, got {metric!r}"
        )
    return metric, direction


def _budget(raw: Any, where: Where) -> Budget:
    raw = _mapping(raw, where, "budget")
    names = tuple(Budget.__dataclass_fields__)
    _check_known(raw, names, where, ("budget",))
    values = {}
    for name in names:
        if name in raw:
            integer = name not in ("cpus_per_trial", "gpus_per_trial")
            value = _number(raw[name], where, ("budget", name), integer=integer)
            values[name] = value if integer else float(value)
    budget = Budget(**values)
    check_budget(budget, where.at("budget"))
    return budget


def check_budget(b: Budget, where: str) -> None:
    """Shared by the file and the command-line overrides (TRIALS=..., GPUS_PER_TRIAL=...)."""
    problems = []
    if b.trials < 1:
        problems.append(f"trials={b.trials} must be at least 1")
    if b.max_steps < 1:
        problems.append(f"max_steps={b.max_steps} must be at least 1")
    if b.concurrency < 1:
        problems.append(f"concurrency={b.concurrency} must be at least 1")
    if b.cpus_per_trial <= 0:
        problems.append(f"cpus_per_trial={b.cpus_per_trial} must be above 0")
    if b.population < 1:
        problems.append(f"population={b.population} must be at least 1 (1 trains one trial each)")
    if b.gpus_per_trial < 0:
        problems.append(f"gpus_per_trial={b.gpus_per_trial} must be 0 or more")
    if b.gpus_per_trial > 1 and not float(b.gpus_per_trial).is_integer():
        problems.append(
            f"gpus_per_trial={b.gpus_per_trial}: above 1 it must be a whole number (Ray's rule)"
        )
    if problems:
        raise SpaceError(f"{where}: budget: " + "; ".join(problems))


def _pruning(raw: Any, base: GanConfig, where: Where) -> Pruning:
    raw = _mapping(raw, where, "pruning")
    _check_known(raw, tuple(Pruning.__dataclass_fields__), where, ("pruning",))
    default = Pruning()
    milestones = _milestones(raw.get("milestones", list(default.milestones)), base, where)
    quantile = _number(raw.get("quantile", default.quantile), where, ("pruning", "quantile"))
    if not 0 < quantile < 1:
        raise SpaceError(
            f"{where.at('pruning', 'quantile')}: quantile={quantile} is the share of trials "
            "stopped at a milestone; use a number between 0 and 1 (e.g. 0.5)"
        )
    min_peers = _number(
        raw.get("min_peers", default.min_peers), where, ("pruning", "min_peers"), integer=True
    )
    if min_peers < 2:
        raise SpaceError(
            f"{where.at('pruning', 'min_peers')}: min_peers={min_peers}: ranking needs at "
            "least 2 results at a milestone"
        )
    health_from = _number(
        raw.get("health_from", default.health_from), where, ("pruning", "health_from"), integer=True
    )
    return Pruning(
        milestones=milestones,
        quantile=float(quantile),
        min_peers=int(min_peers),
        health=_health(raw.get("health", True), where),
        health_from=int(health_from),
    )


def _milestones(raw: Any, base: GanConfig, where: Where) -> tuple[int, ...]:
    at = where.at("pruning", "milestones")
    if not isinstance(raw, list) or not all(
        isinstance(m, int) and not isinstance(m, bool) and m > 0 for m in raw
    ):
        raise SpaceError(f"{at}: milestones must be a list of positive steps, e.g. [500, 1000]")
    if list(raw) != sorted(set(raw)):
        raise SpaceError(f"{at}: milestones {raw} must be increasing")
    every = base.train.eval_every
    for m in raw:
        if m % every:
            raise SpaceError(
                f"{at}: milestone {m} is not a multiple of train.eval_every={every}; trials "
                "report only at eval points, so pick milestones on them or change eval_every"
            )
    return tuple(raw)


def _health(raw: Any, where: Where) -> tuple[str, ...]:
    from gan_core.monitor import FAILURE_MODES

    if raw is True:
        return FAILURE_MODES
    if raw is False or raw is None:
        return ()
    if isinstance(raw, list) and all(m in FAILURE_MODES for m in raw):
        return tuple(raw)
    raise SpaceError(
        f"{where.at('pruning', 'health')}: health must be true, false or a list of "
        f"{list(FAILURE_MODES)}, got {raw!r}"
    )


def _sampler(raw: Any, where: Where) -> tuple[int, int]:
    raw = _mapping(raw, where, "sampler")
    _check_known(raw, ("seed", "startup_trials"), where, ("sampler",))
    seed = _number(raw.get("seed", 0), where, ("sampler", "seed"), integer=True)
    startup = _number(
        raw.get("startup_trials", 5), where, ("sampler", "startup_trials"), integer=True
    )
    if startup < 0:
        raise SpaceError(f"{where.at('sampler', 'startup_trials')}: must be 0 or more")
    return int(seed), int(startup)


def _number(value: Any, where: Where, at: tuple, integer: bool = False) -> float | int:
    if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
        with contextlib.suppress(ValueError):
            value = float(value)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and integer and isinstance(value, float):
        ok = value.is_integer()
        value = int(value) if ok else value
    if not ok:
        kind = "a whole number" if integer else "a number"
        raise SpaceError(f"{where.at(*at)}: expected {kind}, got {value!r}")
    return value

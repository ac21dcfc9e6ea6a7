"""The `params:` section: one distribution per dotted config key, checked against the key.

optim.lr_d: {low: 5.0e-5, high: 1.0e-3, log: true}   # float (the key's type)
model.ngf: {low: 16, high: 64, step: 16}              # int
loss.type: {choices: [bce, lsgan]}                    # categorical; a plain list works too
loss.gp_weight: {low: 1, high: 20, when: {loss.type: [wgan_gp]}}   # conditional
"""

from __future__ import annotations

import difflib
from typing import Any

from gan_core.config import ConfigError, GanConfig, _check_bounds, coerce, key_field
from search_spaces.model import Param, SpaceError
from search_spaces.where import Where

FIELDS = ("type", "low", "high", "log", "step", "choices", "when")
KINDS = ("float", "int", "categorical")
OPTUNA_CHOICE_TYPES = (str, int, float, bool, type(None))


def parse_params(raw: Any, base: GanConfig, where: Where) -> tuple[Param, ...]:
    if not isinstance(raw, dict) or not raw:
        raise SpaceError(
            f"{where.at('params')}: params must map dotted config keys to distributions, "
            "e.g. optim.lr_d: {low: 5.0e-5, high: 1.0e-3, log: true}"
        )
    params: list[Param] = []
    for key, spec in raw.items():
        params.append(_parse_one(str(key), spec, base, params, where))
    return tuple(params)


def _parse_one(key: str, spec: Any, base: GanConfig, before: list[Param], where: Where) -> Param:
    at = where.at("params", key)
    try:
        f = key_field(key, source=at)
    except ConfigError as err:
        raise SpaceError(str(err)) from err
    if isinstance(spec, list):
        spec = {"choices": spec}
    if not isinstance(spec, dict):
        raise SpaceError(
            f"{at}: expected {{low: .., high: ..}}, {{choices: [..]}} or a list of choices, "
            f"got {spec!r}"
        )
    for name in spec:
        if name not in FIELDS:
            close = difflib.get_close_matches(str(name), FIELDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(FIELDS)}"
            raise SpaceError(f"{where.at('params', key, name)}: unknown field {name!r}{hint}")
    key_type = type(base.get(key)).__name__  # the config's default value carries the key's type
    kind = _kind(spec, key, key_type, at)
    when = _when(spec.get("when"), key, before, where)
    if kind == "categorical":
        return Param(key, kind, choices=_choices(spec, f, key, where), when=when)
    low, high, step = _bounds(spec, f, key, kind, where)
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(f"{where.at('params', key, 'log')}: log must be true or false")
    if log and low <= 0:
        raise SpaceError(f"{where.at('params', key, 'low')}: a log scale needs low > 0, got {low}")
    if log and step is not None:
        raise SpaceError(f"{at}: use either log or step, not both (Optuna's rule)")
    return Param(key, kind, low=low, high=high, log=log, step=step, when=when)


def _kind(spec: dict, key: str, key_type: str, at: str) -> str:
    kind = spec.get("type")
    if kind is None:
        if "choices" in spec:
            return "categorical"
        if key_type in ("float", "int"):
            return key_type
        raise SpaceError(f"{at}: {key} is a {key_type} key; give its values as choices: [...]")
    if kind not in KINDS:
        raise SpaceError(f"{at}: type {kind!r} must be one of {list(KINDS)}")
    if kind == "categorical":
        if "choices" not in spec:
            raise SpaceError(f"{at}: type categorical needs choices: [...]")
        return kind
    if kind != key_type:
        hint = f"type: {key_type}" if key_type in ("float", "int") else "choices: [...]"
        raise SpaceError(f"{at}: {key} is a {key_type} key, not {kind}; use {hint}")
    if "choices" in spec:
        raise SpaceError(f"{at}: type {kind} takes low/high, not choices")
    return kind


def _choices(spec: dict, f, key: str, where: Where) -> tuple:
    raw = spec["choices"]
    at = where.at("params", key, "choices")
    if not isinstance(raw, list) or not raw:
        raise SpaceError(f"{at}: choices must be a non-empty list")
    out = []
    for i, value in enumerate(raw):
        item_at = where.at("params", key, "choices", str(i))
        try:
            value = coerce(value, f, item_at)
            _check_bounds(key, value, f, item_at)
        except ConfigError as err:
            raise SpaceError(f"{err} (no config accepts this choice; remove it)") from err
        if not isinstance(value, OPTUNA_CHOICE_TYPES):
            raise SpaceError(f"{item_at}: {value!r}: a choice must be a number, string or bool")
        out.append(value)
    if len(set(map(repr, out))) != len(out):
        raise SpaceError(f"{at}: choices {raw} repeat a value")
    return tuple(out)


def _bounds(spec: dict, f, key: str, kind: str, where: Where) -> tuple:
    at = where.at("params", key)
    values = {}
    for name in ("low", "high", "step"):
        if name not in spec:
            continue
        try:
            values[name] = coerce(spec[name], f, where.at("params", key, name))
        except ConfigError as err:
            raise SpaceError(str(err)) from err
    if "low" not in values or "high" not in values:
        raise SpaceError(f"{at}: a {kind} distribution needs both low and high")
    low, high, step = values["low"], values["high"], values.get("step")
    if not low < high:
        raise SpaceError(f"{at}: low={low} must be below high={high}")
    meta_low, meta_high = f.metadata.get("low"), f.metadata.get("high")
    if meta_low is not None and low < meta_low or meta_high is not None and high > meta_high:
        raise SpaceError(
            f"{at}: [{low}, {high}] leaves the key's allowed range [{meta_low}, {meta_high}]"
        )
    if step is not None and step <= 0:
        raise SpaceError(f"{where.at('params', key, 'step')}: step={step} must be above 0")
    return low, high, step


def _when(raw: Any, key: str, before: list[Param], where: Where) -> tuple:
    if raw is None:
        return ()
    at = where.at("params", key, "when")
    if not isinstance(raw, dict) or not raw:
        raise SpaceError(f"{at}: when must map an earlier categorical key to its values")
    earlier = {p.key: p for p in before}
    out = []
    for parent, allowed in raw.items():
        p = earlier.get(parent)
        if p is None or p.kind != "categorical":
            raise SpaceError(
                f"{where.at('params', key, 'when', parent)}: {parent!r} must be a categorical "
                f"key listed before {key} in params (conditions are sampled in order)"
            )
        allowed = allowed if isinstance(allowed, list) else [allowed]
        allowed = [_coerce_quietly(v, parent) for v in allowed]
        missing = [v for v in allowed if v not in p.choices]
        if missing:
            raise SpaceError(
                f"{where.at('params', key, 'when', parent)}: {missing} are not among the "
                f"choices of {parent} {list(p.choices)}"
            )
        out.append((parent, tuple(allowed)))
    return tuple(out)


def _coerce_quietly(value: Any, key: str) -> Any:
    """`when` values read like the parent's choices (YAML gives 1e-4 as a string)."""
    try:
        return coerce(value, key_field(key), key)
    except ConfigError:
        return value

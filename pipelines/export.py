"""`make export`: the best finished trial of a sweep, as a config production training
runs as is, with where it came from.

Everything is read from MLflow (pipelines/tracking/lookup.py). Only trials that ran to their
end compete: a pruned trial's value is an early one, a failed trial's none.

Provenance travels with the file without touching the config contract: in YAML as a
commented `provenance:` block at the top (GanConfig.load ignores comments), in JSON
(which has no comments) as a sidecar `<name>.provenance.json`. `read_provenance` reads
either; `make train` uses it to link its MLflow run to the trial.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gan_core.config import GanConfig
from pipelines.outcome import RUNNING
from pipelines.tracking import schema, store
from pipelines.tracking.lookup import (
    Sweep,
    find_sweep,
    finished_ranked,
    last_step,
    trial_config,
    trial_runs,
)

HEADER_MARK = "# provenance:"
SIDECAR_SUFFIX = ".provenance.json"


class ExportError(ValueError):
    """A sweep with nothing to export, or options that cannot be met."""


@dataclass
class Exported:
    path: Path
    cfg: GanConfig
    provenance: dict[str, Any]


def export_best(
    sweep: str | None = None,
    out: str | Path = "configs/best.yaml",
    metric: str | None = None,
    mode: str | None = None,
    top: int = 1,
    fmt: str | None = None,
) -> list[Exported]:
    """Write the best `top` finished trials of a sweep: rank 1 to `out`, rank k to
    `<stem>-k<suffix>`. `metric`/`mode` default to the sweep's own objective."""
    if top < 1:
        raise ExportError(f"--top {top}: export at least one trial (--top 1)")
    c = store.client()
    found = find_sweep(c, sweep)
    sweep_metric, sweep_mode = found.objective
    metric, mode = metric or sweep_metric, mode or sweep_mode
    if mode not in ("min", "max"):
        raise ExportError(f"--mode {mode!r}: use min or max")
    runs = trial_runs(c, found)
    ranked = finished_ranked(runs, metric, mode)
    if not ranked:
        raise ExportError(_nothing_finished(found, runs, metric))
    out = Path(out)
    fmt = fmt or ("json" if out.suffix == ".json" else "yaml")
    written = []
    for rank, run in enumerate(ranked[:top], 1):
        cfg = trial_config(c, run)
        prov = provenance(found, run, rank, metric, mode, last_step(c, run.info.run_id, metric))
        path = out if rank == 1 else out.with_name(f"{out.stem}-{rank}{out.suffix}")
        write_config(cfg, prov, path, fmt)
        written.append(Exported(path, cfg, prov))
    return written


def provenance(sweep: Sweep, run, rank: int, metric: str, mode: str, step: int) -> dict:
    return {
        "sweep_run_id": sweep.run_id,
        "sweep_name": sweep.name,
        "experiment": sweep.experiment,
        "tracking_uri": store.tracking_uri(),
        "trial_run_id": run.info.run_id,
        "trial_id": run.data.tags.get(schema.TRIAL_ID_TAG, ""),
        "rank": rank,
        "metric": metric,
        "mode": mode,
        "value": float(run.data.metrics[metric]),
        "step": int(step),
        "final_health": run.data.tags.get(schema.FINAL_HEALTH_TAG, ""),
        "platform": run.data.tags.get(schema.PLATFORM_TAG, "unknown"),
        "code_version": sweep.run.data.tags.get(schema.GIT_COMMIT_TAG, "unknown"),
        "exported_with": store.git_commit(),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_config(cfg: GanConfig, prov: dict, path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        path.write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
        sidecar(path).write_text(json.dumps(prov, indent=2) + "\n")
    elif fmt == "yaml":
        path.write_text(yaml_header(prov, path) + cfg.to_yaml())
    else:
        raise ExportError(f"--format {fmt!r}: use yaml or json")


def yaml_header(prov: dict, path: Path) -> str:
    block = yaml.safe_dump({"provenance": prov}, sort_keys=False).splitlines()
    lines = [
        "# Exported by `gansweep export`: the config of a finished sweep trial, read from MLflow.",
        f"# Train it: make train CONFIG={path}   (retraining reproduces the trial's value at",
        "# its step with the same train.seed and train.steps, on CPU)",
        *[f"# {line}" for line in block],
    ]
    return "\n".join(lines) + "\n"


def read_provenance(path: str | Path) -> dict[str, Any] | None:
    """The provenance of an exported config (YAML header or JSON sidecar), else None."""
    path = Path(path)
    if sidecar(path).is_file():
        return json.loads(sidecar(path).read_text())
    if not path.is_file():
        return None
    block, inside = [], False
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        if line.strip() == HEADER_MARK:
            inside = True
        if inside:
            block.append(line[2:])
    if not block:
        return None
    return (yaml.safe_load("\n".join(block)) or {}).get("provenance")


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _nothing_finished(sweep: Sweep, runs: list, metric: str) -> str:
    states: dict[str, int] = {}
    for r in runs:
        state = r.data.tags.get(schema.STATE_TAG, RUNNING)
        states[state] = states.get(state, 0) + 1
    counts = ", ".join(f"{v} {k}" for k, v in sorted(states.items())) or "no trials"
    return (
        f"sweep {sweep.name} ({sweep.run_id}) has no finished trial with metric {metric!r} "
        f"({counts}); pruned and failed trials are never exported. Run a longer sweep, "
        "or relax its pruning (pruning.quantile, pruning.health) and sweep again"
    )

"""The end of a sweep: the table of trials (written as Parquet), and the summary a person
reads first: top finished trials, prune reasons, parameter importance, steps saved."""

from __future__ import annotations

import math
import warnings
from collections import Counter
from typing import Any

import optuna
import pandas as pd

from pipelines.formatting import short
from pipelines.outcome import rank_finished
from pipelines.sweep.ledger import TrialRow
from pipelines.sweep.sampling import distributions
from search_spaces import Space

TOP_N = 5


def trials_table(rows: list[TrialRow], space: Space) -> pd.DataFrame:
    """One row per trial: state, reason, steps, wall time, objective (last, best and at each
    milestone), final health, error, node, then the sampled keys (empty where inactive)."""
    records = []
    for r in rows:
        rec: dict[str, Any] = {
            "trial_id": r.trial_id,
            "state": r.state,
            "reason": r.reason,
            "steps": r.steps,
            "wall_s": round(r.wall_s, 2),
            "objective": r.objective,
            "best_objective": r.best_objective,
        }
        for m in space.milestones:
            rec[f"objective@{m}"] = r.at_milestone.get(m)
        rec.update({"health": r.health, "error": r.error, "node": r.node})
        for key in space.keys:
            rec[key] = r.params.get(key)
        records.append(rec)
    columns = ["trial_id", "state", "reason", "steps", "wall_s", "objective", "best_objective"]
    columns += [f"objective@{m}" for m in space.milestones] + ["health", "error", "node"]
    return pd.DataFrame.from_records(records, columns=columns + space.keys)


def summarize(table: pd.DataFrame, space: Space) -> dict[str, Any]:
    ranked = rank_finished(
        table.index, table.state.get, table.objective.get, space.direction
    )  # row labels, best first
    finished = table.loc[ranked]
    pruned = table[table.state == "pruned"]
    budget_steps = space.budget.trials * space.budget.max_steps
    return {
        "space": space.name,
        "direction": space.direction,
        "counts": {
            s: int((table.state == s).sum()) for s in ("finished", "pruned", "failed", "running")
        },
        "prune_reasons": dict(Counter(pruned.reason).most_common()),
        "top": finished.head(TOP_N)[["trial_id", "objective", "steps", *space.keys]].to_dict(
            "records"
        ),
        "importance": param_importance(table, space),
        "steps_run": int(table.steps.sum()),
        "steps_budget": budget_steps,
        "steps_saved_by_pruning": int((space.budget.max_steps - pruned.steps).clip(lower=0).sum()),
        "wall_s_in_trials": float(table.wall_s.sum()),
    }


def param_importance(table: pd.DataFrame, space: Space) -> dict[str, float]:
    """Optuna's importance (PED-ANOVA, conditional keys included) over finished trials only,
    so pruned trials' early values never pass for final ones."""
    finished = table[table.state == "finished"].dropna(subset=["objective"])
    if len(finished) < 3:
        return {}
    dists = distributions(space)
    study = optuna.create_study(direction="minimize" if space.direction == "min" else "maximize")
    for _, row in finished.iterrows():
        params = {k: _plain(row[k]) for k in space.keys if not _missing(row[k])}
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={k: dists[k] for k in params},
                value=float(row.objective),
            )
        )
    try:
        with warnings.catch_warnings():  # "few trials per regime": a sweep is small by design
            warnings.simplefilter("ignore", UserWarning)
            importances = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError):  # too few or too uniform trials to say anything
        return {}
    return {k: round(float(v), 4) for k, v in importances.items()}


def summary_text(summary: dict[str, Any], next_commands: list[str]) -> str:
    c = summary["counts"]
    lines = [
        f"sweep of {summary['space']}: {c['finished']} finished, {c['pruned']} pruned, "
        f"{c['failed']} failed" + (f", {c['running']} unfinished" if c["running"] else ""),
        f"top finished trials ({summary['direction']} objective is better):",
    ]
    for rank, row in enumerate(summary["top"], 1):
        params = ", ".join(
            f"{k}={short(v)}"
            for k, v in row.items()
            if k not in ("trial_id", "objective", "steps") and not _missing(v)
        )
        lines.append(f"  {rank}. {row['trial_id']}  objective {row['objective']:.4g}  {params}")
    if not summary["top"]:
        lines.append("  (none finished)")
    reasons = ", ".join(f"{k} {v}" for k, v in summary["prune_reasons"].items()) or "none"
    lines.append(f"pruned by reason: {reasons}")
    imp = ", ".join(f"{k} {v:.2f}" for k, v in list(summary["importance"].items())[:6])
    lines.append(
        f"parameter importance (Optuna, finished trials): {imp or 'too few finished trials'}"
    )
    run, budget, saved = (
        summary["steps_run"],
        summary["steps_budget"],
        summary["steps_saved_by_pruning"],
    )
    lines.append(
        f"steps: {run:,} run of {budget:,} without pruning; pruning saved {saved:,} "
        f"({saved / budget:.0%})"
        if budget
        else f"steps: {run:,}"
    )
    lines.append("next:")
    lines.extend(f"  {cmd}" for cmd in next_commands)
    return "\n".join(lines)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value: Any) -> Any:
    """numpy scalars from pandas back to the Python types Optuna's distributions expect."""
    return value.item() if hasattr(value, "item") else value

"""The markdown tables of the health calibration, from the raw records (see health_calibration.py)."""

from __future__ import annotations

import math

import numpy as np
from health_analysis import (
    CHECKS,
    END,
    MILESTONES,
    eval_steps,
    final_objective,
    flags_of,
    label_runs,
    score_detector,
    share_interval,
    spearman,
    spearman_interval,
)
from health_replay import RecordArrays, rules, solo_flag_steps
from health_tuning import GRID, PREVIOUS_DEFAULTS, leave_one_data_set_out, tune

from gan_core.config import MonitorConfig

RHO_MIN = (
    0.7  # a milestone ranks trials usefully once the early objective's rho with the end is >= this
)


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.2f}"


def _at(step: int) -> str:
    return "end" if step == END else str(step)


def _flag(flag) -> str:
    return "-" if flag is None else f"{flag[1]} @{flag[0]}"


def groups(runs: list[dict]) -> dict[str, list[dict]]:
    """Each data set, each family with more than one data set, and all runs."""
    out = {d: [r for r in runs if r["data"] == d] for d in sorted({r["data"] for r in runs})}
    for fam in sorted({r["family"] for r in runs}):
        members = [r for r in runs if r["family"] == fam]
        if len({r["data"] for r in members}) > 1:
            out[f"{fam} (all)"] = members
    out["all"] = runs
    return out


def runs_table(runs: list[dict], labels: dict, before: dict, after: dict) -> str:
    rows = []
    for r in sorted(runs, key=lambda r: r["name"]):
        lab = labels[r["name"]]
        end = lab["failed"] or ("good, best quarter" if lab["best_quarter"] else "good")
        rows.append(
            [r["name"], r["intent"], f"{final_objective(r):.4g}", end,
             _flag(before[r["name"]]), _flag(after[r["name"]])]
        )  # fmt: skip
    header = ["run", "meant to", "final objective", "end state", "flag (old)", "flag (tuned)"]
    return _table(header, rows)


def detector_table(runs: list[dict], labels: dict, settings: dict[str, MonitorConfig]) -> str:
    rows = []
    for name, cfg in settings.items():
        for group, members in groups(runs).items():
            sub = {r["name"]: labels[r["name"]] for r in members}
            s = score_detector(members, sub, cfg)
            n_failed = sum(1 for v in sub.values() if v["failed"])
            n_quarter = sum(1 for v in sub.values() if v["best_quarter"])
            rows.append(
                [name, group, n_failed, *(_pct(s.recall[m]) for m in CHECKS),
                 n_quarter, *(_pct(s.false_alarms[m]) for m in CHECKS),
                 *(_pct(s.good_flagged[m]) for m in CHECKS)]
            )  # fmt: skip
    header = ["thresholds", "runs", "failed"]
    header += [f"recall @{_at(m)}" for m in CHECKS] + ["best quarter"]
    header += [f"false alarms @{_at(m)}" for m in CHECKS]
    header += [f"good-ending flagged @{_at(m)}" for m in CHECKS]
    return _table(header, rows)


def first_milestone(runs: list[dict]) -> int | None:
    """The earliest eval step >= 500 from which rho stays >= RHO_MIN to the end."""
    steps = [s for s in eval_steps(runs) if s >= MILESTONES[0]]
    for i, s in enumerate(steps):
        if all(spearman(runs, t) >= RHO_MIN for t in steps[i:]):
            return s
    return None


def rank_table(runs: list[dict], labels: dict) -> str:
    rows = []
    for group, members in groups(runs).items():
        if group == "all":
            continue
        good = [r for r in members if not labels[r["name"]]["failed"]]
        cells = [group, len(members)]
        for m in MILESTONES:
            lo, hi = spearman_interval(members, m)
            cells.append(f"{spearman(members, m):.2f} [{lo:.2f}, {hi:.2f}]")
        cells += [f"{spearman(good, m):.2f}" for m in MILESTONES] + [len(good)]
        cells.append(first_milestone(members) or "none")
        rows.append(cells)
    header = ["runs", "n"] + [f"rho @{m} [90 % CI]" for m in MILESTONES]
    header += [f"rho @{m}, good-ending only" for m in MILESTONES] + ["n good"]
    header += [f"first step with rho >= {RHO_MIN} to the end"]
    return _table(header, rows)


def rho_by_step(runs: list[dict], labels: dict) -> str:
    steps = eval_steps(runs)
    rows = []
    for group, members in groups(runs).items():
        if group == "all":
            continue
        good = [r for r in members if not labels[r["name"]]["failed"]]
        rows.append([group, *(f"{spearman(members, s):.2f}" for s in steps)])
        rows.append([f"{group}, good-ending", *(f"{spearman(good, s):.2f}" for s in steps)])
    return _table(["runs", *map(str, steps)], rows)


def _where(arrays: RecordArrays, hits: np.ndarray, quarter: np.ndarray) -> str:
    """`run@step` of the hits, best-quarter runs (marked *) first, then by run and step."""
    points = sorted(
        (not quarter[i], arrays.names[i], int(s))
        for i, s in zip(arrays.run[hits], arrays.step[hits], strict=True)
    )
    shown = [f"{name}@{step}" + ("*" if not rest else "") for rest, name, step in points]
    return ", ".join(shown[:8]) + (" ..." if len(shown) > 8 else "")


def rules_table(runs: list[dict], labels: dict, cfg: MonitorConfig) -> str:
    """Per rule: the failed runs it flags on its own by the last milestone, and the eval
    points of good-ending runs that meet it (persistent or not: how close healthy runs come)."""
    arrays = RecordArrays.from_runs(runs)
    failed = np.array([bool(labels[n]["failed"]) for n in arrays.names])
    quarter = np.array([labels[n]["best_quarter"] for n in arrays.names])
    n_failed = int(failed.sum())
    rows = []
    masks = rules(arrays, cfg)
    for name, steps in solo_flag_steps(arrays, cfg).items():
        hits = masks[name] & ~failed[arrays.run]
        in_quarter = int((masks[name] & quarter[arrays.run]).sum())
        rows.append(
            [name, f"{int((steps[failed] <= MILESTONES[-1]).sum())} of {n_failed}",
             int(hits.sum()), in_quarter, _where(arrays, hits, quarter)]
        )  # fmt: skip
    header = [
        "rule", f"failed runs it flags alone by {MILESTONES[-1]}",
        "good-ending eval points meeting it", "of them best quarter", "where (* best quarter)",
    ]  # fmt: skip
    return _table(header, rows)


def run_eval_share(run: dict) -> float:
    """Eval time / wall time over a whole run, from each window's share and training speed."""
    train_s = eval_s = 0.0
    previous = 0
    for x in run["records"]:
        window_train = (x["step"] - previous) / x["perf/steps_per_s"]
        share = x["perf/eval_share"]
        train_s += window_train
        eval_s += share * window_train / (1.0 - share)  # share = eval / (train + eval)
        previous = x["step"]
    return eval_s / (train_s + eval_s)


def cost_table(runs: list[dict]) -> str:
    rows = []
    for fam in sorted({r["family"] for r in runs}):
        members = [r for r in runs if r["family"] == fam]
        shares = [x["perf/eval_share"] for r in members for x in r["records"]]
        speed = [x["perf/steps_per_s"] for r in members for x in r["records"]]
        per_run = [run_eval_share(r) for r in members]
        rows.append(
            [fam, len(shares), f"{100 * np.median(shares):.1f} %",
             f"{100 * np.percentile(shares, 90):.1f} %", f"{100 * max(shares):.1f} %",
             f"{100 * np.median(per_run):.1f} %", f"{100 * max(per_run):.1f} %",
             f"{np.median(speed):.0f}"]
        )  # fmt: skip
    header = ["family", "eval points", "median eval share", "90th percentile", "max"]
    header += ["whole run: median", "whole run: max", "median steps/s (train)"]
    return _table(header, rows)


def _interval_at(flag_steps: dict[str, float], labels: dict, which: str, step: int) -> str:
    """90 % bootstrap interval of recall (which="failed") or false alarms ("best_quarter")
    over the runs of `flag_steps` (their first-flag steps; inf: never flagged)."""
    hits = [at <= step for name, at in flag_steps.items() if labels[name][which]]
    lo, hi = share_interval(hits)
    return f"[{_pct(lo)}, {_pct(hi)}]"


def lodo_table(runs: list[dict], labels: dict, within_family: bool = False) -> str:
    rows, step = [], MILESTONES[-1]
    for data, cfg, s, flag_steps in leave_one_data_set_out(
        runs, labels, within_family=within_family
    ):
        keys = ", ".join(f"{k}={getattr(cfg, k)}" for k in GRID)
        rows.append(
            [data, *(_pct(s.recall[m]) for m in CHECKS),
             _interval_at(flag_steps, labels, "failed", step),
             *(_pct(s.false_alarms[m]) for m in CHECKS),
             _interval_at(flag_steps, labels, "best_quarter", step), keys]
        )  # fmt: skip
    header = ["left out"] + [f"recall @{_at(m)}" for m in CHECKS] + [f"90 % CI @{step}"]
    header += [f"false alarms @{_at(m)}" for m in CHECKS] + [f"90 % CI @{step}"]
    return _table(header + ["tuned on the others"], rows)


def report(runs: list[dict]) -> str:
    labels = label_runs(runs)
    tuned = tune(runs, labels)
    current = MonitorConfig()
    settings = {"previous defaults": PREVIOUS_DEFAULTS, "tuned": tuned.cfg}
    if current not in (tuned.cfg, PREVIOUS_DEFAULTS):
        settings["MonitorConfig() now"] = current
    wall = sum(r["wall_s"] for r in runs)
    chosen = ", ".join(f"{k}={getattr(tuned.cfg, k)}" for k in GRID)
    note = "" if current == tuned.cfg else f"\n\nNOTE: MonitorConfig() differs: {current}"
    return "\n\n".join([
        f"## Calibration set: {len(runs)} runs, {wall / 60:.0f} min of training in all",
        runs_table(runs, labels, flags_of(runs, PREVIOUS_DEFAULTS), flags_of(runs, tuned.cfg)),
        "## Detector (flagged by step m; failure modes count from step 500, diverged at once)",
        f"tuned: {chosen} ({tuned.feasible} of {tuned.tried} settings feasible){note}",
        detector_table(runs, labels, settings),
        "## Each rule of the tuned setting on its own",
        rules_table(runs, labels, tuned.cfg),
        "## Leave one data set out (tune on the others, score on it)",
        lodo_table(runs, labels),
        "## Leave one data set out within its family (thresholds per family: images, points, "
        "tables; a data set alone in its family has no row)",
        lodo_table(runs, labels, within_family=True),
        "## Spearman rho, objective at the milestone vs at the end",
        rank_table(runs, labels),
        rho_by_step(runs, labels),
        "## Eval cost (perf/eval_share at train.eval_every 250)",
        cost_table(runs),
    ])  # fmt: skip

"""Re-train a few 2-D runs with PacGAN's per-mode histogram kept, for the checks of docs/health.md.

    .venv/bin/python benchmarks/health_rerun.py shipped --steps 6000   # configs/*_mlp.yaml as shipped
    .venv/bin/python benchmarks/health_rerun.py grid25 --steps 2000    # the sprays and good grid25 runs
    .venv/bin/python benchmarks/health_rerun.py chance --steps 18000 --workers 1  # D at chance

`shipped`: configs/ring8_mlp.yaml and grid25_mlp.yaml, seed 0, eval every 250 steps
(issue 14: both were reported `mode_collapse` from step 500 on).
`grid25`: the two grid25 "sprays" of the calibration set and its runs that end good,
trained again to see whether `metric/fair_modes` tells them apart by step 1000.
`chance`: the calibration runs labelled failed whose D sat at chance (both scores 0.50)
with a low diversity by step 1000, as the shipped configs' do, trained to the 18k steps
the shipped configs need: do they also spread late?
The calibration records lack the per-mode counts that metric needs; a re-trained run
repeats its calibration record bit for bit on CPU (`check_repeats` says so or fails).
Records go to benchmarks/results/health_rerun_<set>.json after every run (resumable).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling modules, from any cwd

import numpy as np  # noqa: E402
from health_analysis import END, MILESTONES, label_runs, score_flags  # noqa: E402
from health_calibration import DEFAULT_OUT, build, load_runs  # noqa: E402
from health_replay import RecordArrays, first_flag_steps  # noqa: E402
from health_report import _table  # noqa: E402
from health_runs import calibration_set, shipped_runs  # noqa: E402
from health_tuning import feasible, settings  # noqa: E402

from gan_core.metrics.points import fair_modes  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# The two sprays and the six grid25 runs that end good (docs/health.md, the runs table).
GRID25 = ("plain-lr1e-4-s0", "plain-lr1e-4-s1", "plain-lr5e-4-s0", "plain-lr5e-4-s1",
          "gbn-lr5e-4-s0", "gbn-lr5e-4-s1", "gbn-lr1e-3", "tinyG8")  # fmt: skip
CHANCE = ("ring8/lrg100x", "grid25/lrg100x", "ring8/tinyD-g3")
REPEATED = ("objective", "score/g", "score/d", "diversity_ratio", "metric/modes")


def specs(which: str):
    if which == "shipped":
        return shipped_runs()
    names = CHANCE if which == "chance" else {f"grid25/{n}" for n in GRID25}
    return [s for s in calibration_set() if s.name in names]


def check_repeats(runs: list[dict], calibration: list[dict]) -> int:
    """Fail unless each re-trained run repeats the calibration run of its name; how many did."""
    by_name = {r["name"]: {x["step"]: x for x in r["records"]} for r in calibration}
    checked = 0
    for run in runs:
        old = by_name.get(run["name"])
        if old is None:
            continue
        for x in run["records"]:
            for key in REPEATED:
                if x["step"] in old and x[key] != old[x["step"]][key]:
                    raise AssertionError(
                        f"{run['name']} step {x['step']}: {key} {x[key]} vs {old[x['step']][key]} "
                        "in the calibration file: training is no longer repeatable"
                    )
        checked += 1
    return checked


SHARES = (0.02, 0.05, 0.1, 0.2)  # FAIR_SHARE candidates replayed from the kept histograms


def fair_table(runs: list[dict], labels: dict, steps=(500, 750, 1000, 1500, 2000)) -> str:
    """Per run and step: PacGAN's modes, fair modes at each candidate share, % high quality."""
    rows = []
    for run in sorted(runs, key=lambda r: r["name"]):
        lab = labels.get(run["name"], {})
        end = lab.get("failed") or ("good, best quarter" if lab.get("best_quarter") else "good")
        for x in (x for x in run["records"] if x["step"] in steps):
            counts = np.array(x["mode_counts"])
            n = run["overrides"].get("train.eval_samples", 2000)
            fair = " / ".join(str(fair_modes(counts, n, share)) for share in SHARES)
            rows.append([run["name"], end, x["step"], f"{x['metric/modes']:.0f}", fair,
                         f"{x['metric/hq_percent']:.1f}"])  # fmt: skip
    header = ["run", "end state", "step", "modes (PacGAN)",
              "fair modes @" + " / ".join(map(str, SHARES)), "% high quality"]  # fmt: skip
    return _table(header, rows)


def trajectory_table(runs: list[dict], steps=(500, 1000, 2000, 4000, 6000, 10000, 14000, 18000)):
    """Per run and step: the monitor's inputs, the mode counts, the objective and the verdict."""
    rows = []
    for run in sorted(runs, key=lambda r: r["name"]):
        for x in (x for x in run["records"] if x["step"] in steps):
            rows.append([run["name"], x["step"], f"{x['score/g']:.3f}", f"{x['score/d']:.3f}",
                         f"{x['diversity_ratio']:.2f}", f"{x['metric/modes']:.0f}",
                         f"{x['metric/hq_percent']:.1f}", f"{x['objective']:.3g}", x["health"]])  # fmt: skip
    header = ["run", "step", "G score", "D score", "diversity", "modes", "% hq", "objective",
              "health (at training)"]  # fmt: skip
    return _table(header, rows)


def sparing_settings(shipped: list[dict], calibration: list[dict], until: int = 2000) -> str:
    """Of the settings of health_tuning.GRID, those that flag no shipped run by `until`, and the
    best recall any of them reaches on the calibration set with its false-alarm target kept."""
    early = [dict(r, records=[x for x in r["records"] if x["step"] <= until]) for r in shipped]
    labels = label_runs(calibration)
    cal, ship = RecordArrays.from_runs(calibration), RecordArrays.from_runs(early)
    sparing, best = 0, None
    for cfg in settings():
        if np.isfinite(first_flag_steps(ship, cfg)).any():
            continue
        sparing += 1
        score = score_flags(dict(zip(cal.names, first_flag_steps(cal, cfg), strict=True)), labels)
        key = (feasible(score), score.recall[MILESTONES[-1]], score.recall[END])
        if best is None or key > best[0]:
            best = (key, cfg)
    if best is None:
        return f"no setting of {sum(1 for _ in settings())} leaves the shipped runs unflagged"
    (ok, at_last, at_end), cfg = best
    return (
        f"{sparing} settings leave the shipped runs unflagged through step {until}; the best "
        f"of them (false alarms within target: {ok}) reaches recall {at_last:.2f} at step "
        f"{MILESTONES[-1]} and {at_end:.2f} by the end: {cfg}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("which", choices=("shipped", "grid25", "chance"))
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--workers", type=int, default=2, help="training processes (1 thread each)")
    args = ap.parse_args()
    runs = build(RESULTS / f"health_rerun_{args.which}.json", specs(args.which), args.workers,
                 args.steps)  # fmt: skip
    calibration = load_runs(DEFAULT_OUT)
    print(f"{check_repeats(runs, calibration)} runs repeat their calibration records")
    if args.which == "grid25":
        print(fair_table(runs, label_runs(calibration)))
    else:
        print(trajectory_table(runs))
    if args.which == "shipped":
        print(sparing_settings(runs, calibration))


if __name__ == "__main__":
    main()

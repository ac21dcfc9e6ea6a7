"""Which of a swept winner's changes carried it: one arm per key, set back to the base.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/ablation.py \
        --config benchmarks/results/pacgan/pacgan-short-best-rkl.yaml \
        --base configs/grid25_mlp.yaml --seeds 2 --steps 10000 [--keys loss.r1_weight,...]

The arms are the winner as it is ("none") and, for every key in which the winner differs
from the space's base config (or each of `--keys`), the winner with that one key set
back to the base's value. Every arm trains on the same fresh seeds and is scored at its
last step on PacGAN's protocol, through `benchmarks/pacgan_table.py`'s runner, so the
records, their resume and the metrics are the table's own: `OUT/<arm>/seed_N.json`. To
reuse the winner's table records, copy them to `OUT/none/seed_N.json`. docs/pacgan.md.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from pacgan_table import (
    FIRST_SEED,
    METRICS,
    config_tag,
    load_records,
    mean_std,
    run_config,
    scores,
    train_records,
)

from gan_core.config import GanConfig

NOT_ARMS = ("train.", "monitor.")  # how long and how watched, not what is trained


def arm_overrides(winner: GanConfig, base: GanConfig, keys: list[str]) -> dict[str, dict]:
    """{arm name: overrides}: "none" first, then one arm per key set back to the base."""
    ours, theirs = winner.flat(), base.flat()
    unknown = [k for k in keys if k not in theirs]
    if unknown:
        raise SystemExit(f"--keys: no config key {', '.join(unknown)} (`gansweep keys` lists them)")
    keys = keys or [k for k in ours if ours[k] != theirs[k] and not k.startswith(NOT_ARMS)]
    return {"none": {}} | {key: {key: theirs[key]} for key in keys}


def arm_config(path: str, steps: int, overrides: dict) -> GanConfig:
    return run_config(argparse.Namespace(config=path, set=[], steps=steps)).with_overrides(
        overrides
    )


def row(arm: str, change: str, records: list[dict], reference: list[dict] | None) -> str:
    cells = [mean_std([r[k] for r in records]) for k in METRICS]
    if reference:
        deltas = [
            statistics.mean(r[k] for r in records) - statistics.mean(r[k] for r in reference)
            for k in METRICS
        ]
        cells.append(f"{deltas[0]:+.1f} / {deltas[1]:+.1f} / {deltas[2]:+.3f}")
    else:
        cells.append("")
    return f"| {arm} | {change} | {len(records)} | " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the winner's config YAML")
    parser.add_argument("--base", required=True, help="the space's base config YAML")
    parser.add_argument("--keys", default="", help="comma-separated keys (default: all changed)")
    parser.add_argument("--seeds", type=int, default=2, help="how many seeds (from 1000)")
    parser.add_argument("--steps", type=int, default=0, help="train.steps (0: the config's)")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes")
    parser.add_argument("--out", default="", help="record folder (default: runs/ablation/<name>)")
    args = parser.parse_args(argv)

    winner, base = GanConfig.load(args.config), GanConfig.load(args.base)
    keys = [k for k in args.keys.split(",") if k]
    arms = arm_overrides(winner, base, keys)
    configs = {arm: arm_config(args.config, args.steps, o) for arm, o in arms.items()}
    out = Path(args.out or f"runs/ablation/{Path(args.config).stem}")
    seeds = list(range(FIRST_SEED, FIRST_SEED + args.seeds))
    done = {arm: load_records(out / arm, config_tag(cfg), seeds) for arm, cfg in configs.items()}
    todo = [(arm, s) for arm in arms for s in seeds if s not in done[arm]]
    print(f"{len(arms)} arms x {len(seeds)} seeds, {len(todo)} runs to train -> {out}")

    for arm in {arm for arm, _ in todo}:
        (out / arm).mkdir(parents=True, exist_ok=True)
    jobs = [(configs[arm].to_dict(), s, str(out / arm / f"seed_{s}.json")) for arm, s in todo]
    for (arm, _), r in zip(todo, train_records(jobs, args.workers), strict=True):
        done[arm][r["seed"]] = r
        print(f"  {arm} seed {r['seed']}: {scores(r)}", flush=True)

    print(
        "| arm | set to | seeds | modes | high-quality % | reverse KL | Δ vs none (modes / hq / rKL) |"
    )
    print("|---|---|---|---|---|---|---|")
    reference = [done["none"][s] for s in seeds]
    for arm, overrides in arms.items():
        change = ", ".join(f"{v}" for v in overrides.values()) or "the winner"
        print(row(arm, change, [done[arm][s] for s in seeds], reference if overrides else None))


if __name__ == "__main__":
    main()

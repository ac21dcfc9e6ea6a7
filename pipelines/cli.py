"""`gansweep` command line: every command takes --config FILE then dotted overrides."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gan_core.config import ConfigError, GanConfig, describe_keys


def load_config(path: str | None, overrides: list[str]) -> GanConfig:
    base = GanConfig.load(path) if path else GanConfig()
    return base.with_overrides(overrides, source="command line") if overrides else base


def cmd_train(args) -> int:
    from pipelines.train import default_out_dir, train_production

    cfg = load_config(args.config, args.overrides)
    if args.steps:
        cfg.train.steps = args.steps
    out = Path(args.out) if args.out else default_out_dir(args.config)
    record = train_production(cfg, out, resume=args.resume, progress=not args.quiet)
    print(
        f"done: step {record['step']}  objective {record['objective']:.4g}  "
        f"G score {record['score/g']:.2f}  D score {record['score/d']:.2f}  health {record['health']}"
    )
    print(f"wrote {out}/ (config.yaml, checkpoint.pt, samples.png, scores.png, metrics.jsonl)")
    return 0


def cmd_check(args) -> int:
    from gan_core.checks import preflight
    from gan_core.data import load_dataset

    cfg = load_config(args.config, args.overrides)
    dataset = load_dataset(cfg.data, cfg.train.seed)
    for warning in preflight(cfg, dataset):
        print(f"warning: {warning}")
    print(
        f"ok: {args.config or 'defaults'} passes the pre-flight checks ({dataset.name}, "
        f"{len(dataset.x)} samples of shape {tuple(dataset.sample_shape)})"
    )
    return 0


def cmd_keys(args) -> int:
    print(describe_keys())
    return 0


def cmd_sweep(args) -> int:
    from pipelines.sweep import run_sweep

    run_sweep(
        args.space,
        trials=args.trials,
        concurrency=args.concurrency,
        gpus_per_trial=args.gpus_per_trial,
        data=args.data,
        resume=args.resume,
        max_steps=args.max_steps,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gansweep", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def with_config(name: str, help: str):
        sp = sub.add_parser(name, help=help)
        sp.add_argument("--config", help="YAML config file (defaults when omitted)")
        sp.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.lr_d=2e-4")
        return sp

    t = with_config("train", "train from a config (production run)")
    t.add_argument("--steps", type=int, help="override train.steps")
    t.add_argument("--out", help="output folder (default runs/<config>-<time>)")
    t.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)
    with_config("check", "run the pre-flight checks alone").set_defaults(func=cmd_check)
    sub.add_parser("keys", help="list every config key").set_defaults(func=cmd_keys)

    s = sub.add_parser("sweep", help="search a space with Ray Tune + Optuna, record in MLflow")
    s.add_argument("--space", default="stabilizers", help="space name or YAML path")
    s.add_argument("--trials", type=int)
    s.add_argument("--concurrency", type=int)
    s.add_argument("--gpus-per-trial", type=float)
    s.add_argument("--data", help="override data.source of the space's base config")
    s.add_argument("--max-steps", type=int)
    s.add_argument("--resume", action="store_true", help="continue an interrupted sweep")
    s.set_defaults(func=cmd_sweep)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, ValueError, FileNotFoundError) as err:
        # ConfigError, DataError, PreflightError and RunDirError are ValueErrors
        # whose message already says what to change.
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

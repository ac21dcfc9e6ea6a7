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
    from pipelines.train import default_out_dir, latest_out_dir

    cfg = load_config(args.config, args.overrides)
    if args.steps:
        cfg.train.steps = args.steps
    out = Path(args.out) if args.out else None
    if out is None and args.resume:
        out = latest_out_dir(args.config)
        if out is None:
            raise ValueError(
                f"--resume: no run folder of {args.config or 'this config'} under runs/ holds "
                "a checkpoint; name the folder with --out (make train ... OUT=runs/x RESUME=1)"
            )
        print(f"resuming {out}")
    out = out or default_out_dir(args.config)
    if args.population:
        from pipelines.train_population import train_from_cli

        return train_from_cli(
            cfg, args.population, out, args.resume, args.quiet, not args.no_tracking
        )
    if args.no_tracking:
        from pipelines.train import train_production

        record = train_production(cfg, out, resume=args.resume, progress=not args.quiet)
    else:
        from pipelines.tracking.train_runs import train_tracked

        record, run = train_tracked(
            cfg, out, args.config, args.resume, not args.quiet, args.experiment
        )
    print(
        f"done: step {record['step']}  objective {record['objective']:.4g}  "
        f"G score {record['score/g']:.2f}  D score {record['score/d']:.2f}  health {record['health']}"
    )
    if "sdmetrics/quality" in record:
        print(
            f"held-out rows: SDMetrics quality {record['sdmetrics/quality']:.3f} (column shapes "
            f"{record['sdmetrics/column_shapes']:.3f}, pair trends "
            f"{record['sdmetrics/column_pair_trends']:.3f}); closer to a training row than "
            f"a held-out row is: {record['privacy/closer_to_train']:.0%} of samples "
            f"(~50% = no copying), exact copies {record['privacy/exact_copies']:.0%}"
        )
    print(f"wrote {out}/ (config.yaml, checkpoint.pt, samples.png, scores.png, metrics.jsonl)")
    if not args.no_tracking:
        print(f"MLflow run {run.run_id} (experiment {args.experiment}); draw from it:")
        print(f"  make sample RUN={run.run_id} N=64 OUT=samples.png")
    return 0


def cmd_export(args) -> int:
    from pipelines.export import export_best

    written = export_best(args.sweep, args.out, args.metric, args.mode, args.top, args.format)
    for e in written:
        p = e.provenance
        print(
            f"#{p['rank']} trial {p['trial_id']} (run {p['trial_run_id']}): {p['metric']} "
            f"{p['value']:.6g} at step {p['step']} -> {e.path}"
        )
    if len(written) < args.top:
        print(f"only {len(written)} trial(s) of the sweep ran to their end (asked for {args.top})")
    print(
        f"sweep {written[0].provenance['sweep_name']}; train the best: "
        f"make train CONFIG={written[0].path}"
    )
    return 0


def cmd_sample(args) -> int:
    from pipelines.sample import sample_run

    out = sample_run(args.run, args.n, args.out, seed=args.seed)
    print(f"wrote {args.n} samples to {out}")
    return 0


def cmd_report(args) -> int:
    from pipelines.report.page import write_report

    out = write_report(args.sweep, args.out)
    print(f"wrote {out} (also logged on the sweep's parent run as report/report.html)")
    return 0


def cmd_ui(args) -> int:
    from pipelines.ui import UiError, serve

    try:
        return serve(args.host, args.port)
    except UiError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def cmd_dashboard(args) -> int:
    from pipelines.dashboard import serve
    from pipelines.ui import UiError

    try:
        return serve(args.sweep, args.host, args.port)
    except UiError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


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
    from pipelines.sweep.driver import run_sweep

    result = run_sweep(
        args.space,
        trials=args.trials,
        concurrency=args.concurrency,
        gpus_per_trial=args.gpus_per_trial,
        data=args.data,
        resume=args.resume,
        max_steps=args.max_steps,
        experiment=args.experiment,
        population=args.population,
    )
    if not result.complete:
        print(f"sweep interrupted: continue it with make sweep SPACE={args.space} RESUME=1")
        return 3
    return 0


def cmd_spaces(args) -> int:
    from search_spaces import list_spaces

    for name, description in list_spaces().items():
        print(f"{name:14s} {description}")
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
    t.add_argument("--experiment", default="gansweep-train", help="MLflow experiment of the run")
    t.add_argument("--no-tracking", action="store_true", help="no MLflow run, files only")
    t.add_argument(
        "--population",
        metavar="K|FILE",
        help="train K seeds, or the configs of a YAML list of overrides, as one batched "
        "model (docs/population.md); one folder per member; needs --no-tracking",
    )
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
    s.add_argument(
        "--population",
        type=int,
        help="trials trained as one batched model per Ray trial (budget.population; "
        "docs/population.md); 1 trains one trial per process",
    )
    s.add_argument("--resume", action="store_true", help="continue an interrupted sweep")
    s.add_argument("--experiment", help="MLflow experiment (default: gansweep-<space>)")
    s.set_defaults(func=cmd_sweep)
    sub.add_parser("spaces", help="list the named search spaces").set_defaults(func=cmd_spaces)

    e = sub.add_parser("export", help="write the best finished trial of a sweep as a config")
    e.add_argument("--sweep", help="parent run id, sweep name or folder (default: the latest)")
    e.add_argument("--out", default="configs/best.yaml", help="file of the best trial")
    e.add_argument("--metric", help="rank by this metric (default: the sweep's objective)")
    e.add_argument("--mode", choices=("min", "max"), help="better is min or max")
    e.add_argument("--top", type=int, default=1, help="export the best K (rank k: <out>-k)")
    e.add_argument("--format", choices=("yaml", "json"), help="default: from --out's suffix")
    e.set_defaults(func=cmd_export)

    sm = sub.add_parser("sample", help="draw from the generator a training run logged")
    sm.add_argument("--run", required=True, help="MLflow run id of `make train` (or a model URI)")
    sm.add_argument("--n", type=int, default=64, help="how many samples")
    sm.add_argument("--out", default="samples.png", help=".png, .csv, .parquet or .npy")
    sm.add_argument("--seed", type=int, default=0, help="seed of the latent noise")
    sm.set_defaults(func=cmd_sample)

    r = sub.add_parser("report", help="HTML report of a sweep (also logged on its parent run)")
    r.add_argument("--sweep", help="parent run id, sweep name or folder (default: the latest)")
    r.add_argument("--out", help="HTML file (default runs/reports/<sweep>.html)")
    r.set_defaults(func=cmd_report)

    u = sub.add_parser("ui", help="serve the MLflow UI over the tracking store")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, help="default 5000, or a free one when 5000 is taken")
    u.set_defaults(func=cmd_ui)

    d = sub.add_parser("dashboard", help="serve optuna-dashboard over a sweep's Optuna study")
    d.add_argument("--sweep", help="sweep folder or its name (default: the latest sweep)")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, help="default 8080, or a free one when 8080 is taken")
    d.set_defaults(func=cmd_dashboard)
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

"""Assembling the Ray Tune run of a sweep: Ray itself, the searcher, the scheduler, the
callbacks and the trainable with its resources."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import ray
from ray import tune
from ray.tune.search import ConcurrencyLimiter

from pipelines.sweep.judge import PopulationScheduler, start_judge
from pipelines.sweep.ledger import SweepLedger
from pipelines.sweep.members import MemberCallbacks, member_ids_of
from pipelines.sweep.population_trial import run_population
from pipelines.sweep.progress import ProgressLine
from pipelines.sweep.pruning import MilestoneScheduler, PruningRules
from pipelines.sweep.sampling import define_by_run, sampler_for
from pipelines.sweep.searcher import PopulationOptunaSearch, PruneAwareOptunaSearch
from pipelines.sweep.study import open_storage, study_name
from pipelines.sweep.trial import TrialPlan, run_trial
from pipelines.tracking import store
from pipelines.tracking.trial_runs import TrialRunLogger
from search_spaces import Space, SpaceError

MAX_CRASHES_PER_TRIAL = 3


def init_ray() -> None:
    """RAY_ADDRESS set: join that cluster; unset: start Ray on this machine with every core."""
    if ray.is_initialized():
        return
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
    if os.environ.get("RAY_ADDRESS"):
        follow_auth_mode_from_env()
        ray.init(address=os.environ["RAY_ADDRESS"], **quiet)
    else:
        # Ray starts workers at nice 15, so any other work on the machine starves the
        # trials (seen on a shared 2-core box: the driver and others at nice 0 won). The
        # trials are the work here, so they run at normal priority.
        os.environ.setdefault("RAY_worker_niceness", "0")
        # Ray turns token auth on for a new local Ray and warns about it each time. Setting
        # RAY_AUTH_MODE=token here instead would not do: Ray reads the mode when it is
        # imported, and an explicit mode skips the step that switches this process over,
        # so the driver would call its own Ray without a token. Only the warning goes.
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
            logging.ERROR
        )
        ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, **quiet)


def check_trials_fit(space: Space) -> None:
    """A trial that asks for more CPUs or GPUs than any node of this Ray has would wait for
    ever (Ray Tune only warns, once a minute). On a local Ray that is an error; a cluster's
    autoscaler may still add such a node, so there it is a warning."""
    need = {"CPU": space.budget.cpus_per_trial, "GPU": space.budget.gpus_per_trial}
    nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
    if any(all(res.get(k, 0.0) >= v for k, v in need.items() if v) for res in nodes):
        return
    have = (
        "; ".join(f"{res.get('CPU', 0):g} CPU, {res.get('GPU', 0):g} GPU" for res in nodes)
        or "no live node"
    )
    problem = (
        f"{space.path}: budget: each trial asks for {need['CPU']:g} CPU and {need['GPU']:g} "
        f"GPU (budget.cpus_per_trial, budget.gpus_per_trial), but no node of this Ray has "
        f"that much (nodes: {have}), so no trial could start"
    )
    if os.environ.get("RAY_ADDRESS"):
        print(f"warning: {problem}; they wait until the cluster adds such a node")
        return
    raise SpaceError(
        f"{problem}; lower GPUS_PER_TRIAL (0 trains on the CPU) or the space's "
        "budget.cpus_per_trial, or run on a machine or a cluster (RAY_ADDRESS) that has them"
    )


def follow_auth_mode_from_env() -> None:
    """Make this process use the RAY_AUTH_MODE of its environment now. Ray reads its config
    once, on import; a mode set later (or a local Ray started earlier in this process, which
    switches it to token auth) would otherwise stay in force. A driver whose mode differs
    from the cluster's gets no error at connect time: every trial actor dies at start
    (docs/cluster.md, "Ray's token authentication")."""
    if os.environ.get("RAY_AUTH_MODE"):
        from ray._raylet import Config  # what Ray's own _enable_token_auth calls

        Config.initialize("")


def trainable(space: Space, plan: TrialPlan):
    """One GAN per Ray trial, or with budget.population K one population of K members:
    either way a Ray trial asks budget.cpus_per_trial and gpus_per_trial (a population is
    one process training one batched model: docs/design.md, "Populations under the sweep")."""
    resources = {"cpu": space.budget.cpus_per_trial, "gpu": space.budget.gpus_per_trial}
    run = run_population if space.budget.population > 1 else run_trial
    return tune.with_resources(tune.with_parameters(run, plan=plan), resources)


def build_tuner(
    space: Space, plan: TrialPlan, folder: Path, exp_id: str, parent_run_id: str
) -> tune.Tuner:
    rules = PruningRules.from_space(space)
    k = space.budget.population
    searcher_args = dict(
        metric=space.metric,
        mode=space.direction,
        sampler=sampler_for(space),
        plan=plan,
        storage=open_storage(folder),  # an RDB study: optuna-dashboard reads it live
        study_name=study_name(folder),
    )
    if k > 1:  # populations: the rules judge members in the worker (sweep/judge.py)
        start_judge(rules, folder)
        members_of = functools.partial(member_ids_of, population=k)
        scheduler = PopulationScheduler(rules, space.metric, folder, members_of)
        searcher = PopulationOptunaSearch(
            define_by_run(space),
            scheduler=scheduler,
            population=k,
            trials=space.budget.trials,
            **searcher_args,
        )
    else:
        scheduler = MilestoneScheduler(rules, metric=space.metric, folder=folder)
        searcher = PruneAwareOptunaSearch(
            define_by_run(space), scheduler=scheduler, **searcher_args
        )
    ledger = SweepLedger(
        scheduler, space.direction, space.budget.max_steps, space.budget.trials, folder
    )
    uri = store.tracking_uri()
    runs = TrialRunLogger(ledger, plan, exp_id, parent_run_id, space.name, uri)
    callbacks = [ledger, runs, ProgressLine(ledger)]
    if k > 1:  # each member shown to them as a trial
        callbacks = [MemberCallbacks(*callbacks, population=k)]
    return tune.Tuner(
        trainable(space, plan),
        tune_config=tune.TuneConfig(
            search_alg=ConcurrencyLimiter(searcher, max_concurrent=space.budget.concurrency),
            scheduler=scheduler,
            num_samples=-(-space.budget.trials // k),  # populations of k members
            # a worker process serves trial after trial: no torch import per trial. Safe: a
            # Trainer seeds and builds everything it uses (no state leaks between trials)
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=folder.name,
            storage_path=str(folder.parent),
            # order matters: the ledger settles a trial's state before MLflow reads it
            callbacks=callbacks,
            # a trial whose process or node died is started again (on any node) and goes on
            # from its own checkpoint (pipelines/sweep/trial.py); a trial that raises is not retried
            # (it reports `failed` itself), so this only counts crashes
            failure_config=tune.FailureConfig(max_failures=MAX_CRASHES_PER_TRIAL),
            verbose=0,
        ),
    )


def restore_tuner(
    space: Space, plan: TrialPlan, folder: Path, exp_id: str, parent_run_id: str
) -> tune.Tuner:
    """Ray restores the searcher, scheduler and callbacks it pickled at the first start
    (the ledger and the pruning rules read their state back from their own files); finished, pruned
    and failed trials stay as they were, unfinished ones continue from their own last
    checkpoint (pipelines/sweep/trial.py). A population sweep's judge starts again from
    pruning.json (pipelines/sweep/judge.py)."""
    if space.budget.population > 1:
        start_judge(PruningRules.from_space(space), folder)
    return tune.Tuner.restore(
        str(folder),
        trainable=trainable(space, plan),
        resume_unfinished=True,
        resume_errored=False,
        restart_errored=False,
    )

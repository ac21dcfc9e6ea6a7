"""The Ray Tune trainable of a population sweep: one Ray trial trains K members as one
batched model (`gan_core.population.PopulationTrainer`, docs/population.md), and each
member is a trial of the sweep (its id `<Ray trial id>-m<k>`, pipelines/sweep/members.py).

Each member's full config was built and validated once, where the searcher sampled it
(`TrialPlan.record_config`, in `<sweep>/trials/<member id>/config.json`), as for a plain
trial. At each eval point, for the members evaluated there:

1. the population's checkpoint is replaced (`<sweep>/trials/<Ray trial id>/population.pt`);
2. the sweep's pruning rules judge each member (the judge actor, pipelines/sweep/judge.py),
   synchronously: a stopped member leaves its batch at this eval point;
3. a member that leaves (pruned, finished, diverged) writes its own plain trainer
   checkpoint `<sweep>/trials/<member id>/trainer.pt` and its last record as `ended.json`;
   grids go to its folder as a plain trial's do;
4. one Ray report holds the members' records (members.MEMBERS_KEY).

A member whose config the rules refuse, or whose data is missing, fails alone, before
training. A member that goes NaN is pruned `diverged` alone and leaves (its neighbours'
numbers are unchanged: tests/test_population_trainer.py). An exception inside the batched
step cannot be pinned on one member, so the population falls apart: each member still
training goes on alone, a population of one, from the population's last checkpoint, and
a member whose own step raises fails alone (`MemberReporter.alone`). On a CPU a member's
numbers alone are its numbers in the batch, so the others' runs do not change.

Resumed (Ray restarts the trial after a killed driver or process): the population
continues from its checkpoint; members that had ended are left out and their last
records reported again, and every other member's last record is judged and reported
again, as a plain trial says its last eval point again (the driver skips what it has).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import ray
from ray import tune

from gan_core.config import GanConfig
from gan_core.data import load_dataset
from gan_core.data.load import depends_on_seed
from gan_core.population.trainer import PopulationTrainer
from gan_core.trainer import save_atomically
from pipelines.files import write_atomic
from pipelines.sweep.judge import find_judge
from pipelines.sweep.members import ENDED_KEY, MEMBER_ID_KEY, MEMBERS_KEY, encode_members
from pipelines.sweep.trial import (
    CHECKPOINT_FILE,
    GRID_KEY,
    TrialPlan,
    check_data_on_this_node,
    failed_result,
    grid_size,
    on_the_device_ray_gave,
    result_of,
    save_grid,
    wants_grid,
    whereabouts,
)

POPULATION_CHECKPOINT = "population.pt"
ENDED_FILE = "ended.json"  # a member's last record, once it left its batch
MEMBERS_FILE = "members.json"  # the population's member ids -> the sweep's member ids


def run_population(config: dict, plan: TrialPlan) -> None:
    """Ray Tune function trainable; `config` is {members: {member id: sampled keys}}."""
    population_id = tune.get_context().get_trial_id()
    members = list(config[MEMBERS_KEY])
    reporter = MemberReporter(plan, population_id)
    ended = {
        m: json.loads(p.read_text()) for m in members if (p := reporter.ended_file(m)).is_file()
    }
    cfgs, failed = {}, []
    for mid in members:
        if mid in ended:
            continue
        try:
            cfgs[mid] = on_the_device_ray_gave(plan.trial_config(mid))
            check_data_on_this_node(cfgs[mid])
        except Exception as err:  # this member fails alone; the others train
            cfgs.pop(mid, None)
            failed.append(reporter.failed(mid, err, 0, {}))
    said_again = list(ended.values()) + failed
    if not cfgs:
        reporter.send(said_again)
        return
    try:
        pop = reporter.start(cfgs)
    except Exception as err:  # the population could not be built: all its members fail
        reporter.send(said_again + [reporter.failed(m, err, 0, {}) for m in cfgs])
        return
    reporter.resume(said_again)
    try:
        pop.fit(on_eval=reporter)
    except Exception:  # in the batched step: no member to blame, so each goes on alone
        reporter.alone()


class MemberReporter:
    """The population's on_eval: checkpoint, judge, leave, report (the module's docstring)."""

    def __init__(self, plan: TrialPlan, population_id: str):
        self.plan = plan
        self.folder = plan.trial_folder(population_id)
        self.checkpoint = self.folder / POPULATION_CHECKPOINT  # one member's file when alone
        self.judge = find_judge(plan.folder)
        self.pop: PopulationTrainer | None = None
        self.member_of: dict[int, str] = {}  # the population's member ids -> sweep member ids
        self._datasets: dict[int, object] = {}

    def ended_file(self, mid: str) -> Path:
        return self.plan.trial_folder(mid) / ENDED_FILE

    def start(self, cfgs: dict[str, GanConfig]) -> PopulationTrainer:
        """A new population of these members, or the one checkpointed before a restart."""
        resuming = self.checkpoint.is_file()
        self.pop = PopulationTrainer.from_checkpoint(self.checkpoint) if resuming else None
        if self.pop is None:
            self.pop = PopulationTrainer(list(cfgs.values()), sources=list(cfgs))
            self.member_of = dict(zip(self.pop.ids, cfgs, strict=True))
            write_atomic(self.folder / MEMBERS_FILE, json.dumps(self.member_of))
            self.pop.save_checkpoint(self.checkpoint)  # step 0: where `alone` starts, if it must
        else:  # the checkpoint's members are in the order of the first start
            order = json.loads((self.folder / MEMBERS_FILE).read_text())
            self.member_of = {int(k): v for k, v in order.items()}
            self.pop.remove([i for i in self.pop.ids if self.member_of[i] not in cfgs])
        return self.pop

    def alone(self) -> None:
        """After the batched step raised: each member still training, a population of one
        from the population's last checkpoint (its last eval point), trains to its end and
        is judged and reported as in the batch; a member whose own step raises fails alone.
        Each member's checkpoint goes to its own folder, so the population's stays where
        the batch was: a restarted process repeats the batch to the same raise (the driver
        skips the records it has) and the members that ended alone keep their outcome."""
        batch = self.checkpoint
        # the batch's members, less any that ended in the eval point that raised
        training = [i for i in self.pop.ids if not self.ended_file(self.member_of[i]).is_file()]
        for i in training:
            mid = self.member_of[i]
            self.pop = PopulationTrainer.from_checkpoint(batch)
            self.pop.remove([j for j in self.pop.ids if j != i])
            self.pop.left.clear()  # the others' states: not this member's to keep
            self.checkpoint = self.plan.trial_folder(mid) / POPULATION_CHECKPOINT
            try:
                self.pop.fit(on_eval=self)
            except Exception as err:  # this member's own step raised: it fails alone
                step, history = self.pop.steps[0], self.pop.history[0]
                self.send([self.failed(mid, err, step, (history or [{}])[-1])])

    def resume(self, said_again: list[dict]) -> None:
        """Members that ended or failed said again; the others' last records judged again."""
        last = {i: h[-1] for i, h in zip(self.pop.ids, self.pop.history, strict=True) if h}
        if last:
            self.pop.remove(self(last, extra=said_again))
        elif said_again:
            self.send(said_again)

    def __call__(self, records: dict[int, dict], extra: list[dict] = ()) -> list[int]:
        self.pop.save_checkpoint(self.checkpoint)  # atomic replace
        out, leaving = list(extra), []
        for i, record in records.items():
            mid, k = self.member_of[i], self.pop.ids.index(i)
            cfg = self.pop.cfgs[k]
            metrics = result_of(record)
            metrics.update(whereabouts(self.pop.device))
            health = str(metrics.get("health", "ok"))
            reason = ray.get(
                self.judge.observe.remote(
                    mid, metrics["step"], metrics.get(self.plan.metric), health
                )
            )
            if wants_grid(record, set(self.plan.milestones) | {cfg.train.steps}):
                metrics[GRID_KEY] = self._grid(k, cfg, metrics["step"])
            ended = bool(reason) or metrics["step"] >= cfg.train.steps
            metrics.update({MEMBER_ID_KEY: mid, ENDED_KEY: ended})
            if ended:
                leaving.append(i)
                save_atomically(
                    self.pop.member_state(k), self.plan.trial_folder(mid) / CHECKPOINT_FILE
                )
                write_atomic(self.ended_file(mid), json.dumps(metrics, allow_nan=True))
            out.append(metrics)
        self.send(out)
        return leaving

    def failed(self, mid: str, err: BaseException, step: int, last: dict) -> dict:
        record = failed_result(err, None, self.plan.metric)
        record.update(step=int(step), health=str(last.get("health", "ok")))
        record.update({MEMBER_ID_KEY: mid, ENDED_KEY: True})
        write_atomic(self.ended_file(mid), json.dumps(record, allow_nan=True))
        return record

    def send(self, records: list[dict]) -> None:
        """One Ray report for the population (the searcher's metric is each member's)."""
        step = max((r["step"] for r in records), default=0)
        tune.report(
            {
                "step": step,
                self.plan.metric: math.nan,
                "objective": math.nan,
                MEMBERS_KEY: encode_members(records),
            }  # fmt: skip
        )

    def _grid(self, k: int, cfg: GanConfig, step: int) -> str:
        dataset = self._dataset(cfg)
        fake = self.pop.sample(grid_size(dataset), [k])[k]
        return save_grid(
            fake, dataset, self.plan.trial_folder(self.member_of[self.pop.ids[k]]), step
        )

    def _dataset(self, cfg: GanConfig):
        """The member's data set, for its grid only (the population trains on its own)."""
        key = cfg.train.seed if depends_on_seed(cfg.data) else 0
        if key not in self._datasets:
            self._datasets[key] = load_dataset(cfg.data, cfg.train.seed)
        return self._datasets[key]

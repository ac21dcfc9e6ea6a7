"""PopulationTrainer: K trials of one shape trained as one batched model (docs/population.md).

Each member is a trial of its own: its config, its seed, its random streams (a generator
standing in for torch's global stream of a plain Trainer, and one for its batches), its
step count, score window, health monitor and eval history. Its run depends on its config
alone, not on its slot or its company (tests/test_population_trainer.py).

Members leave at an eval point when they finish (train.steps), diverge, or are stopped by
`on_eval`; their tensors are sliced out so the rest run faster, and their final state is
kept in `left`. `add` puts new members of the same shape in, at step 0, while the others
are at their own steps. A member's state is exactly a plain Trainer checkpoint
(`member_state`), so a member resumes in a population or as a plain Trainer alike.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from gan_core.config import GanConfig, check_population
from gan_core.data import Dataset, load_dataset
from gan_core.data.load import depends_on_seed
from gan_core.metrics import build_evaluator
from gan_core.models import build_models, sample_latent
from gan_core.models.layers import latent_width
from gan_core.models.table_head import table_head
from gan_core.monitor import HealthMonitor
from gan_core.population.adam import BatchedAdam
from gan_core.population.ema import BatchedEma
from gan_core.population.memory import keep_freed_memory
from gan_core.population.models import build_batched_models, set_member_hparams, shape_config
from gan_core.population.step import PopulationModules, PopulationStepOutput, train_step
from gan_core.population.window import PopulationWindow
from gan_core.trainer import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    read_safely,
    resolve_device,
    save_atomically,
)

# on_eval gets {member id: record} for the members at an eval point; it returns True to
# stop them all, or the ids of the members to stop (None / False / () stops none).
OnPopulationEval = Callable[[dict[int, dict]], "bool | Iterable[int] | None"]
POPULATION_FORMAT = 1


class PopulationTrainer:
    def __init__(
        self,
        cfgs: list[GanConfig],
        dataset: Dataset | None = None,
        dtype: torch.dtype = torch.float32,
        sources: list[str] | None = None,
    ) -> None:
        check_population(cfgs, sources)
        self.shape = cfgs[0]
        if self.shape.train.threads:
            torch.set_num_threads(self.shape.train.threads)
        self.device = resolve_device(self.shape.train.device)
        if self.device.type == "cpu":
            keep_freed_memory()  # the step's large tensors reuse freed memory (memory.py)
        self.dtype = dtype
        self._dataset = dataset
        self._datasets: dict[int, Dataset] = {}
        self._evaluators: dict[int, object] = {}
        self.modules: PopulationModules | None = None
        self.window = PopulationWindow(self.device)
        self.ids: list[int] = []
        self.cfgs: list[GanConfig] = []
        self.steps: list[int] = []
        self.generators: list[torch.Generator] = []
        self.batch_generators: list[torch.Generator] = []
        self.health: list[HealthMonitor] = []
        self.history: list[list[dict]] = []
        self._plain_keys: list[dict[str, list[str]]] = []
        self._timers: list[list[float]] = []  # per member: [train s, eval s] since its last eval
        self._data: list[torch.Tensor] = []
        self._last = None  # the last step's outputs and real batch (the update ratio reads them)
        self._last_batch = None
        self.left: dict[int, dict] = {}  # id -> member_state of members that left
        self.next_id = 0
        self.add(cfgs)

    # --- members ---------------------------------------------------------------
    @property
    def num_members(self) -> int:
        return len(self.ids)

    def add(self, cfgs: list[GanConfig]) -> list[int]:
        """Put new members in at step 0; returns their ids."""
        check_population([self.shape, *cfgs])
        dataset = self._data_for(cfgs[0])
        head = table_head(self.shape.model, dataset)  # None unless the table has categories
        sample_shape = tuple(dataset.sample_shape)
        plains = [self._plain_start(cfg, sample_shape, head) for cfg in cfgs]
        if self.modules is None:
            self.modules = self._build(cfgs, sample_shape, head)
            for k, (G, D, _) in enumerate(plains):
                self.modules.G.load_member(k, G.state_dict())
                self.modules.D.load_member(k, D.state_dict())
            if self.modules.ema is not None:
                for k, (G, _, _) in enumerate(plains):
                    self.modules.ema.module.load_member(k, G.state_dict())
        else:
            m = self.modules
            m.G.append_members([G.state_dict() for G, _, _ in plains])
            m.D.append_members([D.state_dict() for _, D, _ in plains])
            m.opt_g.append([c.optim.lr_g for c in cfgs], [_betas(c, "g") for c in cfgs])
            m.opt_d.append([c.optim.lr_d for c in cfgs], [_betas(c, "d") for c in cfgs])
            if m.ema is not None:
                m.ema.append([G.state_dict() for G, _, _ in plains], [_ema(c) for c in cfgs])
            elif any(_ema(c) > 0 for c in cfgs):  # the first member that averages
                m.ema = BatchedEma(m.G, [_ema(c) for c in [*self.cfgs, *cfgs]])
        new_ids = list(range(self.next_id, self.next_id + len(cfgs)))
        self.next_id += len(cfgs)
        for cfg, (G, D, rng_state) in zip(cfgs, plains, strict=True):
            self._add_member_record(cfg, G, D, rng_state)
        self.ids += new_ids
        self.window.append(len(cfgs))
        set_member_hparams(self.modules.G, self.modules.D, [c.model for c in self.cfgs])
        if self.modules.ema is not None:
            self.modules.ema.module.set_hparam("dropout_p", [c.model.g_dropout for c in self.cfgs])
        self._last = self._last_batch = None
        return new_ids

    def _plain_start(self, cfg: GanConfig, sample_shape, head):
        """The plain trainer's G and D for this config, and its global stream after building
        them (gan_core/trainer.py builds them right after torch.manual_seed(seed))."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.train.seed)
            G, D = build_models(cfg.model, sample_shape, head)
            return G, D, torch.get_rng_state()

    def _build(self, cfgs: list[GanConfig], sample_shape, head) -> PopulationModules:
        k = len(cfgs)
        G, D = build_batched_models(shape_config(self.shape.model), sample_shape, k, head)
        G, D = G.to(self.device, self.dtype), D.to(self.device, self.dtype)
        opt_g = BatchedAdam(
            list(G.parameters()), [c.optim.lr_g for c in cfgs], [_betas(c, "g") for c in cfgs]
        )
        opt_d = BatchedAdam(
            list(D.parameters()), [c.optim.lr_d for c in cfgs], [_betas(c, "d") for c in cfgs]
        )
        # One EMA for the population when any member averages; members at decay 0 sample G.
        ema = BatchedEma(G, [_ema(c) for c in cfgs]) if any(_ema(c) > 0 for c in cfgs) else None
        return PopulationModules(G, D, opt_g, opt_d, ema)

    def _add_member_record(self, cfg: GanConfig, G, D, rng_state: torch.Tensor) -> None:
        gen = torch.Generator(device=self.device)
        if self.device.type == "cpu":
            gen.set_state(rng_state)  # the plain trainer's global stream after building
        else:
            gen.manual_seed(cfg.train.seed)  # the plain trainer's CUDA stream, untouched by init
        self.cfgs.append(cfg)
        self.steps.append(0)
        self.generators.append(gen)
        self.batch_generators.append(
            torch.Generator(device=self.device).manual_seed(cfg.train.seed + 1)
        )
        self.health.append(HealthMonitor(cfg.monitor))
        self.history.append([])
        self._plain_keys.append({"G": list(G.state_dict()), "D": list(D.state_dict())})
        self._timers.append([0.0, 0.0])
        self._data.append(self._device_data(self._data_for(cfg)))

    def remove(self, ids: Iterable[int]) -> None:
        """Members leave the batch: their final state goes to `left`, their tensors go."""
        leaving = set(ids)
        if not leaving:
            return
        for k, member_id in enumerate(self.ids):
            if member_id in leaving:
                self.left[member_id] = self.member_state(k)
        keep = [k for k, member_id in enumerate(self.ids) if member_id not in leaving]
        index = torch.tensor(keep, dtype=torch.long)
        m = self.modules
        m.G.keep(index)
        m.D.keep(index)
        m.opt_g.keep(index)
        m.opt_d.keep(index)
        if m.ema is not None:
            m.ema.keep(index)
        self.window.keep(index)
        for name in (
            "ids", "cfgs", "steps", "generators", "batch_generators", "health",
            "history", "_plain_keys", "_timers", "_data",
        ):  # fmt: skip
            setattr(self, name, [getattr(self, name)[k] for k in keep])
        self._last = self._last_batch = None

    # --- data ---------------------------------------------------------------------
    def _data_for(self, cfg: GanConfig) -> Dataset:
        """The member's data set: the given one, else load_dataset's for its seed (shared by
        all members where the seed does not change the data)."""
        if self._dataset is not None:
            return self._dataset
        key = cfg.train.seed if depends_on_seed(cfg.data) else 0
        if key not in self._datasets:
            self._datasets[key] = load_dataset(cfg.data, cfg.train.seed)
        return self._datasets[key]

    def _device_data(self, dataset: Dataset) -> torch.Tensor:
        """The data set's samples on the device, once per data set (not once per member)."""
        cache = self.__dict__.setdefault("_on_device", {})
        if id(dataset) not in cache:
            cache[id(dataset)] = dataset.x.to(self.device, self.dtype)
        return cache[id(dataset)]

    def _evaluator(self, k: int):
        # One reference sample per data set (seed 0), as the plain trainer: same yardstick.
        dataset = self._data_for(self.cfgs[k])
        if id(dataset) not in self._evaluators:
            self._evaluators[id(dataset)] = build_evaluator(
                dataset, self.shape.train.eval_samples, seed=0
            )
        return self._evaluators[id(dataset)]

    def next_batch(self, mask: list[bool]) -> torch.Tensor:
        """Each drawing member's batch from its own batch stream (zeros for the others)."""
        n = self.shape.optim.batch_size
        draws = zip(self._data, self.batch_generators, mask, strict=True)
        idx = [
            torch.randint(len(d), (n,), device=self.device, generator=g) if m else None
            for d, g, m in draws
        ]
        data = self._data[0]
        if all(m for m in mask) and all(d is data for d in self._data):
            return data[torch.stack(idx)]  # one gather for all members: the same rows
        rows = [
            d[i] if i is not None else d.new_zeros((n, *d.shape[1:]))
            for d, i in zip(self._data, idx, strict=True)
        ]
        return torch.stack(rows)

    # --- the loop -----------------------------------------------------------------------
    def fit(
        self, until: int | None = None, on_eval: OnPopulationEval | None = None
    ) -> dict[int, dict]:
        """Train every member to its train.steps (or to step `until`, a pause); members leave
        as they finish, diverge or are stopped. Returns each member's last record."""
        last: dict[int, dict] = {}
        self._set_train_mode(True)
        while self.num_members:
            limits = [
                c.train.steps if until is None else min(until, c.train.steps) for c in self.cfgs
            ]
            stepping = [s < lim for s, lim in zip(self.steps, limits, strict=True)]
            if not any(stepping):
                break
            tick = time.perf_counter()
            with self._autocast():
                out, self._last_batch = train_step(
                    self.modules, self.next_batch, self.cfgs, self.steps, self.generators,
                    stepping, self._last, self._last_batch,
                )  # fmt: skip
            self._last = out
            self.window.add(out, stepping)
            elapsed = time.perf_counter() - tick
            every = self.shape.train.eval_every
            for k, s in enumerate(stepping):
                if s:
                    self.steps[k] += 1
                    self._timers[k][0] += elapsed
            due = [
                s and (self.steps[k] % every == 0 or self.steps[k] == limits[k])
                for k, s in enumerate(stepping)
            ]
            if any(due):
                records = self._eval_records([k for k, d in enumerate(due) if d])
                last.update(records)
                self._after_eval(records, on_eval)
                self._set_train_mode(True)
        return last

    def _after_eval(self, records: dict[int, dict], on_eval: OnPopulationEval | None) -> None:
        asked = on_eval(records) if on_eval is not None else None
        stop = set(records) if asked is True else set(asked or ())
        by_id = {member_id: k for k, member_id in enumerate(self.ids)}
        for member_id, record in records.items():
            k = by_id[member_id]
            if record["health"] == "diverged" or self.steps[k] >= self.cfgs[k].train.steps:
                stop.add(member_id)
        self.remove(stop & set(self.ids))

    def _autocast(self):
        if self.shape.train.amp and self.device.type == "cuda":
            return torch.autocast("cuda", torch.bfloat16)
        return contextlib.nullcontext()

    def _set_train_mode(self, training: bool) -> None:
        self.modules.G.train(training)
        self.modules.D.train(training)

    # --- evaluation -----------------------------------------------------------------------
    def _eval_records(self, members: list[int]) -> dict[int, dict]:
        """The plain trainer's eval record for each of these members (its _eval_record)."""
        start = time.perf_counter()
        norms = {k: self._grad_norms(k) for k in members}
        fakes = self.sample(self.shape.train.eval_samples, members)
        records = {}
        for k in members:
            evaluator = self._evaluator(k)
            metrics = evaluator(fakes[k])
            metrics["objective"] = metrics[evaluator.objective]
            scores = self.window.flush(k)
            records[k] = {"step": self.steps[k], **scores, **norms[k], **metrics}
        eval_s = time.perf_counter() - start  # the members share one eval pass
        out = {}
        for k, record in records.items():
            train_s = self._timers[k][0]
            steps_in_window = self.steps[k] - (
                self.history[k][-1]["step"] if self.history[k] else 0
            )
            record["perf/steps_per_s"] = steps_in_window / max(train_s, 1e-9)
            record["perf/eval_share"] = eval_s / max(train_s + eval_s, 1e-9)
            record["perf/members"] = self.num_members
            record["health"] = self.health[k].update(record)
            self.history[k].append(record)
            self._timers[k] = [0.0, 0.0]
            out[self.ids[k]] = record
        return out

    def _grad_norms(self, k: int) -> dict[str, float]:
        """gan_core/step.py's grad_norm of member k's D and G (its last update's gradients)."""
        norms = {}
        for name, module in (("grad_norm/d", self.modules.D), ("grad_norm/g", self.modules.G)):
            grads = [p.grad[k] for p in module.parameters() if p.grad is not None]
            norms[name] = float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0
        return norms

    @torch.no_grad()
    def sample(self, n: int, members: list[int]) -> dict[int, torch.Tensor]:
        """n samples per member from a fixed z (its seed + 2), from its EMA G if it has one,
        in eval mode: the plain trainer's evaluate() sample, for several members at once."""
        m = self.modules
        rngs = {
            k: torch.Generator(device=self.device).manual_seed(self.cfgs[k].train.seed + 2)
            for k in members
        }
        uses_ema = [k for k in members if _ema(self.cfgs[k]) > 0]
        nets = [(m.G, [k for k in members if k not in uses_ema])]
        if uses_ema:
            nets.append((m.ema.module, uses_ema))
        was_training = m.G.training
        chunks: dict[int, list[torch.Tensor]] = {k: [] for k in members}
        for start in range(0, n, 1024):  # bounded memory for large n, as the plain trainer
            size = min(1024, n - start)
            z = torch.zeros(
                self.num_members,
                size,
                latent_width(self.shape.model),  # z, then InfoGAN's codes
                device=self.device,
                dtype=self.dtype,
            )
            for k in members:
                z[k] = sample_latent(size, self.shape.model, self.device, generator=rngs[k])
            for net, ks in nets:
                if not ks:
                    continue
                net.eval()
                out = net(z)
                for k in ks:
                    chunks[k].append(out[k].float().cpu())
        m.G.train(was_training)
        return {k: torch.cat(c) for k, c in chunks.items()}

    # --- member states (= plain Trainer checkpoints) and the population checkpoint --------
    def member_state(self, k: int) -> dict:
        """Member k as a plain Trainer.state_dict(): Trainer.load_state_dict resumes it."""
        m = self.modules
        keys = self._plain_keys[k]
        rng = {
            "torch": self.generators[k].get_state(),
            "batch": self.batch_generators[k].get_state(),
        }
        if self.device.type == "cuda":
            rng = {
                "torch": torch.get_rng_state(),
                "cuda": self.generators[k].get_state(),
                "batch": rng["batch"],
            }
        ema = None
        if m.ema is not None and _ema(self.cfgs[k]) > 0:
            module = m.ema.module.member_state_dict(k, keys["G"])
            ema = {
                "n_averaged": torch.tensor(m.ema.n_averaged[k]),
                **{f"module.{key}": v for key, v in module.items()},
            }
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.cfgs[k].to_dict(),
            "step": self.steps[k],
            "G": m.G.member_state_dict(k, keys["G"]),
            "D": m.D.member_state_dict(k, keys["D"]),
            "opt_g": _adam_state(m.opt_g, k),
            "opt_d": _adam_state(m.opt_d, k),
            "ema": ema,
            "rng": rng,
            "window": self.window.member_state(k),
            "health": self.health[k].state_dict(),
            "history": list(self.history[k]),
        }

    def load_member_state(self, k: int, state: dict) -> None:
        """Put a plain Trainer checkpoint (or a member_state) into slot k."""
        m = self.modules
        m.G.load_member(k, state["G"])
        m.D.load_member(k, state["D"])
        _load_adam_state(m.opt_g, k, state["opt_g"])
        _load_adam_state(m.opt_d, k, state["opt_d"])
        if m.ema is not None and state["ema"] is not None:
            module = {
                key[len("module.") :]: v
                for key, v in state["ema"].items()
                if key.startswith("module.")
            }
            m.ema.module.load_member(k, module)
            m.ema.n_averaged[k] = int(state["ema"]["n_averaged"])
        stream = state["rng"]["cuda"] if self.device.type == "cuda" else state["rng"]["torch"]
        self.generators[k].set_state(stream)
        self.batch_generators[k].set_state(state["rng"]["batch"])
        self.window.load_member_state(k, state["window"])
        self.health[k].load_state_dict(state["health"])
        self.history[k] = list(state["history"])
        self.steps[k] = int(state["step"])
        self._last = self._last_batch = None

    def state_dict(self) -> dict:
        """One checkpoint for the population: each member's plain Trainer state and the ids
        (tensors and plain values only: torch.load(weights_only=True) reads it)."""
        return {
            "format": POPULATION_FORMAT,
            "kind": "population",
            "ids": list(self.ids),
            "next_id": self.next_id,
            "members": [self.member_state(k) for k in range(self.num_members)],
            "last": self._last_state(),
        }

    def _last_state(self) -> dict | None:
        """The last step's per-member outputs: an update ratio's masked members carry them."""
        if self._last is None:
            return None
        out = self._last
        return {
            "d_loss": out.d_loss.cpu(), "g_loss": out.g_loss.cpu(),
            "real_logits": out.real_logits.cpu(), "fake_logits": out.fake_logits.cpu(),
            "batch": self._last_batch.cpu(),
        }  # fmt: skip

    @classmethod
    def from_state(cls, state: dict, dataset: Dataset | None = None, dtype=torch.float32):
        cfgs = [
            GanConfig.from_dict(s["config"], source="population checkpoint")
            for s in state["members"]
        ]
        pop = cls(cfgs, dataset, dtype)
        for k, member in enumerate(state["members"]):
            pop.load_member_state(k, member)
        pop.ids, pop.next_id = list(state["ids"]), int(state["next_id"])
        if state.get("last") is not None:
            last = {k: v.to(pop.device) for k, v in state["last"].items()}
            pop._last_batch = last.pop("batch")
            pop._last = PopulationStepOutput(**last)
        return pop

    def save_checkpoint(self, path: str | Path) -> Path:
        return save_atomically(self.state_dict(), path)

    @classmethod
    def from_checkpoint(cls, path, dataset: Dataset | None = None, dtype=torch.float32):
        state = read_safely(path)
        if not isinstance(state, dict) or state.get("kind") != "population":
            raise CheckpointError(
                f"{path} is not a population checkpoint (a plain run's checkpoint.pt resumes "
                f"with gansweep train --resume; docs/population.md)"
            )
        if state.get("format") != POPULATION_FORMAT:
            raise CheckpointError(
                f"{path} has population format {state.get('format')!r}; this gansweep reads "
                f"{POPULATION_FORMAT} (docs/population.md)"
            )
        return cls.from_state(state, dataset, dtype)


def _betas(cfg: GanConfig, net: str) -> tuple[float, float]:
    o = cfg.optim
    return (o.beta1_g, o.beta2_g) if net == "g" else (o.beta1_d, o.beta2_d)


def _ema(cfg: GanConfig) -> float:
    return cfg.tricks.ema_decay


def _adam_state(opt: BatchedAdam, k: int) -> dict:
    """Member k's optimizer as torch.optim.Adam.state_dict() of the plain trainer."""
    dummies = [torch.zeros(0, requires_grad=True) for _ in opt.params]
    plain = torch.optim.Adam(dummies, lr=opt.lr[k], betas=opt.betas[k], eps=opt.eps[k])
    state = plain.state_dict()
    state["state"] = (
        {i: {**s, "step": s["step"]} for i, s in opt.member_state(k).items()}
        if opt.steps[k]
        else {}
    )
    return state


def _load_adam_state(opt: BatchedAdam, k: int, state: dict) -> None:
    group = state["param_groups"][0]
    opt.lr[k], opt.betas[k], opt.eps[k] = (
        float(group["lr"]),
        tuple(map(float, group["betas"])),
        float(group["eps"]),
    )
    per_param = state["state"]
    opt.steps[k] = int(per_param[0]["step"]) if per_param else 0
    for i in range(len(opt.params)):
        if per_param:
            opt.exp_avg[i][k] = per_param[i]["exp_avg"]
            opt.exp_avg_sq[i][k] = per_param[i]["exp_avg_sq"]
        else:
            opt.exp_avg[i][k] = 0
            opt.exp_avg_sq[i][k] = 0

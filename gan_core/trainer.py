"""The shared training core: the same loop runs a sweep trial and a production run.

The loop calls back at eval points only (every train.eval_every steps and at the
last step) with one record of scores, losses, metrics, health and throughput;
between eval points nothing waits on the host. Checkpoints carry the config,
the weights, the optimizers and every random state, so a run stopped at step k
and resumed equals an uninterrupted one bit for bit on CPU.
"""

from __future__ import annotations

import contextlib
import pickle
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from gan_core.config import GanConfig
from gan_core.data import Dataset, load_dataset
from gan_core.metrics import build_evaluator
from gan_core.models import build_models, sample_latent
from gan_core.models.table_head import table_head
from gan_core.monitor import HealthMonitor, ScoreWindow
from gan_core.step import GanModules, grad_norm, train_step

OnEval = Callable[[dict], "bool | None"]

# The layout of Trainer.state_dict; bump it when a key changes meaning (docs/checkpoints.md).
CHECKPOINT_FORMAT = 1
CHECKPOINT_KEYS = frozenset(
    ("config", "step", "G", "D", "opt_g", "opt_d", "ema", "rng", "window", "health", "history")
)


class CheckpointError(ValueError):
    """A checkpoint that is refused: unsafe to unpickle, unreadable, or not a trainer's."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class Trainer:
    def __init__(self, cfg: GanConfig, dataset: Dataset | None = None):
        self.cfg = cfg
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        self.device = resolve_device(cfg.train.device)
        self.dataset = dataset if dataset is not None else load_dataset(cfg.data, cfg.train.seed)
        self.real = self.dataset.x.to(self.device)
        self.batch_rng = torch.Generator(device=self.device).manual_seed(cfg.train.seed + 1)
        self._rng_state: dict | None = None  # torch's global stream, swapped in while we train
        self._in_fit = False
        with self._own_rng(seed=cfg.train.seed):  # weights, z, dropout, instance noise
            self.modules = self._build_modules()
        # One reference sample for every seed: trials of a sweep are ranked on the same yardstick.
        self.evaluator = build_evaluator(self.dataset, cfg.train.eval_samples, seed=0)
        self.window = ScoreWindow(self.device)
        self.health = HealthMonitor(cfg.monitor)
        self.step = 0
        self.history: list[dict] = []
        self._autocast = cfg.train.amp and self.device.type == "cuda"

    def _build_modules(self) -> GanModules:
        cfg = self.cfg
        head = table_head(cfg.model, self.dataset)  # None unless the table has categories
        G, D = build_models(cfg.model, tuple(self.dataset.sample_shape), head)
        G, D = G.to(self.device), D.to(self.device)
        o = cfg.optim
        opt_g = torch.optim.Adam(G.parameters(), lr=o.lr_g, betas=(o.beta1_g, o.beta2_g))
        opt_d = torch.optim.Adam(D.parameters(), lr=o.lr_d, betas=(o.beta1_d, o.beta2_d))
        ema = None
        if cfg.tricks.ema_decay > 0:
            avg = get_ema_multi_avg_fn(cfg.tricks.ema_decay)
            ema = AveragedModel(G, multi_avg_fn=avg, use_buffers=True)
        return GanModules(G, D, opt_g, opt_d, ema)

    # --- random streams -----------------------------------------------------
    @contextlib.contextmanager
    def _own_rng(self, seed: int | None = None) -> Iterator[None]:
        """Run with this trainer's own copy of torch's global random stream.

        Dropout and randn_like draw from the global stream; swapping our copy in
        and out keeps two trainers in one process (tests, a population) from
        perturbing each other, so a run depends on its seed alone.
        """
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices, device_type=self.device.type):
            if seed is not None:
                torch.manual_seed(seed)
            else:
                self._set_global_rng(self._rng_state)
            try:
                yield
            finally:
                self._rng_state = self._global_rng()

    def _global_rng(self) -> dict:
        state = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _set_global_rng(self, state: dict) -> None:
        torch.set_rng_state(state["torch"])
        if "cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda"], self.device)

    # --- the loop ----------------------------------------------------------
    def next_batch(self) -> torch.Tensor:
        idx = torch.randint(
            len(self.real),
            (self.cfg.optim.batch_size,),
            device=self.device,
            generator=self.batch_rng,
        )
        return self.real[idx]

    def fit(self, until: int | None = None, on_eval: OnEval | None = None) -> dict:
        """Train to step `until` (default train.steps); return the last eval record.

        Stops early when `on_eval` returns True or the run diverges (NaN/inf).
        """
        with self._own_rng():
            self._in_fit = True
            try:
                return self._fit(self.cfg.train.steps if until is None else until, on_eval)
            finally:
                self._in_fit = False

    def _fit(self, until: int, on_eval: OnEval | None) -> dict:
        every = self.cfg.train.eval_every
        record: dict = self.history[-1] if self.history else {}
        window_start = time.perf_counter()
        self._set_train_mode(True)
        while self.step < until:
            at_eval = (self.step + 1) % every == 0 or self.step + 1 == until
            with torch.autocast(self.device.type, torch.bfloat16, enabled=self._autocast):
                out = train_step(self.modules, self.next_batch, self.cfg, self.step)
            self.window.add(out.d_loss, out.g_loss, out.real_logits, out.fake_logits)
            self.step += 1
            if not at_eval:
                continue
            record = self._eval_record(window_start)
            stop = on_eval(record) if on_eval is not None else False
            if stop or record["health"] == "diverged":
                break
            self._set_train_mode(True)
            window_start = time.perf_counter()
        return record

    def _eval_record(self, window_start: float) -> dict:
        steps_in_window = self.window.count
        scores = self.window.flush()  # the one host sync of the window
        norms = {"grad_norm/d": grad_norm(self.modules.D), "grad_norm/g": grad_norm(self.modules.G)}
        train_s = time.perf_counter() - window_start
        record = {"step": self.step, **scores, **{k: float(v) for k, v in norms.items()}}
        record.update(self.evaluate())
        eval_s = time.perf_counter() - window_start - train_s
        record["perf/steps_per_s"] = steps_in_window / max(train_s, 1e-9)
        record["perf/eval_share"] = eval_s / max(train_s + eval_s, 1e-9)
        record["health"] = self.health.update(record)
        self.history.append(record)
        return record

    def _set_train_mode(self, training: bool) -> None:
        self.modules.G.train(training)
        self.modules.D.train(training)

    # --- evaluation and sampling --------------------------------------------
    def evaluate(self) -> dict:
        """Quality metrics on the eval fakes (`eval_fakes`)."""
        metrics = self.evaluator(self.eval_fakes())
        metrics["objective"] = metrics[self.evaluator.objective]
        return metrics

    def held_out_report(self) -> dict:
        """The evaluator's end-of-run metrics on the same fakes as `evaluate`: for a table,
        SDMetrics' quality report and the copy check on the held-out rows ({} otherwise).
        Seconds per call, so production training runs it once, at its last step
        (docs/tables.md has the timings)."""
        return self.evaluator.final(self.eval_fakes())

    def eval_fakes(self) -> torch.Tensor:
        """The fakes every eval point scores: train.eval_samples from a fixed z (same z each time)."""
        return self.sample(self.cfg.train.eval_samples, seed=self.cfg.train.seed + 2)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """n samples in model scale from the EMA generator if enabled, else G, in eval mode.

        With a seed, z comes from its own generator, so sampling leaves the
        training random streams (and so a resumed run) untouched.
        """
        G = self.generator
        was_training = G.training
        G.eval()
        rng = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        chunks = []
        for start in range(0, n, 1024):  # bounded memory for large n
            z = sample_latent(min(1024, n - start), self.cfg.model, self.device, generator=rng)
            chunks.append(G(z).float().cpu())
        G.train(was_training)
        return torch.cat(chunks)

    @property
    def generator(self) -> torch.nn.Module:
        m = self.modules
        return m.ema.module if m.ema is not None else m.G

    # --- checkpoints ---------------------------------------------------------
    def state_dict(self) -> dict:
        m = self.modules
        # inside fit (a checkpoint from on_eval) the live global stream is ours
        rng = self._global_rng() if self._in_fit else dict(self._rng_state)
        rng["batch"] = self.batch_rng.get_state()
        # Tensors and plain dict/list/str/number/bool/None only: torch.load(weights_only=True)
        # builds nothing else (docs/checkpoints.md).
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.cfg.to_dict(),  # the weights carry their recipe (nanoGPT's habit)
            "step": self.step,
            "G": m.G.state_dict(),
            "D": m.D.state_dict(),
            "opt_g": m.opt_g.state_dict(),
            "opt_d": m.opt_d.state_dict(),
            "ema": m.ema.state_dict() if m.ema is not None else None,
            "rng": rng,
            "window": self.window.state_dict(),
            "health": self.health.state_dict(),
            "history": self.history,
        }

    def load_state_dict(self, state: dict) -> None:
        m = self.modules
        m.G.load_state_dict(state["G"])
        m.D.load_state_dict(state["D"])
        m.opt_g.load_state_dict(state["opt_g"])
        m.opt_d.load_state_dict(state["opt_d"])
        if m.ema is not None:
            m.ema.load_state_dict(state["ema"])
        self._rng_state = {k: v for k, v in state["rng"].items() if k != "batch"}
        self.batch_rng.set_state(state["rng"]["batch"])
        self.window.load_state_dict(state["window"])
        self.health.load_state_dict(state["health"])
        self.step = state["step"]
        self.history = list(state["history"])

    def save_checkpoint(self, path: str | Path) -> Path:
        return save_atomically(self.state_dict(), path)

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, dataset: Dataset | None = None, cfg: GanConfig | None = None
    ) -> Trainer:
        """Rebuild a trainer from a checkpoint; `cfg` may extend it (e.g. more train.steps)."""
        state = load_checkpoint(path)
        trainer = cls(cfg or GanConfig.from_dict(state["config"]), dataset)
        trainer.load_state_dict(state)
        return trainer


def save_atomically(state: dict, path: str | Path) -> Path:
    """Write a checkpoint atomically: a crash mid-write never leaves a truncated file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path) -> dict:
    """The state a Trainer saved (read_safely), checked to be a trainer checkpoint."""
    path = Path(path)
    state = read_safely(path)
    _check_layout(path, state)
    return state


def read_safely(path: str | Path) -> object:
    """A torch-saved file read without running any code it could carry.

    Trials resume from the shared storage path, so a checkpoint is untrusted input:
    weights_only=True builds tensors and plain containers only, never an arbitrary
    object, and a file that asks for more is refused (docs/checkpoints.md).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, ValueError) as err:
        raise CheckpointError(_refusal(path, err)) from None


def _refusal(path: Path, err: Exception) -> str:
    # torch's message advises weights_only=False; keep only its reason, which names the object
    found = re.search(r"WeightsUnpickler error:\s*(.+?)(?: Please use|$)", str(err), re.M)
    reason = found.group(1).strip() if found else f"{type(err).__name__}: {err}"
    reason = reason.rstrip(".") + "."
    return (
        f"checkpoint {path} refused by the safe loader (torch.load weights_only=True), which "
        f"builds tensors and plain values only and so runs no code from a file: {reason} "
        f"Nothing in it was run. gansweep's checkpoints, old and new, hold only those, so "
        f"this file is damaged, was written by something else, or was altered: delete it, "
        f"or retrain (docs/checkpoints.md)."
    )


def _check_layout(path: Path, state: object) -> None:
    missing = CHECKPOINT_KEYS - set(state) if isinstance(state, dict) else CHECKPOINT_KEYS
    if missing:
        raise CheckpointError(
            f"checkpoint {path} is not a gansweep trainer checkpoint "
            f"(missing {', '.join(sorted(missing))})"
        )
    # format 1 is also what gansweep wrote before the key existed: the same layout
    found = state.get("format", 1)
    if found != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"checkpoint {path} has format {found!r}; this gansweep reads format "
            f"{CHECKPOINT_FORMAT} (docs/checkpoints.md)"
        )

"""The live progress line of a sweep, printed by the driver:

    [03:12 | ~4:30 left] 9/16 trials: 2 running, 4 finished, 3 pruned (rank@500 2, stall 1),
    0 failed | best 14.2 (a1b2c3_00004) | steps 14,750 of 32,000

On a terminal the line rewrites itself every `every_s` seconds; in a log a new line is
written when the counts or steps change.
"""

from __future__ import annotations

import sys
import time
from collections import Counter

from ray import tune

from pipelines.sweep.ledger import SweepLedger


class ProgressLine(tune.Callback):
    def __init__(self, ledger: SweepLedger, every_s: float = 5.0):
        self.ledger = ledger
        self.every_s = every_s
        self._last_print = 0.0
        self._last_text = ""

    def on_step_end(self, iteration, trials, **info) -> None:
        now = time.time()
        if now - self._last_print >= self.every_s:
            self.show()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.show()

    def on_experiment_end(self, trials, **info) -> None:
        self.show(final=True)

    def show(self, final: bool = False) -> None:
        text = progress_text(self.ledger)
        self._last_print = time.time()
        if sys.stdout.isatty():
            print("\r" + text.ljust(len(self._last_text)), end="\n" if final else "", flush=True)
        elif _news(text) != _news(self._last_text) or final:
            print(text, flush=True)  # a log gets a line when the counts or steps move
        self._last_text = text


def progress_text(ledger: SweepLedger) -> str:
    rows = list(ledger.rows.values())
    states = Counter(r.state for r in rows)
    reasons = Counter(r.reason for r in rows if r.state == "pruned")
    pruned = f"{states['pruned']} pruned"
    if reasons:
        pruned += " (" + ", ".join(f"{k} {v}" for k, v in reasons.most_common()) + ")"
    best = ledger.best_finished()
    best_text = f"best {best.objective:.4g} ({best.trial_id})" if best else "best -"
    steps = sum(r.steps for r in rows)
    budget = ledger.trials * ledger.max_steps
    elapsed = time.time() - ledger.started
    session_start, session_steps = ledger.session
    done = states["finished"] + states["pruned"] + states["failed"]
    return (
        f"[{_clock(elapsed)}{_eta(time.time() - session_start, steps - session_steps, budget - steps)}] {len(rows)}/{ledger.trials} trials: "
        f"{states['running']} running, {states['finished']} finished, {pruned}, "
        f"{states['failed']} failed | {best_text} | steps {steps:,} of at most {budget:,}"
        + (" | done" if done == ledger.trials else "")
    )


def _news(text: str) -> str:
    """The line without its clock, which changes every time."""
    return text.split("] ", 1)[-1]


def _clock(seconds: float) -> str:
    minutes, sec = divmod(int(seconds), 60)
    return f"{minutes:02d}:{sec:02d}"


def _eta(elapsed: float, steps: int, steps_left: int) -> str:
    """Time left if the rest ran at this driver's pace with no pruning: an upper bound."""
    if steps <= 0 or elapsed < 1:
        return ""
    return f" | <{_clock(elapsed * steps_left / steps)} left"

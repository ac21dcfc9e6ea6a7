import math

import torch

from gan_core.config import MonitorConfig
from gan_core.monitor import HealthMonitor, ScoreWindow, condition_at


def rec(g=0.45, d=0.6, **kw):
    return {
        "loss/d": 1.0,
        "loss/g": 1.0,
        "objective": 1.0,
        "score/g": g,
        "score/d": d,
        "coverage": 0.8,
        "diversity_ratio": 0.9,
        **kw,
    }


def test_scores_follow_the_field_notes_definitions():
    w = ScoreWindow(torch.device("cpu"))
    real_logits = torch.tensor([10.0, 10.0])  # D(x) ~ 1
    fake_logits = torch.tensor([-10.0, 0.0])  # D(G(z)) ~ 0 and 0.5
    w.add(torch.tensor(0.3), torch.tensor(2.0), real_logits, fake_logits)
    out = w.flush()
    assert math.isclose(out["score/g"], 0.25, abs_tol=1e-3)  # mean D(G(z))
    assert math.isclose(out["score/d"], 0.5 * 1.0 + 0.5 * 0.75, abs_tol=1e-3)
    assert math.isclose(out["loss/d"], 0.3, rel_tol=1e-6) and w.count == 0


def test_window_averages_over_steps():
    w = ScoreWindow(torch.device("cpu"))
    for loss in (1.0, 3.0):
        w.add(torch.tensor(loss), torch.tensor(0.0), torch.zeros(4), torch.zeros(4))
    assert w.flush()["loss/d"] == 2.0


def test_conditions():
    m = MonitorConfig()
    assert condition_at(rec(), m) == "ok"
    assert condition_at(rec(g=0.04, d=0.96), m) == "d_dominates"
    assert condition_at(rec(g=0.95, d=0.3), m) == "g_dominates"
    assert condition_at(rec(diversity_ratio=0.01), m) == "mode_collapse"
    assert condition_at(rec(g=0.5, d=0.5, coverage=0.0), m) == "stall"
    assert condition_at(rec(**{"loss/d": float("nan")}), m) == "diverged"
    assert condition_at(rec(objective=float("inf")), m) == "diverged"


def test_a_failure_must_persist_for_patience_points_and_divergence_is_immediate():
    h = HealthMonitor(MonitorConfig(patience=2))
    assert h.update(rec(g=0.04, d=0.96)) == "ok"  # one bad point is noise
    assert h.update(rec()) == "ok"
    assert h.update(rec(g=0.04, d=0.96)) == "ok"
    assert h.update(rec(g=0.04, d=0.96)) == "d_dominates"
    assert HealthMonitor(MonitorConfig()).update(rec(**{"loss/g": float("inf")})) == "diverged"


def test_health_state_round_trips():
    h = HealthMonitor(MonitorConfig(patience=3))
    h.update(rec(g=0.04, d=0.96))
    h2 = HealthMonitor(MonitorConfig(patience=3))
    h2.load_state_dict(h.state_dict())
    assert (h2.last, h2.streak) == ("d_dominates", 1)


# Eval records (steps 250-1000) of runs of the health calibration set
# (benchmarks/results/health_calibration.json, docs/health.md): score/g, score/d,
# coverage, diversity_ratio.
SLOW_RING8_BEST_QUARTER = [  # ring8/plain-lr1e-4-s0: 0 modes at 500-750, ended 8 modes
    (0.474, 0.520, 0.125, 0.651),
    (0.472, 0.513, 0.0, 0.649),
    (0.467, 0.518, 0.0, 0.725),
    (0.466, 0.525, 0.125, 0.675),
]
HEALTHY_GRID25 = [  # grid25/gbn-lr5e-4-s0: scores at 0.5 early, ended best of grid25
    (0.497, 0.504, 0.68, 0.982),
    (0.498, 0.502, 0.6, 1.006),
    (0.495, 0.503, 0.56, 1.082),
    (0.492, 0.506, 0.64, 1.034),
]
PARTIAL_COLLAPSE_RING8 = [  # ring8/tinyG8: 3 modes, then 1 from step 2500
    (0.218, 0.785, 0.25, 0.763),
    (0.165, 0.835, 0.375, 0.673),
    (0.171, 0.829, 0.375, 0.494),
    (0.171, 0.829, 0.375, 0.467),
]
STALLED_DIGITS = [  # digits/lr2e-6: both scores 0.50 and no real image reached, to the end
    (0.500, 0.501, 0.0, 0.161),
    (0.500, 0.501, 0.0, 0.159),
    (0.500, 0.501, 0.0, 0.161),
    (0.501, 0.502, 0.0, 0.161),
]


def verdicts(rows, cfg):
    h = HealthMonitor(cfg)
    return [h.update(rec(g, d, coverage=c, diversity_ratio=v)) for g, d, c, v in rows]


def test_calibrated_defaults_spare_healthy_runs_that_the_old_ones_stopped():
    old = MonitorConfig(collapse_diversity=0.1, stall_band=0.2, stall_coverage=0.1)
    assert verdicts(SLOW_RING8_BEST_QUARTER, old)[2] == "stall"  # a best-quarter run, stopped
    assert set(verdicts(SLOW_RING8_BEST_QUARTER, MonitorConfig())) == {"ok"}
    assert set(verdicts(HEALTHY_GRID25, MonitorConfig())) == {"ok"}


def test_calibrated_defaults_see_partial_collapse_by_step_1000():
    assert set(verdicts(PARTIAL_COLLAPSE_RING8, MonitorConfig(collapse_diversity=0.1))) == {"ok"}
    assert verdicts(PARTIAL_COLLAPSE_RING8, MonitorConfig())[-1] == "mode_collapse"


def test_stall_rule_sees_a_stall_on_its_own_and_zero_coverage_turns_it_off():
    no_collapse = MonitorConfig(collapse_diversity=0.0)
    assert verdicts(STALLED_DIGITS, no_collapse)[1:] == ["stall"] * 3
    off = MonitorConfig(collapse_diversity=0.0, stall_coverage=0.0)
    assert set(verdicts(STALLED_DIGITS, off)) == {"ok"}

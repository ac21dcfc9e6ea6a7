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

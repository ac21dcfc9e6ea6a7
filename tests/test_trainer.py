import math
from pathlib import Path

import pytest
import torch

from gan_core.trainer import CheckpointError, Trainer, load_checkpoint
from tests.helpers import tiny_digits_config, tiny_points_config

RECORD_KEYS = {
    "step",
    "loss/d",
    "loss/g",
    "score/g",
    "score/d",
    "grad_norm/d",
    "grad_norm/g",
    "perf/steps_per_s",
    "perf/eval_share",
    "health",
    "objective",
    "coverage",
    "diversity_ratio",
}


def weights(trainer: Trainer) -> list[torch.Tensor]:
    m = trainer.modules
    return [p.detach().clone() for p in [*m.G.parameters(), *m.D.parameters()]]


def comparable(history):
    # timings differ between runs; everything else must be identical
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in history]


@pytest.mark.parametrize("make_cfg", [tiny_points_config, tiny_digits_config])
def test_eval_records_carry_scores_metrics_and_health(make_cfg):
    trainer = Trainer(make_cfg())
    seen = []
    last = trainer.fit(on_eval=seen.append)
    assert [r["step"] for r in seen] == [trainer.cfg.train.eval_every, trainer.cfg.train.steps]
    assert set(last) >= RECORD_KEYS
    assert 0.0 <= last["score/g"] <= 1.0 and 0.0 <= last["score/d"] <= 1.0
    assert math.isfinite(last["objective"]) and last["grad_norm/d"] > 0
    assert last["health"] in ("ok", "d_dominates", "g_dominates", "mode_collapse", "stall")


def test_same_seed_same_run_and_other_seed_differs():
    a, b = Trainer(tiny_points_config()), Trainer(tiny_points_config())
    a.fit()
    b.fit()
    assert all(torch.equal(x, y) for x, y in zip(weights(a), weights(b), strict=True))
    assert comparable(a.history) == comparable(b.history)
    c = Trainer(tiny_points_config(**{"train.seed": 1}))
    c.fit()
    assert not torch.equal(weights(a)[0], weights(c)[0])


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {
            "model.d_dropout": 0.3,
            "tricks.instance_noise": 0.1,
            "tricks.label_flip": 0.1,
            "tricks.ema_decay": 0.9,
            "model.d_batchnorm": True,
        },
    ],
)
def test_resume_from_checkpoint_is_bit_for_bit(tmp_path, overrides):
    cfg = tiny_points_config(**{"train.steps": 40, "train.eval_every": 10, **overrides})
    whole = Trainer(cfg)
    whole.fit()

    first = Trainer(cfg)
    first.fit(until=20)
    first.save_checkpoint(tmp_path / "ck.pt")
    del first
    resumed = Trainer.from_checkpoint(tmp_path / "ck.pt")
    assert resumed.step == 20 and resumed.cfg == cfg
    resumed.fit()
    assert all(torch.equal(x, y) for x, y in zip(weights(whole), weights(resumed), strict=True))
    assert comparable(whole.history) == comparable(resumed.history)


def test_checkpoint_carries_its_config(tmp_path):
    cfg = tiny_points_config(**{"optim.lr_d": 3e-4})
    t = Trainer(cfg)
    t.fit(until=5)
    state = load_checkpoint(t.save_checkpoint(tmp_path / "c.pt"))
    assert state["config"]["optim"]["lr_d"] == pytest.approx(3e-4)


def _write_marker(path: str) -> None:
    Path(path).write_text("the payload ran")


class Payload:
    """Unpickling this calls _write_marker: the shape of a planted checkpoint."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (_write_marker, (self.marker,))


def test_checkpoint_with_a_pickled_payload_is_refused_and_nothing_runs(tmp_path):
    t = Trainer(tiny_points_config())
    t.fit(until=5)
    state = t.state_dict()
    marker = tmp_path / "ran.txt"
    state["history"] = [Payload(marker)]  # a real checkpoint with one planted object
    planted = tmp_path / "planted.pt"
    torch.save(state, planted)
    torch.load(planted, weights_only=False)  # the old loader: the payload is live
    assert marker.read_text() == "the payload ran"
    marker.unlink()

    for load in (load_checkpoint, Trainer.from_checkpoint):
        with pytest.raises(CheckpointError) as refused:
            load(planted)
        message = str(refused.value)
        assert str(planted) in message and "refused" in message
        assert "tests.test_trainer._write_marker" in message  # names what it would build
        assert "weights_only=False" not in message  # never advises the unsafe loader
    assert not marker.exists()


def test_a_file_that_is_no_trainer_checkpoint_is_named(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint" * 8)
    with pytest.raises(CheckpointError, match=f"{junk} refused.*Unsupported operand"):
        load_checkpoint(junk)
    weights_only = tmp_path / "weights.pt"
    torch.save({"G": torch.zeros(3)}, weights_only)
    with pytest.raises(CheckpointError, match=f"{weights_only}.*missing D, config"):
        load_checkpoint(weights_only)
    newer = tmp_path / "newer.pt"
    torch.save({**Trainer(tiny_points_config()).state_dict(), "format": 2}, newer)
    with pytest.raises(CheckpointError, match=f"{newer} has format 2"):
        load_checkpoint(newer)


def test_checkpoint_of_the_previous_format_still_resumes(tmp_path):
    # before the format key, the layout was the same: such a file loads safely as format 1
    t = Trainer(tiny_points_config())
    t.fit(until=10)
    state = t.state_dict()
    del state["format"]
    torch.save(state, tmp_path / "old.pt")
    resumed = Trainer.from_checkpoint(tmp_path / "old.pt")
    assert resumed.step == 10
    assert all(torch.equal(x, y) for x, y in zip(weights(t), weights(resumed), strict=True))


def test_callback_can_stop_the_run():
    trainer = Trainer(tiny_points_config(**{"train.steps": 100, "train.eval_every": 10}))
    last = trainer.fit(on_eval=lambda r: r["step"] >= 30)
    assert last["step"] == 30 and trainer.step == 30


def test_divergence_stops_training_and_is_reported():
    cfg = tiny_points_config(
        **{
            "optim.lr_d": 1.0,
            "optim.lr_g": 1.0,
            "optim.beta1_d": 0.0,
            "loss.type": "wgan_gp",
            "loss.gp_weight": 0.0,
            "train.steps": 400,
            "train.eval_every": 10,
        }
    )
    trainer = Trainer(cfg)
    with torch.no_grad():  # push D's output layer to inf: NaN/inf losses
        for p in trainer.modules.D.parameters():
            p.fill_(1e30)
    last = trainer.fit()
    assert last["health"] == "diverged"
    assert trainer.step < 400


def test_sample_uses_its_own_random_stream():
    t = Trainer(tiny_points_config())
    before = torch.get_rng_state()
    s1, s2 = t.sample(50, seed=7), t.sample(50, seed=7)
    assert torch.equal(s1, s2) and torch.equal(before, torch.get_rng_state())


def test_the_platform_names_torch_the_cpu_and_any_kernel_choice(monkeypatch):
    from gan_core.platform import KERNEL_ENV, platform_name

    for key in KERNEL_ENV:
        monkeypatch.delenv(key, raising=False)
    plain = platform_name("cpu")
    assert plain.startswith(f"torch {torch.__version__}, cpu ")
    assert plain.endswith(torch.backends.cpu.get_cpu_capability())
    # MKL on another instruction set trains another run (gan_core/platform.py), so it shows
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "AVX2")
    assert platform_name("cpu") == plain + ", MKL_ENABLE_INSTRUCTIONS=AVX2"

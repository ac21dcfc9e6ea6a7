"""`gansweep train --population`: one run folder per member, as a single run writes it."""

import json

import pytest
import torch
import yaml

from gan_core.config import ConfigError
from gan_core.population.trainer import PopulationTrainer
from gan_core.trainer import Trainer
from pipelines.train import train_production
from pipelines.train_population import population_configs, train_population
from tests.helpers import tiny_points_config


def metrics(path):
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in rows]


def test_each_member_folder_holds_what_its_single_run_writes(tmp_path):
    base = tiny_points_config(**{"train.checkpoint_every": 20})
    cfgs, sources = population_configs(base, "2")
    assert [c.train.seed for c in cfgs] == [0, 1]
    train_population(cfgs, tmp_path / "pop", sources, progress=False)
    single = tmp_path / "single"
    train_production(cfgs[1], single, progress=False)
    member = tmp_path / "pop" / "member-1"
    for name in ("config.yaml", "checkpoint.pt", "samples.png", "scores.png"):
        assert (member / name).is_file(), name
    assert sorted(p.name for p in (member / "samples").iterdir()) == sorted(
        p.name for p in (single / "samples").iterdir()
    )
    assert metrics(member / "metrics.jsonl") == metrics(single / "metrics.jsonl")
    resumed = Trainer.from_checkpoint(member / "checkpoint.pt")  # a plain trainer checkpoint
    assert resumed.step == 40
    assert not (tmp_path / "pop" / "population.pt").exists()  # every member is done


def test_a_population_file_lists_each_members_overrides(tmp_path):
    path = tmp_path / "members.yaml"
    path.write_text(yaml.safe_dump([{"optim.lr_d": 1e-3}, {"train.seed": 5}]))
    cfgs, _ = population_configs(tiny_points_config(), str(path))
    assert [c.optim.lr_d for c in cfgs] == [1e-3, 2e-4]
    assert [c.train.seed for c in cfgs] == [0, 5]
    path.write_text(yaml.safe_dump([{"model.ndf": 16}, {}]))
    cfgs, sources = population_configs(tiny_points_config(), str(path))
    with pytest.raises(ConfigError, match=r"member 1: model.ndf=32 differs from .*member 0.s 16"):
        train_population(cfgs, tmp_path / "bad", sources, progress=False)
    with pytest.raises(ConfigError, match="YAML list of override dicts"):
        path.write_text("optim.lr_d: 1.0e-3\n")
        population_configs(tiny_points_config(), str(path))


def test_resume_continues_the_population_to_the_uninterrupted_members(tmp_path):
    cfgs, sources = population_configs(tiny_points_config(), "2")
    full = tmp_path / "full"
    train_population(cfgs, full, sources, progress=False)
    out = tmp_path / "resumed"
    pop = PopulationTrainer(cfgs)  # a population stopped at step 20, as a crash leaves it
    pop.fit(until=20)
    pop.save_checkpoint(out / "population.pt")
    train_population(cfgs, out, sources, resume=True, progress=False)
    for i in (0, 1):
        a = torch.load(out / f"member-{i}" / "checkpoint.pt", weights_only=True)
        b = torch.load(full / f"member-{i}" / "checkpoint.pt", weights_only=True)
        assert all(torch.equal(a["G"][k], v) for k, v in b["G"].items())
        assert (
            metrics(out / f"member-{i}" / "metrics.jsonl")
            == metrics(full / f"member-{i}" / "metrics.jsonl")[1:]
        )  # the step-40 record; step 20's was written before the stop

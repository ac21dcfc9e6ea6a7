"""Search spaces: the shipped ones load, bad files fail with the file, line and key named,
and sampling follows the conditionals."""

from __future__ import annotations

import textwrap

import optuna
import pytest

from search_spaces import SpaceError, list_spaces, load_space
from search_spaces.combos import corner_assignments

SHIPPED = (
    "stabilizers",
    "mixture",
    "losses",
    "tabular",
    "tiny",
    "pacgan",
    "pacgan_ring8",
    "pacgan_ring8_packed",
)

GOOD = """\
description: test space
base:
  data: {source: ring8, n_points: 500}
  train: {eval_every: 50}
objective: {direction: min}
budget: {trials: 4, max_steps: 400, concurrency: 2}
pruning: {milestones: [100, 200], min_peers: 2}
params:
  optim.lr_d: {low: 1.0e-4, high: 1.0e-3, log: true}
  loss.type: {choices: [bce, wgan_gp]}
  loss.gp_weight: {low: 1, high: 20, when: {loss.type: [wgan_gp]}}
"""


def write(tmp_path, text: str, name: str = "space.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load_error(tmp_path, text: str) -> str:
    with pytest.raises(SpaceError) as err:
        load_space(write(tmp_path, text))
    return str(err.value)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_spaces_load(name):
    space = load_space(name)
    assert space.name == name
    assert space.params
    assert space.base.train.steps == space.budget.max_steps
    assert space.direction in ("min", "max")
    assert all(m % space.base.train.eval_every == 0 for m in space.milestones)


def test_list_spaces_has_a_description_for_each():
    spaces = list_spaces()
    assert set(SHIPPED) <= set(spaces)
    assert all(spaces[name] for name in SHIPPED)


def test_good_space_parses_kinds_and_condition(tmp_path):
    space = load_space(write(tmp_path, GOOD))
    lr, loss, gp = space.params
    assert (lr.kind, lr.log, lr.low, lr.high) == ("float", True, 1e-4, 1e-3)
    assert (loss.kind, loss.choices) == ("categorical", ("bce", "wgan_gp"))
    assert (gp.kind, gp.when) == ("float", (("loss.type", ("wgan_gp",)),))
    assert gp.is_active({"loss.type": "wgan_gp"}) and not gp.is_active({"loss.type": "bce"})
    assert space.milestones == (100, 200)  # 400 steps: doubling 200 -> 400 is not below max


def test_milestones_double_up_to_max_steps(tmp_path):
    space = load_space(write(tmp_path, GOOD)).with_budget(max_steps=2000)
    assert space.milestones == (100, 200, 400, 800, 1600)
    assert space.base.train.steps == 2000


def test_unknown_key_names_file_line_and_suggestion(tmp_path):
    msg = load_error(tmp_path, GOOD.replace("optim.lr_d:", "optim.lrd:"))
    assert "space.yaml:9" in msg and "optim.lrd" in msg and "did you mean 'optim.lr_d'" in msg


def test_unknown_field_and_top_key_are_named(tmp_path):
    msg = load_error(tmp_path, GOOD.replace("high: 1.0e-3, log", "hi: 1.0e-3, log"))
    assert "space.yaml:9" in msg and "'hi'" in msg and "did you mean 'high'" in msg
    msg = load_error(tmp_path, GOOD.replace("budget:", "budgte:"))
    assert "space.yaml:6" in msg and "did you mean 'budget'" in msg


def test_bad_bounds(tmp_path):
    msg = load_error(
        tmp_path, GOOD.replace("low: 1.0e-4, high: 1.0e-3", "low: 1.0e-3, high: 1.0e-4")
    )
    assert "params.optim.lr_d" in msg and "must be below" in msg
    msg = load_error(
        tmp_path,
        GOOD.replace("low: 1.0e-4, high: 1.0e-3, log: true", "low: 0.0, high: 1.0e-3, log: true"),
    )
    assert "log scale needs low > 0" in msg
    msg = load_error(
        tmp_path,
        GOOD.replace(
            "optim.lr_d: {low: 1.0e-4, high: 1.0e-3, log: true}",
            "model.d_dropout: {low: 0.1, high: 0.95}",
        ),
    )
    assert "model.d_dropout" in msg and "allowed range [0.0, 0.9]" in msg


def test_wrong_type(tmp_path):
    msg = load_error(
        tmp_path,
        GOOD.replace(
            "optim.lr_d: {low: 1.0e-4, high: 1.0e-3, log: true}",
            "model.ngf: {type: float, low: 16, high: 64}",
        ),
    )
    assert "space.yaml:9" in msg and "model.ngf is a int key" in msg and "type: int" in msg
    msg = load_error(
        tmp_path,
        GOOD.replace(
            "optim.lr_d: {low: 1.0e-4, high: 1.0e-3, log: true}", "model.ngf: {low: 16.5, high: 64}"
        ),
    )
    assert "model.ngf" in msg and "expected int" in msg
    msg = load_error(
        tmp_path,
        GOOD.replace(
            "optim.lr_d: {low: 1.0e-4, high: 1.0e-3, log: true}",
            "model.spectral_norm: {low: 0, high: 1}",
        ),
    )
    assert "bool key" in msg and "choices" in msg


def test_choice_no_config_accepts(tmp_path):
    msg = load_error(tmp_path, GOOD.replace("[bce, wgan_gp]", "[bce, wgangp]"))
    assert "space.yaml:10" in msg and "'wgangp'" in msg and "did you mean 'wgan_gp'" in msg
    assert "remove it" in msg


def test_combination_the_config_refuses_names_the_keys(tmp_path):
    # label smoothing needs a loss with targets; unconditional, hinge would kill trials
    text = GOOD.replace("[bce, wgan_gp]", "[bce, hinge]").replace(
        "loss.gp_weight: {low: 1, high: 20, when: {loss.type: [wgan_gp]}}",
        "tricks.label_smoothing: {low: 0.0, high: 0.2}",
    )
    msg = load_error(tmp_path, text)
    assert "loss.type='hinge'" in msg and "tricks.label_smoothing" in msg and "when:" in msg
    fixed = text.replace("{low: 0.0, high: 0.2}", "{low: 0.0, high: 0.2, when: {loss.type: [bce]}}")
    assert load_space(write(tmp_path, fixed)).params[-1].when == (("loss.type", ("bce",)),)


def test_condition_must_name_an_earlier_categorical_and_its_choices(tmp_path):
    msg = load_error(
        tmp_path, GOOD.replace("when: {loss.type: [wgan_gp]}", "when: {loss.type: [hinge]}")
    )
    assert "['hinge'] are not among the choices of loss.type" in msg
    msg = load_error(
        tmp_path, GOOD.replace("when: {loss.type: [wgan_gp]}", "when: {optim.lr_d: [0.001]}")
    )
    assert "must be a categorical key listed before" in msg


def test_milestone_off_the_eval_grid_and_bad_budget(tmp_path):
    msg = load_error(tmp_path, GOOD.replace("[100, 200]", "[120, 200]"))
    assert "pruning.milestones" in msg and "eval_every=50" in msg
    msg = load_error(tmp_path, GOOD.replace("trials: 4", "trials: 0"))
    assert "space.yaml:6" in msg and "trials=0" in msg
    with pytest.raises(SpaceError, match="gpus_per_trial=1.5"):
        load_space(write(tmp_path, GOOD)).with_budget(gpus_per_trial=1.5)


def test_base_errors_are_named(tmp_path):
    msg = load_error(tmp_path, GOOD.replace("n_points: 500", "n_pts: 500"))
    assert "data.n_pts" in msg and "did you mean 'data.n_points'" in msg
    msg = load_error(
        tmp_path,
        GOOD.replace(
            "base:\n  data: {source: ring8, n_points: 500}\n  train: {eval_every: 50}",
            "base: configs/nope.yaml",
        ),
    )
    assert "space.yaml:2: base" in msg and "'configs/nope.yaml' not found" in msg


def test_yaml_syntax_errors_show_the_file_line_and_caret(tmp_path, capsys):
    from pipelines.cli import main

    bad = write(tmp_path, GOOD.replace("{direction: min}", "direction: min"), name="bad.yaml")
    assert main(["sweep", "--space", str(bad)]) == 2  # refused before Ray or MLflow start
    err = capsys.readouterr().err
    assert f"error: {bad}:5:21: not valid YAML:\nmapping values are not allowed here" in err
    caret = " " * 24 + "^"  # under the second colon
    assert f'in "{bad}", line 5, column 21:\n    objective: direction: min\n{caret}' in err
    base = write(tmp_path, "data: {source: ring8\ntrain: {}\n", name="base.yaml")
    msg = load_error(
        tmp_path,
        GOOD.replace(GOOD[GOOD.index("base:") : GOOD.index("objective")], f"base: {base}\n"),
    )
    assert f"{base}:2:6: not valid YAML" in msg and f'in "{base}", line 2' in msg


def test_unknown_space_name_lists_the_shipped_ones():
    with pytest.raises(SpaceError, match="stabilizers"):
        load_space("stabilisers")


def test_corner_assignments_respect_conditions(tmp_path):
    space = load_space(write(tmp_path, GOOD))
    corners = corner_assignments(space.params)
    assert len(corners) == 4  # 2 loss types x {low, high}
    for values in corners:
        assert ("loss.gp_weight" in values) == (values["loss.type"] == "wgan_gp")


def test_define_by_run_samples_conditionals_and_valid_configs(tmp_path):
    from pipelines.sweep.sampling import define_by_run, sampler_for

    space = load_space(write(tmp_path, GOOD))
    study = optuna.create_study(sampler=sampler_for(space))
    fn = define_by_run(space)
    seen = set()
    for _ in range(12):
        trial = study.ask()
        fn(trial)
        params = trial.params
        seen.add(params["loss.type"])
        assert ("loss.gp_weight" in params) == (params["loss.type"] == "wgan_gp")
        cfg = space.config_for(params)  # every sample is a config the trainer accepts
        assert cfg.optim.lr_d == params["optim.lr_d"]
        study.tell(trial, params["optim.lr_d"])
    assert seen == {"bce", "wgan_gp"}


@pytest.mark.parametrize("name", sorted(list_spaces()))
def test_every_shipped_space_trains_as_populations(name):
    # Populations batch every trick the spaces sample (docs/population.md, "Shape keys"):
    # the space's corners, grouped by population shape, each train a step as one population.
    from gan_core.config import population_shape
    from gan_core.population.trainer import PopulationTrainer

    space = load_space(name)
    short = {"train.steps": 1, "train.eval_every": 1, "train.eval_samples": 200}
    groups: dict[str, list] = {}
    for values in corner_assignments(space.params)[:8]:
        cfg = space.config_for(values).with_overrides(short)
        groups.setdefault(repr(sorted(population_shape(cfg).items())), []).append(cfg)
    for cfgs in groups.values():
        pop = PopulationTrainer(cfgs)
        pop.fit()
        assert sorted(pop.left) == list(range(len(cfgs)))
        assert all(len(pop.left[i]["history"]) == 1 for i in pop.left)

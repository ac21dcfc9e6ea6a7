import pytest
import yaml

from gan_core.config import ConfigError, GanConfig, all_keys, describe_keys, parse_overrides


def test_yaml_round_trip_is_exact(tmp_path):
    cfg = GanConfig().with_overrides(
        {
            "optim.lr_d": "2e-4",
            "model.d_dropout": 0.3,
            "data.columns": ["a", "b"],
            "loss.type": "hinge",
        }
    )
    path = tmp_path / "c.yaml"
    cfg.save(path)
    assert GanConfig.load(path) == cfg
    assert yaml.safe_load(path.read_text())["optim"]["lr_d"] == pytest.approx(2e-4)


def test_yaml_scientific_notation_string_becomes_float(tmp_path):
    # YAML 1.1 reads `2e-4` as a string; the config must still see a float.
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr_g: 2e-4\n")
    assert GanConfig.load(path).optim.lr_g == pytest.approx(2e-4)


def test_dotted_overrides_from_command_line_strings():
    cfg = GanConfig().with_overrides(
        ["optim.lr_d=2e-4", "train.steps=500", "model.spectral_norm=true", "data.columns=a,b"]
    )
    assert cfg.optim.lr_d == pytest.approx(2e-4)
    assert cfg.train.steps == 500
    assert cfg.model.spectral_norm is True
    assert cfg.data.columns == ["a", "b"]


def test_overrides_do_not_mutate_the_base():
    base = GanConfig()
    base.with_overrides({"optim.lr_d": 0.1})
    assert base.optim.lr_d == pytest.approx(2e-4)


@pytest.mark.parametrize(
    "override, fragment",
    [
        ({"optim.lr_dd": 1e-3}, "did you mean 'optim.lr_d'"),
        ({"model.lr_d": 1e-3}, "did you mean 'optim.lr_d'"),  # right key, wrong group
        ({"optm.lr_d": 1e-3}, "did you mean 'optim.lr_d'"),
        ({"loss.type": "hinj"}, "did you mean 'hinge'"),
        ({"optim.lr_d": "fast"}, "optim.lr_d: expected float"),
        ({"optim.batch_size": 0}, "optim.batch_size=0 must be >= 1"),
        ({"train.steps": 2.5}, "train.steps: expected int"),
        ({"model.spectral_norm": "maybe"}, "model.spectral_norm: expected bool"),
    ],
)
def test_bad_values_name_the_key_and_the_fix(override, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        GanConfig().with_overrides(override)


def test_file_errors_name_the_file(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("optim:\n  lr_dd: 1e-3\n")
    with pytest.raises(ConfigError, match=r"typo\.yaml: unknown config key 'optim.lr_dd'"):
        GanConfig.load(path)
    with pytest.raises(ConfigError, match="does not exist"):
        GanConfig.load(tmp_path / "missing.yaml")
    path.write_text("optim: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        GanConfig.load(path)


BAD_YAML = "train:\n  steps: [100, 200\n  seed: 3\n"  # the flow list is never closed


def test_yaml_syntax_error_shows_the_file_line_and_caret(tmp_path, capsys):
    from pipelines.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_YAML)
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"error: {bad}:3:7: not valid YAML" in err
    assert f'in "{bad}", line 3, column 7:\n      seed: 3\n          ^' in err
    assert "<unicode string>" not in err


def test_cross_key_rules():
    with pytest.raises(ConfigError, match="set at most one of them above 1"):
        GanConfig().with_overrides({"optim.d_steps_per_g": 2, "optim.g_steps_per_d": 2})
    with pytest.raises(ConfigError, match="tricks.label_smoothing needs loss.type bce or lsgan"):
        GanConfig().with_overrides({"loss.type": "wgan_gp", "tricks.label_smoothing": 0.1})


def test_every_key_has_help_and_flat_matches_keys():
    keys = all_keys()
    assert set(GanConfig().flat()) == set(keys)
    assert all(f.metadata["help"] for f in keys.values())
    assert "optim.lr_d" in describe_keys()


def test_parse_overrides_rejects_missing_equals():
    with pytest.raises(ConfigError, match="group.key=value"):
        parse_overrides(["optim.lr_d"])

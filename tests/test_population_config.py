"""The population shape rule: every key classified, differing shape keys named."""

import pytest

from gan_core.config import (
    POPULATION_MEMBER_KEYS,
    POPULATION_SHAPE_KEYS,
    ConfigError,
    GanConfig,
    all_keys,
    check_population,
    describe_keys,
    population_shape,
)


def test_every_config_key_is_either_a_member_key_or_a_shape_key():
    keys = set(all_keys())
    unclassified = keys - POPULATION_MEMBER_KEYS - POPULATION_SHAPE_KEYS
    assert not unclassified, f"classify these keys in gan_core/config.py: {sorted(unclassified)}"
    assert not POPULATION_MEMBER_KEYS & POPULATION_SHAPE_KEYS
    assert keys >= (POPULATION_MEMBER_KEYS | POPULATION_SHAPE_KEYS)  # no stale names


def test_members_may_differ_in_member_keys():
    base = GanConfig()
    other = base.with_overrides({"optim.lr_d": 1e-3, "train.seed": 7, "model.d_dropout": 0.3})
    check_population([base, other])
    assert population_shape(base) == population_shape(other)


def test_a_differing_shape_key_is_named_with_the_member():
    base = GanConfig()
    other = base.with_overrides({"model.ndf": 32})
    with pytest.raises(ConfigError, match=r"b\.yaml: model\.ndf=32 differs from a\.yaml's 64"):
        check_population([base, other], ["a.yaml", "b.yaml"])


def test_keys_listing_shows_each_keys_population_role():
    lines = {line.split()[0]: line for line in describe_keys().splitlines()}
    assert "[member]" in lines["optim.lr_d"]
    assert "[shape]" in lines["model.ndf"]

"""The config loader: parameters merge key by key, and `_replace: true` replaces a mapping."""

from __future__ import annotations

import pytest
import yaml

from ml_lifecycle.settings import CONFIG_LOADER_ARGS, LifecycleConfigLoader

BASE = {
    "features": {
        "task": "binary",
        "numeric": {"distance": "log_zscore", "temp": "zscore"},
        "categorical": {"carrier": {"top_k": 50}},
        "numeric_bins": 16,
    }
}


def _parameters(tmp_path, env_parameters):
    for env, parameters in (("base", BASE), ("mine", env_parameters)):
        (tmp_path / env).mkdir(exist_ok=True)
        (tmp_path / env / "parameters.yml").write_text(yaml.safe_dump(parameters))
    args = {k: v for k, v in CONFIG_LOADER_ARGS.items() if k != "custom_resolvers"}
    return LifecycleConfigLoader(conf_source=str(tmp_path), env="mine", **args)["parameters"]


def test_an_env_changes_only_the_keys_it_names(tmp_path):
    features = _parameters(tmp_path, {"features": {"task": "regression", "numeric": {"x": "none"}}})
    assert features["features"]["task"] == "regression"
    # Without the marker a mapping of columns gains base's columns.
    assert features["features"]["numeric"] == {
        "distance": "log_zscore",
        "temp": "zscore",
        "x": "none",
    }


def test_replace_true_takes_the_envs_mapping_whole(tmp_path):
    env = {
        "features": {
            "numeric": {"_replace": True, "carat": "log_zscore"},
            "categorical": {"_replace": True, "cut": {"top_k": 10, "extra": {"_replace": True}}},
        }
    }
    features = _parameters(tmp_path, env)["features"]
    assert features["numeric"] == {"carat": "log_zscore"}
    assert features["categorical"] == {"cut": {"top_k": 10, "extra": {}}}
    # What the env does not name still comes from base.
    assert features["task"] == "binary" and features["numeric_bins"] == 16


def test_replace_must_be_true(tmp_path):
    with pytest.raises(ValueError, match="'_replace' must be true"):
        _parameters(tmp_path, {"features": {"numeric": {"_replace": "yes", "carat": "zscore"}}})


def test_a_reference_in_base_sees_the_envs_value(tmp_path):
    # Base refers to another key (inference's cleaning is training's, by reference); an env that
    # changes that key changes what the reference means too.
    base = {
        "cleaning": {"required": ["year", "carrier"], "rules": {"valid_month": "month <= 12"}},
        "inference": {"cleaning": {"target": None, "required": "${cleaning.required}"}},
        "inference_rules": "${cleaning.rules}",
    }
    env = {"cleaning": {"required": ["sale_id"], "rules": {"_replace": True, "ok": "area > 0"}}}
    for name, parameters in (("base", base), ("mine", env)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "parameters.yml").write_text(yaml.safe_dump(parameters))
    args = {k: v for k, v in CONFIG_LOADER_ARGS.items() if k != "custom_resolvers"}
    loader = LifecycleConfigLoader(
        conf_source=str(tmp_path), env="mine", runtime_params={"cleaning": {"x": 1}}, **args
    )
    parameters = loader["parameters"]
    assert parameters["inference"]["cleaning"] == {"target": None, "required": ["sale_id"]}
    assert parameters["inference_rules"] == {"ok": "area > 0"}
    assert parameters["cleaning"]["x"] == 1  # runtime parameters still go on top


def test_an_empty_mapping_in_an_env_means_none(tmp_path):
    base = {
        "ingestion": {"main_source": "flights", "derived": {"route": "concat(origin, dest)"}},
        "cleaning": {"rules": {"ok": "x > 0"}, "impute": {"x": {"strategy": "median"}}},
    }
    env = {
        "ingestion": {"derived": {}},  # no derived columns, not base's
        "cleaning": {"rules": {"other": "y > 0"}, "impute": {"x": {}}},  # at any depth
    }
    for name, parameters in (("base", base), ("mine", env)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "parameters.yml").write_text(yaml.safe_dump(parameters))
    args = {k: v for k, v in CONFIG_LOADER_ARGS.items() if k != "custom_resolvers"}
    parameters = LifecycleConfigLoader(conf_source=str(tmp_path), env="mine", **args)["parameters"]
    assert parameters["ingestion"] == {"main_source": "flights", "derived": {}}
    # A mapping with keys still merges into base's; `_replace` still replaces (tests above).
    assert parameters["cleaning"]["rules"] == {"ok": "x > 0", "other": "y > 0"}
    assert parameters["cleaning"]["impute"] == {"x": {}}


def test_an_empty_mapping_replaces_in_the_other_soft_merged_configs(tmp_path):
    for name, spark in (("base", {"spark.jars": {"a": 1}, "x": 1}), ("mine", {"spark.jars": {}})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "spark.yml").write_text(yaml.safe_dump(spark))
    args = {k: v for k, v in CONFIG_LOADER_ARGS.items() if k != "custom_resolvers"}
    loader = LifecycleConfigLoader(conf_source=str(tmp_path), env="mine", **args)
    assert loader["spark"] == {"spark.jars": {}, "x": 1}


def test_an_env_without_the_key_keeps_bases_mapping(tmp_path):
    features = _parameters(tmp_path, {"features": {"task": "regression"}})["features"]
    assert features["numeric"] == BASE["features"]["numeric"]
    assert _parameters(tmp_path, {"other": {}})["features"] == BASE["features"]

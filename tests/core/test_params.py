"""Typed parameters: one sentence naming the dotted key, and every env's blocks parse."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node, pipeline

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import parse
from ml_lifecycle.params_hooks import ValidateParamsHooks, block_models, validate_blocks
from ml_lifecycle.pipelines.cleaning.params import CleaningParams, IqrOutlier
from ml_lifecycle.pipelines.features.params import FeaturesParams
from ml_lifecycle.pipelines.training.params import TrainingParams
from ml_lifecycle.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS

ROOT = Path(__file__).resolve().parents[2]
ENVS = sorted(p.name for p in (ROOT / "conf").iterdir() if p.is_dir() and p.name != "base")


def _base(stage: str) -> dict:
    return yaml.safe_load((ROOT / f"conf/base/parameters_{stage}.yml").read_text())[stage]


def _one_sentence(message: str) -> None:
    assert "\n" not in message
    assert message.endswith((".", "?"))
    assert message.count(". ") == 0, message


def test_the_base_training_block_parses_into_its_model():
    parsed = parse(TrainingParams, _base("training"), "training")
    assert (parsed.epochs, parsed.hidden_units, parsed.embedding.max_dim) == (
        30,
        [256, 128, 64],
        24,
    )
    assert parsed.schedule.name == "cosine" and parsed.schedule.alpha == 0.05
    assert parse(TrainingParams, parsed, "training") is parsed  # an instance is itself


@pytest.mark.parametrize(
    ("stopping", "task", "resolved"),
    [
        ({"monitor": "auto", "mode": "auto"}, "binary", ("val_auc", "max")),
        ({"monitor": "auto", "mode": "auto"}, "multiclass", ("val_loss", "min")),
        ({"monitor": "auto", "mode": "auto"}, "regression", ("val_loss", "min")),
        ({"monitor": "val_rmse", "mode": "auto"}, "regression", ("val_rmse", "min")),
        ({"monitor": "val_accuracy", "mode": "auto"}, "multiclass", ("val_accuracy", "max")),
        ({"monitor": "val_loss", "mode": "max"}, "binary", ("val_loss", "max")),  # as written
    ],
)
def test_early_stopping_resolves_its_monitor_by_task(stopping, task, resolved):
    block = {**_base("training"), "early_stopping": {**stopping, "patience": 3}}
    parsed = parse(TrainingParams, block, "training")
    assert parsed.early_stopping.resolved(task) == resolved


def test_a_monitor_the_task_does_not_log_stops_before_the_fit():
    # A multiclass model logs no AUC: the key and the metrics it could monitor are named.
    block = {
        **_base("training"),
        "early_stopping": {"monitor": "val_auc", "mode": "max", "patience": 3},
    }
    stopping = parse(TrainingParams, block, "training").early_stopping
    with pytest.raises(ConfigError, match="training.early_stopping.monitor") as error:
        stopping.resolved("multiclass")
    assert "val_loss, val_accuracy" in str(error.value)
    _one_sentence(str(error.value))


def test_a_missing_key_names_the_key_and_its_file():
    params = _base("training")
    del params["epochs"]
    with pytest.raises(ConfigError) as error:
        parse(TrainingParams, params, "training", env="test")
    assert str(error.value) == (
        "missing key training.epochs in conf/base/parameters_training.yml "
        "or conf/test/parameters_training.yml."
    )
    _one_sentence(str(error.value))


def test_an_unknown_key_suggests_the_known_one():
    params = _base("training")
    params["epoch"] = params.pop("epochs")
    with pytest.raises(ConfigError) as error:
        parse(TrainingParams, params, "training")
    assert str(error.value) == "unknown key training.epoch, did you mean epochs?"
    nested = {**_base("training"), "embedding": {"multiplier": 2.0, "min_dim": 2, "max_dm": 8}}
    with pytest.raises(
        ConfigError, match=r"^unknown key training\.embedding\.max_dm, did you mean max_dim\?$"
    ):
        parse(TrainingParams, nested, "training")


def test_a_wrong_type_names_the_dotted_key_and_the_value():
    with pytest.raises(ConfigError) as error:
        parse(TrainingParams, {**_base("training"), "epochs": "ten"}, "training")
    assert str(error.value).startswith("training.epochs must be a valid integer")
    assert str(error.value).endswith(", not 'ten'.")
    _one_sentence(str(error.value))
    with pytest.raises(
        ConfigError, match=r"^training\.hidden_units\[1\] must be greater than 0, not -2\.$"
    ):
        parse(TrainingParams, {**_base("training"), "hidden_units": [8, -2]}, "training")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"schedule": {"name": "cosin"}},
            r"^training\.schedule\.name must be one of 'constant', 'cosine', 'exponential', "
            r"'reduce_on_plateau', not 'cosin'\.$",
        ),
        ({"schedule": {"name": "cosine"}}, r"^missing key training\.schedule\.alpha in "),
        ({"strategy": "gpu"}, r"^training\.strategy must be one of .*, not 'gpu'\.$"),
        ({"class_weight": "balance"}, r"^training\.class_weight must be one of 'balanced'"),
    ],
)
def test_nested_and_union_fields_name_their_key(change, message):
    with pytest.raises(ConfigError, match=message) as error:
        parse(TrainingParams, {**_base("training"), **change}, "training")
    _one_sentence(str(error.value))


def test_a_mapping_entry_is_named_by_its_key():
    params = _base("cleaning")
    params["outliers"]["air_time"] = {"method": "iqr", "action": "drop"}
    with pytest.raises(ConfigError, match=r"^missing key cleaning\.outliers\.air_time\.k in "):
        parse(CleaningParams, params, "cleaning")
    params["outliers"]["air_time"] = {"method": "mad", "action": "drop"}
    with pytest.raises(ConfigError, match=r"^cleaning\.outliers\.air_time\.method must be one of"):
        parse(CleaningParams, params, "cleaning")
    params["outliers"]["air_time"] = {"method": "iqr", "k": 1.5, "action": "drop"}
    assert isinstance(parse(CleaningParams, params, "cleaning").outliers["air_time"], IqrOutlier)


def test_a_rule_across_keys_is_one_sentence():
    params = copy.deepcopy(_base("features"))
    params["split"]["cutoffs"] = None
    with pytest.raises(ConfigError) as error:
        parse(FeaturesParams, params, "features")
    assert str(error.value) == (
        "features.split: a time split needs either cutoffs or fractions (the other null)."
    )
    with pytest.raises(ConfigError, match=r"^features\.class_names: a multiclass task needs"):
        parse(
            FeaturesParams,
            {**_base("features"), "task": "multiclass", "class_names": None},
            "features",
        )


def test_a_block_that_is_not_a_mapping_is_an_error():
    with pytest.raises(ConfigError, match=r"^training must be a mapping of parameters, not None"):
        parse(TrainingParams, None, "training")


@pytest.mark.parametrize("env", ENVS)
def test_every_env_provides_every_required_key(env):
    loader = CONFIG_LOADER_CLASS(conf_source=str(ROOT / "conf"), env=env, **CONFIG_LOADER_ARGS)
    parameters = loader["parameters"]
    parsed = validate_blocks(parameters, sorted(block_models()), env)
    assert sorted(parsed) == sorted(block_models())
    # The namespaced clean node of inference reads a whole cleaning block too.
    assert parsed["inference"].cleaning.target is None
    assert parsed["inference"].cleaning.rules == parsed["cleaning"].rules


def _identity(x):
    return x


def test_the_hook_stops_the_run_before_any_node_on_the_first_bad_block():
    pipe = Pipeline(
        [
            node(_identity, "params:training", "out_a", name="a"),
            pipeline(
                [node(_identity, "params:cleaning", "out_b", name="b")], namespace="inference"
            ),
        ]
    )
    training = {**_base("training"), "epochs": 0}
    catalog = DataCatalog({"parameters": MemoryDataset({"training": training})})
    with pytest.raises(ConfigError) as error:
        ValidateParamsHooks().before_pipeline_run({"env": "test"}, pipe.only_nodes("a"), catalog)
    assert str(error.value) == "training.epochs must be greater than 0, not 0."
    catalog = DataCatalog({"parameters": MemoryDataset({"training": _base("training")})})
    with pytest.raises(ConfigError, match=r"^missing block inference in conf/base/"):
        ValidateParamsHooks().before_pipeline_run({"env": "test"}, pipe, catalog)

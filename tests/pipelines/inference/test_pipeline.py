"""The inference pipeline reuses ingestion and cleaning under a namespace, without refitting."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import AbstractDataset, DataCatalog, DatasetError, MemoryDataset
from kedro.runner import SequentialRunner

from ml_lifecycle.core.errors import NoChampionError
from ml_lifecycle.pipelines.inference import create_pipeline
from ml_lifecycle.settings import CONFIG_LOADER_ARGS

ROOT = Path(__file__).parents[3]


def test_the_batch_reuses_training_nodes_and_statistics_and_pins_the_champion_first():
    pipe = create_pipeline()
    nodes = {n.name: n for n in pipe.nodes}
    assert set(nodes) == {
        "inference.admit_batch",
        "inference.describe_champion",
        "inference.champion_cleaning_statistics",
        "inference.ingest",
        "inference.account_ingestion",
        "inference.clean",
        "inference.account_cleaning",
        "inference.score_batch",
        "inference.account_inference",
    }
    # Cleaned with the champion's own training-time statistics, by rules without a target; the
    # data folder's are only the fallback, and nothing refits them.
    assert nodes["inference.clean"].inputs == [
        "inference.intermediate_table",
        "inference.cleaning_statistics",
        "params:inference.cleaning",
    ]
    assert nodes["inference.champion_cleaning_statistics"].inputs == [
        "inference.champion",
        "cleaning_statistics",
    ]
    assert "cleaning_statistics" not in pipe.all_outputs()
    # The champion is resolved before the batch is read, whatever the nodes' order: ingestion
    # reads the batch through the node whose first input is the champion.
    assert nodes["inference.ingest"].inputs == ["inference.admitted_sources", "params:ingestion"]
    assert nodes["inference.admit_batch"].inputs == ["inference.champion", "inference.raw_sources"]
    assert nodes["inference.admit_batch"].outputs == ["inference.admitted_sources"]
    readers = [n.name for n in pipe.nodes if "inference.raw_sources" in n.inputs]
    assert readers == ["inference.admit_batch"]
    # Nothing training writes is overwritten; the champion comes from the registry.
    assert all(out.startswith("inference.") for out in pipe.all_outputs())
    assert "inference.champion" in pipe.inputs()
    assert all("inference" in n.tags for n in pipe.nodes)


class _Loads(AbstractDataset):
    """Calls `load` on load: records a read, or raises."""

    def __init__(self, load):
        self._load = load

    def load(self):
        return self._load()

    def save(self, data):
        raise NotImplementedError

    def _describe(self):
        return {}


def test_without_a_champion_the_run_stops_before_the_batch_is_read():
    read = []

    def no_champion():
        raise NoChampionError("The registered model 'm' has no 'champion' version in sqlite://.")

    catalog = DataCatalog(
        {
            "inference.champion": _Loads(no_champion),
            "inference.raw_sources": _Loads(lambda: read.append(1)),
            "cleaning_statistics": MemoryDataset(None),
            **{
                f"params:{key}": MemoryDataset({})
                for key in ("ingestion", "inference.cleaning", "inference.scoring")
            },
        }
    )
    with pytest.raises(DatasetError, match="inference.champion: .* has no 'champion' version") as e:
        SequentialRunner().run(create_pipeline(), catalog)
    assert isinstance(e.value.__cause__, NoChampionError)
    assert read == []


def test_inference_cleaning_is_training_cleaning_without_the_target_rule():
    loader = OmegaConfigLoader(str(ROOT / "conf"), env="test", **CONFIG_LOADER_ARGS)
    params = loader["parameters"]
    inference = params["inference"]["cleaning"]
    assert inference["target"] is None and params["cleaning"]["target"]["column"] == "arr_delay"
    training = {k: v for k, v in params["cleaning"].items() if k in inference and k != "target"}
    assert {k: v for k, v in inference.items() if k != "target"} == training
    assert set(params["cleaning"]) - set(inference) <= {"fit_filter", "quantile_accuracy"}
    scoring = params["inference"]["scoring"]
    assert scoring["keys"] == params["features"]["split"]["id_columns"]

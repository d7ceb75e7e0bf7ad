"""The inference pipeline reuses ingestion and cleaning under a namespace, without refitting."""

from __future__ import annotations

from pathlib import Path

from kedro.config import OmegaConfigLoader

from ml_lifecycle.pipelines.inference import create_pipeline
from ml_lifecycle.settings import CONFIG_LOADER_ARGS

ROOT = Path(__file__).parents[3]


def test_the_batch_reuses_training_nodes_and_statistics_and_pins_the_champion_first():
    pipe = create_pipeline()
    nodes = {n.name: n for n in pipe.nodes}
    assert set(nodes) == {
        "inference.find_champion",
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
        "cleaning_statistics_if_any",
    ]
    assert "cleaning_statistics" not in pipe.all_outputs()
    assert nodes["inference.ingest"].inputs == ["inference.raw_sources", "params:ingestion"]
    assert nodes["inference.find_champion"].inputs == ["params:registry.model_name"]
    # Nothing training writes is overwritten.
    assert all(out.startswith("inference.") for out in pipe.all_outputs())
    # The champion is resolved before the batch is read: a missing one fails fast.
    assert pipe.nodes[0].name == "inference.find_champion"
    assert all("inference" in n.tags for n in pipe.nodes)


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

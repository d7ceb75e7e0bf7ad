"""Tune node: Optuna trials of the shared fit (ml_lifecycle.model.fit) for the remaining budget."""

from __future__ import annotations

import json
import logging
from typing import Any

import keras
import optuna
import pyarrow.dataset as pads

from ml_lifecycle.core.errors import LifecycleError
from ml_lifecycle.core.params import parse
from ml_lifecycle.datasets.optuna_study import StudyStore
from ml_lifecycle.model.fit import fit
from ml_lifecycle.model.overrides import merge_tuned
from ml_lifecycle.model.params import TrainingParams
from ml_lifecycle.pipelines.tune.params import TuneParams, parse_tune
from ml_lifecycle.pipelines.tune.pruning import PruningCallback

logger = logging.getLogger(__name__)

COUNTED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def suggest(trial: optuna.Trial, key: str, spec: Any) -> Any:
    """Returns the trial's value of the training key `key` from its distribution."""
    if spec.type == "float":
        return trial.suggest_float(key, spec.low, spec.high, log=spec.log)
    if spec.type == "int":
        return trial.suggest_int(key, spec.low, spec.high, log=spec.log)
    if all(_scalar(choice) for choice in spec.choices):
        return trial.suggest_categorical(key, spec.choices)
    # Optuna's choices are scalars: a list (hidden_units) is offered as its JSON text.
    return json.loads(trial.suggest_categorical(key, [json.dumps(c) for c in spec.choices]))


def _trial_block(training: dict[str, Any], params: TuneParams) -> dict[str, Any]:
    """The training block a trial starts from: the run's, capped at max_epochs, no TensorBoard."""
    base = parse(TrainingParams, training, "training").model_dump()
    return {**base, "epochs": params.max_epochs, "tensorboard_dir": None}


def _table(study: optuna.Study, monitor: str, first_new: int) -> dict[str, Any]:
    trials = []
    for trial in study.get_trials(deepcopy=False):
        if trial.state not in (*COUNTED, optuna.trial.TrialState.FAIL):
            continue
        duration = trial.duration.total_seconds() if trial.duration else None
        trials.append(
            {
                "number": trial.number,
                "state": trial.state.name,
                "value": trial.value,
                "params": trial.user_attrs.get("overrides", trial.params),
                "curve": [trial.intermediate_values[s] for s in sorted(trial.intermediate_values)],
                "seconds": duration,
                "this_run": trial.number >= first_new,
            }
        )
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    best = study.best_trial if complete else None
    return {
        "study": study.study_name,
        "direction": study.direction.name.lower(),
        "monitor": monitor,
        "best_trial": best.number if best else None,
        "best_value": best.value if best else None,
        "trials": trials,
    }


def tune_training(  # noqa: PLR0913 - the two splits, their statistics, two blocks, the study
    train: pads.Dataset,
    validation: pads.Dataset,
    statistics: dict[str, Any],
    training: dict[str, Any],
    tune: dict[str, Any],
    store: StudyStore,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Runs the study's remaining trials; returns (best trial's training keys, trials table).

    The budget is `tune.n_trials` complete or pruned trials of the study, earlier runs
    included, and `tune.timeout_minutes` for this run. Each trial fits the model with the
    sampled keys over `training`, for at most `tune.max_epochs`, and is pruned on the per-epoch
    `training.early_stopping.monitor`.
    """
    params = parse_tune(tune)
    base = _trial_block(training, params)
    stopping = parse(TrainingParams, base, "training").early_stopping
    monitor, mode = stopping.resolved(statistics["task"])
    direction = "maximize" if mode == "max" else "minimize"
    study = store.open(params.study_name, direction)
    existing = study.get_trials(deepcopy=False)
    # Seeded by how far the study got: a resumed run does not replay the first run's samples.
    study.sampler = optuna.samplers.TPESampler(seed=params.seed + len(existing))
    study.pruner = optuna.pruners.MedianPruner(
        n_startup_trials=params.pruner.n_startup_trials,
        n_warmup_steps=params.pruner.n_warmup_steps,
    )
    finished = sum(t.state in COUNTED for t in existing)
    remaining = params.n_trials - finished

    def objective(trial: optuna.Trial) -> float:
        overrides = {key: suggest(trial, key, spec) for key, spec in params.space.items()}
        trial.set_user_attr("overrides", overrides)
        block, _ = merge_tuned(base, overrides, where="tune.space")
        try:
            _, _, summary = fit(
                train, validation, statistics, block, [PruningCallback(trial, monitor)]
            )
        finally:
            keras.backend.clear_session()  # each trial's graph is garbage once it ended
        trial.set_user_attr("epochs_run", summary["epochs_run"])
        return summary["best_value"]

    if remaining > 0:
        logger.info(
            "Study %s: %s of %s trials done, running up to %s more",
            params.study_name, finished, params.n_trials, remaining,
        )  # fmt: skip
        study.optimize(
            objective,
            n_trials=remaining,
            timeout=params.timeout_minutes * 60 if params.timeout_minutes else None,
            callbacks=[optuna.study.MaxTrialsCallback(params.n_trials, states=COUNTED)],
        )
    else:
        logger.info("Study %s has its %s trials already", params.study_name, params.n_trials)
    table = _table(study, monitor, first_new=len(existing))
    if table["best_trial"] is None:
        raise LifecycleError(
            f"tune: no trial of the study {params.study_name} completed (all pruned or failed); "
            "raise tune.n_trials or tune.pruner.n_warmup_steps."
        )
    best = study.best_trial
    logger.info("Best trial %s: %s=%.4f", best.number, monitor, best.value)
    return dict(best.user_attrs["overrides"]), table

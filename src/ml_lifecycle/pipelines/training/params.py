"""The typed `training` block; defined in ml_lifecycle.model.params beside the code reading it."""

from ml_lifecycle.model.params import (
    EarlyStopping,
    Embedding,
    Schedule,
    TrainingParams,
)

__all__ = ["EarlyStopping", "Embedding", "Schedule", "TrainingParams"]

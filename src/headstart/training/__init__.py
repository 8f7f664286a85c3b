"""One reusable trainer for every network headstart trains (scratch CNN, fine-tuning strategies)."""

from headstart.training.losses import make_loss
from headstart.training.trainer import TrainConfig, TrainResult, predict_proba, train

__all__ = ["TrainConfig", "TrainResult", "make_loss", "predict_proba", "train"]

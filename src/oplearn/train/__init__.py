"""Training and evaluation of neural operators: losses, normalisation, trainer, figures."""

from oplearn.train.config import TrainConfig
from oplearn.train.losses import relative_h1, relative_l2
from oplearn.train.normalizer import ChannelNormalizer
from oplearn.train.surrogate import Surrogate
from oplearn.train.trainer import evaluate_rel_l2, load_surrogate, train

__all__ = ["ChannelNormalizer", "Surrogate", "TrainConfig", "evaluate_rel_l2", "load_surrogate",
           "relative_h1", "relative_l2", "train"]

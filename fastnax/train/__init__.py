"""Training (torch): the network builder, noise-aware layers, training/evaluation loops and the
sample-training runner that feeds the accuracy predictor.

This is the only part of fastnax that imports torch; ``import fastnax`` does not import it.
"""

from fastnax.train.loop import TrainConfig, default_device, evaluate, train_model
from fastnax.train.model import ArchNetwork, build_model, count_weights, hardware_settings
from fastnax.train.noise import (CellNoise, NoisyConv2d, NoisyLinear, configure_nonideality,
                                 convert_to_noisy, frozen_noise, noise_scale, nonideal)

__all__ = ["ArchNetwork", "CellNoise", "NoisyConv2d", "NoisyLinear", "TrainConfig", "build_model",
           "configure_nonideality", "convert_to_noisy", "count_weights", "default_device",
           "evaluate", "frozen_noise", "hardware_settings", "noise_scale", "nonideal", "train_model"]

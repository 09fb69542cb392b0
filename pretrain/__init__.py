"""COLA pretraining on any folder of audio, exported to the ``cola_hear`` weights format.

>>> from cola_pretrain import load_config, run_training
>>> config = load_config("smoke", {"data.folders": ["audio/"], "train.out_dir": "runs/smoke"})
>>> result = run_training(config)          # result.weights: runs/smoke/model.safetensors

See ``pretrain/README.md`` for the recipe, the options and the output folder.
"""

from cola_pretrain.config import PretrainConfig, load_config
from cola_pretrain.train import TrainResult, run_training

__all__ = ["PretrainConfig", "TrainResult", "load_config", "run_training"]

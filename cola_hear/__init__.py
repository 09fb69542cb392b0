"""cola-hear: COLA audio embeddings behind the HEAR 2021 API.

>>> import cola_hear
>>> model = cola_hear.load_model()            # shipped default weights
>>> emb = cola_hear.get_scene_embeddings(audio, model)
"""

from cola_hear.config import EncoderConfig, FrontEndConfig, HearConfig, ModelConfig
from cola_hear.hear import default_weights_path, get_scene_embeddings, get_timestamp_embeddings, load_model
from cola_hear.model import ColaModel
from cola_hear.weights import WeightsError, load_weights, save_weights

__all__ = [
    "ColaModel",
    "EncoderConfig",
    "FrontEndConfig",
    "HearConfig",
    "ModelConfig",
    "WeightsError",
    "default_weights_path",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
    "load_model",
    "load_weights",
    "save_weights",
]
__version__ = "0.1.0"

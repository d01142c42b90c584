"""zoo: a Keras 3 / TensorFlow model zoo of sequence models.

`import zoo` registers every layer and model for Keras serialization (package "zoo"), so an
application needs only `import zoo` before `keras.models.load_model(path)`.
"""
import os as _os

# oneDNN roughly halves LSTM/conv step time on these CPUs; it must be set before TF loads.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
# Level 3: oneDNN's fusion of a dense layer, its residual sum and ReLU makes grappler log a
# spurious "empty op name" error per trace; Python-level errors still raise. Override to debug.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from zoo.registry import create_model, list_models, model_entry, register_model, serializable  # noqa: E402
from zoo import models  # noqa: E402,F401  (registers every family)

__all__ = ["create_model", "list_models", "model_entry", "register_model", "serializable"]
__version__ = "0.1.0"

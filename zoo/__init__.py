"""zoo: a Keras 3 / TensorFlow model zoo of sequence models.

`import zoo` discovers every family folder under `zoo/models/` and registers its layers and
models for Keras serialization (package "zoo"), so an application needs only `import zoo`
before `keras.models.load_model(path)`. It sets no environment variable of its host process;
the `zoo` command line's TensorFlow defaults are in `zoo_env`.
"""
from zoo.registry import (create_model, create_task, families, family, list_models, list_tasks,
                          model_entry, register_model, serializable, task_entry)
from zoo.version import __version__
from zoo import models  # noqa: E402,F401  (discovers and registers every family)

__all__ = ["create_model", "create_task", "families", "family", "list_models", "list_tasks",
           "model_entry", "register_model", "serializable", "task_entry", "__version__"]

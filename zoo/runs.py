"""Run folders: what `zoo train` writes, and reading it back.

    runs/<name>/recipe.yaml       the resolved recipe (written before training starts)
    runs/<name>/artifacts/        what the task needs besides the weights to evaluate and export
                                  the run without its corpus (tokenizer, vocabulary, eval split)
    runs/<name>/checkpoints/      tf.train checkpoints of the main phase (resumable)
    runs/<name>/stages/<phase>/   checkpoints of the phases before it (e.g. one per pretrained depth)
    runs/<name>/tb/               TensorBoard event files (train/, eval/, one folder per phase, hparams)
    runs/<name>/model.keras       the trained model (written atomically when training ends)
    runs/<name>/metrics.json      final evaluation metrics
"""
from __future__ import annotations

from pathlib import Path

from zoo.config import ExperimentConfig, RecipeError, load_recipe

RECIPE = "recipe.yaml"
ARTIFACTS = "artifacts"
CHECKPOINTS = "checkpoints"
STAGES = "stages"
KERAS_FILE = "model.keras"
METRICS = "metrics.json"


class RunError(ValueError):
    """A path that is not a usable run directory."""


def is_run_dir(path) -> bool:
    return (Path(path) / RECIPE).is_file()


def require_run_dir(path) -> Path:
    p = Path(path)
    if not p.exists():
        raise RunError(f"run directory does not exist: {str(p)!r}")
    if not is_run_dir(p):
        raise RunError(f"{str(p)!r} is not a run directory (no {RECIPE}); "
                       f"give the folder `zoo train` wrote, e.g. runs/<recipe-name>")
    if not ((p / KERAS_FILE).is_file() or (p / CHECKPOINTS / "checkpoint").is_file()):
        raise RunError(f"run {str(p)!r} has no trained model yet (no {KERAS_FILE}, no checkpoint)")
    return p


def load_run_config(path) -> ExperimentConfig:
    p = Path(path)
    try:
        return load_recipe(p / RECIPE)
    except RecipeError as e:
        raise RunError(f"run {str(p)!r}: {e}") from None


def model_checkpoint(model, **others):
    """A `tf.train.Checkpoint` that holds every model weight by its path inside the model.

    Keras 3 does not expose layers kept in Python lists to `tf.train.Checkpoint`, so the model's
    variables are listed explicitly (keyed without the model's own, process-dependent name).
    """
    import tensorflow as tf

    weights = {}
    for v in model.weights:
        key = v.path.split("/", 1)[-1]
        if key in weights:
            raise ValueError(f"two weights of {model.name} share the path {key!r}")
        weights[key] = v.value if hasattr(v, "value") and isinstance(v.value, tf.Variable) else v
    return tf.train.Checkpoint(model_weights=weights, **others)


def load_run(path):
    """(config, model) of a run: `model.keras` if training finished, else the latest checkpoint."""
    import keras
    import tensorflow as tf

    from zoo.registry import create_model

    p = require_run_dir(path)
    config = load_run_config(p)
    if (p / KERAS_FILE).is_file():
        return config, keras.models.load_model(p / KERAS_FILE)
    model = create_model(config.model.name, build=True, **config.model.kwargs())
    model_checkpoint(model).restore(tf.train.latest_checkpoint(p / CHECKPOINTS)).expect_partial()
    return config, model


def prepare_task(config: ExperimentConfig, folder=None, *, need_data: bool = True):
    """The recipe's task, restored from `folder`'s artifacts (a run or an export) when it has
    them; otherwise, when `need_data`, from the corpus (runs written before artifacts existed)."""
    from zoo.registry import create_task

    task = create_task(config)
    restored = folder is not None and task.restore(Path(folder) / ARTIFACTS)
    if not restored and need_data:
        task.load_data()
    return task
